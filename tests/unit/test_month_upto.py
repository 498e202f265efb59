"""The local engine binds U itself (clickstream.lake.month_reads.with_upto): the month arm's last
day, written out in the SQL wherever it is used (Athena binds parameters only in WHERE clauses),
is a parameter on DuckDB, its value computed in Python from the same values. The two must agree
for any values the SQL can be given, and a panel must answer the same either way."""

from __future__ import annotations

import random
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Callable

import duckdb
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from clickstream.lake import catalog, directory_lake, month_reads, prepare, translate
from clickstream.lake.duck import DuckLake
from clickstream.lake.params import NOTHING_ROLLED
from tests.month_helpers import MONTH_PANELS, click, event, rolled_lake
from tests.rollup_helpers import APP, answers, same


def prepared(name: str, values: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The panel's Athena SQL and its values, of ``values`` those it takes."""
    names = translate.parameter_names(catalog.resolve(name)[0])
    return prepare(name, {k: v for k, v in values.items() if k in names})


DAYS = st.dates(min_value=date(2025, 1, 1), max_value=date(2027, 12, 31))


@settings(max_examples=300, deadline=None)
@given(first=DAYS, last=DAYS, months=st.one_of(DAYS, st.just(None)), rolled=st.one_of(DAYS, st.just(None)))
def test_u_computed_in_python_is_u_as_its_sql_computes_it(first: date, last: date, months: date | None, rolled: date | None):
    values = {
        "date_from": first.isoformat(),
        "date_to": last.isoformat(),
        "months_through": months.isoformat() if months else NOTHING_ROLLED,
        "rolled_through": rolled.isoformat() if rolled else NOTHING_ROLLED,
    }
    # (DuckDB types U as a timestamp where the CASE mixes a date and a day before one: midnight)
    u = month_reads._UPTO
    sql = translate.to_duckdb(
        f"SELECT CAST(CAST({u} AS date) AS varchar), CAST({u} AS timestamp) = CAST(CAST({u} AS date) AS timestamp)"
    )
    expected, midnight = duckdb.connect().execute(sql, values).fetchone()  # type: ignore[misc]
    assert month_reads.upto(values) == expected and midnight


def _month_rows(draw: Callable[[st.SearchStrategy[Any]], Any], first: date, last: date) -> list[dict[str, Any]]:
    """Month rows of the ``browser`` dimension in the months of [first, last] and the one before
    and after each: a day mask (all rows, and people: a subset), its first and last days, a prev
    or none."""
    months = max(0, (last.year * 12 + last.month) - (first.year * 12 + first.month))
    rows = []
    for i in range(draw(st.integers(0, 12))):
        month = date(first.year, first.month, 15) + timedelta(days=30.5 * draw(st.integers(-1, months + 1)))
        month = month.replace(day=1)
        days = ((month + timedelta(days=32)).replace(day=1) - month).days
        mask = draw(st.integers(1, 2**days - 1))
        people = mask & draw(st.integers(0, 2**days - 1))
        row: dict[str, Any] = {"app_id": APP, "dim": "browser", "month": f"{month:%Y-%m}", "browser": f"b{i % 3}"}
        for who, bits in (("all", mask), ("people", people)):
            set_days = [d + 1 for d in range(days) if bits >> d & 1]
            row[f"mask_{who}"] = bits
            row[f"first_day_{who}"] = set_days[0] if set_days else None
            row[f"last_day_{who}"] = set_days[-1] if set_days else None
            row[f"prev_{who}"] = draw(st.one_of(st.just(None), st.dates(month - timedelta(days=120), month - timedelta(days=1))))
        rows.append(row)
    return rows


@settings(max_examples=200, deadline=None)
@given(data=st.data(), first=DAYS, span=st.one_of(st.integers(-40, 40), st.integers(-40, 160)), bots=st.booleans())
def test_the_month_scans_left_out_for_a_range_select_nothing_for_it(data: st.DataObject, first: date, span: int, bots: bool):
    # GIVEN month rows around a range [first, U] (U up to five months on, or before first)
    last = first + timedelta(days=span)
    rows = _month_rows(data.draw, first, last)
    con = duckdb.connect()
    day, date32 = pa.int8(), pa.date32()
    schema = pa.schema(
        [("app_id", pa.string()), ("dim", pa.string()), ("month", pa.string()), ("browser", pa.string())]
        + [(f"mask_{w}", pa.int32()) for w in ("all", "people")]
        + [(f"{c}_{w}", day) for c in ("first_day", "last_day") for w in ("all", "people")]
        + [(f"prev_{w}", date32) for w in ("all", "people")]
    )
    con.register("drawn", pa.Table.from_pylist(rows, schema=schema))
    con.execute("CREATE TABLE rollup_visitor_months AS SELECT * FROM drawn")
    values = {"app_id": APP, "date_from": first.isoformat(), "include_bots": bots}
    values |= {name: last.isoformat() for name in ("date_to", "months_through", "rolled_through")}
    dim = next(d for d in month_reads.DIMENSIONS if d.name == "browser")

    # WHEN the derived table is read whole and with only the scans cases_of keeps
    def read(kept: tuple[int, ...]) -> list[Any]:
        sql = translate.to_duckdb(f"SELECT browser FROM {month_reads._rows(dim, kept)} AS mr ORDER BY browser")
        return con.execute(sql, values).fetchall()

    kept = month_reads.cases_of(first, date.fromisoformat(month_reads.upto(values) or ""))
    # THEN the rows are the same, and every scan left out selects nothing
    assert read(kept) == read(month_reads.ALL_CASES)
    assert all(read((i,)) == [] for i in month_reads.ALL_CASES if i not in kept)


def test_a_statement_without_u_or_without_its_values_is_left_as_it_is():
    values = {"app_id": APP, "date_from": "2026-11-01", "date_to": "2026-11-02"}
    assert month_reads.with_upto("SELECT 1 WHERE :app_id = 'a'", values) == ("SELECT 1 WHERE :app_id = 'a'", values)
    sql, _ = prepare("browsers", values)
    assert month_reads.with_upto(sql, {**values, "months_through": "not a day", "rolled_through": NOTHING_ROLLED})[0] == sql


def test_every_panel_answers_the_same_with_u_bound_as_with_u_written_out(tmp_path: Path):
    # GIVEN visitors over two months (returning ones, ones switching browsers or arriving from a
    # referrer, a bot, clicks), rolled up and built into month rows through days[3], and a raw
    # last day
    days = [date(2026, 9, 28), date(2026, 9, 30), date(2026, 10, 1), date(2026, 10, 3), date(2026, 10, 4)]
    draw = random.Random(3)
    events: list[dict[str, Any]] = []
    for v in range(8):
        for day in draw.sample(days, draw.randint(1, 3)):
            i = len(events)
            if v == 7:
                events.append(event(i, "bot", day, "", bot=True))
            elif draw.random() < 0.3:
                events.append(click(i, f"v{v}", day, draw.choice(["LIKE_WOOD", "CLICK_LANG"]), geo=(52.5, 13.4)))
            else:
                source = {"referrer_host": "news.example", "utm_source": "news"} if draw.random() < 0.3 else {}
                events.append(
                    event(i, f"v{v}", day, draw.choice(["Firefox", "Chrome"]), path=draw.choice(["/demo", "/other"]), **source)
                )
    lake = rolled_lake(tmp_path, events)
    duck, local = DuckLake(lake.root), directory_lake(lake.root)
    through = str(days[3])
    cases = [  # (range, months_through, bots): U at months_through, at rolled_through, before the range
        ((days[0], days[4]), through, False),
        ((days[0], days[4]), str(days[1]), True),
        ((days[1], days[3]), through, True),
        ((days[2], days[4]), NOTHING_ROLLED, False),
        ((days[4], days[4]), through, False),
        ((days[0] - timedelta(days=45), days[4]), through, False),  # a month between (September)
        ((days[0] - timedelta(days=200), days[4]), through, True),  # longer than the lookback
    ]
    checked = 0
    for (lo, hi), months, bots in cases:
        values = {"app_id": APP, "date_from": lo, "date_to": hi, "include_bots": bots}
        values |= {"rolled_through": through, "months_through": months}
        for name in MONTH_PANELS:
            # WHEN the panel runs as Athena's text (U written out) and as the local engine runs
            # it (U bound), alone and in the page's batch
            written = answers(duck, name, values)
            sql, bound = prepared(name, values)
            assert month_reads.UPTO_PARAMETER in month_reads.with_upto(sql, bound)[1]
            # THEN the answers are the same
            assert same(local.query(sql, bound, max_age_s=3600).to_pylist(), written), (name, lo, hi, months, bots)
            checked += 1
        page = local.query_many([prepared(n, values) for n in MONTH_PANELS], max_age_s=3600)
        assert all(same(t.to_pylist(), answers(duck, n, values)) for n, t in zip(MONTH_PANELS, page, strict=True))
    assert checked == len(cases) * len(MONTH_PANELS)


def test_a_range_over_two_months_runs_without_the_scans_it_cannot_keep():
    # GIVEN every month panel's SQL over a range from one month into the next, its month rows
    # built through the range's end
    values = {"app_id": APP, "date_from": "2026-10-20", "date_to": "2026-11-05"}
    values |= {"months_through": "2026-11-05", "rolled_through": "2026-11-05"}
    assert month_reads.cases_of(date(2026, 10, 20), date(2026, 11, 5)) == (1, 3)

    def scans(sql: str, kept: tuple[int, ...]) -> list[str]:
        """The dimensions whose month rows ``sql`` reads with the scans ``kept``, U bound."""
        bound = f"CAST(:{month_reads.UPTO_PARAMETER} AS date)"
        return [d.name for d in month_reads.DIMENSIONS if month_reads._rows(d, kept).replace(month_reads._UPTO, bound) in sql]

    reading = []
    for name in MONTH_PANELS:
        sql, _ = catalog.resolve(name)
        # WHEN U is bound, with the scans pruned and without
        pruned, _ = month_reads.with_upto(sql, values)
        whole, _ = month_reads.with_upto(sql, values, prune=False)
        # THEN the pruned SQL reads each dimension's month rows with the first and last months'
        # scans alone, none with all four, and the SQL without pruning the other way round
        assert not scans(pruned, month_reads.ALL_CASES) and not scans(whole, (1, 3)), name
        assert scans(pruned, (1, 3)) == scans(whole, month_reads.ALL_CASES), name
        if scans(whole, month_reads.ALL_CASES):
            reading.append(name)
            assert len(pruned) < len(whole), name
    # (the panels that read month rows at all: all but the daily series)
    assert len(reading) >= len(MONTH_PANELS) - 2, reading
