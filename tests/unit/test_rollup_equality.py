"""The modeled lake gives the raw events' answers: over random lakes (late events, sessions
across midnight, exact 30-minute gaps, ties in event_time, bots, identify messages, erasure,
retention, days not rolled up yet), every panel that reads the rollups answers, for random
ranges, exactly what the same SQL answers from raw events alone (rolled_through before the
lake), row for row. Rollups are rebuilt only for the days ``rollup.affected_days`` names."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from chalicelib.lake import rollup
from chalicelib.lake.parquetio import parquet_bytes
from clickstream.lake import catalog, translate
from clickstream.lake.duck import DuckLake
from clickstream.lake.params import NOTHING_ROLLED
from tests.rollup_helpers import APP, DAY0, DAYS, FUNNELS, Lake, answers, histories, lived, same

PANELS = [n for n in catalog.query_names() if "rolled_through" in translate.parameter_names(catalog.query_file(n).text)]  # type: ignore[union-attr]


def test_the_rollups_cover_the_panels_that_are_expensive():
    assert set(PANELS) >= {
        "overview",
        "daily_metrics",
        "entry_pages",
        "exit_pages",
        "referrers",
        "utm_campaigns",
        "top_pages",
        "funnel",
        "custom_events",
        "geo_grid",
        "retention",
        "browsers",
        "devices",
        "operating_systems",
        "countries",
        "bot_traffic",
    }


@pytest.mark.heavy
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(history=histories())
def test_every_panel_reads_the_rollups_and_answers_as_raw_events_do(
    tmp_path_factory: pytest.TempPathFactory, history: dict[str, Any]
):
    # GIVEN a lake rolled up through some day, then changed by late events, erasure and retention,
    # each followed by the rebuild of the days it affects
    lake = lived(tmp_path_factory.mktemp("lake"), history)
    duck = DuckLake(lake.root)
    through, months = lake.rolled_through(), lake.months_through(history["months_lag"])
    # WHEN each panel runs over each range with the rollups and without THEN the answers are equal
    for first, last in history["ranges"]:
        lo, hi = sorted((DAY0 + timedelta(days=first), DAY0 + timedelta(days=last)))
        for bots in (False, True):
            params = {"app_id": APP, "date_from": lo, "date_to": hi, "include_bots": bots}
            for name in PANELS:
                for steps in FUNNELS if name == "funnel" else [None]:
                    asked = {**params, "steps": steps} if steps else params
                    raw = answers(duck, name, {**asked, "rolled_through": NOTHING_ROLLED})
                    modeled = answers(duck, name, {**asked, "rolled_through": through, "months_through": months})
                    assert same(modeled, raw), (name, steps, lo, hi, bots, through, months, modeled, raw)


def test_a_rebuild_is_deterministic_and_slices_do_not_change_it(tmp_path: Path):
    kinds = [
        ("page_view", None, "/demo"),
        ("click", "LIKE_WOOD", None),
        ("click", "CLICK_LANG", None),
        ("click", "GEO_LOC", None),
    ]
    lake = Lake(
        tmp_path,
        [
            {
                "event_id": f"e{i}",
                "app_id": APP,
                "anonymous_id": f"{i % 16:x}{i % 40}",
                "event_type": kinds[i % 4][0],
                "event_name": kinds[i % 4][1],
                "path": kinds[i % 4][2],
                "geo_lat": 48.1 + i % 3 / 10 if i % 4 == 3 else None,
                "geo_lon": 11.5 if i % 4 == 3 else None,
                "event_time": datetime(2026, 11, 2, tzinfo=timezone.utc) + timedelta(minutes=7 * i),
                "is_bot": i % 5 == 0,
            }
            for i in range(300)
        ],
    )
    lake.write_events(lake.days())
    whole = rollup.rebuild_day(lake, APP, date(2026, 11, 2))
    sliced = rollup.rebuild_day(lake, APP, date(2026, 11, 2), rows_per_slice=20)
    assert rollup.visitor_slices(lake.count(APP, date(2026, 11, 2)), 20) > 1
    for name in rollup.SCHEMAS:
        assert whole[name].num_rows > 0, name
        key = [(c, "ascending") for c in whole[name].column_names if c not in ("events", "page_views", "sessions")]
        assert whole[name].sort_by(key).equals(sliced[name].sort_by(key)), name
        assert parquet_bytes(whole[name]) == parquet_bytes(rollup.rebuild_day(lake, APP, date(2026, 11, 2))[name])


def test_events_tied_in_time_are_ordered_by_what_the_panels_read_not_by_event_id(tmp_path: Path):
    # GIVEN sessions whose first events tie in event_time, with ids in the opposite order of their
    # content: a click before the page view that carries the referrer, a page "/z" before "/a"
    t = datetime.combine(DAY0 + timedelta(days=2), time(23, 50), tzinfo=timezone.utc)
    base = {"app_id": APP, "browser": "Firefox", "is_bot": False}
    events = [
        {**base, "anonymous_id": "v1", "event_id": "e1", "event_time": t, "event_type": "page_view", "event_name": "page_view",
         "path": "/demo", "referrer_host": "news.example", "utm_source": "mail"},
        {**base, "anonymous_id": "v1", "event_id": "e2", "event_time": t, "event_type": "click", "event_name": "LIKE_WOOD"},
        {**base, "anonymous_id": "v2", "event_id": "e3", "event_time": t, "event_type": "page_view", "event_name": "page_view",
         "path": "/z"},
        {**base, "anonymous_id": "v2", "event_id": "e4", "event_time": t, "event_type": "page_view", "event_name": "page_view",
         "path": "/a"},
        {**base, "anonymous_id": "v2", "event_id": "e5", "event_time": t + timedelta(minutes=20), "event_type": "page_view",
         "event_name": "page_view", "path": "/b"},
        {**base, "anonymous_id": "v3", "event_id": "e6", "event_time": t + timedelta(days=3), "event_type": "page_view",
         "event_name": "page_view", "path": "/demo"},
    ]  # fmt: skip
    lake = Lake(tmp_path, events)
    lake.write_events(lake.days())
    lake.roll({DAY0 + timedelta(days=k) for k in range(-1, DAYS + 1)}, 10_000)
    duck = DuckLake(lake.root)
    params = {"app_id": APP, "date_from": DAY0, "date_to": DAY0 + timedelta(days=DAYS - 1), "include_bots": False}
    # WHEN the panels run with the rollups and from raw events THEN they agree, and the session
    # starts where the ordering by content says: the click first (no source), "/a" before "/z"
    for name in PANELS:
        for steps in FUNNELS if name == "funnel" else [None]:
            asked = {**params, "steps": steps} if steps else params
            raw = answers(duck, name, {**asked, "rolled_through": NOTHING_ROLLED})
            assert same(answers(duck, name, {**asked, "rolled_through": lake.rolled_through()}), raw), name
    entries = answers(duck, "entry_pages", {**params, "rolled_through": lake.rolled_through()})
    assert {r["path"]: r["entries"] for r in entries} == {"/a": 1, "/demo": 2}
    sources = answers(duck, "referrers", {**params, "rolled_through": lake.rolled_through()})
    assert "news.example" not in {r["referrer_host"] for r in sources}


def test_a_session_running_past_the_day_after_its_start_is_cut_alike_by_rollups_and_raw_events(tmp_path: Path):
    """A session longer than a day past its start day (a wall-screen tab reloading every 20
    minutes) is cut at midnight after the day after its start day on both paths: the rollups read
    a day and the next, and the raw SQL computes a session's end, duration, exit page, bot flag
    and funnel steps over its events before that cut (in_session_cut, etl/blocks/sessionize.sql),
    whatever the range. Sessions start by the same rule either way."""
    # GIVEN a tab that reloads every 20 minutes from day 1 00:00 to day 3 12:00: one session
    start = datetime.combine(DAY0 + timedelta(days=1), time(), tzinfo=timezone.utc)
    events = [
        {
            "event_id": f"e{k:04d}",
            "app_id": APP,
            "anonymous_id": "kiosk",
            "event_time": start + timedelta(minutes=20 * k),
            "event_type": "page_view",
            "event_name": "page_view",
            "path": "/demo" if k % 2 == 0 else "/b",
            "browser": "Firefox",
            "is_bot": False,
        }
        for k in range(0, 60 * 60 // 20 + 1)
    ]
    assert events[-1]["event_time"] == start + timedelta(days=2, hours=12)
    lake = Lake(tmp_path, events)
    lake.write_events(lake.days())
    lake.roll({DAY0 + timedelta(days=k) for k in range(-1, DAYS + 1)}, 10_000)
    duck = DuckLake(lake.root)
    params = {"app_id": APP, "date_from": DAY0 + timedelta(days=1), "date_to": DAY0 + timedelta(days=3), "include_bots": False}
    # WHEN the session panels run over days 1-3 with the rollups and from raw events
    for name in ("overview", "exit_pages", "daily_metrics"):
        raw = answers(duck, name, {**params, "rolled_through": NOTHING_ROLLED})
        modeled = answers(duck, name, {**params, "rolled_through": lake.rolled_through()})
        # THEN they agree (without the cut: the rollup's 47.7 h and exit /b, raw events' 60 h and exit /demo)
        assert same(modeled, raw), (name, modeled, raw)
    # AND the session lasts until its last event before day 3 00:00 (day 2 23:40)
    overview = answers(duck, "overview", {**params, "rolled_through": NOTHING_ROLLED})
    assert overview[0]["sessions"] == 1, overview
    # AND the sessions view cuts it alike: ends day 2 23:40 on /b, one session
    view = duck.execute(f"SELECT session_end, duration_s, exit_path FROM sessions WHERE app_id = '{APP}'").to_pylist()
    cut = start + timedelta(days=1, hours=23, minutes=40)
    assert [(r["session_end"], r["duration_s"], r["exit_path"]) for r in view] == [
        (cut.replace(tzinfo=None), (cut - start).total_seconds(), "/b")
    ], view
