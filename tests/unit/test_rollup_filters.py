"""A filtered view (the dashboard's click-to-filter on page, source, country, browser) reads raw
events for every day, as the rollups carry no filter (clickstream.dashboard.pages.narrow), and
answers what the same panel, unfiltered, answers over a lake of only the filtered events, read
through that lake's own rollups: country and browser keep the events with that value; page and
source keep every event of the visitors who viewed that page (a page view) / came from that host
(a user action: identify, group and alias messages pick no one) in the range (``(none)``: the
value is missing), up to a cut-off when there is one. Every panel, random lakes, both bot settings. A cut-off
alone (a running period) still reads the rollups of the days it leaves whole and answers as raw
events cut at the same instant."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.lake import rollup
from chalicelib.lake.visitor import visitor
from clickstream.dashboard import scope
from clickstream.dashboard.pages import narrow
from clickstream.lake import catalog, translate
from clickstream.lake.duck import DuckLake
from clickstream.lake.params import NOTHING_ROLLED, bind
from tests.rollup_helpers import APP, CLOCK, DAY0, DAYS, FUNNELS, Lake, answers, same, visits

COLUMN = {"country": "country", "browser": "browser", "page": "path", "source": "referrer_host"}
VALUES = {
    "country": ["DE", "FR", scope.NONE],
    "browser": ["Firefox", "Crawler"],
    "page": ["/demo", "/b", scope.NONE],
    "source": ["news.example", scope.NONE],
}


def kept(events: list[dict[str, Any]], name: str, value: str, lo: date, hi: date) -> list[dict[str, Any]]:
    """The events a filter leaves, computed directly (scope.py's docstring says which)."""
    wanted = None if value == scope.NONE else value

    def match(e: dict[str, Any]) -> bool:
        return e.get(COLUMN[name]) == wanted

    def picks(e: dict[str, Any]) -> bool:  # page: by page views; source: by user actions (no identify/group/alias)
        return e["event_type"] == "page_view" if name == "page" else e["event_type"] not in ("identify", "group", "alias")

    if name in ("country", "browser"):
        return [e for e in events if match(e)]

    def who(e: dict[str, Any]) -> str | None:  # the visitor (decision 0016), by the rule the live view uses
        return visitor(e["anonymous_id"], e.get("user_id"))

    visitors = {who(e) for e in events if lo <= e["event_time"].date() <= hi and picks(e) and match(e)}
    return [e for e in events if who(e) in visitors]


def filtered(
    duck: DuckLake, name: str, params: dict[str, Any], filters: dict[str, str], until: datetime | None = None
) -> list[dict[str, Any]]:
    sql, extra = narrow(catalog.query_file(name).text, name, filters, until)  # type: ignore[union-attr]
    names = translate.parameter_names(catalog.expand(sql, origin=name))
    values = bind(names, {k: v for k, v in {**params, **extra}.items() if k in names})
    return duck.execute(translate.to_duckdb(catalog.expand(sql, origin=name)), values).to_pylist()


@st.composite
def cases(draw: st.DrawFn) -> dict[str, Any]:
    counter = [0]
    name = draw(st.sampled_from(sorted(VALUES)))
    first, last = sorted((draw(st.integers(0, DAYS - 1)), draw(st.integers(0, DAYS - 1))))
    return {
        "events": [e for v in range(draw(st.integers(1, 7))) for e in draw(visits(v, counter))],
        "filter": (name, draw(st.sampled_from(VALUES[name]))),
        "range": (DAY0 + timedelta(days=first), DAY0 + timedelta(days=last)),
    }


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=cases())
def test_a_filtered_view_is_the_dashboard_of_the_filtered_events(tmp_path_factory: pytest.TempPathFactory, case: dict[str, Any]):
    # GIVEN a rolled-up lake, and a lake of only the events the filter keeps, rolled up too
    days = {DAY0 + timedelta(days=k) for k in range(-1, DAYS + 1)}
    whole = Lake(tmp_path_factory.mktemp("whole"), list(case["events"]))
    whole.write_events(whole.days())
    whole.roll(days, 10_000)
    (name, value), (lo, hi) = case["filter"], case["range"]
    part = Lake(tmp_path_factory.mktemp("part"), kept(case["events"], name, value, lo, hi))
    part.write_events(part.days())
    part.roll(days, 10_000)
    assert whole.rolled_through() != NOTHING_ROLLED
    duck_whole, duck_part = DuckLake(whole.root), DuckLake(part.root)
    # WHEN every panel runs filtered over the whole lake THEN it answers as over the filtered events
    for bots in (False, True):
        params = {"app_id": APP, "date_from": lo, "date_to": hi, "include_bots": bots}
        for panel in catalog.query_names():
            for steps in FUNNELS if panel == "funnel" else [None]:
                asked = {**params, "steps": steps} if steps else params
                got = filtered(duck_whole, panel, asked, {name: value})
                expected = answers(duck_part, panel, {**asked, "rolled_through": part.rolled_through()})
                assert same(got, expected), (panel, name, value, lo, hi, bots, got, expected)


def test_a_narrowed_view_pins_the_rollups_off_and_an_unfiltered_one_is_untouched():
    text = catalog.query_file("funnel").text  # type: ignore[union-attr]
    sql, extra = narrow(text, "funnel", {"country": "DE"}, None)
    assert extra == {"f_country": "DE", "rolled_through": NOTHING_ROLLED}
    assert "country = :f_country" in sql
    assert narrow(text, "funnel", {}, None) == (text, {})
    assert rollup.FUNNELS  # the funnel above reads its rollup when unfiltered


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
    }


def assert_cut_reads_as_raw(root: Any, events: list[dict[str, Any]], lo: date, hi: date, until: datetime) -> None:
    # GIVEN a rolled-up lake and a cut-off (a running period is cut at "now", the previous one
    # at the same elapsed time)
    lake = Lake(root, events)
    lake.write_events(lake.days())
    lake.roll({DAY0 + timedelta(days=k) for k in range(-1, DAYS + 1)}, 10_000)
    duck = DuckLake(lake.root)
    # WHEN every panel runs cut, reading the rollups up to two days before the cut's day
    # THEN it answers what raw events cut at the same instant answer
    for bots in (False, True):
        params = {"app_id": APP, "date_from": lo, "date_to": hi, "include_bots": bots}
        for panel in catalog.query_names():
            for steps in FUNNELS if panel == "funnel" else [None]:
                asked = {**params, "steps": steps} if steps else params
                got = filtered(duck, panel, {**asked, "rolled_through": lake.rolled_through()}, {}, until)
                raw = filtered(duck, panel, {**asked, "rolled_through": NOTHING_ROLLED}, {}, until)
                assert same(got, raw), (panel, lo, hi, until, bots, got, raw)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=cuts())
def test_a_cut_period_reads_the_rollups_of_whole_days(tmp_path_factory: pytest.TempPathFactory, case: dict[str, Any]):
    (lo, hi), until = case["range"], case["until"]
    assert_cut_reads_as_raw(tmp_path_factory.mktemp("cut"), list(case["events"]), lo, hi, until)


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
    sql, extra = narrow(catalog.query_file("browsers").text, "browsers", {}, datetime(2026, 11, 20, 9, 30, tzinfo=timezone.utc))  # type: ignore[union-attr]
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
    return filtered(DuckLake(lake.root), "overview", params, filters, until)[0]


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
