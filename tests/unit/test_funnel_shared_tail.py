"""The funnel shares the session panels' raw tail: a spec funnel numbers the days after
:rolled_through with etl/blocks/tail_sessions.sql (the CTEs the session panels use), so a composed
dashboard page sessionizes the tail once; an ad-hoc funnel numbers the whole range by the same
rule under the prefix adhoc_ (``-- @include sessionize as adhoc``). Both answer what the
sessions of the raw events give, counted here in Python, alone and inside a composed page."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings
from sqlglot import exp

from chalicelib.lake import rollup
from chalicelib.lake.visitor import visitor
from clickstream.lake import batch, catalog, prepare, translate
from clickstream.lake.duck import DuckLake
from clickstream.lake.params import NOTHING_ROLLED
from clickstream.traffic_truth import funnel_rows, step_key
from tests.rollup_helpers import APP, DAY0, DAYS, FUNNELS, Lake, answers, histories, lived, same

SPEC = list(rollup.FUNNELS[0])
# The funnel and three of the panels that read its raw tail's CTEs (`numbered`, `visits`) in a
# composed page, in the catalog's order (the heavy test below asserts they share them).
SHARING = [n for n in catalog.query_names() if n in {"funnel", "entry_pages", "referrers", "overview"}]


def page(lo: date, hi: date, through: str, steps: list[str], bots: bool = False) -> list[tuple[str, dict[str, Any]]]:
    """The dashboard's 16 panels over one range, as the page composes them."""
    out = []
    for name in catalog.query_names():
        text = catalog.query_file(name).text  # type: ignore[union-attr]
        given_ = {"app_id": APP, "date_from": lo, "date_to": hi, "include_bots": bots, "rolled_through": through, "steps": steps}
        out.append(prepare(name, {k: v for k, v in given_.items() if k in translate.parameter_names(text)}))
    return out


def numbering_ctes(composed: batch.Batch) -> dict[str, str]:
    """The statement's CTEs that number sessions (sessionize's last step), by name: their bodies."""
    tree = sqlglot.parse_one(composed.sql, read="duckdb")
    out = {}
    for cte in tree.find_all(exp.CTE):
        body = cte.this.sql("duckdb")
        if re.search(r"SUM\(is_session_start\) OVER", body, re.IGNORECASE):
            out[cte.alias] = body
    return out


def test_a_composed_page_sessionizes_the_tail_once_for_the_funnel_and_the_session_panels():
    lo, hi = date(2026, 11, 1), date(2026, 11, 30)
    queries = page(lo, hi, "2026-11-28", SPEC)
    assert len(queries) == 16
    composed = batch.compose(queries)
    # The tail's chain (scoped -> numbered) is defined once and read by the funnel and the
    # session panels; the only other numbering is the ad-hoc side's, which a spec funnel gates off.
    assert set(numbering_ctes(composed)) == {"numbered", "adhoc_numbered"}
    assert {"scoped", "ordered", "flagged", "numbered"} <= set(re.findall(r"(?:WITH |, )(\w+) AS", composed.sql))
    assert not re.search(r"\bp\d+_(scoped|ordered|flagged|numbered|visits)\b", composed.sql)
    assert {"numbered", "visits"} <= set(composed.shared)
    # The same holds with an ad-hoc funnel on the page: its own chain is adhoc_*, the tail is shared.
    adhoc = batch.compose(page(lo, hi, "2026-11-28", ["/b", "LIKE_WOOD"]))
    assert set(numbering_ctes(adhoc)) == {"numbered", "adhoc_numbered"} and "numbered" in adhoc.shared


def reference(events: list[dict[str, Any]], lo: date, hi: date, steps: list[str], bots: bool) -> list[dict[str, Any]]:
    """The funnel from the raw events in Python: sessions by the 30-minute rule over each visitor's
    user actions (ties as sessionize.sql orders them, NULL last), counted on the UTC day they
    start, greedy in-order steps."""

    def last(v: Any) -> tuple[bool, Any]:
        return (v is None, v or "")

    visitors: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        if e["event_type"] not in rollup.NOT_ACTIONS:
            visitors[visitor(e["anonymous_id"], e.get("user_id"))].append(e)
    counted: list[list[str | None]] = []
    for rows in visitors.values():
        rows.sort(key=lambda e: (e["event_time"], last(e["event_type"]), last(e["event_name"]), last(e["path"])))
        sessions: list[list[dict[str, Any]]] = []
        for i, e in enumerate(rows):
            if i == 0 or e["event_time"] - rows[i - 1]["event_time"] >= timedelta(minutes=30):
                sessions.append([])
            sessions[-1].append(e)
        for s in sessions:
            if not lo <= s[0]["event_time"].date() <= hi or (not bots and any(e["is_bot"] for e in s)):
                continue
            counted.append([step_key(e["event_type"], e["path"], e["event_name"]) for e in s])
    return funnel_rows(counted, steps)


@pytest.mark.heavy
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(history=histories())
def test_spec_and_ad_hoc_funnels_answer_as_the_raw_events_alone_and_in_a_page(
    tmp_path_factory: pytest.TempPathFactory, history: dict[str, Any]
):
    # GIVEN a random lake rolled up through some day, then changed and rebuilt where affected
    lake = lived(tmp_path_factory.mktemp("lake"), history)
    duck = DuckLake(lake.root, threads=2)
    through = lake.rolled_through()
    for first, last in history["ranges"]:
        lo, hi = sorted((DAY0 + timedelta(days=first), DAY0 + timedelta(days=last)))
        for steps in FUNNELS:
            for bots in (False, True):
                expected = reference(lake.events, lo, hi, steps, bots)
                # WHEN the funnel runs alone, with the rollups and without, and inside the page
                for rolled in (through, NOTHING_ROLLED):
                    # the page's panels that share the funnel's raw tail (test_lake_batch: the
                    # whole page batched answers as each panel alone)
                    queries = [q for n, q in zip(catalog.query_names(), page(lo, hi, rolled, steps, bots)) if n in SHARING]
                    funnel = SHARING.index("funnel")
                    sql, values = queries[funnel]
                    alone = duck.execute(translate.to_duckdb(sql), values).to_pylist()
                    composed = batch.compose(queries)
                    paged = composed.split(duck.execute(composed.sql, composed.params))[funnel].to_pylist()
                    assert {"numbered", "visits"} <= set(composed.shared)  # the panels read the funnel's tail
                    # THEN both are the raw events' answer
                    assert same(alone, expected), (steps, lo, hi, bots, rolled, alone, expected)
                    assert same(paged, expected), (steps, lo, hi, bots, rolled, paged, expected)


def test_each_side_of_the_funnel_reads_only_its_partitions(tmp_path: Path):
    # GIVEN a lake of four days, the first two rolled up
    events = [
        {
            "event_id": f"e{i}",
            "app_id": APP,
            "anonymous_id": f"v{i % 3}",
            "event_type": "page_view",
            "event_name": "page_view",
            "path": "/demo",
            "event_time": datetime.combine(DAY0, datetime.min.time(), tzinfo=timezone.utc) + timedelta(hours=5 * i),
            "is_bot": False,
        }
        for i in range(20)
    ]
    lake = Lake(tmp_path, events)
    lake.write_events(lake.days())
    lake.roll({DAY0, DAY0 + timedelta(days=1)}, 10_000)
    through = lake.rolled_through()
    assert through == str(DAY0 + timedelta(days=1))
    duck = DuckLake(lake.root, threads=2)
    lo, hi = DAY0, DAY0 + timedelta(days=3)

    def events_read(steps: list[str]) -> tuple[set[str], int]:
        """The days whose events files the funnel names in its scans, and the event rows it read."""
        asked = {"app_id": APP, "date_from": lo, "date_to": hi, "steps": steps, "rolled_through": through}
        sql, values = prepare("funnel", asked)
        _, profile = duck.profile(translate.to_duckdb(sql), values)
        scans = [scan for scan in profile.scans if any("/events/" in f for f in scan.files)]
        return {day for scan in scans for f in scan.files for day in re.findall(r"/events/app_id=a/dt=([\d-]+)/", f)}, sum(
            scan.rows for scan in scans
        )

    # WHEN a spec funnel runs THEN it reads the raw events of the tail only (the rollups before it)
    assert events_read(SPEC) == ({str(DAY0 + timedelta(days=k)) for k in (2, 3)}, 10)
    # WHEN an ad-hoc funnel runs THEN it reads the raw events of the whole range, each once
    assert events_read(["/demo", "/demo"])[1] == 20


def _user_only(event_id: str, second: int, kind: str, name: str, path: str | None) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "app_id": APP,
        "anonymous_id": None,  # a server-side track with only a userId (Segment accepts it)
        "user_id": "u1",
        "event_time": datetime.combine(DAY0 + timedelta(days=2), time(10), tzinfo=timezone.utc) + timedelta(seconds=second),
        "event_type": kind,
        "event_name": name,
        "path": path,
        "is_bot": False,
    }


def test_a_funnel_counts_a_session_with_a_null_anonymous_id_from_rollups_and_raw_events_alike(tmp_path: Path):
    """Events stored with a NULL anonymous_id (userId-only Segment messages) form sessions that
    overview counts; the funnel joins a session's steps to it null-safely (IS NOT DISTINCT FROM),
    so raw events count the session as rollup.funnel_depths does, for spec and ad-hoc funnels."""
    # GIVEN one session of a user known only by user_id that goes /demo -> LIKE_WOOD -> CLICK_LANG
    lake = Lake(
        tmp_path,
        [
            _user_only("e1", 0, "page_view", "page_view", "/demo"),
            _user_only("e2", 1, "click", "LIKE_WOOD", "/demo"),
            _user_only("e3", 2, "click", "CLICK_LANG", "/demo"),
        ],
    )
    lake.write_events(lake.days())
    lake.roll({DAY0 + timedelta(days=k) for k in range(-1, DAYS + 1)}, 10_000)
    duck = DuckLake(lake.root)
    day = DAY0 + timedelta(days=2)
    params: dict[str, Any] = {"app_id": APP, "date_from": day, "date_to": day, "include_bots": False, "steps": SPEC}
    # WHEN the spec funnel runs with the rollups and from raw events, and an ad-hoc funnel runs
    modeled = answers(duck, "funnel", {**params, "rolled_through": lake.rolled_through()})
    raw = answers(duck, "funnel", {**params, "rolled_through": NOTHING_ROLLED})
    overview = answers(duck, "overview", {**params, "rolled_through": NOTHING_ROLLED})
    adhoc = answers(duck, "funnel", {**params, "steps": ["/demo", "CLICK_LANG"], "rolled_through": NOTHING_ROLLED})
    # THEN all count the one session overview counts
    assert overview[0]["sessions"] == 1
    assert same(modeled, raw), (modeled, raw)
    assert [r["sessions"] for r in raw] == [1] * len(SPEC), raw
    assert [r["sessions"] for r in adhoc] == [1, 1], adhoc
