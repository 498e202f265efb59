"""The exact split (clickstream/dashboard/scope.py, ``_split_ctes``): a view filtered by country
or browser reads the session rollups for the visitors whose user actions in the days its
rolled-up sessions reach all have the value or all lack it, and the other ("mixed") visitors'
kept events raw. Here every lake has mixed visitors: travellers who change country between
events and browser switchers, with night visits whose sessions run past midnight while they
switch (tests/rollup_helpers.visits), and the session panels must answer as over the kept
events alone; test_rollup_filters.py covers every panel and filter over the general lakes."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from typing import Any

import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlglot import exp

from chalicelib.lake import rollup
from clickstream.dashboard import scope
from clickstream.dashboard.pages import narrow
from clickstream.lake import catalog, translate
from clickstream.lake.params import NOTHING_ROLLED
from tests.filter_helpers import assert_filtered_as_kept, kept_by_all, who
from tests.rollup_helpers import DAY0, DAYS, visits

# visitors whose country changes between events (0, 14: known by user id only, 21) or whose
# browser changes between visits and within night visits (6, 13, 20); 1 and 2 have one of each
MIXED = [0, 6, 13, 14, 20, 21]
SESSION_PANELS = [n for n in catalog.query_names() if catalog.referenced_tables(catalog.query_file(n).text) & scope.SESSION_SPLIT]  # type: ignore[union-attr]


@st.composite
def travellers(draw: st.DrawFn) -> dict[str, Any]:
    counter = [0]
    names = draw(st.sampled_from([["country"], ["browser"], ["browser", "country"]]))
    values = {"country": ["DE", "FR", scope.NONE], "browser": ["Firefox", "Chrome"]}
    switching = [v for v in MIXED if (v % 7 == 0 and "country" in names) or (v % 7 == 6 and "browser" in names)]
    chosen = draw(st.lists(st.sampled_from(switching), min_size=1, max_size=2, unique=True))
    others = draw(st.lists(st.sampled_from([1, 2, *(v for v in MIXED if v not in switching)]), max_size=2, unique=True))
    travelling = [e for v in chosen for e in draw(visits(v, counter))]
    events = travelling + [e for v in others for e in draw(visits(v, counter))]
    # a range from a day the travellers are active, of one to three days, and rolled-up days from
    # the day before it on: in the range, the day before it only (the tail's margin), or all of it
    first = draw(st.sampled_from(sorted({(e["event_time"].date() - DAY0).days for e in travelling} & set(range(DAYS)))))
    last = draw(st.integers(first, min(first + 2, DAYS - 1)))
    return {
        "events": events,
        "filters": {n: draw(st.sampled_from(values[n])) for n in names},
        "range": (DAY0 + timedelta(days=first), DAY0 + timedelta(days=last)),
        "rolled": draw(st.sampled_from([None, *range(first - 1, DAYS)])),
    }


def mixed_visitors(case: dict[str, Any]) -> set[str | None]:
    """The visitors with user actions of both kinds, kept and other, in W: the days from the day
    before the range to the day after its last rolled-up day (the lake rolls up through day 7)."""
    lo, hi = case["range"]
    rolled = DAY0 + timedelta(days=7 if case["rolled"] is None else case["rolled"])
    first, last = lo - timedelta(days=1), min(hi, rolled) + timedelta(days=1)
    kept = {e["event_id"] for e in kept_by_all(case["events"], case["filters"], lo, hi)}
    kinds: dict[str | None, set[bool]] = {}
    for e in case["events"]:
        if e["event_type"] not in rollup.NOT_ACTIONS and first <= e["event_time"].date() <= last:
            kinds.setdefault(who(e), set()).add(e["event_id"] in kept)
    return {v for v, k in kinds.items() if k == {True, False}}


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=travellers().filter(mixed_visitors))
def test_a_view_filtered_by_events_splits_the_sessions_of_mixed_visitors_exactly(
    tmp_path_factory: pytest.TempPathFactory, case: dict[str, Any]
):
    # GIVEN a lake where some visitor has kept and other user actions in the days the rolled-up
    # sessions of the range reach; WHEN the session panels run filtered THEN they answer as over
    # the kept events alone
    assert_filtered_as_kept(
        tmp_path_factory, list(case["events"]), case["filters"], case["range"], case["rolled"], SESSION_PANELS
    )


def test_the_session_panels_are_the_ones_reading_the_session_rollups():
    panels = {"daily_metrics", "entry_pages", "exit_pages", "funnel", "overview", "referrers", "utm_campaigns"}
    assert set(SESSION_PANELS) == panels


def _split(panel: str, filters: dict[str, str]) -> tuple[str, exp.Expression]:
    sql, _ = narrow(catalog.query_file(panel).text, filters, None)  # type: ignore[union-attr]
    return sql, sqlglot.parse_one(sql, read="athena")


def test_a_country_filtered_session_panel_reads_rollup_sessions_narrowed_to_the_visitors_not_mixed():
    # GIVEN entry pages filtered by country
    sql, tree = _split("entry_pages", {"country": "DE"})
    # THEN its sessions of the rolled-up days are rollup_sessions' with that first country, less
    # the mixed visitors'; the tail's margin is rollup_last_events less theirs
    mixed = f"SELECT visitor_key FROM {scope.SPLIT_VISITORS} WHERE kept AND other"
    assert f"FROM rollup_sessions WHERE (country = :f_country) AND NOT visitor_key IN ({mixed})) AS rollup_sessions" in sql
    assert (
        f"FROM rollup_last_events WHERE NOT FROM_BIG_ENDIAN_64(SUBSTR(MD5(TO_UTF8(anonymous_id)), 1, 8)) IN ({mixed})) AS" in sql
    )
    # AND the raw side reads every day: the kept events after rolled_through and the mixed visitors'
    # kept events, one CTE for the statement (a batch shares it between panels)
    assert "rolled_through" in translate.parameter_names(sql)
    assert f"dt > '{NOTHING_ROLLED}'" in sql
    split_read = (
        f"SELECT * FROM events WHERE (country = :f_country) AND dt > :rolled_through UNION ALL SELECT * FROM {scope.SPLIT_EVENTS}"
    )
    assert sql.count(split_read) == 3  # the tail's range, the day before it, the day after it
    ctes = [c.alias for c in tree.find_all(exp.CTE)]
    assert ctes[:3] == [scope.SPLIT_WINDOW, scope.SPLIT_VISITORS, scope.SPLIT_EVENTS]
    assert translate.placeholders_outside_where(sql) == []  # Athena binds parameters in WHERE only


def test_a_country_filtered_overview_sums_its_sessions_from_the_split_and_reads_its_visitors_less_the_mixed_ones():
    sql, _ = _split("overview", {"country": "DE", "page": "/demo"})
    assert "FROM rollup_session_totals" not in sql
    assert "FROM rollup_sessions WHERE (visitor_key IN (SELECT FROM_BIG_ENDIAN_64(" in sql  # the page's visitors
    mixed = f"visitor_key IN (SELECT visitor_key FROM {scope.SPLIT_VISITORS} WHERE kept AND other)"
    # the per-day rows with the value, but the mixed visitors' of the days split_events holds
    visitor_days = sql.split("FROM rollup_visitor_days WHERE ", 1)[1].split(") AS rollup_visitor_days", 1)[0]
    assert "(country = :f_country) AND NOT (dt BETWEEN" in visitor_days and mixed in visitor_days
    assert translate.placeholders_outside_where(sql) == []


def test_a_country_filtered_funnel_counts_the_pure_visitors_rolled_up_sessions_and_an_ad_hoc_one_reads_the_kept_events():
    sql, tree = _split("funnel", {"browser": scope.NONE})
    pure = f"SELECT visitor_key FROM {scope.SPLIT_VISITORS} WHERE kept AND NOT other"
    assert f"FROM rollup_funnel_sessions WHERE visitor_key IN ({pure}) GROUP BY" in sql
    assert "FROM rollup_funnel_days" not in sql
    # the ad-hoc funnel's reads (raw events of the range, whatever is rolled up) are not split
    adhoc = next(c for c in tree.find_all(exp.CTE) if c.alias == "adhoc_scoped").sql(dialect="athena")
    assert scope.SPLIT_EVENTS not in adhoc and adhoc.count("(SELECT * FROM events WHERE (browser IS NULL)) AS events") == 3


def test_a_query_the_split_does_not_know_the_shape_of_reads_raw_events_for_every_day():
    # GIVEN a query reading rollup_sessions for days before its range (W covers only the
    # sessions starting in the range), and one reading events and a rollup in one SELECT
    outside = "SELECT count(*) AS n FROM rollup_sessions WHERE app_id = :app_id AND dt <= :date_to AND dt <= :rolled_through"
    joined = (
        "SELECT count(*) AS n FROM events e JOIN rollup_sessions s ON s.anonymous_id = e.anonymous_id"
        " WHERE e.app_id = :app_id AND s.dt BETWEEN :date_from AND :date_to AND e.dt > :rolled_through"
    )
    for sql in (outside, joined):
        # WHEN filtered by country THEN it is pinned to raw events, as before the split
        narrowed, _ = narrow(sql, {"country": "DE"}, None)
        assert "rolled_through" not in translate.parameter_names(narrowed), narrowed
        assert scope.SPLIT_EVENTS not in narrowed


@pytest.mark.parametrize("rolled_day", [2, 3, None])
def test_a_session_that_crosses_into_another_country_after_midnight_is_cut_from_the_kept_events(
    tmp_path_factory: pytest.TempPathFactory, rolled_day: int | None
):
    # GIVEN v's session starts in Germany at 23:50 on day 2 and goes on in France at 00:10 on
    # day 3: rolled up, one session of two events on day 2, its first country DE
    night = datetime.combine(DAY0 + timedelta(days=2), time(23, 50), tzinfo=timezone.utc)
    base = {"app_id": "a", "anonymous_id": "v", "event_type": "page_view", "event_name": "page_view", "browser": "Firefox"}
    events = [
        {**base, "event_id": "e1", "event_time": night, "path": "/demo", "country": "DE"},
        {**base, "event_id": "e2", "event_time": night + timedelta(minutes=20), "path": "/b", "country": "FR"},
    ]
    # WHEN day 2 is filtered to Germany THEN the session is its German event alone (a bounce):
    # v is mixed in W, whose last day is the day after the range's last rolled-up day
    assert_filtered_as_kept(
        tmp_path_factory, events, {"country": "DE"}, (DAY0 + timedelta(days=2),) * 2, rolled_day, ["overview", "exit_pages"]
    )


def test_a_mixed_visitors_last_event_before_the_raw_days_is_read_once(tmp_path_factory: pytest.TempPathFactory):
    # GIVEN v is in France at 10:00 on day 2 and in Germany at 23:45 (a session of one event), and
    # day 2 is the last rolled-up day, whose last events rollup_last_events holds for the raw tail
    day = datetime.combine(DAY0 + timedelta(days=2), time(), tzinfo=timezone.utc)
    base = {"app_id": "a", "anonymous_id": "v", "event_type": "page_view", "event_name": "page_view", "browser": "Firefox"}
    events = [
        {**base, "event_id": "e1", "event_time": day + timedelta(hours=10), "path": "/b", "country": "FR"},
        {**base, "event_id": "e2", "event_time": day + timedelta(minutes=1425), "path": "/demo", "country": "DE"},
    ]
    # WHEN days 2-4 are filtered to Germany THEN the German session is one event (a bounce): v's
    # margin comes from its kept events, read raw, not from rollup_last_events as well
    range_ = (DAY0 + timedelta(days=2), DAY0 + timedelta(days=4))
    assert_filtered_as_kept(tmp_path_factory, events, {"country": "DE"}, range_, 2, ["overview", "entry_pages"])
