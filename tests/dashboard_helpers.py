"""A lake with known answers for the dashboard tests: planned traffic, stored as the API would,
exported by the real export, and the panels each filter should show according to the plan.

The expected panels come from clickstream.traffic_truth (plain Python over the plan, never
the lake) put through the same per-panel aggregation as the page's, so a test compares the
SQL's answer with an independent one.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from typing import Any, Mapping

import pyarrow as pa

from chalicelib.export.handlers import exporter
from chalicelib.settings import Settings
from clickstream.dashboard import panels
from clickstream.dashboard.spec import Dataset, Spec
from clickstream.traffic import FUNNEL, Traffic, generate, send, store_sender
from clickstream.traffic_truth import Truth

ARROW = {"string": pa.string(), "integer": pa.int64(), "decimal": pa.float64(), "date": pa.date32(), "boolean": pa.bool_()}


def lake_with_traffic(
    settings: Settings, app_id: str = "shop", users: int = 30, days: int = 7, seed: int = 11, end_ms: int | None = None
) -> Traffic:
    traffic = generate(users, days=days, seed=seed, app_id=app_id, end_ms=end_ms)
    send(traffic, store_sender(settings, app_id))
    export = exporter(settings, invoke=None)
    for _ in range(10):  # one pass exports it all; the loop only guards against a budget-limited pass
        report = export.run_once()
        if report.status == "idle" or not report.events:
            break
    return traffic


def filters(traffic: Traffic, include_bots: bool = False) -> dict[str, Any]:
    return {
        "app_id": traffic.app_id,
        "date_from": traffic.days[0],
        "date_to": traffic.days[-1],
        "include_bots": include_bots,
        "steps": list(FUNNEL),
    }


def until(traffic: Traffic, cut_ms: int) -> Traffic:
    """The traffic as the lake holds it at ``cut_ms``: only the events that happened before."""
    visitors = []
    for v in traffic.visitors:
        sessions = [replace(s, events=kept) for s in v.sessions if (kept := [e for e in s.events if e.time_ms < cut_ms])]
        visitors.append(replace(v, sessions=sessions))
    for v in visitors:
        for s in v.sessions:
            s.visitor = v
    return replace(traffic, visitors=visitors)


def overview_compare(traffic: Traffic, p: Mapping[str, Any]) -> dict[str, Any]:
    """The overview of the range and of the previous one (clickstream.dashboard.scope.compare_sql)."""
    lo, hi = date.fromisoformat(str(p["date_from"])), date.fromisoformat(str(p["date_to"]))
    now = p.get("now") or datetime.now(timezone.utc)
    days = (hi - lo).days + 1
    running = hi >= now.date()
    now_ms = int(now.timestamp() * 1000)
    cur = Truth(until(traffic, now_ms) if running else traffic).overview(str(lo), str(hi), bool(p["include_bots"]))
    prev_traffic = until(traffic, now_ms - days * 86_400_000) if running else traffic
    prev = Truth(prev_traffic).overview(str(lo - timedelta(days=days)), str(lo - timedelta(days=1)), bool(p["include_bots"]))
    for row in (cur, prev):
        row["views_per_session"] = row["page_views"] / row["sessions"] if row["sessions"] else None
    return {**cur, **{f"prev_{k}": v for k, v in prev.items()}}


def truth_runner(traffic: Traffic) -> panels.Runner:
    whole = Truth(traffic)

    def run(dataset: Dataset, p: Mapping[str, Any]) -> pa.Table:
        lo, hi, bots = str(p["date_from"]), str(p["date_to"]), bool(p["include_bots"])
        truth = whole if p.get("until") is None else Truth(until(traffic, int(p["until"].timestamp() * 1000)))
        if dataset.name == "overview_compare":
            rows = [overview_compare(traffic, p)]
        elif dataset.name == "overview":
            rows = [truth.overview(lo, hi, bots)]
        elif dataset.name == "daily_metrics":
            rows = truth.daily(lo, hi, bots)
        elif dataset.name == "funnel":
            rows = truth.funnel(p["steps"], lo, hi, bots)
        else:
            rows = getattr(truth, dataset.name)(lo, hi, bots)
        schema = pa.schema([(c, ARROW[t]) for c, t in dataset.columns.items()])
        return pa.Table.from_pylist([{c: r.get(c) for c in dataset.columns} for r in rows], schema=schema)

    return run


def expected_panels(spec: Spec, traffic: Traffic, params: Mapping[str, Any]) -> dict[str, Any]:
    return panels.compute(spec, params, truth_runner(traffic))


def assert_same_panels(got: dict[str, Any], want: dict[str, Any], rel: float = 1e-9) -> None:
    """Equal panel by panel, floats to a relative tolerance (sums of durations differ in the last bits)."""
    assert set(got) == set(want)
    for pid in want:
        g, w = got[pid], want[pid]
        assert "error" not in g, f"{pid}: {g.get('error')}"
        assert g["columns"] == w["columns"], pid
        assert len(g["rows"]) == len(w["rows"]), (
            f"{pid}: {len(g['rows'])} rows, expected {len(w['rows'])}: {g['rows']} vs {w['rows']}"
        )
        for gr, wr in zip(g["rows"], w["rows"]):
            for gv, wv in zip(gr, wr):
                if isinstance(wv, float) and isinstance(gv, (int, float)):
                    assert abs(gv - wv) <= rel * max(1.0, abs(wv)), f"{pid}: {gr} != {wr}"
                else:
                    assert gv == wv, f"{pid}: {gr} != {wr}"
