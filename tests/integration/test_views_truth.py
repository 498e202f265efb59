"""Every view and panel query against the truth the traffic generator knows.

One lake for the module: a week of planned traffic (sessions just under, at and over 30
minutes apart, across midnight, late batches, bots, campaigns, funnels) stored exactly as the
API stores it, exported by two real export runs (so sessions straddle export batches, and
the second run compacts closed days), mirrored from the local S3 and queried with DuckDB.
A second app's traffic in the same lake must not leak into the demo app's numbers.
"""

from __future__ import annotations

import math
import uuid
from datetime import datetime, timezone
from typing import Any, Iterator

import pytest

from chalicelib import clients
from chalicelib.export.run import Exporter
from chalicelib.settings import from_env
from clickstream.admin.tables import ensure_bucket, ensure_table
from clickstream.lake import LocalLake, catalog, mirrored_lake, run_query, translate
from clickstream.lake.mirror import Mirror
from clickstream.lake.params import NOTHING_ROLLED
from clickstream.traffic import FUNNEL, generate, send, store_sender
from clickstream.traffic_truth import Truth

NOW = int(datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc).timestamp() * 1000)
DAY = 86_400_000


def canon(rows: list[dict[str, Any]]) -> list[tuple]:
    """Rows as sorted tuples; floats to 9 decimals, so order and rounding noise do not matter."""

    def value(v: Any) -> Any:
        return round(v, 9) if isinstance(v, float) and not math.isnan(v) else v

    return sorted((tuple(sorted((k, value(v)) for k, v in row.items())) for row in rows), key=repr)


@pytest.fixture(scope="module")
def world(local_stack, tmp_path_factory) -> Iterator[tuple[Truth, dict[str, LocalLake], Any]]:
    name = f"t-{uuid.uuid4().hex[:10]}"
    settings = from_env(
        {**local_stack.env(), "CLICKSTREAM_TABLE": name, "CLICKSTREAM_BUCKET": name, "CLICKSTREAM_WRITE_SHARDS": "2"}
    )
    ensure_table(clients.dynamodb(settings), settings.table)
    ensure_bucket(clients.s3(settings), settings.bucket)
    # GIVEN a week of demo traffic and some of another app, stored as the API stores it
    traffic = generate(60, 7, end_ms=NOW - 3_600_000, seed=20261120, app_id="demo")
    other = generate(8, 7, end_ms=NOW - 3_600_000, seed=99, app_id="shop", bots=1)
    send(traffic, store_sender(settings, "demo"))
    send(other, store_sender(settings, "shop"))
    # WHEN two export runs (three days apart) write the lake, and the local engine mirrors it
    for now_ms in (NOW - 3 * DAY, NOW):
        report = Exporter(
            settings.with_(settle_seconds=30), clients.dynamodb(settings), clients.s3(settings), clock=lambda t=now_ms: t / 1000
        ).run_once()
        assert report.status == "exported"
    root = tmp_path_factory.mktemp("lake-cache")
    lake = mirrored_lake(Mirror(clients.s3(settings), settings.bucket, settings.lake_prefix, root))
    lake.sync()
    # The same files two ways: the closed days from the rollups the second run wrote (the local
    # default), and every day from raw events (rolled_through left at nothing rolled up).
    yield Truth(traffic), {"local": lake, "as_athena": lake}, settings


def q(world, sql: str, how: str = "local", **params: Any) -> list[dict[str, Any]]:
    truth, lakes, settings = world
    if how == "as_athena" and "rolled_through" in translate.parameter_names(catalog.resolve(sql)[0]):
        params = {**params, "rolled_through": NOTHING_ROLLED}
    return run_query(sql, params, settings=settings, lake=lakes[how], max_age_s=3600).to_pylist()


HOW = pytest.mark.parametrize("how", ["local", "as_athena"])


def span(world) -> dict[str, str]:
    days = world[0].traffic.days
    return {"app_id": "demo", "date_from": days[0], "date_to": days[-1]}


# -- the plan covers what the SQL must get right -------------------------------------------


def test_the_plan_has_every_hard_case(world):
    truth = world[0]
    scenarios = {s.scenario for s in truth.sessions}
    assert {"midnight", "gap_under", "gap_exact", "gap_over", "late", "funnel_full", "bounce"} <= scenarios
    assert any(e.received_ms - e.time_ms > 2 * DAY for e in truth.traffic.events), "late events"
    assert any(s.dt != s.events[-1].dt for s in truth.sessions), "a session across midnight"
    assert any(s.visitor.agent.is_bot for s in truth.sessions)


# -- views ---------------------------------------------------------------------------------


def test_sessions_view_matches_the_planned_sessions_exactly(world):
    got = q(world, "SELECT * FROM sessions WHERE app_id = 'demo'")
    assert canon(got) == canon(world[0].session_rows())


def test_sessions_ignore_the_client_session_id(world):
    # The generator's client sends one session_id per visitor and day; the 30-minute rule splits them.
    rows = q(
        world,
        "SELECT count(DISTINCT session_id) AS client, count(*) AS events FROM events WHERE app_id = 'demo' AND event_type IS "
        "NOT NULL",
    )
    assert rows[0]["client"] < len(world[0].sessions)


def test_session_events_view_assigns_every_event_to_its_session(world):
    got = q(world, "SELECT event_id, session_id FROM session_events WHERE app_id = 'demo'")
    assert {r["event_id"]: r["session_id"] for r in got} == world[0].session_of_event()


def test_daily_metrics_view(world):
    got = q(world, "SELECT * FROM daily_metrics WHERE app_id = 'demo'")
    truth = world[0]
    want = [{"app_id": "demo", **row} for row in truth.daily(truth.traffic.days[0], truth.traffic.days[-1])]
    assert canon(got) == canon(want)


def test_retention_view(world):
    truth = world[0]
    want = [{"app_id": "demo", **row} for row in truth.retention(truth.traffic.days[0], truth.traffic.days[-1])]
    assert canon(q(world, "SELECT * FROM retention WHERE app_id = 'demo'")) == canon(want)


@pytest.mark.parametrize(
    "view, method, drop",
    [
        ("pages", "top_pages", ()),
        ("entry_pages", "entry_pages", ("bounce_rate",)),
        ("exit_pages", "exit_pages", ()),
        ("countries", "countries", ()),
        ("geo_grid", "geo_grid", ()),
        ("custom_events", "custom_events", ()),
    ],
)
def test_per_day_views(world, view, method, drop):
    want = world[0].per_day(method, drop)
    assert canon(q(world, f"SELECT * FROM {view} WHERE app_id = 'demo'")) == canon(want)


def test_bot_traffic_and_source_and_technology_views(world):
    truth = world[0]
    assert canon(q(world, "SELECT * FROM bot_traffic WHERE app_id = 'demo'")) == canon(truth.per_day("bot_traffic"))
    assert canon(q(world, "SELECT * FROM traffic_sources WHERE app_id = 'demo'")) == canon(truth.traffic_sources())
    assert canon(q(world, "SELECT * FROM technology WHERE app_id = 'demo'")) == canon(truth.technology())


# -- panel queries ----------------------------------------------------------------------------

RANGE_PANELS = [
    "top_pages",
    "entry_pages",
    "exit_pages",
    "referrers",
    "utm_campaigns",
    "devices",
    "browsers",
    "operating_systems",
    "countries",
    "geo_grid",
    "custom_events",
    "retention",
]


@HOW
@pytest.mark.parametrize("panel", RANGE_PANELS)
@pytest.mark.parametrize("include_bots", [False, True])
def test_panel_over_the_whole_week(world, panel, include_bots, how):
    want = getattr(world[0], panel)(span(world)["date_from"], span(world)["date_to"], include_bots)
    assert canon(q(world, panel, how, **span(world), include_bots=include_bots)) == canon(want)


@HOW
@pytest.mark.parametrize(
    "panel", ["overview", "daily_metrics", "entry_pages", "exit_pages", "utm_campaigns", "top_pages", "referrers"]
)
def test_panel_for_each_single_day(world, panel, how):
    # One-day ranges are where midnight and the 30-minute look-back matter.
    truth = world[0]
    for day in truth.traffic.days:
        want = getattr(truth, "daily" if panel == "daily_metrics" else panel)(day, day)
        got = q(world, panel, how, app_id="demo", date_from=day, date_to=day)
        assert canon(got) == canon([want] if isinstance(want, dict) else want), day


@HOW
def test_overview_counts_bots_only_on_request(world, how):
    truth, days = world[0], span(world)
    people = q(world, "overview", how, **days)[0]
    everyone = q(world, "overview", how, **days, include_bots=True)[0]
    assert canon([people]) == canon([truth.overview(days["date_from"], days["date_to"])])
    assert canon([everyone]) == canon([truth.overview(days["date_from"], days["date_to"], include_bots=True)])
    assert everyone["sessions"] > people["sessions"] and everyone["page_views"] > people["page_views"]


def test_bot_traffic_panel(world):
    days = span(world)
    want = world[0].bot_traffic(days["date_from"], days["date_to"])
    assert canon(q(world, "bot_traffic", **days)) == canon(want) and want


@HOW
@pytest.mark.parametrize("steps", [list(FUNNEL), ["/demo", "/demo/about"], ["LIKE_WOOD", "LIKE_WOOD"], ["CLICK_LANG"]])
def test_funnel_counts_ordered_steps_within_sessions(world, steps, how):
    days = span(world)
    want = world[0].funnel(steps, days["date_from"], days["date_to"])
    got = q(world, "funnel", how, **days, steps=steps)
    assert canon(got) == canon(want)


def test_the_closed_days_are_answered_from_the_rollups_the_export_wrote(world):
    lake = world[1]["local"]
    through = lake.rolled_through("demo")
    days = span(world)
    assert through is not None and days["date_from"] <= through < days["date_to"], "the local runs read rollups and raw events"
    assert any(lake.root.glob("rollup_sessions/app_id=demo/dt=*/rollup.parquet"))


def test_the_designed_funnel_drops_off(world):
    got = q(world, "funnel", **span(world), steps=",".join(FUNNEL))
    sessions = [r["sessions"] for r in got]
    assert sessions[0] > sessions[1] > sessions[2] > 0
