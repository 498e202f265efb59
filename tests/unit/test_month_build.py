"""The visitor-month build (chalicelib/lake/month) equals its definition in DuckDB SQL
(tests/month_reference.py) row for row, month after month through a chain of carry files; its
key-range slices put together are the whole build; its inputs are checked."""

from __future__ import annotations

import bisect
import io
import random
from datetime import date, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.errors import TerminalError
from chalicelib.lake.key_ranges import KEY_END, KEY_MIN, MAX_RANGES
from chalicelib.lake.month import (
    ALL_KEYS,
    DIMENSIONS,
    MONTH_SCHEMAS,
    SOURCE_COLUMNS,
    KeyRange,
    KeyRangeError,
    MonthBuild,
    MonthInputError,
    build_month,
    carry_schema,
    plan_ranges,
    row_groups,
    select,
)
from chalicelib.lake.month.weeks import last_of_weeks, week_fragments
from chalicelib.lake.parquetio import parquet_bytes
from tests import month_reference

KEY_MAX = KEY_END - 1
MONTHS = [date(2026, m, 1) for m in range(1, 9)]  # eight months: the lookback expires inside the chain
FIRST, LAST = MONTHS[0], date(2026, 8, 31)
SPAN = (LAST - FIRST).days + 1
WORDS = ["a", "b", None]
GEO = [0.05, 0.15, 1.25, -0.05, -1.25, -0.0, 0.04, 12.34, None]  # round(x * 10) / 10's edges

# Visits every lake has, (key, day, is_bot): the edges a random draw may miss.
SCRIPTED = [
    (KEY_MIN, date(2026, 1, 31), False),  # back after exactly 4 months away: June's prev is NULL
    (KEY_MIN, date(2026, 6, 1), False),
    (KEY_MAX, date(2026, 1, 29), True),  # away 5 months
    (KEY_MAX, date(2026, 7, 15), False),
    (0, date(2026, 2, 28), False),  # away 3 months: June's prev is February 28
    (0, date(2026, 6, 30), True),
    (-1, date(2026, 3, 30), True),  # a bot and nothing else
    (-1, date(2026, 4, 30), True),
    (-1, date(2026, 5, 31), True),
]


def _rows(visits: list[tuple[int, date, bool, int]]) -> dict[str, pa.Table]:
    """The five source rollups' rows of ``visits`` (key, day, bot, seed of its values), with a day column."""
    out: dict[str, list[dict[str, Any]]] = {s: [] for s in SOURCE_COLUMNS}
    for key, day, bot, seed in visits:
        rng = random.Random(seed)
        base = {"day": day, "visitor_key": key, "is_bot": bot}
        for _ in range(rng.choice([1, 1, 2])):  # a visitor's day may have rows with two values
            out["rollup_visitor_days"].append(
                {
                    **base,
                    "bot_reason": rng.choice(["crawler", None]) if bot else None,
                    **{c: rng.choice(WORDS) for c in ("browser", "device_type", "os", "country")},
                }
            )
            if rng.random() < 0.8:
                out["rollup_page_days"].append({**base, "path": rng.choice(WORDS)})
            if rng.random() < 0.6:
                out["rollup_event_days"].append({**base, "event_type": rng.choice(WORDS), "event_name": rng.choice(WORDS)})
            if rng.random() < 0.6:
                out["rollup_geo_days"].append({**base, "geo_lat": rng.choice(GEO), "geo_lon": rng.choice(GEO)})
            if rng.random() < 0.8:
                columns = ("entry_path", "exit_path", "referrer_host", "utm_source", "utm_medium", "utm_campaign")
                out["rollup_sessions"].append({**base, **{c: rng.choice(WORDS) for c in columns}})
    types = {
        "day": pa.date32(),
        "visitor_key": pa.int64(),
        "is_bot": pa.bool_(),
        "geo_lat": pa.float64(),
        "geo_lon": pa.float64(),
    }
    tables = {}
    for source, rows in out.items():
        schema = pa.schema([(c, types.get(c, pa.string())) for c in ("day", *SOURCE_COLUMNS[source])])
        tables[source] = pa.Table.from_pylist(rows, schema=schema)
    return tables


@st.composite
def lakes(draw: st.DrawFn) -> dict[str, pa.Table]:
    keys = draw(st.lists(st.integers(KEY_MIN, KEY_MAX), min_size=1, max_size=8, unique=True))
    visits = draw(
        st.lists(
            st.tuples(st.sampled_from(keys), st.integers(0, SPAN - 1), st.booleans(), st.integers(0, 2**32 - 1)),
            max_size=60,
        )
    )
    seed = draw(st.integers(0, 2**32 - 1))
    drawn = [(k, FIRST + timedelta(days=d), bot, s) for k, d, bot, s in visits]
    return _rows(drawn + [(k, d, bot, seed + i) for i, (k, d, bot) in enumerate(SCRIPTED)])


def _of_month(table: pa.Table, month: date) -> pa.Table:
    next_month = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    day = table.column("day")
    return table.filter(pc.and_(pc.greater_equal(day, month), pc.less(day, next_month)))


def _through_parquet(table: pa.Table) -> pa.Table:
    """As the carry file is written and read back between two builds."""
    return pq.read_table(io.BytesIO(parquet_bytes(table, frozenset({"visitor_key"}))))


def chain(lake: dict[str, pa.Table], key_range: KeyRange = ALL_KEYS) -> list[MonthBuild]:
    """The eight months built in order, each from the carry file of the one before."""
    built, carry = [], None
    for month in MONTHS:
        days = {s: select(_of_month(t, month), key_range) for s, t in lake.items()}
        one = build_month(month, days, carry, key_range)
        built.append(one)
        carry = {name: _through_parquet(t) for name, t in one.carry.items()}
    return built


SETTINGS = settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(lake=lakes())
def test_a_chain_of_months_equals_the_definition_row_for_row(lake: dict[str, pa.Table]) -> None:
    con = month_reference.connect(lake)
    for one in chain(lake):
        for dim in DIMENSIONS:
            rows, carried = one.rows[dim.name], one.carry[dim.name]
            want = month_reference.reference(con, month_reference.month_rows_sql(dim, one.month), MONTH_SCHEMAS[dim.name])
            assert rows.schema == MONTH_SCHEMAS[dim.name]
            assert rows.to_pylist() == want.to_pylist(), f"{dim.name} {one.month:%Y-%m}"
            schema = carry_schema(dim, one.month)
            want = month_reference.reference(con, month_reference.carry_sql(dim, one.month), schema)
            assert carried.schema.equals(schema, check_metadata=True)
            assert carried.to_pylist() == want.to_pylist(), f"{dim.name} carry {one.month:%Y-%m}"
    con.close()


def test_the_scripted_visitors_prev_expires_after_four_months_away() -> None:
    """The edges the property test relies on, visible: away 3 months keeps prev, away 4 loses it."""
    june = chain(_rows([(k, d, bot, 1) for k, d, bot in SCRIPTED]))[5]
    overall = {r["visitor_key"]: r for r in june.rows["overall"].to_pylist()}
    assert overall[0]["prev_all"] == date(2026, 2, 28) and overall[0]["mask_people"] == 0  # a bot in June
    assert overall[KEY_MIN]["prev_all"] is None and overall[KEY_MIN]["mask_all"] == 1
    assert KEY_MAX not in overall and -1 not in overall
    carried = {r["visitor_key"]: r for r in june.carry["overall"].to_pylist()}
    assert carried[-1]["last_all"] == date(2026, 5, 31) and carried[-1]["last_people"] is None  # bots only
    assert KEY_MAX not in carried  # last day January 29: out of June's window (February to June)


@SETTINGS
@given(lake=lakes(), n=st.integers(1, 7))
def test_the_slices_put_together_are_the_whole_build(lake: dict[str, pa.Table], n: int) -> None:
    whole = chain(lake)
    slices = [chain(lake, r) for r in plan_ranges(n)]
    for i, one in enumerate(whole):
        for dim in DIMENSIONS:
            for part in ("rows", "carry"):
                joined = pa.concat_tables([getattr(s[i], part)[dim.name] for s in slices])
                assert joined.equals(getattr(one, part)[dim.name]), f"{part} {dim.name} {one.month:%Y-%m} in {n} slices"


@settings(max_examples=40)
@given(n=st.one_of(st.integers(1, 64), st.integers(1, MAX_RANGES)), keys=st.lists(st.integers(KEY_MIN, KEY_MAX), max_size=20))
def test_the_planned_ranges_cover_every_key_once(n: int, keys: list[int]) -> None:
    ranges = plan_ranges(n)
    assert len(ranges) == n and ranges[0].lo == KEY_MIN and ranges[-1].hi == KEY_END
    assert all(a.hi == b.lo for a, b in zip(ranges, ranges[1:]))
    widths = {r.hi - r.lo for r in ranges}
    assert max(widths) - min(widths) <= 1
    table = pa.table({"visitor_key": pa.array([KEY_MIN, KEY_MAX, 0, -1, *keys], pa.int64())})
    if n <= 64:  # each range's rows, selected: every row once
        assert sum(select(table, r).num_rows for r in ranges) == table.num_rows
    for key in table.column("visitor_key").to_pylist():
        at = bisect.bisect_right([r.lo for r in ranges], key) - 1
        assert ranges[at].lo <= key < ranges[at].hi


@settings(max_examples=40)
@given(n=st.integers(1, 300), m=st.integers(1, 50), data=st.data())
def test_sub_ranges_of_a_part_cover_it_once(n: int, m: int, data: st.DataObject) -> None:
    part = data.draw(st.sampled_from(plan_ranges(n)))
    subs = plan_ranges(m, part)
    assert subs[0].lo == part.lo and subs[-1].hi == part.hi and all(a.hi == b.lo for a, b in zip(subs, subs[1:]))
    assert plan_ranges(1, part) == (part,)
    with pytest.raises(KeyRangeError, match=r"cannot plan 3 key ranges in \[5, 7\)"):
        plan_ranges(3, KeyRange(5, 7))


def test_a_key_range_is_a_few_row_groups_of_a_file_sorted_by_key() -> None:
    rng = random.Random(3)
    keys = sorted([KEY_MIN, KEY_MAX, *(rng.randrange(KEY_MIN, KEY_END) for _ in range(10_000))])
    sink = io.BytesIO()
    pq.write_table(pa.table({"visitor_key": pa.array(keys, pa.int64())}), sink, row_group_size=500)
    meta = pq.ParquetFile(io.BytesIO(sink.getvalue())).metadata
    for r in plan_ranges(8):
        groups = row_groups(meta, r)
        assert groups == list(range(groups[0], groups[-1] + 1)) and len(groups) <= 5
        read = pq.ParquetFile(io.BytesIO(sink.getvalue())).read_row_groups(groups)
        assert select(read, r).column("visitor_key").to_pylist() == [k for k in keys if r.lo <= k < r.hi]


def test_week_fragments_split_the_month_at_mondays() -> None:
    # June 2026 starts on a Monday; March 2026 on a Sunday (a one-day first week).
    assert week_fragments(date(2026, 6, 1)) == [0x7F, 0x7F << 7, 0x7F << 14, 0x7F << 21, 0b11 << 28]
    assert week_fragments(date(2026, 3, 1))[:2] == [0b1, 0x7F << 1]
    # days 1, 3 and 7 of June (one week) keep 7; 8 and 30 are alone in theirs
    mask = (1 << 0) | (1 << 2) | (1 << 6) | (1 << 7) | (1 << 29)
    assert last_of_weeks(pa.array([mask, 0], pa.int32()).to_numpy(), date(2026, 6, 1)).tolist() == [
        (1 << 6) | (1 << 7) | (1 << 29),
        0,
    ]


# --- inconsistent inputs ------------------------------------------------------------------------


def _small() -> dict[str, pa.Table]:
    return _rows([(5, date(2026, 1, 3), False, 1), (7, date(2026, 2, 27), True, 2)])


def _days(lake: dict[str, pa.Table], month: date) -> dict[str, pa.Table]:
    return {s: _of_month(t, month) for s, t in lake.items()}


def test_a_day_outside_the_month_is_refused() -> None:
    lake = _small()
    with pytest.raises(MonthInputError, match=r"outside 2026-01") as error:
        build_month(MONTHS[0], {**_days(lake, MONTHS[0]), "rollup_visitor_days": lake["rollup_visitor_days"]}, None)
    assert isinstance(error.value, TerminalError) and "rollup_visitor_days has rows of days 2026-01-03 to 2026-02-27" in str(
        error.value
    )
    with pytest.raises(MonthInputError, match="not a month's first day"):
        build_month(date(2026, 1, 2), _days(lake, MONTHS[0]), None)


def test_a_carry_of_another_month_or_dimension_is_refused() -> None:
    lake = _small()
    january = build_month(MONTHS[0], _days(lake, MONTHS[0]), None)
    february = build_month(MONTHS[1], _days(lake, MONTHS[1]), january.carry)
    with pytest.raises(MonthInputError, match=r"carry of overall for 2026-02; the build needs overall's carry of 2026-03"):
        build_month(MONTHS[3], _days(lake, MONTHS[3]), february.carry)  # April from February's carry
    with pytest.raises(MonthInputError, match="carry of overall for 2026-01; the build needs browser's"):
        build_month(MONTHS[1], _days(lake, MONTHS[1]), {**january.carry, "browser": january.carry["overall"]})
    with pytest.raises(MonthInputError, match="carry of no dimension for no month"):
        build_month(MONTHS[1], _days(lake, MONTHS[1]), {**january.carry, "os": january.carry["os"].replace_schema_metadata()})
    with pytest.raises(MonthInputError, match=r"\['path'\] missing"):
        build_month(MONTHS[1], _days(lake, MONTHS[1]), {k: v for k, v in january.carry.items() if k != "path"})


def test_rows_of_another_slice_a_null_key_or_a_missing_source_are_refused() -> None:
    lake = _small()
    low, high = plan_ranges(2)  # keys 5 and 7 are in the high half
    with pytest.raises(KeyRangeError, match=r"rows outside the slice's key range \[-9223372036854775808, 0\) \(first: 5\)"):
        build_month(MONTHS[0], _days(lake, MONTHS[0]), None, low)
    assert build_month(MONTHS[0], _days(lake, MONTHS[0]), None, high).rows["overall"].num_rows == 1
    nulled = lake["rollup_sessions"].set_column(1, "visitor_key", pa.array([None] * lake["rollup_sessions"].num_rows, pa.int64()))
    with pytest.raises(KeyRangeError, match="NULL visitor_key"):
        build_month(MONTHS[0], {**_days(lake, MONTHS[0]), "rollup_sessions": _of_month(nulled, MONTHS[0])}, None)
    with pytest.raises(MonthInputError, match="no rollup_geo_days rows"):
        build_month(MONTHS[0], {k: v for k, v in _days(lake, MONTHS[0]).items() if k != "rollup_geo_days"}, None)
    for n in (0, MAX_RANGES + 1):
        with pytest.raises(KeyRangeError, match=f"cannot plan {n} key ranges"):
            plan_ranges(n)
    with pytest.raises(KeyRangeError, match="empty or outside"):
        KeyRange(0, 0)
