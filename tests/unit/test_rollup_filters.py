"""A filtered view (the dashboard's click-to-filter on page, source, country, browser) answers
what the same panel, unfiltered, answers over a lake of only the filtered events, read through
that lake's own rollups (clickstream.dashboard.pages.narrow): country and browser keep the events
with that value, and such a view reads the per-day rollups of events (which group by both) by
their rows, the sessions from raw events for every day; page and source keep every event
of the visitors who viewed that page (a page view) / started a session from that host (its first
user action's referrer, as Top sources counts it; the starts read rollup_sessions up to the
rolled_through the engine binds, raw events after it) in the range, and such a view reads the
rollups narrowed to those visitors (``(none)``: the value is missing), up to a cut-off when there
is one. Two filters: those that pick visitors pick them from all events, then those that keep
events keep theirs. Every panel, random lakes, both bot settings, any rolled_through. A cut-off (a running
period), alone or with a filter, still reads the rollups of the days it
leaves whole and answers as raw events cut at the same instant."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from typing import Any

import duckdb
import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlglot import exp

from chalicelib.lake import rollup
from clickstream.dashboard import scope
from clickstream.dashboard.pages import narrow
from clickstream.lake import catalog, translate
from clickstream.lake.duck import DuckLake
from clickstream.lake.params import NOTHING_ROLLED
from tests.filter_helpers import assert_filtered_as_kept, filtered, kept, who
from tests.rollup_helpers import APP, CLOCK, DAY0, DAYS, FUNNELS, Lake, answers, same, visits

VALUES = {
    "country": ["DE", "FR", scope.NONE],
    "browser": ["Firefox", "Crawler"],
    "page": ["/demo", "/b", scope.NONE],
    "source": ["news.example", scope.NONE],
}


@st.composite
def cases(draw: st.DrawFn) -> dict[str, Any]:
    counter = [0]
    # one filter, or two: one that picks visitors or keeps events, and one that keeps events
    pairs = [[n, m] for n in sorted(VALUES) for m in sorted(scope.EVENT_FILTERS) if n < m or n in scope.VISITOR_FILTERS]
    names = draw(st.sampled_from([[n] for n in sorted(VALUES)] + pairs))
    first, last = sorted((draw(st.integers(0, DAYS - 1)), draw(st.integers(0, DAYS - 1))))
    return {
        "events": [e for v in range(draw(st.integers(1, 7))) for e in draw(visits(v, counter))],
        "filters": {n: draw(st.sampled_from(VALUES[n])) for n in names},
        "range": (DAY0 + timedelta(days=first), DAY0 + timedelta(days=last)),
        # what the engine binds: the rollups' published day, or an earlier one (a lake whose
        # later days are not rolled up yet: the source filter's starts come from raw events there)
        "rolled": draw(st.sampled_from([None, -2, *range(DAYS)])),
    }


@pytest.mark.heavy
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=cases())
def test_a_filtered_view_is_the_dashboard_of_the_filtered_events(tmp_path_factory: pytest.TempPathFactory, case: dict[str, Any]):
    assert_filtered_as_kept(tmp_path_factory, list(case["events"]), case["filters"], case["range"], case["rolled"])


@pytest.mark.parametrize("rolled_day", [-2, 1, 2, 3, 4, None])
def test_a_source_filter_counts_the_sessions_at_the_rollups_edge_once(
    tmp_path_factory: pytest.TempPathFactory, rolled_day: int | None
):
    # GIVEN sessions from news.example on either side of a rolled-up day's end, whatever the last
    # rolled-up day the engine binds: a starts at 23:50 on day 2 and runs into day 3; b starts at
    # 00:05 on day 3; c came direct at 23:55 on day 2, so its news.example event at 00:10 on day 3
    # starts nothing; d's only session from news.example starts on day 4
    def at(event_id: str, who_: str, when: datetime, referrer: str | None) -> dict[str, Any]:
        return {**_at(event_id, who_, when, "page_view", "/demo"), "referrer_host": referrer}

    night = _day(2, 23)
    events = [at("a1", "a", night + timedelta(minutes=50), "news.example"), at("a2", "a", night + timedelta(minutes=70), None),
              at("b1", "b", night + timedelta(minutes=65), "news.example"), at("b2", "b", _day(4, 9), None),
              at("c1", "c", night + timedelta(minutes=55), None), at("c2", "c", night + timedelta(minutes=70), "news.example"),
              at("d1", "d", _day(1, 8), None), at("d2", "d", _day(4, 8), "news.example")]  # fmt: skip
    # WHEN the session panels and the overview run filtered on news.example THEN a, b and d are in them, c is not
    assert {who(e) for e in kept(events, "source", "news.example", DAY0, DAY0 + timedelta(days=5))} == {"a", "b", "d"}
    for lo, hi in ((0, 5), (3, 3), (2, 2), (3, 5)):
        range_ = (DAY0 + timedelta(days=lo), DAY0 + timedelta(days=hi))
        assert_filtered_as_kept(
            tmp_path_factory, events, {"source": "news.example"}, range_, rolled_day, ["overview", "referrers"]
        )


def test_a_view_filtered_by_events_splits_the_sessions_by_visitor_and_an_unfiltered_one_is_untouched():
    # GIVEN the funnel, whose sessions a country filter cuts from the kept events alone
    text = catalog.query_file("funnel").text  # type: ignore[union-attr]
    sql, extra = narrow(text, {"country": "DE"}, None)
    # THEN it keeps reading the rollups up to the day the engine binds, for the visitors the
    # filter does not split (docs/lake.md, *Filters*: the exact split), and its raw side reads
    # every day: the kept events after that day and the mixed visitors' kept events
    assert extra == {"f_country": "DE"}
    assert "country = :f_country" in sql
    assert "rolled_through" in translate.parameter_names(sql)
    assert "FROM rollup_funnel_sessions WHERE visitor_key IN (SELECT visitor_key FROM split_visitors" in sql
    assert f"dt > '{NOTHING_ROLLED}'" in sql and f"<= '{NOTHING_ROLLED}'" not in sql
    assert narrow(text, {}, None) == (text, {})
    assert rollup.FUNNELS  # the funnel above reads its rollup when unfiltered


def reads_the_rollups(sql: str) -> bool:
    """The filtered SQL reads the rollups up to the day the engine binds: no read of them is
    pinned off (``dt <= '0001-01-01'``). The month rows are, by the literal in place of
    :months_through (clickstream/dashboard/scope.py)."""
    return f"dt <= '{NOTHING_ROLLED}'" not in sql and "rolled_through" in translate.parameter_names(sql)


@pytest.mark.parametrize(
    "panel,table",
    [
        ("browsers", "rollup_visitor_days"),
        ("retention", "rollup_visitor_days"),
        ("top_pages", "rollup_page_days"),
        ("custom_events", "rollup_event_days"),
        ("geo_grid", "rollup_geo_days"),
    ],  # fmt: skip
)
def test_a_view_filtered_by_events_reads_the_rollups_grouped_by_their_column(panel: str, table: str):
    # GIVEN a panel that reads only per-day rollups of events, which group by browser and country
    assert set(rollup.FILTER_DIMENSIONS) <= set(rollup.SCHEMAS[table].names)
    text = catalog.query_file(panel).text  # type: ignore[union-attr]
    # WHEN it is filtered by country, by a missing browser, or by a page and a country
    for filters, kept_rows in (
        ({"country": "DE"}, "(country = :f_country)"),
        ({"browser": scope.NONE}, "(browser IS NULL)"),
        ({"page": "/demo", "country": "DE"}, "(country = :f_country)"),
    ):
        sql, _ = narrow(text, filters, None)
        # THEN it keeps reading the rollups up to the day the engine binds, the rows with the value
        assert reads_the_rollups(sql)
        # AND no month row: a month row of one value cannot be narrowed by another
        assert "months_through" not in translate.parameter_names(sql)
        assert f"FROM {table} WHERE " in sql
        assert kept_rows in sql.split(f"FROM {table} WHERE ", 1)[1].split(f") AS {table}", 1)[0]


def test_a_view_filtered_by_visitors_sums_the_rollups_without_visitors_from_those_with_them():
    # GIVEN the funnel, whose rollup_funnel_days counts sessions per step and holds no visitors
    sql, _ = narrow(catalog.query_file("funnel").text, {"page": "/demo"}, None)  # type: ignore[union-attr]
    # THEN a page filter counts the narrowed rollup_funnel_sessions instead
    assert reads_the_rollups(sql)
    assert "FROM rollup_funnel_sessions WHERE (visitor_key IN (SELECT FROM_BIG_ENDIAN_64(" in sql
    assert "FROM rollup_funnel_days" not in sql
    # GIVEN the overview, whose session totals hold no visitors either: THEN they are summed from
    # the narrowed rollup_sessions, and its visitor rows are narrowed by key
    sql, _ = narrow(catalog.query_file("overview").text, {"page": "/demo"}, None)  # type: ignore[union-attr]
    assert reads_the_rollups(sql)
    assert "FROM rollup_session_totals" not in sql
    assert "FROM rollup_sessions WHERE (visitor_key IN (SELECT FROM_BIG_ENDIAN_64(" in sql
    assert "FROM rollup_visitor_days WHERE (visitor_key IN (SELECT FROM_BIG_ENDIAN_64(" in sql


def test_a_source_filter_reads_its_session_starts_and_the_panels_rollups_up_to_the_day_the_engine_binds():
    # GIVEN a source-filtered panel
    sql, extra = narrow(catalog.query_file("browsers").text, {"source": "news.example"}, None)  # type: ignore[union-attr]
    # THEN the starts and the panel's own reads of the rollups read the rolled_through the engine
    # fills in (as for an unfiltered query: the run binds the rollups' published day), the panel's
    # narrowed to the visitors the starts pick
    assert extra == {"f_source": "news.example"}
    assert reads_the_rollups(sql)
    tree = sqlglot.parse_one(sql, read="athena")
    starts = [c for c in tree.find_all(exp.CTE) if c.alias.startswith("source_")]
    assert [c.alias for c in starts][-1] == scope.STARTS
    for cte in starts:
        cte.pop()
    rest = tree.sql(dialect="athena")
    assert "rolled_through" in translate.parameter_names(rest)
    picked = f"SELECT FROM_BIG_ENDIAN_64(SUBSTR(MD5(TO_UTF8(visitor)), 1, 8)) FROM {scope.STARTS}"
    assert f"FROM rollup_visitor_days WHERE (visitor_key IN ({picked}" in rest


@st.composite
def cuts(draw: st.DrawFn) -> dict[str, Any]:
    counter = [0]
    first, last = sorted((draw(st.integers(0, DAYS - 1)), draw(st.integers(0, DAYS - 1))))
    day = DAY0 + timedelta(days=draw(st.integers(-1, DAYS + 1)))
    # at an event's minute (an event at the cut itself is cut off), a second later, or midnight
    at = timedelta(minutes=draw(st.sampled_from([0, *CLOCK])), seconds=draw(st.sampled_from([0, 1, 59])))
    return {
        "events": [e for v in range(draw(st.integers(1, 7))) for e in draw(visits(v, counter))],
        "range": (DAY0 + timedelta(days=first), DAY0 + timedelta(days=last)),
        "until": datetime.combine(day, time(), tzinfo=timezone.utc) + at,
        # none, or a filter (those that pick visitors keep reading the rollups, narrowed to them;
        # those that keep events, the rollups grouped by their column)
        "filters": draw(st.sampled_from([{}, *({n: v} for n in sorted(VALUES) for v in VALUES[n])])),
    }


def assert_cut_reads_as_raw(
    root: Any, events: list[dict[str, Any]], lo: date, hi: date, until: datetime, filters: dict[str, str] | None = None
) -> None:
    # GIVEN a rolled-up lake and a cut-off (a running period is cut at "now", the previous one
    # at the same elapsed time), with or without a filter that picks visitors
    lake = Lake(root, events)
    lake.write_events(lake.days())
    lake.roll({DAY0 + timedelta(days=k) for k in range(-1, DAYS + 1)}, 10_000)
    lake.build_months()
    duck = DuckLake(lake.root)
    # WHEN every panel runs cut, reading the rollups (and the month rows) up to two days before the cut's day
    # THEN it answers what raw events cut at the same instant answer
    for bots in (False, True):
        params = {"app_id": APP, "date_from": lo, "date_to": hi, "include_bots": bots}
        for panel in catalog.query_names():
            for steps in FUNNELS if panel == "funnel" else [None]:
                asked = {**params, "steps": steps} if steps else params
                through = {"rolled_through": lake.rolled_through(), "months_through": lake.rolled_through()}
                got = filtered(duck, panel, {**asked, **through}, filters or {}, until)
                raw = filtered(duck, panel, {**asked, "rolled_through": NOTHING_ROLLED}, filters or {}, until)
                assert same(got, raw), (panel, lo, hi, until, filters, bots, got, raw)


@pytest.mark.heavy
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=cuts())
def test_a_cut_period_reads_the_rollups_of_whole_days(tmp_path_factory: pytest.TempPathFactory, case: dict[str, Any]):
    (lo, hi), until = case["range"], case["until"]
    assert_cut_reads_as_raw(tmp_path_factory.mktemp("cut"), list(case["events"]), lo, hi, until, case["filters"])


def test_a_session_across_midnight_is_cut_where_the_period_is(tmp_path: Any):
    # A session from 23:50 on day 2 to 00:10 on day 3, a period cut at 00:05 on day 3: the cut
    # session is one event long, which day 2's rollup (the whole session) does not say.
    start = datetime.combine(DAY0 + timedelta(days=2), time(23, 50), tzinfo=timezone.utc)
    base = {"app_id": APP, "anonymous_id": "v1", "event_type": "page_view", "path": "/demo", "browser": "Firefox"}
    events = [
        {**base, "event_id": "e1", "event_time": start, "event_name": "page_view"},
        {**base, "event_id": "e2", "event_time": start + timedelta(minutes=20), "event_name": "page_view", "path": "/b"},
        {**base, "event_id": "e3", "event_time": start + timedelta(days=3), "event_name": "page_view"},
    ]
    assert_cut_reads_as_raw(tmp_path, events, DAY0, DAY0 + timedelta(days=3), start + timedelta(minutes=15))


def test_a_cut_caps_the_rolled_up_days_two_days_before_its_own():
    # GIVEN a cut-off while the rollups are published through 2026-11-20
    sql, extra = narrow(catalog.query_file("browsers").text, {}, datetime(2026, 11, 20, 9, 30, tzinfo=timezone.utc))  # type: ignore[union-attr]
    assert "rolled_through" not in extra  # the engine fills it in, as for an uncut query
    assert "LEAST($rolled_through" in translate.to_duckdb(catalog.expand(sql, origin="browsers"))

    def cap(cut: str) -> str:
        select = "SELECT " + scope.rolled_cap("'2026-11-20'", f"CAST('{cut}' AS timestamp)")
        return str(duckdb.connect().execute(translate.to_duckdb(select)).fetchall()[0][0])

    # WHEN the cut falls on the 20th THEN the rollups are read through the 18th (the 19th's
    # sessions run into the 20th, which the cut splits); at midnight of the 22nd, all of them
    assert cap("2026-11-20 09:30:00.000") == "2026-11-18"
    assert cap("2026-11-20 00:00:00.000") == "2026-11-18"
    assert cap("2026-11-22 00:00:00.000") == "2026-11-20"
    assert cap("2026-11-22 00:00:00.001") == "2026-11-20"


def _at(event_id: str, visitor: str, at: datetime, kind: str, path: str | None) -> dict[str, Any]:
    return {"event_id": event_id, "app_id": APP, "anonymous_id": visitor, "event_time": at, "event_type": kind,
            "event_name": kind, "path": path, "browser": "Firefox", "is_bot": False}  # fmt: skip


def _day(k: int, hour: int) -> datetime:
    return datetime.combine(DAY0 + timedelta(days=k), time(hour), tzinfo=timezone.utc)


def _overview(
    tmp_path: Any, events: list[dict[str, Any]], filters: dict[str, str], lo: int, hi: int, until: datetime | None = None
) -> dict[str, Any]:
    lake = Lake(tmp_path, events)
    lake.write_events(lake.days())
    lake.roll({DAY0 + timedelta(days=k) for k in range(-1, DAYS + 1)}, 10_000)
    params = {"app_id": APP, "date_from": DAY0 + timedelta(days=lo), "date_to": DAY0 + timedelta(days=hi), "include_bots": False}
    return filtered(DuckLake(lake.root), "overview", {**params, "rolled_through": lake.rolled_through()}, filters, until)[0]


def test_a_page_filter_on_none_picks_visitors_by_page_views_without_a_path_not_by_identify_messages(tmp_path: Any):
    # GIVEN v1 viewed /demo and was identified (an identify message has no path); v2 viewed a page without a path
    events = [_at("e1", "v1", _day(2, 10), "page_view", "/demo"), _at("e2", "v1", _day(2, 11), "identify", None),
              _at("e3", "v2", _day(2, 12), "page_view", None)]  # fmt: skip
    # WHEN the overview is filtered on page (none): the top-pages row of page views without a path
    row = _overview(tmp_path, events, {"page": scope.NONE}, 0, DAYS - 1)
    # THEN it counts v2 only: v1's identify message picks no one
    assert (row["visitors"], row["page_views"]) == (1, 1), row


def test_a_source_filter_on_none_picks_no_one_by_identify_messages(tmp_path: Any):
    # GIVEN v1 came from news.example and was identified later (an identify message has no referrer)
    first = {**_at("e1", "v1", _day(2, 10), "page_view", "/demo"), "referrer_host": "news.example"}
    events = [first, _at("e2", "v1", _day(2, 11), "identify", None)]
    # WHEN the overview is filtered on source (none) THEN no one is in it
    row = _overview(tmp_path, events, {"source": scope.NONE}, 0, DAYS - 1)
    assert (row["visitors"], row["page_views"]) == (0, 0), row


def test_a_page_filter_on_a_cut_period_picks_only_visitors_who_viewed_the_page_before_the_cut(tmp_path: Any):
    # GIVEN a viewed /demo on day 2 and /b on day 3 at 20:00; the page of days 4-6 asked at 09:00
    # on day 6 compares its previous period (days 1-3) cut at 09:00 on day 3
    events = [_at("e1", "a", _day(2, 10), "page_view", "/demo"), _at("e2", "a", _day(3, 20), "page_view", "/b")]
    # WHEN the previous period's overview runs filtered on /b and cut (as main.compute runs it)
    row = _overview(tmp_path, events, {"page": "/b"}, 1, 3, until=_day(3, 9))
    # THEN a is not in it: up to the cut, a had not viewed /b
    assert (row["visitors"], row["page_views"]) == (0, 0), row


def test_a_source_filter_picks_the_visitors_of_the_sessions_top_sources_counts_for_it(tmp_path: Any):
    # GIVEN v1 came from news.example and clicked on (its later events: referrer NULL and the site
    # itself); v2 came direct and clicked on within the site
    def at(event_id: str, visitor: str, minute: int, referrer: str | None) -> dict[str, Any]:
        return {
            **_at(event_id, visitor, _day(2, 10) + timedelta(minutes=minute), "page_view", "/demo"),
            "referrer_host": referrer,
        }

    events = [at("e1", "v1", 0, "news.example"), at("e2", "v1", 5, None), at("e3", "v1", 9, "site.example"),
              at("e4", "v2", 1, None), at("e5", "v2", 6, "site.example")]  # fmt: skip
    lake = Lake(tmp_path / "top", events)
    lake.write_events(lake.days())
    period = {"app_id": APP, "date_from": DAY0, "date_to": DAY0 + timedelta(days=DAYS - 1), "include_bots": False}
    top = answers(DuckLake(lake.root), "referrers", {**period, "rolled_through": NOTHING_ROLLED})
    assert [(r["referrer_host"], r["visitors"]) for r in top] == [("news.example", 1), (None, 1)], top
    # WHEN the overview is filtered on each source THEN it counts the visitors Top sources does
    # (by any event's referrer, site.example would pick both and (none) both)
    for source, visitors in (("news.example", 1), (scope.NONE, 1), ("site.example", 0)):
        row = _overview(tmp_path / source, events, {"source": source}, 0, DAYS - 1)
        assert row["visitors"] == visitors, (source, row)


def test_a_source_filter_on_a_cut_period_picks_only_sessions_started_before_the_cut(tmp_path: Any):
    # GIVEN a came direct on day 2 and from news.example on day 3 at 20:00; the previous period
    # (days 1-3) of a page asked at 09:00 on day 6 is cut at 09:00 on day 3
    events = [_at("e1", "a", _day(2, 10), "page_view", "/demo"),
              {**_at("e2", "a", _day(3, 20), "page_view", "/b"), "referrer_host": "news.example"}]  # fmt: skip
    # WHEN that period's overview runs filtered on news.example, cut, and uncut
    cut = _overview(tmp_path / "cut", events, {"source": "news.example"}, 1, 3, until=_day(3, 9))
    whole = _overview(tmp_path / "whole", events, {"source": "news.example"}, 1, 3)
    # THEN a is in it only uncut: up to the cut, a had started no session from news.example
    assert (cut["visitors"], cut["page_views"]) == (0, 0), cut
    assert (whole["visitors"], whole["page_views"]) == (1, 2), whole


def test_a_source_filter_sessionizes_the_raw_tail_once_for_its_starts_and_the_panels():
    # GIVEN a session panel filtered by source alone, for an ended period
    sql, _ = narrow(catalog.query_file("entry_pages").text, {"source": "news.example"}, None)  # type: ignore[union-attr]
    aliases = [c.alias for c in sqlglot.parse_one(sql, read="athena").find_all(exp.CTE)]
    # THEN its sessions of the raw tail are those of the starts' own copy, for the visitors it picks
    picked = f"anonymous_id IN (SELECT visitor FROM {scope.STARTS} WHERE referrer_host = :f_source)"
    assert f"visits AS (SELECT * FROM source_visits WHERE {picked})" in sql
    assert f"numbered AS (SELECT * FROM source_numbered WHERE {picked})" in sql
    assert not {"scoped", "ordered", "flagged"} & set(aliases)  # no second sessionization
    # WHEN the period is cut, or a country is filtered too, THEN the panel sessionizes its own
    # narrowed events (the starts' read of them is neither cut nor narrowed by country)
    for filters, until in (({"source": "news.example"}, datetime(2026, 11, 20, 9, tzinfo=timezone.utc)),
                           ({"source": "news.example", "country": "DE"}, None)):  # fmt: skip
        sql, _ = narrow(catalog.query_file("entry_pages").text, filters, until)  # type: ignore[union-attr]
        assert "FROM source_visits WHERE anonymous_id IN" not in sql
        assert "ordered" in [c.alias for c in sqlglot.parse_one(sql, read="athena").find_all(exp.CTE)]
