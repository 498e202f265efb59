"""Key-sorted day rollups: what writing each day's keyed rollup files sorted by visitor_key, in row
groups of R rows with min/max statistics on the key, costs in bytes and gives a month build that
runs in key-hash slices (docs/decisions/0017-month-grain-and-dense-visitor-ids.md, step 2: a slice
[lo, hi) of the key space reads, per file, only the row groups whose key range overlaps it).

    .venv/bin/python -m bench.bench_key_ranges [--lake PATH] [--day 2026-11-10] [--rows 4400000] [--no-lambda]

Inputs: the modeled benchmark lake (bench.bench_rollups builds it into
bench/results/modeled-10000000-30d; read only) and one day of it resampled to production scale.
The resample draws the day's visitors with replacement until ``rollup_visitor_days`` has about
``--rows`` rows (4.4 million: a day at 1 billion events a month), every copy of a visitor with all
its rows in the five keyed tables, a fresh 16-hex anonymous_id, its MD5 key (as the export
computes it) and fresh session ids: the tables keep the lake's rows per visitor and values.

Printed (byte counts from the files' Parquet metadata, ``billing.column_sizes``; independent of
the machine):

1. bytes per row per column of the five keyed tables, three ways: today's write (the export's
   writer: ``spill.TableFiles`` with ``parquetio.options`` and ``rollup.PLAIN``, a day of this
   size built in ``rollup.visitor_slices`` slices dealt by a hash of the visitor and each slice
   sorted as ``rollup.build_day`` sorts it, row groups of ``parquetio.ROW_GROUP_ROWS``); sorted by
   visitor_key with the key plain; sorted with the key DELTA_BINARY_PACKED (no dictionary). Then
   the 90-day Athena bytes of each panel's reads of these tables at 1 billion events a month.
2. per row-group size R and slice count n: rows and bytes a slice reads against its own, the
   ranged GETs (counted through ``chalicelib.export.rollups.RangedObject``, as the export reads
   S3), file size and footer per R, and the GET cost of rebuilding the current month every day.
3. the Lambda layer's pyarrow (artifact test's emulation) writing the sorted DELTA file and
   reading a slice's row groups (skipped with ``--no-lambda`` or when the emulation cannot be built).
4. what min/max statistics of is_bot, browser and country become in either order.
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from bench.bench_dashboard_queries import APP, ROOT
from bench.bench_rollups import params
from chalicelib.export.rollups import RangedObject
from chalicelib.lake import parquetio, rollup, spill, visitor_key
from clickstream.lake import billing, prepare, query_names

LAKE = ROOT / "results" / "modeled-10000000-30d"
KEY = visitor_key.COLUMN
# How rollup.build_day sorts each keyed table today (sessions: the visitor's events' order).
TODAY_ORDER: dict[str, tuple[str, ...]] = {
    "rollup_visitor_days": (KEY, *rollup.VISITOR_DIMENSIONS),
    "rollup_page_days": ("path", KEY, "is_bot", *rollup.FILTER_DIMENSIONS),
    "rollup_event_days": ("event_type", "event_name", KEY, "is_bot", *rollup.FILTER_DIMENSIONS),
    "rollup_geo_days": (KEY, "is_bot", "geo_lat", "geo_lon", *rollup.FILTER_DIMENSIONS),
    "rollup_sessions": ("anonymous_id", "session_start", "session_id"),
}
TABLES = tuple(TODAY_ORDER)
# Sorted by the key first, then as today within a visitor.
KEY_ORDER = {name: (KEY, *(c for c in order if c not in (KEY, "anonymous_id"))) for name, order in TODAY_ORDER.items()}
GROUP_ROWS = (10_000, 25_000, 50_000, 100_000, 1_000_000)
SLICES = (130, 380)
DAYS_IN_MONTH = 31
GET_PRICE = 0.0004 / 1000  # S3 Standard GET, per request (us-east-1)
CUTOFF_DAYS = 90


def writer_options(name: str, names: Sequence[str], delta: bool) -> dict[str, Any]:
    """The lake's options (``parquetio.options``) for a key-sorted file: no dictionary for the key,
    min/max statistics on it, DELTA_BINARY_PACKED for it if ``delta``."""
    options = parquetio.options(names, rollup.PLAIN.get(name, frozenset()) | {KEY})
    options["write_statistics"] = [*options["write_statistics"], KEY]
    if delta:
        options["column_encoding"] = {KEY: "DELTA_BINARY_PACKED"}
    return options


def write_sorted(name: str, table: pa.Table, path: Path, group_rows: int, delta: bool, stats_all: bool = False) -> Path:
    table = table.sort_by([(c, "ascending") for c in KEY_ORDER[name]])
    options = writer_options(name, table.column_names, delta)
    if stats_all:
        options["write_statistics"] = True
    pq.write_table(table, path, row_group_size=group_rows, **options)
    return path


_MASK = (1 << 64) - 1
_PRIME = 0x100000001B3  # FNV-1's 64-bit prime: any odd multiplier spreads the bytes
_powers = np.ones(1, dtype=np.uint64)


def _power_table(n: int) -> np.ndarray:
    global _powers
    if len(_powers) < n:
        values = [1]
        for _ in range(max(n, 2 * len(_powers)) - 1):
            values.append((values[-1] * _PRIME) & _MASK)
        _powers = np.array(values, dtype=np.uint64)
    return _powers


def hash_slice_of(keys: pa.Array | pa.ChunkedArray, slices: int) -> np.ndarray:
    """How the export dealt visitors to slices before the day files were key-sorted (git d343af3,
    chalicelib/lake/spill.py): "today's" layout in this benchmark. The slice (0 .. slices - 1) of
    each key: a polynomial hash of its UTF-8 bytes, mixed by
    splitmix64's finalizer. Stable across processes and versions (no Python ``hash``, no
    seed), and any strings spread, not only UUIDs: ids that share a prefix, differ in one
    byte or are not hexadecimal land in different slices as often as random ones. A null key
    hashes as the empty string."""
    if slices <= 1 or len(keys) == 0:
        return np.zeros(len(keys), dtype=np.int64)
    array = keys.combine_chunks() if isinstance(keys, pa.ChunkedArray) else keys
    array = pc.fill_null(array.cast(pa.large_string()), "")
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int64)[array.offset : array.offset + len(array) + 1]
    first, last = int(offsets[0]), int(offsets[-1])
    data = np.frombuffer(array.buffers()[2], dtype=np.uint8)[first:last].astype(np.uint64) + np.uint64(1)
    starts = offsets[:-1] - first
    lengths = np.diff(offsets)
    position = np.arange(last - first, dtype=np.int64) - np.repeat(starts, lengths)
    terms = data * _power_table(int(lengths.max(initial=0)) + 1)[position]  # wraps mod 2**64
    running = np.concatenate([np.zeros(1, dtype=np.uint64), np.cumsum(terms, dtype=np.uint64)])
    z = running[offsets[1:] - first] - running[starts] + lengths.astype(np.uint64)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return (z % np.uint64(slices)).astype(np.int64)


def write_today(name: str, table: pa.Table, slice_of_row: np.ndarray, slices: int, folder: Path) -> Path:
    """As ``rollup.rebuild_day_files`` writes a day built in ``slices`` slices: each slice's rows
    sorted as ``build_day`` sorts them, appended to one file by ``spill.TableFiles``."""
    folder.mkdir(parents=True, exist_ok=True)
    files = spill.TableFiles(folder, {name: rollup.SCHEMAS[name]}, rollup.PLAIN)
    order = np.argsort(slice_of_row, kind="stable")
    bounds = np.searchsorted(slice_of_row[order], np.arange(slices + 1))
    for i in range(slices):
        part = table.take(pa.array(order[bounds[i] : bounds[i + 1]]))
        files.append({name: part.sort_by([(c, "ascending") for c in TODAY_ORDER[name]])})
    return files.close()[name]


def read_day(lake: Path, day: str) -> dict[str, pa.Table]:
    out = {}
    for name in TABLES:
        folder = lake / name / f"app_id={APP}" / f"dt={day}"
        out[name] = pq.read_table(folder).select(rollup.SCHEMAS[name].names).cast(rollup.SCHEMAS[name])
    return out


def hex_ids(rng: np.random.Generator, n: int, chars: int) -> pa.Array:
    words = rng.integers(0, 2**63, size=(n, -(-chars // 15)), dtype=np.int64)
    return pa.array(["".join(f"{w:015x}" for w in row)[:chars] for row in words.tolist()], pa.string())


def resample(
    day: dict[str, pa.Table], rows: int, rng: np.random.Generator, slices: int
) -> tuple[dict[str, pa.Table], dict[str, np.ndarray]]:
    """The day's visitors drawn with replacement until rollup_visitor_days has about ``rows`` rows:
    each copy with all its rows, a fresh anonymous_id, its key and fresh session ids. Also, per
    table, the slice (of ``slices``) each row's visitor falls in by ``hash_slice_of``."""
    keys = np.unique(np.concatenate([day[n][KEY].to_numpy() for n in TABLES]))
    draws = round(len(keys) * rows / day["rollup_visitor_days"].num_rows)
    picked = rng.integers(0, len(keys), size=draws)
    anon = hex_ids(rng, draws, 16)
    new_keys = visitor_key.keys(anon).to_numpy()
    slice_of_copy = hash_slice_of(anon, slices)
    out, slice_rows = {}, {}
    for name in TABLES:
        table = day[name]
        who = np.searchsorted(keys, table[KEY].to_numpy())
        order = np.argsort(who, kind="stable")
        counts = np.bincount(who, minlength=len(keys))
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        per_copy = counts[picked]
        copy = np.repeat(np.arange(draws), per_copy)
        within = np.arange(per_copy.sum()) - np.repeat(np.cumsum(per_copy) - per_copy, per_copy)
        taken = table.take(pa.array(order[starts[picked][copy] + within]))
        taken = taken.set_column(taken.schema.get_field_index(KEY), KEY, pa.array(new_keys[copy], pa.int64()))
        if name == "rollup_sessions":
            taken = taken.set_column(taken.schema.get_field_index("anonymous_id"), "anonymous_id", anon.take(pa.array(copy)))
            taken = taken.set_column(taken.schema.get_field_index("session_id"), "session_id", hex_ids(rng, taken.num_rows, 24))
        out[name] = taken
        slice_rows[name] = slice_of_copy[copy]
    return out, slice_rows


def per_row(sizes: Mapping[str, int], rows: int) -> dict[str, float]:
    return {c: b / rows for c, b in sizes.items()}


def panel_reads() -> dict[str, list[tuple[str, tuple[str, ...]]]]:
    """Per panel, its scans of the keyed tables (table, columns), as billing finds them."""
    reads = {}
    for n in query_names():
        sql, _ = prepare(n, params(n, date(2026, 10, 22), date(2026, 11, 20), "2026-11-19"))
        reads[n] = [(s.table, s.columns) for s in billing.scans(sql) if s.table in TABLES]
    return {n: r for n, r in reads.items() if r}


class LocalObjects:
    """``Lake.read_range`` over local files, for ``RangedObject``: the GETs a reader makes."""

    def read_range(self, key: str, start: int, end: int) -> bytes:
        with open(key, "rb") as f:
            f.seek(start)
            return f.read(end - start + 1)


def groups_of(meta: pq.FileMetaData, lo: int, hi: int) -> list[int]:
    """The row groups whose key statistics overlap [lo, hi)."""
    column = meta.schema.names.index(KEY)
    out = []
    for g in range(meta.num_row_groups):
        stats = meta.row_group(g).column(column).statistics
        if stats is None or not stats.has_min_max or (stats.max >= lo and stats.min < hi):
            out.append(g)
    return out


def bounds(n: int) -> list[tuple[int, int]]:
    edges = [-(2**63) + (k * 2**64) // n for k in range(n)] + [2**63]
    return list(zip(edges[:-1], edges[1:], strict=True))


def slice_read(path: Path, lo: int, hi: int, columns: Sequence[str] | None = None) -> tuple[pa.Table, int, int]:
    """A slice's rows of one file as the month build would read them over S3: footer, row groups
    chosen by statistics, those groups with pre-buffering (coalesced ranges). (rows read, GETs, bytes)."""
    size = path.stat().st_size
    ranged = RangedObject(LocalObjects(), str(path), size)  # type: ignore[arg-type]
    counted = _Counting(ranged)
    parquet = pq.ParquetFile(counted, pre_buffer=True)
    chosen = groups_of(parquet.metadata, lo, hi)
    table = parquet.read_row_groups(chosen, columns=list(columns) if columns else None) if chosen else None
    read = table if table is not None else parquet.schema_arrow.empty_table()
    return read, ranged.gets, counted.bytes


class _Counting(io.RawIOBase):
    """Bytes read through a RangedObject."""

    def __init__(self, inner: RangedObject) -> None:
        self.inner, self.bytes = inner, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.inner.tell()

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self.inner.seek(offset, whence)

    def readinto(self, buffer: Any) -> int:
        n = self.inner.readinto(buffer)
        self.bytes += n
        return n


def md_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| --- |" + " ---: |" * (len(header) - 1)]
    lines += ["| " + " | ".join(str(x) for x in row) + " |" for row in rows]
    return "\n".join(lines)


def part1(tables: dict[str, pa.Table], today: dict[str, Path], tmp: Path, label: str) -> dict[str, dict[str, dict[str, float]]]:
    """Bytes per row per column: today's, sorted plain, sorted DELTA (row groups of 1 M)."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    print(f"\n### 1. Bytes per row, {label}\n")
    for name in TABLES:
        t = tables[name]
        ways = {
            "today": per_row(billing.column_sizes(today[name]), t.num_rows),
            "sorted, key plain": per_row(
                billing.column_sizes(write_sorted(name, t, tmp / f"{name}-plain.parquet", parquetio.ROW_GROUP_ROWS, False)),
                t.num_rows,
            ),
            "sorted, key delta": per_row(
                billing.column_sizes(write_sorted(name, t, tmp / f"{name}-delta.parquet", parquetio.ROW_GROUP_ROWS, True)),
                t.num_rows,
            ),
        }
        out[name] = ways
        columns = [c for c in t.column_names if c != "app_id"]
        print(f"`{name}`, {t.num_rows:,} rows:\n")
        rows = [[w] + [f"{v[c]:.3f}" for c in columns] + [f"**{sum(v.values()):.3f}**"] for w, v in ways.items()]
        print(md_table(["write", *[f"`{c}`" for c in columns], "total (with app_id)"], rows) + "\n")
    return out


def part1_panels(bpr: dict[str, dict[str, dict[str, float]]], rows_per_day: Mapping[str, float]) -> None:
    print("\n### 1b. 90 days at 1 billion events a month: each panel's reads of the keyed tables, GiB\n")
    rows = []
    for panel, reads in panel_reads().items():
        gib = {}
        for way in ("today", "sorted, key plain", "sorted, key delta"):
            total = sum(sum(bpr[t][way].get(c, 0.0) for c in cols) * rows_per_day[t] * CUTOFF_DAYS for t, cols in reads)
            gib[way] = total / 2**30

        def read(t: str, cols: Sequence[str], way: str) -> float:
            return sum(bpr[t][way].get(c, 0.0) for c in cols)

        per = "; ".join(
            f"`{t}` {read(t, cols, 'today'):.2f} -> {read(t, cols, 'sorted, key delta'):.2f} B/row" for t, cols in reads
        )
        rows.append(
            [f"`{panel}`", per, f"{gib['today']:.2f}", f"{gib['sorted, key plain']:.2f}", f"**{gib['sorted, key delta']:.2f}**"]
        )
    print(md_table(["panel", "bytes/row read (today -> sorted delta)", "today", "sorted plain", "sorted delta"], rows))


def part2(tables: dict[str, pa.Table], tmp: Path) -> None:
    print("\n### 2. Slice reads per day file (sorted, key DELTA_BINARY_PACKED, statistics on the key)\n")
    size_rows, read_rows = [], []
    gets_per_slice: dict[tuple[int, int], int] = {}
    bytes_per_slice: dict[tuple[int, int], int] = {}
    for r in GROUP_ROWS:
        for name in TABLES:
            t = tables[name]
            path = write_sorted(name, t, tmp / f"{name}-r{r}.parquet", r, True)
            meta = pq.ParquetFile(path).metadata
            size = path.stat().st_size
            size_rows.append(
                [
                    f"{r:,}",
                    f"`{name}`",
                    f"{meta.num_row_groups:,}",
                    f"{size / t.num_rows:.3f}",
                    f"{meta.serialized_size / 1024:,.1f}",
                ]
            )
            keys = np.sort(t[KEY].to_numpy())
            for n in SLICES:
                picks = bounds(n)
                sample = [picks[i] for i in np.linspace(0, n - 1, 8).astype(int)]  # 8 slices across the key space
                own = read = gets = got = 0
                for lo, hi in sample:
                    mine = int(np.searchsorted(keys, hi, "left") - np.searchsorted(keys, lo, "left"))
                    table, g, b = slice_read(path, lo, hi)
                    keys_read = table[KEY].to_numpy()
                    if int(((keys_read >= lo) & (keys_read < hi)).sum()) != mine:
                        raise SystemExit(f"MISMATCH: {name} R={r} slice [{lo}, {hi}) read the wrong rows")
                    own, read, gets, got = own + mine, read + table.num_rows, gets + g, got + b
                k = len(sample)
                read_rows.append(
                    [
                        f"{r:,}",
                        str(n),
                        f"`{name}`",
                        f"{own / k:,.0f}",
                        f"{read / k:,.0f}",
                        f"{read / own:.2f}",
                        f"{got / k / 2**20:.2f}",
                        f"{gets / k:.1f}",
                    ]
                )
                gets_per_slice[(r, n)] = gets_per_slice.get((r, n), 0) + round(gets / k)
                bytes_per_slice[(r, n)] = bytes_per_slice.get((r, n), 0) + round(got / k)
    print("File size per R (bytes per row, all columns with the footer; footer = Parquet metadata):\n")
    print(md_table(["R", "table", "row groups", "file bytes/row", "footer KiB"], size_rows))
    print("\nPer slice of a day file (mean of 8 slices spread over the key space; rows of the slice, rows read, ")
    print("amplification, MiB read, ranged GETs through RangedObject with pre_buffer=True, footer included):\n")
    print(md_table(["R", "n", "table", "rows of slice", "rows read", "read/own", "MiB read", "GETs"], read_rows))
    print("\nPer slice and month (31 days x the 5 tables), and the whole month rebuilt after every day closed ")
    print("(day d reads d days: sum over d = 496 day-reads per table), at $0.0004 per 1,000 GETs:\n")
    rows = []
    for r in GROUP_ROWS:
        for n in SLICES:
            g = gets_per_slice[(r, n)]
            month_gets = g * DAYS_IN_MONTH
            rebuilds = g * n * sum(range(1, DAYS_IN_MONTH + 1))
            rows.append(
                [
                    f"{r:,}",
                    str(n),
                    str(g),
                    f"{month_gets:,}",
                    f"{bytes_per_slice[(r, n)] * DAYS_IN_MONTH / 2**30:.2f}",
                    f"{rebuilds:,}",
                    f"${rebuilds * GET_PRICE:.2f}",
                ]
            )
    print(
        md_table(
            [
                "R",
                "n",
                "GETs per slice-day (5 files)",
                "GETs per slice-month",
                "GiB per slice-month",
                "GETs per month of daily rebuilds",
                "cost",
            ],
            rows,
        )
    )


def part4(tables: dict[str, pa.Table], slice_rows: dict[str, np.ndarray], slices: int, tmp: Path, group_rows: int) -> None:
    rows_of = tables["rollup_visitor_days"].num_rows
    print(f"\n### 4. Row groups a dimension filter could skip (min/max on every column), of {rows_of:,} visitor-days\n")
    rows = []
    name = "rollup_visitor_days"
    t = tables[name]
    today = write_today(name, t, slice_rows[name], slices, tmp / "today-stats")
    files = {"today's order (slices, key first), R = 1 M": today}
    files[f"sorted by key, R = {group_rows:,}"] = write_sorted(name, t, tmp / "stats.parquet", group_rows, True, stats_all=True)
    top_browser, top_country = (str(most_common(t[c])) for c in ("browser", "country"))
    for label, path in files.items():
        if path == today:  # today's writer keeps statistics off these columns: rewrite its row groups with them
            source = pq.ParquetFile(path)
            path = tmp / "today-all-stats.parquet"
            with pq.ParquetWriter(path, source.schema_arrow, write_statistics=True) as w:
                for g in range(source.num_row_groups):
                    w.write_table(source.read_row_group(g))
        meta = pq.ParquetFile(path).metadata
        names = meta.schema.names
        cells = []
        for column, value in (("is_bot", False), ("is_bot", True), ("browser", top_browser), ("country", top_country)):
            i = names.index(column)
            skip = 0
            for g in range(meta.num_row_groups):
                s = meta.row_group(g).column(i).statistics
                if s is not None and s.has_min_max and not (s.min <= value <= s.max):
                    skip += 1
            cells.append(f"{skip} of {meta.num_row_groups}")
        rows.append([label, *cells])
    print(md_table(["file", "is_bot = false", "is_bot = true", f"browser = '{top_browser}'", f"country = '{top_country}'"], rows))


LAMBDA_PROBE = """
import io, time
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from chalicelib.export.rollups import RangedObject


class _Local:
    def read_range(self, key, start, end):
        with open(key, "rb") as f:
            f.seek(start)
            return f.read(end - start + 1)


def handler(event, context):
    table = pq.read_table(event["source"])
    table = table.sort_by([(c, "ascending") for c in event["order"]])
    pq.write_table(table, event["out"], row_group_size=event["rows"], **event["options"])
    t0 = time.process_time()
    meta = pq.ParquetFile(event["out"]).metadata
    column = meta.schema.names.index("visitor_key")
    lo, hi = event["lo"], event["hi"]
    chosen = []
    for g in range(meta.num_row_groups):
        s = meta.row_group(g).column(column).statistics
        if s.max >= lo and s.min < hi:
            chosen.append(g)
    pick_s = time.process_time() - t0
    import os
    ranged = RangedObject(_Local(), event["out"], os.path.getsize(event["out"]))
    part = pq.ParquetFile(ranged, pre_buffer=True).read_row_groups(chosen)
    keys = part["visitor_key"].to_pylist()
    mine = [k for k in keys if lo <= k < hi]
    encodings = sorted(set(meta.row_group(0).column(column).encodings))
    return {"pyarrow": pa.__version__, "row_groups": meta.num_row_groups, "chosen": chosen, "pick_cpu_s": pick_s,
            "rows_read": part.num_rows, "slice_rows": len(mine), "gets": ranged.gets, "encodings": encodings}
"""


def part3(table: pa.Table, tmp: Path, group_rows: int) -> None:
    print("\n### 3. pyarrow: row groups chosen by statistics, the layer's pyarrow\n")
    name = "rollup_visitor_days"
    path = write_sorted(name, table, tmp / "p3.parquet", group_rows, True)
    lo, hi = bounds(380)[200]
    t0 = time.perf_counter()
    for _ in range(100):
        groups_of(pq.ParquetFile(path).metadata, lo, hi)
    per_file = (time.perf_counter() - t0) / 100
    meta = pq.ParquetFile(path).metadata
    print(
        f"pyarrow {pa.__version__}: footer parsed and {meta.num_row_groups} row groups' key statistics compared in "
        f"{per_file * 1000:.2f} ms per file (mean of 100; load `{uptime()}`); encodings of the key: "
        f"{sorted(set(meta.row_group(0).column(meta.schema.names.index(KEY)).encodings))}"
    )
    query = f"SELECT count(*) FROM read_parquet('{path}') WHERE {KEY} >= {lo} AND {KEY} < {hi}"
    [(want,)] = duckdb.connect().execute(query).fetchall()
    print(f"DuckDB {duckdb.__version__} reads the file: {want:,} rows in the slice [{lo}, {hi})")
    source = tmp / "p3-source.parquet"
    pq.write_table(table, source)
    try:
        from bench._lambdaprobe import emulation

        with tempfile.TemporaryDirectory(prefix="keyranges-lambda-") as scratch:
            runtime = emulation(Path(scratch), "key_ranges_probe", LAMBDA_PROBE)
            options = writer_options(name, table.column_names, True)
            event = {
                "source": str(source), "out": str(tmp / "p3-layer.parquet"), "order": list(KEY_ORDER[name]),
                "rows": group_rows, "options": options, "lo": lo, "hi": hi,
            }  # fmt: skip
            [outcome] = runtime.invoke("export_worker", [event], handler="key_ranges_probe.handler")
    except Exception as exc:  # the emulation needs python3.13 and the cached layer
        print(f"Lambda emulation not run: {exc}")
        return
    if "result" not in outcome:
        print(f"Lambda emulation failed: {outcome.get('message')}\n{outcome.get('trace')}")
        return
    result = outcome["result"]
    theirs = pq.read_table(tmp / "p3-layer.parquet")
    ours = pq.read_table(path)
    same = theirs.equals(ours)
    print(
        f"Lambda emulation (pyarrow {result['pyarrow']}): wrote the sorted DELTA file ({result['row_groups']} row groups, key "
        f"encodings {result['encodings']}), chose row groups {result['chosen']} by statistics "
        f"in {result['pick_cpu_s'] * 1000:.2f} ms CPU, read them through RangedObject in {result['gets']} GETs: "
        f"{result['rows_read']:,} rows of which "
        f"{result['slice_rows']:,} in the slice (DuckDB: {want:,}); its rows equal those of this pyarrow's file: {same}"
    )
    if result["slice_rows"] != want or not same:
        raise SystemExit("MISMATCH: the layer's pyarrow wrote or read the slice differently")


def most_common(column: pa.ChunkedArray) -> Any:
    counts = pc.value_counts(column)
    return counts.field("values")[int(np.argmax(counts.field("counts").to_numpy()))].as_py()


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lake", type=Path, default=LAKE)
    parser.add_argument("--day", default="2026-11-10")
    parser.add_argument("--rows", type=int, default=4_400_000)
    parser.add_argument("--group-rows", type=int, default=50_000, help="R for parts 3 and 4")
    parser.add_argument("--no-lambda", action="store_true")
    args = parser.parse_args(argv)
    if not (args.lake / "rollup_visitor_days" / f"app_id={APP}" / f"dt={args.day}").is_dir():
        print(
            f"no day {args.day} in {args.lake}: build the modeled lake with bench.bench_rollups, or pass --lake/--day",
            file=sys.stderr,
        )
        return 2
    print(f"load: {uptime()}")
    with tempfile.TemporaryDirectory(prefix="keyranges-") as scratch:
        tmp = Path(scratch)
        # The benchmark lake as it is: every day's files, today's bytes against both sorted writes.
        days = sorted(p.name.removeprefix("dt=") for p in (args.lake / "rollup_visitor_days" / f"app_id={APP}").iterdir())
        sums: dict[str, dict[str, dict[str, float]]] = {n: {} for n in TABLES}
        for d in days:
            day = read_day(args.lake, d)
            for name in TABLES:
                n = day[name].num_rows
                for way, path in (
                    ("today", next((args.lake / name / f"app_id={APP}" / f"dt={d}").glob("*.parquet"))),
                    ("sorted, key plain", write_sorted(name, day[name], tmp / "plain.parquet", parquetio.ROW_GROUP_ROWS, False)),
                    ("sorted, key delta", write_sorted(name, day[name], tmp / "delta.parquet", parquetio.ROW_GROUP_ROWS, True)),
                ):
                    acc = sums[name].setdefault(way, {})
                    for c, b in billing.column_sizes(path).items():
                        acc[c] = acc.get(c, 0) + b
                    acc["__rows"] = acc.get("__rows", 0) + n
        print(f"\n### 1. Bytes per row, the benchmark lake as built ({len(days)} days, one file per table and day)\n")
        rows = []
        for name in TABLES:
            for way, acc in sums[name].items():
                n = acc.pop("__rows")
                key_b = acc[KEY] / n
                rows.append(
                    [
                        f"`{name}`",
                        f"{n:,}",
                        way,
                        f"{key_b:.3f}",
                        f"{(sum(acc.values()) - acc[KEY]) / n:.3f}",
                        f"**{sum(acc.values()) / n:.3f}**",
                    ]
                )
        print(md_table(["table", "rows", "write", "visitor_key", "other columns", "total"], rows))

        day = read_day(args.lake, args.day)
        events = sum(
            pq.ParquetFile(f).metadata.num_rows
            for f in (args.lake / "events" / f"app_id={APP}" / f"dt={args.day}").glob("*.parquet")
        )
        scale = args.rows / day["rollup_visitor_days"].num_rows
        slices = rollup.visitor_slices(round(events * scale))
        rng = np.random.default_rng(1)
        big, slice_rows = resample(day, args.rows, rng, slices)
        print(
            f"\nResampled {args.day}: {day['rollup_visitor_days'].num_rows:,} visitor-days x {scale:.1f} -> "
            + ", ".join(f"{n} {big[n].num_rows:,}" for n in TABLES)
            + f" rows; today's write built in {slices} slices (about {events * scale / 1e6:,.1f} M events)"
        )
        today = {name: write_today(name, big[name], slice_rows[name], slices, tmp / "today") for name in TABLES}
        bpr = part1(big, today, tmp, f"one day resampled to {args.rows:,} visitor-days")
        part1_panels(bpr, {n: big[n].num_rows for n in TABLES})
        part2(big, tmp)
        if not args.no_lambda:
            part3(big["rollup_visitor_days"], tmp, args.group_rows)
        part4(big, slice_rows, slices, tmp, args.group_rows)
    print(f"\nload: {uptime()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
