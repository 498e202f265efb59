"""rollup_visitor_months in the export (decision 0017 step 2) against the local servers over HTTP.

A lake of five months (August to December, none in November) exported and rolled up by the
export's housekeeping: every month file and carry read back must be the definition's
(tests/month_reference.py, DuckDB over the day rollups in the lake), after late events, crashes
at every step, retention and an erasure; and the published rolled_through never covers a day of
a month whose rows are being rebuilt.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from chalicelib import clients
from chalicelib.export import months, rollups
from chalicelib.export.run import Exporter
from chalicelib.lake import layout, month, rollup, visitor_key
from chalicelib.lake.parquetio import Lake
from chalicelib.settings import Settings
from chalicelib.store.apps import AppStore
from clickstream.admin.erasure import Subject, erase
from clickstream.lake import billing, run_query
from tests.factories import ABSENT
from tests.lake_helpers import event, rollup_exporter, store
from tests.month_reference import carry_sql, connect, month_rows_sql, reference

APP = "shop"
DAY = 86_400_000
NOW_DAY = date(2026, 12, 10)
NOW = int(datetime(2026, 12, 10, 12, tzinfo=timezone.utc).timestamp() * 1000)
# (visitor, user, day, hour, paths): November has no event (its carry is derived, not stored)
VISITS = [
    ("anon-a", "u-alice", date(2026, 8, 30), 10, ["/", "/pricing"]),
    ("anon-b", None, date(2026, 9, 3), 11, ["/", "/docs"]),
    ("anon-a", "u-alice", date(2026, 9, 29), 23.9, ["/", "/docs", "/pricing"]),
    ("anon-c", "u-carol", date(2026, 10, 2), 9, ["/blog"]),
    ("anon-b", None, date(2026, 10, 30), 14, ["/pricing", "/signup"]),
    ("anon-a", "u-alice", date(2026, 12, 3), 8, ["/"]),
    ("anon-c", "u-carol", date(2026, 12, 5), 16, ["/", "/welcome"]),
    ("anon-d", None, date(2026, 12, 7), 12, ["/docs"]),
]
MONTHS = [date(2026, 8, 1), date(2026, 9, 1), date(2026, 10, 1), date(2026, 12, 1)]


class HardKill(BaseException):
    """The process dies mid-step."""


def dies_at(point: str) -> Callable[[str], None]:
    def crash(reached: str) -> None:
        if reached == point:
            raise HardKill(point)

    return crash


def at(day: date, hour: float) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp() * 1000 + hour * 3_600_000)


def visit(who: str, user: str | None, day: date, hour: float, paths: list[str]) -> list[dict[str, Any]]:
    return [
        event(
            None,
            at(day, hour) + i * 5 * 60_000,
            event_type="page_view",
            anonymous_id=who,
            user_id=user if user is not None else ABSENT,
            url=f"https://shop.example.com{path}",
        )
        for i, path in enumerate(paths)
    ]


def exporter(settings: Settings, now_ms: int = NOW, crash: Callable[[str], None] = lambda _: None) -> Exporter:
    return rollup_exporter(settings, now_ms, crash)


def s3_lake(settings: Settings) -> Lake:
    return Lake(clients.s3(settings), settings.bucket)


def listed(settings: Settings, prefix: str) -> list[str]:
    return sorted(o["Key"] for o in s3_lake(settings).list(prefix))


def day_rollups(settings: Settings) -> dict[str, pa.Table]:
    """Each source rollup's rows in the lake with their ``day``, read file by file (whole)."""
    lake = s3_lake(settings)
    out = {}
    for source, columns in month.SOURCE_COLUMNS.items():
        fields = {f.name: f for f in rollup.SCHEMAS[source]}
        schema = pa.schema([pa.field("day", pa.date32()), *(fields[c] for c in columns)])
        tables = [schema.empty_table()]
        for key in listed(settings, layout.app_prefix(settings.lake_prefix, source, APP)):
            rows = lake.read_table(key).select(list(columns))
            day = date.fromisoformat(layout.partition_of(key)[1])
            tables.append(rows.add_column(0, "day", pa.array([day] * rows.num_rows, pa.date32())).cast(schema))
        out[source] = pa.concat_tables(tables)
    return out


def stored(settings: Settings, keys: list[str], schema: pa.Schema) -> pa.Table:
    """Part files read back in part order, concatenated."""
    lake = s3_lake(settings)
    ordered = sorted(keys, key=lambda k: months.parse_part(k) or (0, 0))
    tables = [lake.read_table(k).cast(schema) for k in ordered]
    return pa.concat_tables(tables) if tables else schema.empty_table()


def month_files(settings: Settings, dim: str, m: date) -> list[str]:
    base = months.table_prefix(settings.lake_prefix, APP) + f"dim={dim}/month={m:%Y-%m}/"
    return listed(settings, base)


def carry_files(settings: Settings, dim: str, m: date) -> list[str]:
    return listed(settings, months.carry_prefix(settings.lake_prefix, APP) + f"month={m:%Y-%m}/dim={dim}/")


def assert_months_are_the_definition(settings: Settings, through: date | None = None) -> None:
    """Every month with a rolled-up day has the files of the definition over the lake's day
    rollups, carry included; a month without one has none. ``through``: only what a reader of
    days <= through sees (masks cut there, rows with no day left dropped; months after it not)."""
    days = day_rollups(settings)
    con = connect(days)
    rolled = {  # days with rollup files, empty ones too (a day next to one with events)
        date.fromisoformat(layout.partition_of(k)[1])
        for k in listed(settings, layout.app_prefix(settings.lake_prefix, "rollup_visitor_days", APP))
    }
    for m in sorted({date(d.year, d.month, 1) for d in rolled} | set(MONTHS) | {date(2026, 11, 1)}):
        has_days = any(date(d.year, d.month, 1) == m for d in rolled)
        if through is not None and m > through:
            continue
        for dim in month.DIMENSIONS:
            rows_keys, carry_keys = month_files(settings, dim.name, m), carry_files(settings, dim.name, m)
            if not has_days:
                assert rows_keys == carry_keys == [], (dim.name, m)
                continue
            assert rows_keys and carry_keys, (dim.name, m)
            got = stored(settings, rows_keys, month.MONTH_SCHEMAS[dim.name])
            want = reference(con, month_rows_sql(dim, m), month.MONTH_SCHEMAS[dim.name])
            if through is not None:
                got, want = cut(got, m, through), cut(want, m, through)
            assert got.equals(want), (dim.name, m, got.to_pylist(), want.to_pylist())
            if through is None:
                schema = month.carry_schema(dim, m)
                got_carry = stored(settings, carry_keys, schema)
                want_carry = reference(con, carry_sql(dim, m), schema)
                assert got_carry.equals(want_carry.cast(schema)), (dim.name, m, "carry")


def cut(rows: pa.Table, m: date, through: date) -> pa.Table:
    """Month rows as a reader of days <= ``through`` sees them: the masks cut there; a first day
    only up to it (clickstream/lake/month_reads.py asks whether it is <= U, so a later one, right
    or not, reads as none); a last day only of a month wholly up to it (read only for a month
    before U's)."""
    days = min((through - m).days + 1, 31)
    keep = (1 << days) - 1
    for column in ("mask_all", "mask_people"):
        masked = pc.bit_wise_and(rows.column(column), pa.scalar(keep, pa.int32()))
        rows = rows.set_column(rows.schema.get_field_index(column), column, masked)
    whole = days >= calendar.monthrange(m.year, m.month)[1]
    for who in ("all", "people"):
        first = rows.column(f"first_day_{who}")
        seen = pc.if_else(pc.less_equal(first, pa.scalar(days, pa.int8())), first, pa.scalar(None, pa.int8()))
        rows = rows.set_column(rows.schema.get_field_index(f"first_day_{who}"), f"first_day_{who}", seen)
        if not whole:
            index = rows.schema.get_field_index(f"last_day_{who}")
            rows = rows.set_column(index, f"last_day_{who}", pa.nulls(rows.num_rows, pa.int8()))
    return rows.filter(pc.not_equal(rows.column("mask_all"), 0))


def rolled_through(settings: Settings) -> str:
    return rollups.read_state(s3_lake(settings), settings.lake_prefix, APP) or rollups.NOTHING_ROLLED


def months_through(settings: Settings) -> str:
    """How far a reader of the month rows may read them (the state's months_through and the holds)."""
    return rollups.read_state(s3_lake(settings), settings.lake_prefix, APP, "months") or rollups.NOTHING_ROLLED


def dirty_months(settings: Settings) -> set[date]:
    return rollups.dirty_months(clients.dynamodb(settings), settings.table, APP).get(APP, set())


@pytest.fixture
def lake5(settings: Settings) -> Settings:
    store(settings, [e for v in VISITS for e in visit(*v)], received_ms=NOW - 120_000, app_id=APP)
    report = exporter(settings).run_once()
    assert report.status == "exported" and report.rolled_up_days >= 8, report
    return settings


def test_the_export_builds_every_month_as_the_definition_says(lake5: Settings):
    # THEN every month with rolled-up days has its 13 dimensions and their carry, one part each
    # (a small app), equal to the definition; nothing is left dirty
    assert_months_are_the_definition(lake5)
    # November has no rolled-up day, so no file: December is built from October's carry
    # carried through November on the way
    assert listed(lake5, months.table_prefix(lake5.lake_prefix, APP) + "dim=overall/month=2026-11/") == []
    assert [months.parse_part(k) for k in month_files(lake5, "overall", date(2026, 10, 1))] == [(0, 1)]
    assert dirty_months(lake5) == set()
    assert rolled_through(lake5) == (NOW_DAY - timedelta(days=2)).isoformat()
    # December's overall rows: Alice came back after three months (prev September 30th: her
    # visit across midnight), Carol after two, the newcomer without a prev
    december = stored(lake5, month_files(lake5, "overall", date(2026, 12, 1)), month.MONTH_SCHEMAS["overall"])
    prev = dict(zip(december.column("visitor_key").to_pylist(), december.column("prev_all").to_pylist()))
    assert prev == {
        visitor_key.key("anon-a"): date(2026, 9, 30),
        visitor_key.key("anon-c"): date(2026, 10, 2),
        visitor_key.key("anon-d"): None,
    }


LATE = visit("anon-c", "u-carol", date(2026, 10, 20), 15, ["/pricing"]) + visit("anon-e", None, date(2026, 10, 21), 9, ["/"])
# What the late days' cleaning adds: each day's month from that day, and the four months after.
LATE_ENTRIES = {date(2026, 10, d) for d in range(19, 23)} | {
    date(2026, 11, 1),
    date(2026, 12, 1),
    date(2027, 1, 1),
    date(2027, 2, 1),
}


def late_events(settings: Settings) -> None:
    store(settings, LATE, received_ms=NOW + DAY - 60_000, app_id=APP)


def assert_rebuilt_for_the_late_events(settings: Settings) -> None:
    assert_months_are_the_definition(settings)
    assert dirty_months(settings) == set()
    assert rolled_through(settings) == "2026-12-08"  # the last day with rollups (events to the 7th)
    assert months_through(settings) == "2026-12-08"
    december = stored(settings, month_files(settings, "overall", date(2026, 12, 1)), month.MONTH_SCHEMAS["overall"])
    prev = dict(zip(december.column("visitor_key").to_pylist(), december.column("prev_all").to_pylist()))
    assert prev[visitor_key.key("anon-c")] == date(2026, 10, 20), "December was rebuilt from October's new carry"


def test_a_late_event_rebuilds_its_month_and_the_months_after_it_that_exist(lake5: Settings):
    # WHEN late events of October arrive and the next day's run exports them
    late_events(lake5)
    assert exporter(lake5, NOW + DAY).run_once().status == "exported"
    # THEN October and December (November and 2027 have no day) are the definition's again
    assert_rebuilt_for_the_late_events(lake5)
    assert listed(lake5, months.table_prefix(lake5.lake_prefix, APP) + "dim=overall/month=2027-01/") == []


CRASHES = [
    ("rollup_after_write", 1),
    ("rollup_after_clean", 1),
    ("rollup_after_clean", 3),
    ("month_after_part", 1),
    ("month_after_part", 2),
    ("month_after_record", 1),
    ("month_after_clean", 1),
    ("month_after_clean", 2),
    ("rollup_after_state", 1),
]


@pytest.mark.parametrize("point, nth", CRASHES)
def test_a_crash_at_any_step_never_publishes_a_month_being_rebuilt_and_the_rerun_finishes(lake5: Settings, point: str, nth: int):
    seen = []

    def crash(reached: str) -> None:
        if reached == point:
            seen.append(reached)
            if len(seen) == nth:
                raise HardKill(point)

    # WHEN the run exporting late events of October dies at the point
    late_events(lake5)
    with pytest.raises(HardKill):
        exporter(lake5, NOW + DAY, crash).run_once()
    # THEN what the published state covers is the definition's, as readers read it
    through = months_through(lake5)
    assert through <= rolled_through(lake5)
    if through != rollups.NOTHING_ROLLED:
        assert_months_are_the_definition(lake5, date.fromisoformat(through))
    entries = dirty_months(lake5)
    if entries and point != "rollup_after_state":
        assert through < min(entries).isoformat()
    if point == "rollup_after_clean" and nth == 1:
        assert entries == {date(2026, 10, 19), *(e for e in LATE_ENTRIES if e.day == 1)}, entries
    # WHEN the next run starts (the dead run's lease expired)
    assert exporter(lake5, NOW + DAY + 60_000).run_once().status in ("exported", "idle")
    # THEN the months are the definition's, nothing is dirty, and the state covers the closed days
    assert_rebuilt_for_the_late_events(lake5)
    assert not [k for k in listed(lake5, rollups.state_folder(lake5.lake_prefix, APP)) if "/hold-" in k]


def test_a_month_that_cannot_be_built_keeps_the_state_before_it_and_the_months_after_wait(lake5: Settings):
    # GIVEN a stray part of another count in October's carry: a rebuild of October deletes it
    lake = s3_lake(lake5)
    good = carry_files(lake5, "browser", date(2026, 10, 1))[0]
    broken = good.replace("part-0-of-1", "part-1-of-3")
    lake.put_bytes(broken, lake.read_bytes(good))
    late_events(lake5)
    exporter(lake5, NOW + DAY).run_once()
    assert not lake.exists(broken)
    # WHEN it is there again, and a late event of December needs October's carry
    lake.put_bytes(broken, lake.read_bytes(good))
    store(lake5, visit("anon-f", None, date(2026, 12, 6), 9, ["/"]), received_ms=NOW + 2 * DAY - 60_000, app_id=APP)
    with pytest.raises(rollups.DaysNotRebuilt, match="not one complete set"):
        exporter(lake5, NOW + 2 * DAY).run_once()
    # THEN December stays dirty, and the month rows' bound stops the day before its first entry,
    # while the day rollups, all rebuilt, are vouched for through the last closed day
    entries = dirty_months(lake5)
    assert min(entries) == date(2026, 12, 5), entries
    assert months_through(lake5) == "2026-12-04"
    assert rolled_through(lake5) == "2026-12-08"
    # WHEN the damage is gone, the next run builds December and the state moves on
    lake.delete([broken])
    exporter(lake5, NOW + 2 * DAY + 60_000).run_once()
    assert dirty_months(lake5) == set()
    assert months_through(lake5) == "2026-12-08"
    assert_months_are_the_definition(lake5)


def test_retention_deletes_the_months_wholly_expired_and_rebuilds_the_first_kept(lake5: Settings):
    apps = AppStore(clients.dynamodb(lake5), lake5.table, cache_seconds=0)
    apps.create_app("Shop", app_id=APP)
    # WHEN the next day's run keeps 88 days: from September 15th on
    apps.update_app(APP, retention_days=88)
    report = exporter(lake5, NOW + DAY).run_once()
    assert report.retention_removed == 2, report  # events of August 30th and September 3rd
    # THEN August's month files and carry are gone, September is rebuilt from its days kept
    # (Alice's visit of the 3rd is gone: no prev in August), and all is the definition's
    assert [k for k in listed(lake5, months.table_prefix(lake5.lake_prefix, APP)) if "month=2026-08" in k] == []
    assert [k for k in listed(lake5, months.carry_prefix(lake5.lake_prefix, APP)) if "month=2026-08" in k] == []
    september = stored(lake5, month_files(lake5, "overall", date(2026, 9, 1)), month.MONTH_SCHEMAS["overall"])
    assert september.column("prev_all").to_pylist() == [None]
    assert september.column("visitor_key").to_pylist() == [visitor_key.key("anon-a")]
    assert_months_are_the_definition(lake5)
    assert dirty_months(lake5) == set()
    assert not [k for k in listed(lake5, rollups.state_folder(lake5.lake_prefix, APP)) if "/hold-" in k]


def test_an_erasure_reaches_every_month_and_carry_holding_the_visitor(lake5: Settings):
    # WHEN Alice is erased (its own pass rebuilds the days closed by the machine's clock, before
    # this lake's December), and the next export's housekeeping rebuilds the rest
    erase(exporter(lake5, NOW + DAY), Subject(APP, "user_id", "u-alice"), "test", wait_s=5)
    exporter(lake5, NOW + DAY + 60_000).run_once()
    # THEN no month file or carry holds her key, and every month is the definition's
    alice = visitor_key.key("anon-a")
    lake = s3_lake(lake5)
    for key in listed(lake5, months.table_prefix(lake5.lake_prefix, APP)) + listed(
        lake5, months.carry_prefix(lake5.lake_prefix, APP)
    ):
        assert alice not in lake.read_table(key).column("visitor_key").to_pylist(), key
    assert_months_are_the_definition(lake5)
    assert dirty_months(lake5) == set()


def test_a_month_in_two_parts_built_in_sub_ranges_holds_the_rows_of_one_part(lake5: Settings):
    # GIVEN October built anew in two parts, each in three sub-ranges (by the rows estimated)
    lake = s3_lake(lake5)
    october = date(2026, 10, 1)
    lake.delete(months.existing_parts(lake, lake5.lake_prefix, APP, october))
    estimate = months.MonthInputs.list(lake, lake5.lake_prefix, APP, october).rows(lake)
    per_build = estimate // 2 // 3 + 1
    result = months.rebuild_month(lake, lake5.lake_prefix, APP, october, parts=2, rows_per_build=per_build)
    assert result.parts == 2
    for dim in month.DIMENSIONS:
        names = [k.rsplit("/", 1)[-1] for k in month_files(lake5, dim.name, october) + carry_files(lake5, dim.name, october)]
        assert names == ["part-0-of-2.parquet", "part-1-of-2.parquet"] * 2, (dim.name, names)
    # WHEN December is rebuilt (one part) from October's two-part carry, and October again
    for m in (date(2026, 12, 1), october):
        months.rebuild_month(lake, lake5.lake_prefix, APP, m)
    # THEN October kept its two parts, and every month is the definition's
    assert [months.parse_part(k) for k in month_files(lake5, "overall", october)] == [(0, 2), (1, 2)]
    assert [months.parse_part(k) for k in month_files(lake5, "overall", date(2026, 12, 1))] == [(0, 1)]
    assert_months_are_the_definition(lake5)


def test_a_month_whose_days_are_all_gone_loses_its_files_even_after_a_crash(lake5: Settings):
    # GIVEN December's day rollups are gone (as if removed with their events) and the month marked
    lake = s3_lake(lake5)
    dynamodb = clients.dynamodb(lake5)
    december = date(2026, 12, 1)
    for source in month.SOURCE_COLUMNS:
        lake.delete(listed(lake5, layout.app_prefix(lake5.lake_prefix, source, APP) + "dt=2026-12-"))
    rollups.mark_months(dynamodb, lake5.table, APP, [december])
    # WHEN the pass dies right after deleting the month's files, then runs again
    with pytest.raises(HardKill):
        rollups.rebuild_due(lake, dynamodb, lake5, NOW, dies_at("month_after_delete"))
    rollups.rebuild_due(lake, dynamodb, lake5, NOW, lambda _: None)
    # THEN December has no month file or carry, and its entry is gone
    assert months.existing_parts(lake, lake5.lake_prefix, APP, december) == []
    assert dirty_months(lake5) == set()


class PutsSeen(Lake):
    """The lake over HTTP, noting the keys it PUTs."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(clients.s3(settings), settings.bucket)
        self.puts: list[str] = []

    def put_bytes(self, key: str, body: bytes) -> None:
        self.puts.append(key)
        super().put_bytes(key, body)

    def parts_put(self, m: date) -> list[int]:
        """The parts of month ``m`` whose overall rows were PUT since the last call."""
        seen = [months.parse_part(k) for k in self.puts if f"/dim=overall/month={m:%Y-%m}/" in k]
        self.puts.clear()
        return [i for i, _ in (p for p in seen if p is not None)]


OCTOBER = date(2026, 10, 1)


def october_in_three_parts(settings: Settings) -> None:
    """October's files rebuilt in three parts (as a large app's would be) and October marked."""
    lake = s3_lake(settings)
    lake.delete(months.existing_parts(lake, settings.lake_prefix, APP, OCTOBER))
    months.rebuild_month(lake, settings.lake_prefix, APP, OCTOBER, parts=3)
    rollups.mark_months(clients.dynamodb(settings), settings.table, APP, [OCTOBER])


class OnePartAPass:
    """An invocation's clock with time for one month part (a part takes 100 s of it)."""

    def __init__(self) -> None:
        self.elapsed_ms = 0
        self.start = 0

    def crash(self, point: str) -> None:
        if point == "month_after_part":
            self.elapsed_ms += 100_000

    def remaining(self) -> int:
        return rollups.REFRESH_RESERVE_MS + 150_000 - (self.elapsed_ms - self.start)

    def run(self, lake: Lake, settings: Settings) -> None:
        self.start = self.elapsed_ms
        rollups.rebuild_due(lake, clients.dynamodb(settings), settings, NOW, self.crash, remaining_ms=self.remaining)


# What an ad-hoc query of the month rows binds: the engine fills both bounds from the state.
BOUNDS_SQL = "SELECT :months_through AS months_through, :rolled_through AS rolled_through WHERE :app_id <> ''"


def engines_bind(settings: Settings, cache_dir: Path) -> list[dict[str, str]]:
    """The bounds each engine binds for the app: DuckDB (the local mirror), then Athena (the
    literals it would send; awswrangler stood in for)."""
    sent: list[list[str]] = []

    def read_sql(**kwargs: Any) -> pd.DataFrame:
        sent.append(kwargs["params"])
        return pd.DataFrame({"x": [1]})

    local = run_query(BOUNDS_SQL, {"app_id": APP}, settings=settings, cache_dir=cache_dir, max_age_s=0).to_pylist()
    run_query(BOUNDS_SQL, {"app_id": APP}, settings=settings, engine="athena", read_sql=read_sql)
    months_, rolled, _ = (v.strip("'") for v in sent[-1])
    return [*local, {"months_through": months_, "rolled_through": rolled}]


def test_a_month_too_long_for_one_invocation_is_finished_part_by_part_by_the_next_passes(lake5: Settings, tmp_path: Path):
    october_in_three_parts(lake5)
    lake, clock = PutsSeen(lake5), OnePartAPass()
    # WHEN a pass has time for one part of it, then the next, then the next
    for part in range(3):
        clock.run(lake, lake5)
        # THEN each builds the part after the last one built (none is built twice), and until
        # the last, October stays dirty: its rows' readers stop before it, the day rollups' do not
        assert lake.parts_put(OCTOBER) == [part]
        if part < 2:
            assert dirty_months(lake5) == {OCTOBER}
            assert months_through(lake5) == "2026-09-30"
            assert rolled_through(lake5) == "2026-12-08"
            # as both engines bind them for a query of the month rows
            assert engines_bind(lake5, tmp_path) == [{"months_through": "2026-09-30", "rolled_through": "2026-12-08"}] * 2
    assert dirty_months(lake5) == set()
    assert months_through(lake5) == "2026-12-08"
    assert engines_bind(lake5, tmp_path) == [{"months_through": "2026-12-08", "rolled_through": "2026-12-08"}] * 2
    assert [months.parse_part(k) for k in month_files(lake5, "overall", OCTOBER)] == [(0, 3), (1, 3), (2, 3)]
    assert_months_are_the_definition(lake5)


def test_a_day_rebuilt_again_between_two_passes_starts_its_month_over(lake5: Settings):
    october_in_three_parts(lake5)
    lake, clock = PutsSeen(lake5), OnePartAPass()
    clock.run(lake, lake5)
    assert lake.parts_put(OCTOBER) == [0]
    # WHEN October 1st is rebuilt again before the next pass (its entry, 2026-10-01, is already in
    # the set: adding it again changes nothing there), then a pass with time for the whole month
    dynamodb = clients.dynamodb(lake5)
    rollups.mark(dynamodb, lake5.table, [(APP, OCTOBER)], neighbours=False)
    rollups.rebuild_due(lake, dynamodb, lake5, NOW, lambda _: None)
    # THEN part 0, built before the day changed, is built again: the month starts over
    assert lake.parts_put(OCTOBER) == [0, 1, 2]
    assert dirty_months(lake5) == set()
    assert_months_are_the_definition(lake5)


def test_the_month_rows_are_queried_on_a_laptop_as_on_athena_and_billed_by_dimension(lake5: Settings, tmp_path: Path):
    # WHEN an analyst queries rollup_visitor_months on the local stack (the SQL Athena runs)
    sql = (
        "SELECT dim, month, count(*) AS visitors, count(browser) AS with_browser, count(path) AS with_path "
        "FROM rollup_visitor_months WHERE app_id = :app_id GROUP BY dim, month ORDER BY dim, month"
    )
    got = run_query(sql, {"app_id": APP}, settings=lake5, cache_dir=tmp_path).to_pylist()
    # THEN every month file's rows are there, by dimension and month, each file's value columns
    # its own and the other dimensions' NULL
    want = []
    for dim in sorted(d.name for d in month.DIMENSIONS):
        for m in MONTHS:
            rows = stored(lake5, month_files(lake5, dim, m), month.MONTH_SCHEMAS[dim]).num_rows
            if rows:
                with_browser = rows if dim in ("browser", "bot") else 0
                with_path = rows if dim == "path" else 0
                want.append(
                    {"dim": dim, "month": f"{m:%Y-%m}", "visitors": rows, "with_browser": with_browser, "with_path": with_path}
                )
    assert got == want
    # and docs/lake.md's example (the people active in a month up to months_through) runs
    example = (
        "SELECT count(*) AS visitors FROM rollup_visitor_months WHERE app_id = :app_id AND dim = 'overall' "
        "AND month = '2026-10' AND bitwise_and(mask_people, CAST(power(2, least(30, date_diff('day', DATE '2026-10-01', "
        "CAST(:months_through AS date))) + 1) - 1 AS bigint)) <> 0"
    )
    october = stored(lake5, month_files(lake5, "overall", OCTOBER), month.MONTH_SCHEMAS["overall"])
    people = sum(1 for mask in october.column("mask_people").to_pylist() if mask)
    assert run_query(example, {"app_id": APP}, settings=lake5, cache_dir=tmp_path).to_pylist() == [{"visitors": people}]
    assert people == 2  # Carol and anon-b
    # and Athena's bill for one dimension's rows is that dimension's files alone
    root = tmp_path
    browser = "SELECT count(*) AS n FROM rollup_visitor_months WHERE app_id = :app_id AND dim = 'browser'"
    bill = billing.estimate(root, browser, {"app_id": APP})
    assert bill.files == len([m for m in MONTHS if month_files(lake5, "browser", m)]) == 4
    assert billing.estimate(root, sql, {"app_id": APP}).files == len(listed(lake5, months.table_prefix(lake5.lake_prefix, APP)))
