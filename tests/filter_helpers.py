"""A filtered view checked against a direct computation (tests/unit/test_rollup_filters.py,
tests/unit/test_rollup_split.py): the events a filter keeps, computed from the events themselves
(clickstream/dashboard/scope.py's docstring says which), and the same panels, unfiltered, over a
lake of only those events."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest

from chalicelib.lake import rollup
from chalicelib.lake.visitor import visitor
from clickstream.dashboard import scope
from clickstream.dashboard.pages import narrow
from clickstream.lake import catalog, translate
from clickstream.lake.duck import DuckLake
from clickstream.lake.params import NOTHING_ROLLED, bind
from tests.rollup_helpers import APP, DAY0, DAYS, FUNNELS, Lake, answers, same

COLUMN = {"country": "country", "browser": "browser", "page": "path", "source": "referrer_host"}


def kept(events: list[dict[str, Any]], name: str, value: str, lo: date, hi: date) -> list[dict[str, Any]]:
    """The events a filter leaves, computed directly (scope.py's docstring says which)."""
    wanted = None if value == scope.NONE else value

    def match(e: dict[str, Any]) -> bool:
        return e.get(COLUMN[name]) == wanted

    if name in ("country", "browser"):
        return [e for e in events if match(e)]
    if name == "page":  # by page views in the range
        chosen = {who(e) for e in events if lo <= e["event_time"].date() <= hi and e["event_type"] == "page_view" and match(e)}
    else:  # source: by the first user action of each session starting in the range
        chosen = {who(e) for e in session_starts(events) if lo <= e["event_time"].date() <= hi and match(e)}
    return [e for e in events if who(e) in chosen]


def kept_by_all(events: list[dict[str, Any]], filters: dict[str, str], lo: date, hi: date) -> list[dict[str, Any]]:
    """The events several filters leave: those that pick visitors pick them from all events
    (scope.py adds their CTEs over unfiltered events), then those that keep events keep them."""
    for name in sorted(filters, key=lambda n: n not in scope.VISITOR_FILTERS):
        events = kept(events, name, filters[name], lo, hi)
    return events


def who(e: dict[str, Any]) -> str | None:
    """The visitor (decision 0016), by the rule the live view uses."""
    return visitor(e["anonymous_id"], e.get("user_id"))


def session_starts(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The first user action of every session: per visitor, in time order (ties as
    etl/blocks/sessionize.sql orders them, NULL last), one 30 minutes or more after the previous."""

    def last(v: Any) -> tuple[bool, Any]:
        return (v is None, v or "")

    ties = ("event_type", "event_name", "path", "referrer_host", "utm_source", "utm_medium", "utm_campaign")
    by: dict[str | None, list[dict[str, Any]]] = {}
    for e in events:
        if e["event_type"] not in rollup.NOT_ACTIONS:
            by.setdefault(who(e), []).append(e)
    out = []
    for rows in by.values():
        rows.sort(key=lambda e: (e["event_time"], *(last(e.get(c)) for c in ties)))
        for i, e in enumerate(rows):
            if i == 0 or e["event_time"] - rows[i - 1]["event_time"] >= timedelta(milliseconds=rollup.GAP_MS):
                out.append(e)
    return out


def filtered(
    duck: DuckLake, name: str, params: dict[str, Any], filters: dict[str, str], until: datetime | None = None
) -> list[dict[str, Any]]:
    sql, extra = narrow(catalog.query_file(name).text, filters, until)  # type: ignore[union-attr]
    names = translate.parameter_names(catalog.expand(sql, origin=name))
    values = bind(names, {k: v for k, v in {**params, **extra}.items() if k in names})
    return duck.execute(translate.to_duckdb(catalog.expand(sql, origin=name)), values).to_pylist()


def assert_filtered_as_kept(
    tmp_path_factory: pytest.TempPathFactory,
    events: list[dict[str, Any]],
    filters: dict[str, str],
    range_: tuple[date, date],
    rolled_day: int | None,
    panels: list[str] | None = None,
) -> None:
    # GIVEN a rolled-up lake, and a lake of only the events the filter keeps, rolled up too
    days = {DAY0 + timedelta(days=k) for k in range(-1, DAYS + 1)}
    whole = Lake(tmp_path_factory.mktemp("whole"), events)
    whole.write_events(whole.days())
    whole.roll(days, 10_000)
    whole.build_months()
    lo, hi = range_
    part = Lake(tmp_path_factory.mktemp("part"), kept_by_all(events, filters, lo, hi))
    part.write_events(part.days())
    part.roll(days, 10_000)
    part.build_months()
    assert whole.rolled_through() != NOTHING_ROLLED
    rolled = whole.rolled_through() if rolled_day is None else str(DAY0 + timedelta(days=rolled_day))
    duck_whole, duck_part = DuckLake(whole.root), DuckLake(part.root)
    # WHEN every panel runs filtered over the whole lake (the engine binding months_through too,
    # which a filtered view must not read by) THEN it answers as over the filtered events
    for bots in (False, True):
        bounds = {"rolled_through": rolled, "months_through": rolled}
        params = {"app_id": APP, "date_from": lo, "date_to": hi, "include_bots": bots, **bounds}
        for panel in panels or catalog.query_names():
            for steps in FUNNELS if panel == "funnel" else [None]:
                asked = {**params, "steps": steps} if steps else params
                got = filtered(duck_whole, panel, asked, filters)
                through = part.rolled_through()
                expected = answers(duck_part, panel, {**asked, "rolled_through": through, "months_through": through})
                assert same(got, expected), (panel, filters, lo, hi, rolled, bots, got, expected)
