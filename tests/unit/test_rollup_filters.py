"""A filtered view (the dashboard's click-to-filter on page, source, country, browser) reads raw
events for every day, as the rollups carry no filter (clickstream.dashboard.pages.narrow), and
answers what the same panel, unfiltered, answers over a lake of only the filtered events, read
through that lake's own rollups: country and browser keep the events with that value; page and
source keep every event of the visitors who viewed that page / came from that host in the range
(``(none)``: the value is missing). Every panel, random lakes, both bot settings."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.lake import rollup
from clickstream.dashboard import scope
from clickstream.dashboard.pages import narrow
from clickstream.lake import catalog, translate
from clickstream.lake.duck import DuckLake
from clickstream.lake.params import NOTHING_ROLLED, bind
from tests.rollup_helpers import APP, DAY0, DAYS, FUNNELS, Lake, answers, same, visits

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

    if name in ("country", "browser"):
        return [e for e in events if match(e)]
    visitors = {e["anonymous_id"] for e in events if lo <= e["event_time"].date() <= hi and match(e)}
    return [e for e in events if e["anonymous_id"] in visitors]


def filtered(duck: DuckLake, name: str, params: dict[str, Any], filters: dict[str, str]) -> list[dict[str, Any]]:
    sql, extra = narrow(catalog.query_file(name).text, name, filters, None)  # type: ignore[union-attr]
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
