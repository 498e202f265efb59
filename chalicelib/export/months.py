"""Housekeeping's I/O for ``rollup_visitor_months`` (decision 0017 step 2): one month of one app
rebuilt from the lake, in key-range parts. The build itself is pure (chalicelib/lake/month); the
protocol (which months, when, what readers may trust) is chalicelib/export/rollups.py's.

Where things are::

    rollup_visitor_months/app_id=<app>/dim=<dim>/month=<YYYY-MM>/part-<i>-of-<n>.parquet
    _state/month_carry/app_id=<app>/month=<YYYY-MM>/dim=<dim>/part-<i>-of-<n>.parquet

A month of an app is ``n`` parts, part i the visitor keys of ``plan_ranges(n)[i]``, every file
of the part (13 dimensions, 13 carries) holding exactly that range, rows ordered by key in row
groups of ``KEY_GROUP_ROWS`` with min/max statistics on the key, so that a reader of a range
fetches only its groups (``month.row_groups``). ``n`` is chosen at the month's first build
(``part_count``: the month's day rows so far, scaled to the whole month, with headroom; a small
app 1) and kept while any file of the month is there: the names say it (a listing, no other
record). Readers may read a month's rows while it is rebuilt, for its days before the least dirty
entry; parts of one ``n`` agree on those days, so a mix of old and new parts answers the same.

A part too large for one build is built in sub-ranges (``plan_ranges(m, part)``), each appended to
the part's files as row groups, so memory is bounded by ``ROWS_PER_BUILD`` input rows whatever n.
A month too long for one invocation is built over several: the build stops before a part when
told (``may_start``) and picks up after the parts done (``Resume``), which the caller records
(chalicelib/export/rollups.py: the app's dirty item, valid while the month's version is).

The carry of M - 1 is what M's build starts from. A month with no rolled-up day has no files and
no carry: its carry is derived on the way (``_carry_before``: the latest carry of the lookback
months before M, carried through the empty months by builds without days), so a month with no
events between two that have some loses nothing.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import date
from typing import Any, Callable, Mapping

import pyarrow as pa
import pyarrow.parquet as pq

from chalicelib.export.ranged import RANGED_ABOVE, RangedObject
from chalicelib.lake import key_ranges, layout, parquetio, rollup
from chalicelib.lake import month as m
from chalicelib.lake.month.build import MonthInputError
from chalicelib.lake.month.dimensions import TABLE as MONTH_TABLE
from chalicelib.lake.month.dimensions import carry_schema
from chalicelib.lake.parquetio import Lake

CARRY = "month_carry"  # under the export's _state/: no reader sees it
# Input rows (day rows and carry rows) one build holds: about 130 bytes of memory each in the
# build (docs/performance-dashboard.md, *Month grain: what building it costs*), so about 260 MB.
ROWS_PER_BUILD = 2_000_000
# Expected input rows of the whole month per part, and the headroom over the estimate: decision
# 0017's 130-380 slices at 1.7-4.9 billion rows a month are about 13 million rows each.
ROWS_PER_PART = 10_000_000
HEADROOM = 2
# Day rollup and carry bytes per row when a file is too small to read its footer for (below
# RANGED_ABOVE): an underestimate of the bytes (more rows) only makes parts smaller.
BYTES_PER_ROW = 8
KEY_GROUP_ROWS = parquetio.KEY_SORTED_GROUP_ROWS  # as the key-sorted day rollups: a range reads few groups
_PART = re.compile(r"part-(\d+)-of-(\d+)\.parquet$")


# -- where the files are (pure) -------------------------------------------------------------------
def month_text(month: date) -> str:
    return f"{month:%Y-%m}"


def table_prefix(prefix: str, app: str) -> str:
    return layout.app_prefix(prefix, MONTH_TABLE, app)


def carry_prefix(prefix: str, app: str) -> str:
    return f"{layout.state_prefix(prefix)}{CARRY}/app_id={app}/"


def part_name(i: int, n: int) -> str:
    return f"part-{i}-of-{n}.parquet"


def month_key(prefix: str, app: str, dim: str, month: date, i: int, n: int) -> str:
    return f"{table_prefix(prefix, app)}dim={dim}/month={month_text(month)}/{part_name(i, n)}"


def carry_key(prefix: str, app: str, month: date, dim: str, i: int, n: int) -> str:
    return f"{carry_prefix(prefix, app)}month={month_text(month)}/dim={dim}/{part_name(i, n)}"


def parse_part(key: str) -> tuple[int, int] | None:
    """(i, n) of a part file's key, None for any other key."""
    found = _PART.search(key)
    return (int(found.group(1)), int(found.group(2))) if found else None


def month_of(key: str) -> date | None:
    """The month of a month file's or carry file's key."""
    found = re.search(r"/month=(\d{4})-(\d{2})/", key)
    return date(int(found.group(1)), int(found.group(2)), 1) if found else None


def days_in(month: date) -> int:
    return (m.add_months(month, 1) - month).days


def part_count(rows: int, days_rolled: int, month: date, rows_per_part: int = ROWS_PER_PART) -> int:
    """Pure: the parts of a month first built with ``rows`` input rows over ``days_rolled`` days:
    the rows scaled to the whole month, with ``HEADROOM``, ``rows_per_part`` each, at least 1."""
    expected = rows * days_in(month) * HEADROOM // max(1, days_rolled)
    return max(1, min(key_ranges.MAX_RANGES, -(-expected // rows_per_part)))


def builds_in(rows: int, rows_per_build: int = ROWS_PER_BUILD) -> int:
    """Pure: the sub-ranges a part of about ``rows`` input rows is built in."""
    return max(1, -(-rows // max(1, rows_per_build)))


# -- reading --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PartFile:
    """One lake object read by key range: a day rollup (with its day) or a carry part."""

    key: str
    size: int
    day: date | None = None

    def rows(self, lake: Lake) -> int:
        """Its rows: a large object's from its footer (two ranged GETs), a small one's estimated."""
        if self.size <= RANGED_ABOVE:
            return self.size // BYTES_PER_ROW
        return pq.ParquetFile(RangedObject(lake, self.key, self.size), pre_buffer=False).metadata.num_rows

    def read(self, lake: Lake, key_range: m.KeyRange, columns: list[str] | None = None) -> pa.Table:
        """Its rows of ``key_range``: only the row groups whose key statistics may hold some
        (every group of an unsorted file), then exactly the range's rows."""
        source: Any = (
            io.BytesIO(lake.read_bytes(self.key)) if self.size <= RANGED_ABOVE else RangedObject(lake, self.key, self.size)
        )
        parquet = pq.ParquetFile(source, pre_buffer=False)
        have = parquet.schema_arrow.names if columns is None else [c for c in columns if c in parquet.schema_arrow.names]
        groups = m.row_groups(parquet.metadata, key_range)
        if groups:
            table = parquet.read_row_groups(groups, columns=have)
        else:
            table = parquet.schema_arrow.empty_table().select(have)
        return m.select(table, key_range)


def _day_schema(source: str) -> pa.Schema:
    fields = {f.name: f for f in rollup.SCHEMAS[source]}
    return pa.schema([pa.field("day", pa.date32()), *(fields[c] for c in m.SOURCE_COLUMNS[source])])


@dataclass(frozen=True)
class MonthInputs:
    """Month M's rolled-up day files of each source rollup (one LIST per source)."""

    month: date
    files: Mapping[str, tuple[PartFile, ...]]

    @classmethod
    def list(cls, lake: Lake, prefix: str, app: str, month: date) -> MonthInputs:
        files = {}
        for source in m.SOURCE_COLUMNS:
            base = layout.app_prefix(prefix, source, app) + f"dt={month_text(month)}-"
            files[source] = tuple(
                PartFile(o["Key"], int(o.get("Size", 0)), date.fromisoformat(layout.partition_of(o["Key"])[1]))
                for o in lake.list(base)
                if o["Key"].endswith("/" + rollup.FILE_NAME)
            )
        return cls(month, files)

    @property
    def days(self) -> set[date]:
        return {f.day for files in self.files.values() for f in files if f.day is not None}

    def rows(self, lake: Lake) -> int:
        return sum(f.rows(lake) for files in self.files.values() for f in files)

    def read(self, lake: Lake, key_range: m.KeyRange) -> dict[str, pa.Table]:
        """Per source, its rows of ``key_range`` on every day of the month, with their ``day``."""
        out = {}
        for source, files in self.files.items():
            schema = _day_schema(source)
            tables = [schema.empty_table()]
            for f in files:
                rows = f.read(lake, key_range, list(m.SOURCE_COLUMNS[source]))
                missing = [c for c in m.SOURCE_COLUMNS[source] if c not in rows.column_names]
                if missing:
                    raise MonthInputError(
                        f"{f.key} lacks columns {missing}: an older release rolled it up; "
                        f"{month_text(self.month)} is built once that day is rebuilt (it is marked dirty with it)"
                    )
                day = pa.array([f.day] * rows.num_rows, pa.date32())
                tables.append(rows.select(list(m.SOURCE_COLUMNS[source])).add_column(0, "day", day).cast(schema))
            out[source] = pa.concat_tables(tables)
        return out


def _empty_days() -> dict[str, pa.Table]:
    return {source: _day_schema(source).empty_table() for source in m.SOURCE_COLUMNS}


def _listed(lake: Lake, base: str) -> list[dict[str, Any]]:
    return [o for o in lake.list(base) if parse_part(o["Key"])]


def carries(lake: Lake, prefix: str, app: str) -> dict[date, list[dict[str, Any]]]:
    """The app's carry part files per month (one LIST)."""
    out: dict[date, list[dict[str, Any]]] = {}
    for o in _listed(lake, carry_prefix(prefix, app)):
        month = month_of(o["Key"])
        if month is not None:
            out.setdefault(month, []).append(o)
    return out


@dataclass(frozen=True)
class CarryBefore:
    """What M's build starts from: the carry of the latest month K in M's lookback that has one
    (its part files per dimension), carried through K+1 .. M-1 (no rolled-up day: no files)."""

    month: date
    kept: date | None  # K, None: nothing in the lookback (the app's first month, or all expired)
    parts: Mapping[str, tuple[tuple[m.KeyRange, PartFile], ...]]

    @classmethod
    def find(cls, lake: Lake, prefix: str, app: str, month: date) -> CarryBefore:
        listed = carries(lake, prefix, app)
        for back in range(1, m.LOOKBACK_MONTHS + 1):
            k = m.add_months(month, -back)
            if k in listed:
                return cls(month, k, _carry_parts(listed[k], k))
        return cls(month, None, {})

    def rows(self) -> int:
        return sum(f.size // BYTES_PER_ROW for parts in self.parts.values() for _, f in parts)

    def read(self, lake: Lake, key_range: m.KeyRange) -> dict[str, pa.Table] | None:
        """M-1's carry for the visitors of ``key_range``, per dimension (None: none)."""
        if self.kept is None:
            return None
        out = {}
        for dim in m.DIMENSIONS:
            tables = [f.read(lake, key_range) for r, f in self.parts[dim.name] if r.lo < key_range.hi and key_range.lo < r.hi]
            schema = carry_schema(dim, self.kept)
            out[dim.name] = pa.concat_tables([t.cast(schema) for t in tables]) if tables else schema.empty_table()
        k = self.kept
        while k < m.add_months(self.month, -1):  # months without days: no rows, their carry only
            k = m.add_months(k, 1)
            out = m.build_month(k, _empty_days(), out, key_range).carry
        return out


def _carry_parts(objects: list[dict[str, Any]], month: date) -> dict[str, tuple[tuple[m.KeyRange, PartFile], ...]]:
    per_dim: dict[str, list[tuple[int, int, PartFile]]] = {}
    for o in objects:
        dim = o["Key"].split("/dim=", 1)[1].split("/", 1)[0]
        i, n = parse_part(o["Key"]) or (0, 0)
        per_dim.setdefault(dim, []).append((n, i, PartFile(o["Key"], int(o.get("Size", 0)))))
    out = {}
    for dim in m.DIMENSIONS:
        parts = sorted(per_dim.get(dim.name, []), key=lambda p: (p[0], p[1]))
        counts = {n for n, _, _ in parts}
        if len(counts) != 1 or [i for _, i, _ in parts] != list(range(parts[0][0])):
            raise MonthInputError(
                f"the {dim.name} carry of {month_text(month)} has parts {[f.key.rsplit('/', 1)[-1] for _, _, f in parts]}, "
                "not one complete set; the months after it are not built until it is rebuilt"
            )
        n = parts[0][0]
        ranges = m.plan_ranges(n)
        out[dim.name] = tuple((ranges[i], f) for _, i, f in parts)
    return out


# -- writing --------------------------------------------------------------------------------------
def _writer_options(schema: pa.Schema) -> dict[str, Any]:
    options = parquetio.options(schema.names, plain={"visitor_key", "mask_all", "mask_people"})
    options["write_statistics"] = ["visitor_key"]  # what a range's reader selects groups by
    return options


class _PartWriter:
    """A part's 26 files in memory: each sub-range's build appended as row groups, in key order."""

    def __init__(self, month: date) -> None:
        self.sinks: dict[tuple[str, str], io.BytesIO] = {}
        self.writers: dict[tuple[str, str], pq.ParquetWriter] = {}
        for dim in m.DIMENSIONS:
            for kind, schema in (("rows", m.MONTH_SCHEMAS[dim.name]), ("carry", carry_schema(dim, month))):
                sink = io.BytesIO()
                self.sinks[kind, dim.name] = sink
                self.writers[kind, dim.name] = pq.ParquetWriter(sink, schema, **_writer_options(schema))

    def append(self, built: m.MonthBuild) -> None:
        for dim in m.DIMENSIONS:
            for kind, tables in (("rows", built.rows), ("carry", built.carry)):
                if tables[dim.name].num_rows:
                    self.writers[kind, dim.name].write_table(tables[dim.name], row_group_size=KEY_GROUP_ROWS)

    def close(self) -> dict[tuple[str, str], bytes]:
        for writer in self.writers.values():
            writer.close()
        return {what: sink.getvalue() for what, sink in self.sinks.items()}


@dataclass(frozen=True)
class MonthResult:
    month: date
    parts: int  # n (0: the month has no rolled-up day; its files were deleted)
    rows: int  # month rows written, all dimensions
    files: int  # PUTs
    finished: bool = True  # False: stopped before a part (``may_start``); the parts after stay to build


@dataclass(frozen=True)
class Resume:
    """A build of the month picked up after its first ``done`` parts of ``n``, written from the
    same inputs by an earlier pass (the caller vouches for the inputs: rollups.resume_of)."""

    n: int
    done: int


def first_part(resume: Resume | None, n: int) -> int:
    """Pure: the first part to build: after the parts done, if they were parts of this n."""
    return min(resume.done, n) if resume is not None and resume.n == n else 0


def existing_parts(lake: Lake, prefix: str, app: str, month: date) -> list[str]:
    """Every month and carry file of ``month``: a LIST per dimension's month folder, one of the
    carry's month folder (not of the app's whole table, which grows with the months kept)."""
    text = month_text(month)
    base = table_prefix(prefix, app)
    rows = [o["Key"] for d in m.DIMENSIONS for o in _listed(lake, f"{base}dim={d.name}/month={text}/")]
    return rows + [o["Key"] for o in _listed(lake, carry_prefix(prefix, app) + f"month={text}/")]


def rebuild_month(
    lake: Lake,
    prefix: str,
    app: str,
    month: date,
    crash: Callable[[str], None] = lambda _: None,
    parts: int | None = None,
    rows_per_build: int = ROWS_PER_BUILD,
    resume: Resume | None = None,
    progress: Callable[[int, int], None] = lambda n, done: None,
    may_start: Callable[[], bool] = lambda: True,
) -> MonthResult:
    """Rebuild ``month`` of ``app`` from its day rollups and the carry before it: every part's
    files PUT under their fixed names (a rerun writes the same bytes), then files of another
    part count deleted. A month with no rolled-up day deletes its files and carry instead.
    ``parts`` sets n when the month has no files yet (tests; otherwise ``part_count``).

    Part by part: the parts ``resume`` says are done are skipped (``first_part``); each part
    written is reported (``progress(n, parts done)``); before each part, ``may_start()`` False
    stops the build (``finished`` False: the files of the parts not built are the last build's,
    which readers of the month's days before its least entry may still read)."""
    inputs = MonthInputs.list(lake, prefix, app, month)
    existing = existing_parts(lake, prefix, app, month)
    if not inputs.days:
        if existing:
            lake.delete(_overall_last(existing))
            crash("month_after_delete")
        return MonthResult(month, 0, 0, 0)
    input_rows = inputs.rows(lake)
    if existing:  # n is kept for the month: the overall files', the first a build writes
        n = (parse_part(_overall_last(existing)[-1]) or (0, 1))[1]
    else:
        n = parts if parts is not None else part_count(input_rows, len(inputs.days), month)
    before = CarryBefore.find(lake, prefix, app, month)
    per_part_rows = (input_rows + before.rows()) // n
    written = rows = 0
    start = first_part(resume, n)
    for i, part in enumerate(m.plan_ranges(n)):
        if i < start:
            continue
        if not may_start():
            return MonthResult(month, n, rows, written, finished=False)
        out = _PartWriter(month)
        for sub in m.plan_ranges(builds_in(per_part_rows, rows_per_build), part):
            built = m.build_month(month, inputs.read(lake, sub), before.read(lake, sub), sub)
            rows += sum(t.num_rows for t in built.rows.values())
            out.append(built)
        for (kind, dim), body in out.close().items():
            key = month_key(prefix, app, dim, month, i, n) if kind == "rows" else carry_key(prefix, app, month, dim, i, n)
            lake.put_bytes(key, body)
            written += 1
        crash("month_after_part")
        progress(n, i + 1)
        crash("month_after_record")
    stale = [k for k in existing if (parse_part(k) or (0, 0))[1] != n]
    if stale:  # a month rebuilt with another n after its files were half deleted: none may stay
        lake.delete(stale)
    return MonthResult(month, n, rows, written)


def _overall_last(keys: list[str]) -> list[str]:
    """``keys`` with the overall dimension's month files last: a deletion stopped half-way leaves
    them, and they are what the next build takes n from (the first file a build writes)."""
    first = m.DIMENSIONS[0].name
    overall = f"/dim={first}/month="
    return sorted(keys, key=lambda k: (overall in k and f"/{MONTH_TABLE}/" in k, k))


def expired_months(lake: Lake, prefix: str, app: str, cutoff: str) -> dict[date, list[str]]:
    """Retention: the month and carry files of months wholly before ``cutoff`` (YYYY-MM-DD, the
    first day kept), per month."""
    first_kept = date.fromisoformat(cutoff)
    out: dict[date, list[str]] = {}
    for base in (table_prefix(prefix, app), carry_prefix(prefix, app)):
        for o in _listed(lake, base):
            month = month_of(o["Key"])
            if month is not None and m.add_months(month, 1) <= first_kept:
                out.setdefault(month, []).append(o["Key"])
    return {month: _overall_last(keys) for month, keys in sorted(out.items())}
