"""The traffic generator's truth is only worth comparing against if the plan is sound: these
check the plan itself, without any SQL (tests/integration/test_views_truth.py compares)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timezone

import pytest

from chalicelib.collect.enrich import request_facts
from chalicelib.collect.ingest import plan_batch
from chalicelib.collect.useragent import parse_agent
from chalicelib.settings import from_env
from clickstream.traffic import BOTS, DAY_MS, GAP_MS, HUMANS, SCENARIOS, generate
from clickstream.traffic_truth import Truth

END = int(datetime(2026, 11, 20, 11, 0, tzinfo=timezone.utc).timestamp() * 1000)


@pytest.fixture(scope="module")
def traffic():
    return generate(60, 7, end_ms=END, seed=5)


@pytest.mark.parametrize("agent", [a for a, _ in HUMANS + BOTS], ids=lambda a: f"{a.browser}/{a.os}/{a.device_type}")
def test_each_user_agent_parses_as_the_generator_says(agent):
    parsed = parse_agent(agent.user_agent)
    assert (parsed.browser, parsed.os, parsed.device_type, parsed.bot_reason) == (
        agent.browser,
        agent.os,
        agent.device_type,
        agent.bot_reason,
    )


def test_the_planned_sessions_are_what_the_30_minute_rule_gives(traffic):
    by_visitor = defaultdict(list)
    for session in traffic.sessions:
        by_visitor[session.visitor.anonymous_id].append(session)
    for sessions in by_visitor.values():
        sessions.sort(key=lambda s: s.start_ms)
        for s in sessions:
            assert all(b.time_ms - a.time_ms < GAP_MS for a, b in zip(s.events, s.events[1:]))
            assert all(a.time_ms <= b.time_ms for a, b in zip(s.events, s.events[1:]))
        assert all(b.start_ms - a.end_ms >= GAP_MS for a, b in zip(sessions, sessions[1:]))


def test_every_hard_case_is_planned(traffic):
    assert {s.scenario for s in traffic.sessions} >= set(SCENARIOS) - {"midnight"} | {"normal"}
    gaps = {
        b.time_ms - a.time_ms
        for v in traffic.visitors
        for s, t in zip(v.sessions, v.sessions[1:])
        for a, b in [(s.events[-1], t.events[0])]
    }
    assert GAP_MS in gaps and GAP_MS + 60_000 in gaps, "a session exactly 30:00 and one 31:00 after the last"
    inner = {b.time_ms - a.time_ms for s in traffic.sessions for a, b in zip(s.events, s.events[1:])}
    assert GAP_MS - 1_000 in inner, "29:59 inside a session"
    assert any(e.received_ms - e.time_ms > 2 * DAY_MS for e in traffic.events), "late events"
    assert any(
        s.visitor.user_id and sum(v.user_id == s.visitor.user_id for v in traffic.visitors) > 1 for s in traffic.sessions
    ), "a user on two devices"


def test_the_plan_is_reproducible_from_its_seed(traffic):
    again = generate(60, 7, end_ms=END, seed=5)
    assert [e.body for e in again.events] == [e.body for e in traffic.events]
    assert [e.body for e in generate(60, 7, end_ms=END, seed=6).events] != [e.body for e in traffic.events]


def test_the_api_accepts_every_batch_at_its_received_time(traffic):
    settings = from_env({})
    for batch in traffic.batches:
        assert batch.received_ms <= END and all(e["timestamp"] <= batch.received_ms for e in batch.events)
        facts = request_facts(
            "demo", batch.received_ms, batch.ip, {"user-agent": batch.user_agent, "cloudfront-viewer-country": batch.country}
        )
        assert plan_batch(batch.events, facts, settings, "r").rejected == []


def test_positions_stay_in_their_city_cell(traffic):
    located = [(e, s) for e, s in Truth(traffic).pairs if e.geo]
    assert located
    for e, s in located:
        assert (round(e.geo[0], 1), round(e.geo[1], 1)) == (s.visitor.place.lat, s.visitor.place.lon)


def test_truth_of_a_funnel_counts_steps_in_order(traffic):
    truth = Truth(traffic)
    days = traffic.days
    rows = truth.funnel(["/demo", "LIKE_WOOD", "CLICK_LANG"], days[0], days[-1])
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert rows[0]["sessions"] >= rows[1]["sessions"] >= rows[2]["sessions"] > 0
    assert rows[0]["conversion"] == 1.0 and rows[0]["step_conversion"] is None
    # A step list that repeats a step needs two matching events, not one.
    twice = truth.funnel(["LIKE_WOOD", "LIKE_WOOD"], days[0], days[-1])
    once = truth.funnel(["LIKE_WOOD"], days[0], days[-1])
    assert twice[0]["sessions"] == once[0]["sessions"] > twice[1]["sessions"]
