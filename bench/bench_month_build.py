"""What the export's housekeeping would spend building ``rollup_visitor_months`` (decision 0017,
*Open costs*: the month build), in the Lambda's toolset (pyarrow + numpy, no DuckDB, no pandas).
The build is chalicelib.lake.month.build_month (not wired into the export yet); the reference
is tests/month_reference.py, the definition in DuckDB SQL that tests/unit/test_month_build.py
holds it to.

    .venv/bin/python -m bench.bench_month_build [--lake PATH] [--repeat 3] [--lambda]

Over the modeled benchmark lake (bench.bench_rollups builds it in bench/results/; ``--lake``
another one; read only: events 2026-10-22..2026-11-20,
rollups through 2026-11-19, 10 million events) it

0. chains eight months of a small synthetic lake (``synthetic_lake``: gaps longer than the
   four-month lookback, NULLs, bots, the geo cell's edges) through carry files and checks every
   month's rows and carry against the reference below;
1. builds October from nothing (10 rolled-up days) and November from October's carry file and
   November's 19 rolled-up days, and checks both months' rows, every dimension, and November's
   carry against a reference computed straight from the definition over all the rollup days in
   DuckDB SQL (tests/month_reference.py): equal row for row in the build's order (by
   visitor_key, then the values), or the run stops with the differing rows (EXCEPT ALL both ways);
2. prints rows and bytes written per dimension (snappy, the lake's writer settings) in the
   build's order (visitor_key, then values) against the same rows ordered by (values,
   visitor_key), with the ``visitor_key`` column's bytes of each, plain and delta-encoded; the
   month's rows against its days closed (for scaling);
3. times, ``--repeat`` times in a fresh process each (median): (a) November from October's carry
   plus November's 19 days (the daily rebuild of the current month at its largest in this lake),
   (b) October from nothing. Each is read (the day files' needed columns, the carry), build,
   write (month and carry files to local disk): CPU seconds (``time.process_time``), wall
   seconds, peak RSS (``VmHWM``) and RSS after imports; user and system CPU and minor page faults
   (system time here is mostly first-touch page faults of this VM: user is the portable figure);
   per million events of the month's days read (the ``events`` rows of those days); and (c)
   November without a carry, so a - c is the carry's share. ``uptime`` before and after.
4. with ``--lambda``: (a) and (b) again inside the artifact test's Lambda emulation (the packaged
   chalicelib, the layer's pyarrow and numpy, python3.13 -I -S; bench._lambdaprobe), whose month
   files must equal this build's, table for table.

Files go to bench/results/month-build/ (gitignored): ``rollup_visitor_months/app_id=/dim=/
month=/part.parquet`` and the carry files ``month_carry/app_id=/month=/dim=*.parquet``.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from bench.bench_dashboard_queries import APP, ROOT
from chalicelib.lake.month import DIMENSIONS as DIMS
from chalicelib.lake.month import LOOKBACK_MONTHS as LOOKBACK
from chalicelib.lake.month import MONTH_SCHEMAS, SOURCE_COLUMNS, Dimension, add_months, build_month, carry_schema
from chalicelib.lake.parquetio import parquet_bytes
from clickstream.lake import billing
from tests import month_reference

LAKE = ROOT / "results" / "modeled-10000000-30d"  # bench.bench_rollups builds it
OUT = ROOT / "results" / "month-build"
OCTOBER, NOVEMBER = date(2026, 10, 1), date(2026, 11, 1)
# timed builds: name -> (month, from the month before's carry, label)
SCENARIOS: dict[str, tuple[date, bool, str]] = {
    "nov": (NOVEMBER, True, "(a) November from October's carry + its 19 days"),
    "oct": (OCTOBER, False, "(b) October from nothing, its 10 days"),
    "nov0": (NOVEMBER, False, "(c) November's 19 days without a carry (the carry's share: a - c)"),
}
PLAIN = frozenset({"visitor_key"})  # about one row per value: no dictionary (parquetio.options)

# --- reading and writing (the build's I/O edges) ----------------------------------------------


def lake_days(lake: Path, month: date, through: date | None = None) -> list[date]:
    """The rolled-up days of ``month`` in the lake (a day is rolled up when rollup_visitor_days has it)."""
    folder = lake / "rollup_visitor_days" / f"app_id={APP}"
    end = add_months(month, 1)
    days = sorted(date.fromisoformat(p.name[3:]) for p in folder.glob("dt=*"))
    return [d for d in days if month <= d < end and (through is None or d <= through)]


def read_days(lake: Path, days: list[date]) -> dict[str, pa.Table]:
    """Each source rollup's rows of ``days``, the columns the build needs and a ``day`` column."""
    tables: dict[str, pa.Table] = {}
    for source, columns in SOURCE_COLUMNS.items():
        parts = []
        for d in days:
            path = lake / source / f"app_id={APP}" / f"dt={d.isoformat()}" / "rollup.parquet"
            t = pq.ParquetFile(path).read(columns=list(columns))
            parts.append(t.append_column("day", pa.array([d] * t.num_rows, type=pa.date32())))
        tables[source] = pa.concat_tables(parts)
    return tables


def events_of(lake: Path, days: list[date]) -> int:
    return sum(
        pq.ParquetFile(f).metadata.num_rows
        for d in days
        for f in (lake / "events" / f"app_id={APP}" / f"dt={d.isoformat()}").glob("*.parquet")
    )


def month_path(out: Path, dim: str, month: date) -> Path:
    return out / "rollup_visitor_months" / f"app_id={APP}" / f"dim={dim}" / f"month={month:%Y-%m}" / "part.parquet"


def carry_path(out: Path, dim: str, month: date) -> Path:
    return out / "month_carry" / f"app_id={APP}" / f"month={month:%Y-%m}" / f"dim={dim}.parquet"


def write(path: Path, table: pa.Table) -> int:
    body = parquet_bytes(table, PLAIN)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)
    return len(body)


def write_month(out: Path, month: date, months: dict[str, pa.Table], carry: dict[str, pa.Table]) -> dict[str, int]:
    written = {}
    for dim in DIMS:
        written[f"month:{dim.name}"] = write(month_path(out, dim.name, month), months[dim.name])
        written[f"carry:{dim.name}"] = write(carry_path(out, dim.name, month), carry[dim.name])
    return written


def read_carry(out: Path, month: date) -> dict[str, pa.Table]:
    return {dim.name: pq.ParquetFile(carry_path(out, dim.name, month)).read() for dim in DIMS}


# --- the reference: the definition, in DuckDB SQL, over all the rollup days -------------------


def reference_connection(lake: Path) -> duckdb.DuckDBPyConnection:
    """The source rollups as tests/month_reference.py reads them: a view each, with ``day``."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    for source, columns in SOURCE_COLUMNS.items():
        glob = lake / source / f"app_id={APP}" / "dt=*" / "*.parquet"
        con.execute(
            f"CREATE VIEW {source} AS SELECT CAST(regexp_extract(filename, 'dt=([0-9-]+)', 1) AS DATE) AS day, "
            f"{', '.join(columns)} FROM read_parquet('{glob}', filename = true) WHERE app_id = '{APP}'"
        )
    return con


def reference_sql(dim: Dimension, month: date) -> tuple[str, pa.Schema]:
    return month_reference.month_rows_sql(dim, month), MONTH_SCHEMAS[dim.name]


def reference_carry_sql(dim: Dimension, month: date) -> tuple[str, pa.Schema]:
    return month_reference.carry_sql(dim, month), carry_schema(dim, month)


def assert_equal(con: duckdb.DuckDBPyConnection, label: str, built: pa.Table, reference: tuple[str, pa.Schema]) -> int:
    """``built`` equals the reference rows in order, or SystemExit with the differences."""
    sql, schema = reference
    want = month_reference.reference(con, sql, schema)
    if built.equals(want):
        return want.num_rows
    con.register("built", built)
    con.register("want", want)
    try:
        extra = con.execute("SELECT * FROM built EXCEPT ALL SELECT * FROM want LIMIT 5").fetchall()
        missing = con.execute("SELECT * FROM want EXCEPT ALL SELECT * FROM built LIMIT 5").fetchall()
    finally:
        con.unregister("built")
        con.unregister("want")
    raise SystemExit(
        f"MISMATCH {label}: built {built.num_rows} rows, reference {want.num_rows} (or the same rows in another order); "
        f"built but not in the reference (first 5): {extra}; in the reference but not built (first 5): {missing}"
    )


# --- sizes ------------------------------------------------------------------------------------


def order_bytes(table: pa.Table, value_names: tuple[str, ...]) -> dict[str, dict[str, int]]:
    """File and ``visitor_key`` bytes of ``table`` as built (by key, then values) and sorted by
    (values, key), each with the key plain (the lake's writer settings) and DELTA_BINARY_PACKED."""
    by_value = table.sort_by([(v, "ascending") for v in (*value_names, "visitor_key")]) if value_names else table
    sizes = {}
    with tempfile.TemporaryDirectory(prefix="monthbuild-") as tmp:
        for order, t in (("by_key", table), ("by_value", by_value)):
            for encoding in ("plain", "delta"):
                path = Path(tmp) / f"{order}-{encoding}.parquet"
                if encoding == "plain":
                    path.write_bytes(parquet_bytes(t, PLAIN))
                else:
                    others = [c for c in t.column_names if c != "visitor_key"]
                    pq.write_table(
                        t,
                        path,
                        compression="snappy",
                        use_dictionary=others,
                        column_encoding={"visitor_key": "DELTA_BINARY_PACKED"},
                    )
                sizes[f"{order}_{encoding}"] = {"file": path.stat().st_size, "key": billing.column_sizes(path)["visitor_key"]}
    return sizes


# --- one timed build, in a fresh process ------------------------------------------------------


def vm(field: str) -> float:
    with open("/proc/self/status") as f:
        return int(next(line for line in f if line.startswith(field + ":")).split()[1]) / 1024


def timed_build(lake: Path, month: date, carry_from: Path | None, out: Path) -> dict[str, Any]:
    """Read, build, write one month; CPU and wall per step, peak RSS."""
    rss_start = vm("VmRSS")
    u0 = resource.getrusage(resource.RUSAGE_SELF)
    c0, w0 = time.process_time(), time.perf_counter()
    days = lake_days(lake, month)
    rows = read_days(lake, days)
    carry = read_carry(carry_from, add_months(month, -1)) if carry_from is not None else None
    c1, w1 = time.process_time(), time.perf_counter()
    built = build_month(month, rows, carry)
    months, carried = built.rows, built.carry
    c2, w2 = time.process_time(), time.perf_counter()
    written = write_month(out, month, months, carried)
    c3, w3 = time.process_time(), time.perf_counter()
    u3 = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "user_s": u3.ru_utime - u0.ru_utime,
        "sys_s": u3.ru_stime - u0.ru_stime,
        "minor_faults": u3.ru_minflt - u0.ru_minflt,
        "month": f"{month:%Y-%m}",
        "days": len(days),
        "day_rows": sum(t.num_rows for t in rows.values()),
        "carry_in_rows": sum(t.num_rows for t in carry.values()) if carry else 0,
        "cpu": {"read": c1 - c0, "build": c2 - c1, "write": c3 - c2, "total": c3 - c0},
        "wall": {"read": w1 - w0, "build": w2 - w1, "write": w3 - w2, "total": w3 - w0},
        "rss_after_imports_mib": rss_start,
        "peak_rss_mib": vm("VmHWM"),
        "bytes_month": sum(v for k, v in written.items() if k.startswith("month:")),
        "bytes_carry": sum(v for k, v in written.items() if k.startswith("carry:")),
    }


def run_child(lake: Path, which: str, carry_from: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="monthbuild-run-") as out:
        cmd = [
            sys.executable,
            "-m",
            "bench.bench_month_build",
            "--lake",
            str(lake),
            "--child",
            which,
            "--carry-from",
            str(carry_from),
            "--out",
            out,
        ]
        done = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT.parent)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# --- the same builds inside the artifact test's Lambda emulation (--lambda) -------------------

# The probe module: the layer's pyarrow and numpy, python3.13 -I -S, the packaged chalicelib's
# month build and writer.
LAMBDA_HANDLER = """
from datetime import date

import numpy as np
import pyarrow as pa

from chalicelib.lake.month import DIMENSIONS as DIMS
from chalicelib.lake.month import SOURCE_COLUMNS, build_month

import resource as _resource
import time as _time

import pyarrow.parquet as _pq

from chalicelib.lake.parquetio import parquet_bytes as _parquet_bytes


def _vm(field):
    with open("/proc/self/status") as f:
        return int(next(line for line in f if line.startswith(field + ":")).split()[1]) / 1024


def handler(event, context):
    from pathlib import Path

    lake, out, month = Path(event["lake"]), Path(event["out"]), date.fromisoformat(event["month"])
    rss_start, u0 = _vm("VmRSS"), _resource.getrusage(_resource.RUSAGE_SELF)
    c0, w0 = _time.process_time(), _time.perf_counter()
    rows = {}
    for source, columns in SOURCE_COLUMNS.items():
        parts = []
        for d in [date.fromisoformat(x) for x in event["days"]]:
            path = lake / source / f"app_id={event['app']}" / f"dt={d.isoformat()}" / "rollup.parquet"
            t = _pq.ParquetFile(path).read(columns=list(columns))
            parts.append(t.append_column("day", pa.array([d] * t.num_rows, type=pa.date32())))
        rows[source] = pa.concat_tables(parts)
    carry = None
    if event["carry_from"]:
        carry = {dim.name: _pq.ParquetFile(Path(event["carry_from"]) / f"dim={dim.name}.parquet").read() for dim in DIMS}
    c1 = _time.process_time()
    built = build_month(month, rows, carry)
    months, carried = built.rows, built.carry
    c2 = _time.process_time()
    written = 0
    for dim in DIMS:
        for kind, table in (("month", months[dim.name]), ("carry", carried[dim.name])):
            path = out / kind / f"{dim.name}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            body = _parquet_bytes(table, frozenset({"visitor_key"}))
            path.write_bytes(body)
            written += len(body)
    c3, w3 = _time.process_time(), _time.perf_counter()
    u3 = _resource.getrusage(_resource.RUSAGE_SELF)
    return {
        "pyarrow": pa.__version__, "numpy": np.__version__,
        "cpu": {"read": c1 - c0, "build": c2 - c1, "write": c3 - c2, "total": c3 - c0}, "wall": w3 - w0,
        "user_s": u3.ru_utime - u0.ru_utime, "sys_s": u3.ru_stime - u0.ru_stime,
        "rss_after_imports_mib": rss_start, "peak_rss_mib": _vm("VmHWM"), "bytes": written,
        "month_rows": sum(t.num_rows for t in months.values()),
    }
"""


def lambda_runs(lake: Path, out: Path, repeat: int) -> dict[str, list[dict[str, Any]]]:
    """(a) and (b) in the Lambda emulation (bench._lambdaprobe), a fresh process each."""
    from bench._lambdaprobe import emulation

    source = LAMBDA_HANDLER
    runs: dict[str, list[dict[str, Any]]] = {"nov": [], "oct": []}
    with tempfile.TemporaryDirectory(prefix="monthbuild-lambda-") as tmp:
        runtime = emulation(Path(tmp), "month_build_probe", source)
        for _ in range(repeat):
            for which in runs:
                month, with_carry, _label = SCENARIOS[which]
                event = {
                    "lake": str(lake),
                    "app": APP,
                    "month": month.isoformat(),
                    "days": [d.isoformat() for d in lake_days(lake, month)],
                    "carry_from": str(carry_path(out, "x", add_months(month, -1)).parent) if with_carry else None,
                    "out": str(out / "lambda" / which),
                }
                [outcome] = runtime.invoke("export_worker", [event], handler="month_build_probe.handler")
                if "result" not in outcome:
                    raise SystemExit(f"lambda {which}: {outcome.get('message')}\n{outcome.get('trace')}")
                runs[which].append(outcome["result"])
    for which in runs:  # the layer's pyarrow and numpy build the same rows, in the same order
        month = SCENARIOS[which][0]
        for dim in DIMS:
            ours = pq.ParquetFile(month_path(out, dim.name, month)).read()
            theirs = pq.ParquetFile(out / "lambda" / which / "month" / f"{dim.name}.parquet").read()
            if not theirs.equals(ours):
                raise SystemExit(f"MISMATCH: the Lambda emulation's {dim.name} rows of {month:%Y-%m} differ from this build's")
    return runs


# --- the run ----------------------------------------------------------------------------------


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def synthetic_lake(root: Path, seed: int = 7) -> list[date]:
    """A small lake of the five source rollups over eight months (2026-01..2026-08), on random
    days with gaps, from a pool of 60 visitors who come back after up to seven months: what the
    benchmark lake (two months) cannot exercise, the LOOKBACK's expiry through a chain of carry
    files. Values include NULL, bots without and with a browser, and positions on the rounding
    edges of the geo cell, round(x * 10) / 10 (0.05, 0.15, 1.25, -0.05, -1.25)."""
    rng = np.random.default_rng(seed)
    first, last = date(2026, 1, 1), date(2026, 8, 31)
    all_days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    days = sorted(all_days[i] for i in rng.choice(len(all_days), size=70, replace=False))
    names = np.array(["a", "b", "c", None], dtype=object)
    edges = np.array([0.05, 0.15, 1.25, -0.05, -1.25, 12.34, -0.04, 0.04, -0.0, None], dtype=object)
    for d in days:
        n = int(rng.integers(5, 40))
        keys = rng.integers(0, 60, size=n) * 7919 - 200_000  # negative keys too, like hashed ones
        bot = rng.random(n) < 0.3

        def pick(values: np.ndarray, m: int = n) -> pa.Array:
            return pa.array(values[rng.integers(0, len(values), size=m)].tolist())

        tables = {
            "rollup_visitor_days": {
                "bot_reason": pa.array([rng.choice(["crawler", None]) if b else None for b in bot], pa.string()),
                "browser": pick(names),
                "device_type": pick(names),
                "os": pick(names),
                "country": pick(names),
            },
            "rollup_page_days": {"path": pick(names)},
            "rollup_event_days": {"event_type": pick(names), "event_name": pick(names)},
            "rollup_geo_days": {"geo_lat": pick(edges).cast(pa.float64()), "geo_lon": pick(edges).cast(pa.float64())},
            "rollup_sessions": {
                c: pick(names) for c in ("entry_path", "exit_path", "referrer_host", "utm_source", "utm_medium", "utm_campaign")
            },
        }
        for source, columns in tables.items():
            t = pa.table({"app_id": [APP] * n, "visitor_key": pa.array(keys, pa.int64()), "is_bot": pa.array(bot), **columns})
            path = root / source / f"app_id={APP}" / f"dt={d.isoformat()}" / "rollup.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(t, path)
    return days


def check_synthetic() -> None:
    """The carry chain over eight months of a synthetic lake equals the definition, every month,
    every dimension, month rows and carry."""
    with tempfile.TemporaryDirectory(prefix="monthbuild-synthetic-") as tmp:
        lake, out = Path(tmp) / "lake", Path(tmp) / "out"
        synthetic_lake(lake)
        con = reference_connection(lake)
        carry: dict[str, pa.Table] | None = None
        checked = expired = 0
        for i in range(8):
            month = date(2026, 1 + i, 1)
            built = build_month(month, read_days(lake, lake_days(lake, month)), carry)
            months, carried = built.rows, built.carry
            write_month(out, month, months, carried)
            for dim in DIMS:
                checked += assert_equal(con, f"synthetic {dim.name} {month:%Y-%m}", months[dim.name], reference_sql(dim, month))
                assert_equal(con, f"synthetic {dim.name} carry {month:%Y-%m}", carried[dim.name], reference_carry_sql(dim, month))
                if carry is not None:
                    expired += carry[dim.name].num_rows - int(
                        pc.sum(pc.greater_equal(carry[dim.name].column("last_all"), add_months(month, -LOOKBACK))).as_py() or 0
                    )
            carry = read_carry(out, month)
        con.close()
    print(f"synthetic lake, 8 months chained through carry files: {checked:,} month rows equal; {expired:,} carry rows expired")


def check_and_size(lake: Path, out: Path) -> dict[str, Any]:
    shutil.rmtree(out, ignore_errors=True)
    october = lake_days(lake, OCTOBER)
    november = lake_days(lake, NOVEMBER)
    oct_built = build_month(OCTOBER, read_days(lake, october), None)
    oct_rows, oct_carry = oct_built.rows, oct_built.carry
    write_month(out, OCTOBER, oct_rows, oct_carry)
    nov_built = build_month(NOVEMBER, read_days(lake, november), read_carry(out, OCTOBER))
    nov_rows, nov_carry = nov_built.rows, nov_built.carry
    write_month(out, NOVEMBER, nov_rows, nov_carry)

    con = reference_connection(lake)
    print("equality against the reference (DuckDB SQL from the definition), rows per dim:")
    for dim in DIMS:
        o = assert_equal(con, f"{dim.name} 2026-10", oct_rows[dim.name], reference_sql(dim, OCTOBER))
        n = assert_equal(con, f"{dim.name} 2026-11", nov_rows[dim.name], reference_sql(dim, NOVEMBER))
        c = assert_equal(con, f"{dim.name} carry 2026-11", nov_carry[dim.name], reference_carry_sql(dim, NOVEMBER))
        prevs = nov_rows[dim.name].column("prev_all").null_count
        print(
            f"  {dim.name:>9}: October {o:>9,} equal; November {n:>9,} equal ({n - prevs:,} with a prev); "
            f"November carry {c:>9,} equal"
        )
    con.close()

    sizes: dict[str, Any] = {"dims": {}}
    print(
        "\nNovember (19 days): rows and bytes per dim (snappy); B/row of the file and of its visitor_key, "
        "ordered by key then values (as built) / by values then key, key plain; the same with the key delta-encoded"
    )
    for dim in DIMS:
        t = nov_rows[dim.name]
        kb = order_bytes(t, dim.value_names)
        per = {k: {c: v / max(t.num_rows, 1) for c, v in b.items()} for k, b in kb.items()}
        mb = month_path(out, dim.name, NOVEMBER).stat().st_size
        cb = carry_path(out, dim.name, NOVEMBER).stat().st_size
        cr = nov_carry[dim.name].num_rows
        sizes["dims"][dim.name] = {"rows": t.num_rows, "bytes": mb, "key": kb, "carry_rows": cr, "carry_bytes": cb}
        print(
            f"  {dim.name:>9}: {t.num_rows:>9,} rows {mb / 2**20:7.2f} MiB ({mb / max(t.num_rows, 1):5.2f} B/row; "
            f"by key {per['by_key_plain']['file']:.2f} (key {per['by_key_plain']['key']:.2f}) / "
            f"by value {per['by_value_plain']['file']:.2f} (key {per['by_value_plain']['key']:.2f}); "
            f"delta: {per['by_key_delta']['file']:.2f} ({per['by_key_delta']['key']:.2f}) / "
            f"{per['by_value_delta']['file']:.2f} ({per['by_value_delta']['key']:.2f})); "
            f"carry {cr:>9,} rows {cb / 2**20:6.2f} MiB"
        )
    tot_rows = sum(d["rows"] for d in sizes["dims"].values())
    tot_bytes = sum(d["bytes"] for d in sizes["dims"].values())
    for variant in ("by_key_plain", "by_value_plain", "by_key_delta", "by_value_delta"):
        file_bytes = sum(d["key"][variant]["file"] for d in sizes["dims"].values())
        key_col = sum(d["key"][variant]["key"] for d in sizes["dims"].values())
        sizes[variant] = {"file": file_bytes, "key": key_col}
        print(f"  all dims, {variant}: {file_bytes / tot_rows:.3f} B/row (visitor_key {key_col / tot_rows:.3f})")
    tot_carry = sum(d["carry_rows"] for d in sizes["dims"].values())
    tot_cbytes = sum(d["carry_bytes"] for d in sizes["dims"].values())
    print(
        f"  {'all':>9}: {tot_rows:>9,} rows {tot_bytes / 2**20:7.2f} MiB; "
        f"carry {tot_carry:>9,} rows {tot_cbytes / 2**20:6.2f} MiB"
    )
    oct_total = sum(t.num_rows for t in oct_rows.values())
    print(f"  October (10 days): {oct_total:,} month rows; October carry {sum(t.num_rows for t in oct_carry.values()):,} rows")

    # month rows against days closed, November from October's carry (how the month file grows)
    growth = {}
    all_nov = read_days(lake, november)
    carry = read_carry(out, OCTOBER)
    for k in (1, 5, 10, 15, len(november)):
        through = november[k - 1]
        part = {s: t.filter(pc.less_equal(t.column("day"), through)) for s, t in all_nov.items()}
        rows_k = build_month(NOVEMBER, part, carry).rows
        growth[k] = {"rows": sum(t.num_rows for t in rows_k.values()), "day_rows": sum(t.num_rows for t in part.values())}
    print("  November month rows after d days closed: " + ", ".join(f"{k}: {g['rows']:,}" for k, g in growth.items()))
    print("  (source day rows read:                   " + ", ".join(f"{k}: {g['day_rows']:,}" for k, g in growth.items()) + ")")
    sizes.update(
        total_rows=tot_rows,
        total_bytes=tot_bytes,
        carry_rows=tot_carry,
        carry_bytes=tot_cbytes,
        october_rows=oct_total,
        growth=growth,
        events={"2026-10": events_of(lake, october), "2026-11": events_of(lake, november)},
    )
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--lake", type=Path, default=LAKE)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--lambda", dest="in_lambda", action="store_true", help="also time (a) and (b) in the Lambda emulation")
    parser.add_argument("--child", choices=tuple(SCENARIOS), help=argparse.SUPPRESS)
    parser.add_argument("--carry-from", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        month, with_carry, _ = SCENARIOS[args.child]
        carry_from = args.carry_from if with_carry else None
        print(json.dumps(timed_build(args.lake, month, carry_from, args.out)))
        return 0

    if not (args.lake / "rollup_visitor_days" / f"app_id={APP}").is_dir():
        print(f"no modeled lake at {args.lake}: build it with bench.bench_rollups, or pass --lake", file=sys.stderr)
        return 2
    print(f"pyarrow {pa.__version__}; lake {args.lake}")
    print(f"uptime before: {uptime()}")
    check_synthetic()
    sizes = check_and_size(args.lake, args.out)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in SCENARIOS}
    for _ in range(args.repeat):
        for which in SCENARIOS:
            runs[which].append(run_child(args.lake, which, args.out))
    after = uptime()
    print(f"\ntimed builds, median of {args.repeat}, a fresh process each (read + build + write):")
    summary: dict[str, Any] = {}
    for which, (month, _, label) in SCENARIOS.items():
        r = runs[which]
        events = sizes["events"][f"{month:%Y-%m}"]

        def med(part: str, step: str, r: list[dict[str, Any]] = r) -> float:
            return statistics.median(x[part][step] for x in r)

        peak = statistics.median(x["peak_rss_mib"] for x in r)
        user = statistics.median(x["user_s"] for x in r)
        system = statistics.median(x["sys_s"] for x in r)
        totals = ", ".join(f"{x['cpu']['total']:.2f}" for x in r)
        base = statistics.median(x["rss_after_imports_mib"] for x in r)
        summary[which] = {
            "events": events,
            "cpu": {s: med("cpu", s) for s in ("read", "build", "write", "total")},
            "wall": {s: med("wall", s) for s in ("read", "build", "write", "total")},
            "user_s": user,
            "sys_s": system,
            "peak_rss_mib": peak,
            "rss_after_imports_mib": base,
            "day_rows": r[0]["day_rows"],
            "carry_in_rows": r[0]["carry_in_rows"],
            "runs": r,
        }
        print(
            f"  {label}: {events:,} events, {r[0]['day_rows']:,} day rows, {r[0]['carry_in_rows']:,} carry rows in\n"
            f"    CPU {med('cpu', 'total'):.2f} s (read {med('cpu', 'read'):.2f}, build {med('cpu', 'build'):.2f}, "
            f"write {med('cpu', 'write'):.2f}; user {user:.2f}, system {system:.2f}); wall {med('wall', 'total'):.2f} s; "
            f"per million events: CPU {med('cpu', 'total') / events * 1e6:.3f} s, user {user / events * 1e6:.3f} s;\n    "
            f"peak RSS {peak:.0f} MiB ({base:.0f} after imports); "
            f"all CPU totals {totals}"
        )
    if args.in_lambda:
        lam = lambda_runs(args.lake, args.out, args.repeat)
        summary["lambda"] = lam
        first = lam["nov"][0]
        print(f"\nin the Lambda emulation (pyarrow {first['pyarrow']}, numpy {first['numpy']}), median of {args.repeat}:")
        for which, r in lam.items():
            events = sizes["events"][f"{SCENARIOS[which][0]:%Y-%m}"]
            cpu = statistics.median(x["cpu"]["total"] for x in r)
            user = statistics.median(x["user_s"] for x in r)
            build = statistics.median(x["cpu"]["build"] for x in r)
            peak = statistics.median(x["peak_rss_mib"] for x in r)
            print(
                f"  {SCENARIOS[which][2]}: CPU {cpu:.2f} s (user {user:.2f}, build {build:.2f}); "
                f"user per million events {user / events * 1e6:.3f} s; peak RSS {peak:.0f} MiB"
            )
        after = uptime()
    print(f"uptime after: {after}")
    result = {
        "sizes": sizes,
        "timed": summary,
        "uptime_after": after,
        "pyarrow": pa.__version__,
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (args.out / "figures.json").write_text(json.dumps(result, indent=1, default=str))
    print(f"figures: {args.out / 'figures.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
