"""Random lakes for the rollup property tests (tests/unit/test_rollup_*.py): events of a few
visitors over a few days with the edge cases of the session rule, a lake directory that is also
the rebuild's DaySource, and the panel runner that compares answers."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator, Sequence

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import strategies as st

from chalicelib.lake import month, rollup
from chalicelib.lake.month.dimensions import TABLE as MONTH_TABLE
from chalicelib.lake.parquetio import parquet_bytes
from chalicelib.lake.schema import EVENTS
from chalicelib.lake.transform import conform
from clickstream.lake import catalog, translate
from clickstream.lake.duck import DuckLake
from clickstream.lake.params import NOTHING_ROLLED, bind

APP = "a"
DAY0 = date(2026, 10, 28)  # the lake's days cross a month's end: the month rows of two months
DAYS = 8
TODAY = DAY0 + timedelta(days=DAYS + 1)  # every day of the lake but the last is rollable
GAPS_S = [0, 60, 1799, 1800, 1801, 2700]  # 30:00 exactly starts a session, 29:59 does not
CLOCK = [0, 10, 1380, 1409, 1410, 1411, 1425, 1439, 600]  # minutes: near midnight, at 23:30 (the margin's edge)
NIGHT = [1410, 1425, 1439]  # a night visit's start: its session runs past midnight
NIGHT_GAPS_S = [60, 600, 1799]
CLICKS = ["LIKE_WOOD", "CLICK_LANG", "GEO_LOC", "/demo"]  # an event named like a page is no page view
GEO = [(48.15, 11.55), (48.25, -0.05), (-33.86, 151.2)]  # halves: both paths round the same doubles
# The spec's funnel (read from rollup_funnel_days), an ad-hoc one, one with a repeated step.
FUNNELS = [list(rollup.FUNNELS[0]), ["/b", "LIKE_WOOD"], ["/demo", "/demo", "CLICK_LANG"]]


@dataclass
class Lake:
    root: Path
    events: list[dict[str, Any]] = field(default_factory=list)

    def days(self) -> set[date]:
        return {e["event_time"].date() for e in self.events}

    def write_events(self, days: set[date]) -> None:
        for day in days:
            folder = self.root / "events" / f"app_id={APP}" / f"dt={day}"
            rows = [e for e in self.events if e["event_time"].date() == day]
            for old in folder.glob("*.parquet"):
                old.unlink()
            if rows:
                folder.mkdir(parents=True, exist_ok=True)
                table = pa.Table.from_pylist(rows)
                table = table.set_column(
                    table.schema.get_field_index("event_time"),
                    "event_time",
                    table["event_time"].cast(pa.timestamp("ms", tz="UTC")),
                )
                (folder / "part-1.parquet").write_bytes(parquet_bytes(conform(table, EVENTS)))

    # rollup.DaySource over the directory
    def _files(self, app_id: str, day: date) -> list[Path]:
        return sorted((self.root / "events" / f"app_id={app_id}" / f"dt={day}").glob("*.parquet"))

    def count(self, app_id: str, day: date) -> int:
        return sum(pq.ParquetFile(f).metadata.num_rows for f in self._files(app_id, day))

    def batches(self, app_id: str, day: date, columns: Sequence[str]) -> Iterator[pa.RecordBatch]:
        for f in self._files(app_id, day):
            yield from pq.ParquetFile(f).iter_batches(batch_size=7, columns=list(columns))

    def roll(self, days: set[date], slice_rows: int) -> None:
        for day in sorted(d for d in days if rollup.rollable(d, TODAY)):
            for table, rows in rollup.rebuild_day(self, APP, day, rows_per_slice=slice_rows).items():
                folder = self.root / table / f"app_id={APP}" / f"dt={day}"
                folder.mkdir(parents=True, exist_ok=True)
                (folder / rollup.FILE_NAME).write_bytes(parquet_bytes(rows, rollup.PLAIN.get(table, ())))

    def drop_rollups(self, days: set[date]) -> None:
        for table in rollup.SCHEMAS:
            for day in days:
                for f in (self.root / table / f"app_id={APP}" / f"dt={day}").glob("*.parquet"):
                    f.unlink()

    def build_months(self) -> None:
        """The month rows (rollup_visitor_months) of the rolled-up days, every month rebuilt in
        order from the carry of the month before, as the export's month pass leaves them once no
        month is dirty (chalicelib/export/months.py)."""
        shutil.rmtree(self.root / MONTH_TABLE, ignore_errors=True)
        folder = self.root / "rollup_sessions" / f"app_id={APP}"
        rolled = sorted(date.fromisoformat(p.parent.name[3:]) for p in folder.glob(f"dt=*/{rollup.FILE_NAME}"))
        if not rolled:
            return
        first, carry = rolled[0].replace(day=1), None
        while first <= rolled[-1]:
            built = month.build_month(first, {s: self._month_days(s, first) for s in month.SOURCE_COLUMNS}, carry)
            if any(d.replace(day=1) == first for d in rolled):
                for dim, rows in built.rows.items():
                    out = self.root / MONTH_TABLE / f"app_id={APP}" / f"dim={dim}" / f"month={first:%Y-%m}"
                    out.mkdir(parents=True, exist_ok=True)
                    (out / "part-0-of-1.parquet").write_bytes(parquet_bytes(rows))
            first, carry = month.add_months(first, 1), dict(built.carry)

    def _month_days(self, source: str, first: date) -> pa.Table:
        columns = list(month.SOURCE_COLUMNS[source])
        tables = []
        for path in sorted((self.root / source / f"app_id={APP}").glob(f"dt={first:%Y-%m}-*/{rollup.FILE_NAME}")):
            rows = pq.read_table(path, columns=columns)
            day = pa.array([date.fromisoformat(path.parent.name[3:])] * rows.num_rows, pa.date32())
            tables.append(rows.add_column(0, "day", day))
        fields = {f.name: f for f in rollup.SCHEMAS[source]}
        schema = pa.schema([pa.field("day", pa.date32()), *(fields[c] for c in columns)])
        return pa.concat_tables([t.cast(schema) for t in tables]) if tables else schema.empty_table()

    def months_through(self, lag: int) -> str:
        """How far the month rows may be read, ``lag`` days before rolled_through (a month build
        still under way; the rows are right up to then)."""
        rolled = self.rolled_through()
        if rolled == NOTHING_ROLLED:
            return rolled
        return max(str(date.fromisoformat(rolled) - timedelta(days=lag)), NOTHING_ROLLED)

    def rolled_through(self) -> str:
        def listed(table: str) -> list[str]:
            return [p.name[3:] for p in (self.root / table / f"app_id={APP}").glob("dt=*") if any(p.glob("*.parquet"))]

        return rollup.rolled_through(listed("events"), listed("rollup_sessions")) or NOTHING_ROLLED


def page_view(event_id: str, visitor: str, day: int, path: str, hour: int = 10) -> dict[str, Any]:
    """A Firefox page view of ``visitor`` on the lake's day ``day`` at ``hour`` UTC."""
    at = datetime.combine(DAY0 + timedelta(days=day), datetime.min.time().replace(hour=hour), tzinfo=timezone.utc)
    return {"event_id": event_id, "app_id": APP, "anonymous_id": visitor, "event_time": at, "event_type": "page_view",
            "event_name": "page_view", "path": path, "browser": "Firefox", "is_bot": False}  # fmt: skip


@st.composite
def visits(draw: st.DrawFn, visitor: int, counter: list[int]) -> list[dict[str, Any]]:
    bot = visitor % 4 == 3
    known_only = visitor % 5 == 4
    mixed = visitor % 7 in (0, 6)
    out = []
    for _ in range(draw(st.integers(1, 3))):
        # a mixed visitor's visit may be a night one: a session running past midnight (gaps under
        # 30 minutes from 23:30 on), in which it switches too, so a filtered view keeps part of a
        # session that a rolled-up day and the next share
        night = mixed and draw(st.booleans())
        day = DAY0 + timedelta(days=draw(st.integers(0, DAYS - 1)))
        clock = st.sampled_from(NIGHT if night else CLOCK)
        t = datetime.combine(day, datetime.min.time(), tzinfo=timezone.utc) + timedelta(minutes=draw(clock))
        source = draw(st.sampled_from([None, "news.example", "search.example"]))
        # visitors 6, 13, ... switch browsers between visits (and in a night visit, between events),
        # and 0, 7, ... countries between events: a view filtered by either keeps part of their
        # days and sessions
        browser = draw(st.sampled_from(["Firefox", "Chrome"])) if visitor % 7 == 6 else ["Firefox", "Chrome"][visitor % 2]
        for i in range(draw(st.integers(2, 5) if night else st.integers(1, 5))):
            if i:
                t += timedelta(seconds=draw(st.sampled_from(NIGHT_GAPS_S if night else GAPS_S)))
            if night and visitor % 7 == 6:
                browser = draw(st.sampled_from(["Firefox", "Chrome"]))
            counter[0] += 1
            kind = draw(st.sampled_from(["page_view", "page_view", "click", "click", "identify"]))
            name = draw(st.sampled_from(CLICKS)) if kind == "click" else kind
            geo = draw(st.sampled_from(GEO)) if name == "GEO_LOC" else (None, None)
            out.append(
                {
                    "event_id": f"e{counter[0]:05d}",
                    "app_id": APP,
                    # every fifth visitor's events carry only a userId (Segment server-side calls):
                    # their visitor is 'user:' || user_id (decision 0016), one per user
                    "anonymous_id": None if known_only else f"v{visitor}",
                    "event_time": t,
                    "event_type": kind,
                    "event_name": name,
                    "path": draw(st.sampled_from(["/demo", "/b", None])) if kind != "identify" else None,
                    "geo_lat": geo[0],
                    "geo_lon": geo[1],
                    "referrer_host": source if i == 0 else None,
                    "utm_source": "mail" if source and i == 0 else None,
                    "user_id": draw(st.sampled_from(["u1", "u2", f"s{visitor}"] if known_only else [None, "u1", "u2"])),
                    "browser": "Crawler" if bot else browser,
                    "os": "Linux",
                    "device_type": "bot" if bot else "desktop",
                    "country": draw(st.sampled_from(["DE", "FR", None])) if visitor % 7 == 0 else ["DE", "FR", None][visitor % 3],
                    "is_bot": bot,
                    "bot_reason": "known_crawler" if bot else None,
                }
            )
    return out


def answers(duck: DuckLake, name: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    text = catalog.query_file(name).text  # type: ignore[union-attr]
    values = bind(translate.parameter_names(text), {k: v for k, v in params.items() if k in translate.parameter_names(text)})
    return duck.execute(translate.to_duckdb(text), values).to_pylist()


def same(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> bool:
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        if x.keys() != y.keys():
            return False
        for k in x:
            if isinstance(x[k], float) and isinstance(y[k], float):
                if x[k] != pytest.approx(y[k], rel=1e-12, abs=1e-12):
                    return False
            elif x[k] != y[k]:
                return False
    return True


@st.composite
def histories(draw: st.DrawFn) -> dict[str, Any]:
    counter = [0]
    events = [e for v in range(draw(st.integers(1, 7))) for e in draw(visits(v, counter))]
    changes = []
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["late", "erase", "retention"]))
        if kind == "late":
            changes.append(("late", draw(visits(draw(st.integers(0, 8)), counter))))
        elif kind == "erase":
            changes.append(("erase", f"v{draw(st.integers(0, 7))}"))
        else:
            changes.append(("retention", DAY0 + timedelta(days=draw(st.integers(0, 3)))))
    return {
        "events": events,
        "changes": changes,
        "rolled_first": draw(st.integers(-1, DAYS)),  # days rolled before the changes: DAY0 .. DAY0 + k
        "slice_rows": draw(st.sampled_from([1, 5, 10_000])),  # 1: one slice per ~id range, as on a huge day
        "ranges": draw(st.lists(st.tuples(st.integers(0, DAYS), st.integers(0, DAYS)), min_size=1, max_size=3)),
        # how many days the month rows lag the day rollups (a month build unfinished): months_through
        "months_lag": draw(st.sampled_from([0, 0, 1, 3, DAYS + 2])),
    }


def apply(lake: Lake, change: tuple[str, Any]) -> set[date]:
    """Change the raw events as the export, the erasure or the retention run would; the days changed."""
    kind, arg = change
    if kind == "late":
        lake.events += arg
        return {e["event_time"].date() for e in arg}
    if kind == "erase":
        touched = {e["event_time"].date() for e in lake.events if e["anonymous_id"] == arg}
        lake.events = [e for e in lake.events if e["anonymous_id"] != arg]
        return touched
    removed = {d for d in lake.days() if d < arg}
    lake.events = [e for e in lake.events if e["event_time"].date() >= arg]
    lake.drop_rollups({DAY0 + timedelta(days=k) for k in range(-1, DAYS + 1) if DAY0 + timedelta(days=k) < arg})
    return removed


def lived(root: Path, history: dict[str, Any]) -> Lake:
    """The lake of a ``histories()`` draw: its events written, rolled up through its first days,
    then changed by late events, erasure and retention, each followed by the rebuild of the
    rolled-up days it affects (as the export's housekeeping rebuilds them)."""
    lake = Lake(root, list(history["events"]))
    lake.write_events(lake.days())
    lake.roll({DAY0 + timedelta(days=k) for k in range(history["rolled_first"] + 1)}, history["slice_rows"])
    for change in history["changes"]:
        changed = apply(lake, change)
        lake.write_events(changed)
        rolled_up = lake.root / "rollup_sessions" / f"app_id={APP}"
        rolled = {d for d in rollup.affected_days(changed) if (rolled_up / f"dt={d}").is_dir()}
        lake.roll(rolled, history["slice_rows"])
    lake.build_months()
    return lake
