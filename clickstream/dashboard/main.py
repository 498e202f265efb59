"""The top of the dashboard: KPI tiles with their change, the main graph, and the compact lists.

Numbers come from the spec's own datasets (overview, daily_metrics, top_pages, referrers,
countries, browsers), run for the shown period and for the previous one of equal length and
equal elapsed time (clickstream.dashboard.scope.periods). The change of a count or an average
is relative (+12%); the change of a rate (bounce rate) is in percentage points.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from functools import partial
from typing import Any

import pyarrow as pa

from clickstream.dashboard.panels import Request, Runner, _json_value, memoized, prefetch
from clickstream.dashboard.scope import Periods, periods
from clickstream.dashboard.spec import Spec

__all__ = ["compute", "memoized", "requests"]

# tile id -> (label, overview column or None for a derived value, daily_metrics column, format, change kind)
METRICS: dict[str, tuple[str, str, str, str, str]] = {
    "visitors": ("Visitors", "visitors", "dau", "integer", "relative"),
    "sessions": ("Sessions", "sessions", "sessions", "integer", "relative"),
    "page_views": ("Page views", "page_views", "page_views", "integer", "relative"),
    "views_per_session": ("Views per session", "", "", "decimal", "relative"),
    "bounce_rate": ("Bounce rate", "bounce_rate", "bounce_rate", "percent", "points"),
    "session_duration": ("Session duration", "avg_session_duration_s", "avg_session_duration_s", "duration", "relative"),
}
# list id -> (title, dataset, key column, value column, value label, filter it sets)
LISTS: dict[str, tuple[str, str, str, str, str, str]] = {
    "pages": ("Top pages", "top_pages", "path", "page_views", "Page views", "page"),
    "sources": ("Top sources", "referrers", "referrer_host", "visitors", "Visitors", "source"),
    "countries": ("Countries", "countries", "country", "visitors", "Visitors", "country"),
    "browsers": ("Browsers", "browsers", "browser", "visitors", "Visitors", "browser"),
}


def _metrics(row: Mapping[str, Any]) -> dict[str, Any]:
    out = {m: _json_value(row.get(col)) for m, (_, col, _, _, _) in METRICS.items() if col}
    sessions, views = row.get("sessions") or 0, row.get("page_views") or 0
    out["views_per_session"] = views / sessions if sessions else None
    return out


def change(current: Any, previous: Any, kind: str) -> float | None:
    """Relative change (0.25 = +25%) or, for rates, the difference in points (0.031 = +3.1 pp)."""
    if current is None or previous is None:
        return None
    if kind == "points":
        return float(current) - float(previous)
    return None if not previous else (float(current) - float(previous)) / float(previous)


def _daily(table: pa.Table) -> list[dict[str, Any]]:
    rows = []
    for r in table.to_pylist():
        day = _json_value(r["day"])
        values = {m: _json_value(r.get(col)) for m, (_, _, col, _, _) in METRICS.items() if col}
        values["views_per_session"] = (r["page_views"] or 0) / r["sessions"] if r.get("sessions") else None
        rows.append({"day": day, **values})
    return rows


def _periods(params: Mapping[str, Any], now: datetime) -> tuple[Periods, dict[str, Any], dict[str, Any]]:
    per = periods(params["date_from"], params["date_to"], now)
    current = {**params, "until": per.until}
    previous = {**params, "date_from": per.prev_from, "date_to": per.prev_to, "until": per.prev_until}
    return per, current, previous


def _compares(spec: Spec) -> bool:
    compare = spec.datasets.get("overview_compare")
    return compare is not None and compare.compare == "overview"


def requests(spec: Spec, params: Mapping[str, Any], now: datetime) -> list[Request]:
    """Every (dataset, parameters) ``compute`` runs, so a page can fetch them in one batch first."""
    _, current, previous = _periods(params, now)
    overview, daily = spec.datasets["overview"], spec.datasets["daily_metrics"]
    out: list[Request] = []
    if _compares(spec):
        out.append((spec.datasets["overview_compare"], {**params, "now": now}))
    else:
        out += [(overview, current), (overview, previous)]
    out += [(daily, current), (daily, previous)]
    out += [(spec.datasets[dataset], params) for _, dataset, *_ in LISTS.values()]
    return out


def compute(spec: Spec, params: Mapping[str, Any], run: Runner, now: datetime) -> dict[str, Any]:
    """{periods, tiles, daily, daily_previous, lists} for the page's top half."""
    per, current, previous = _periods(params, now)
    overview = spec.datasets["overview"]
    daily = spec.datasets["daily_metrics"]
    prefetch(run, requests(spec, params, now))

    def guarded(make: Callable[[], Any]) -> Any:
        try:
            return make()
        except Exception as exc:  # one failing dataset blanks its block, not the page
            return {"error": str(exc)}

    def tiles() -> list[dict[str, Any]]:
        if _compares(spec):
            # the KPI panels' own dataset (both periods in one row), already run for them
            row = (run(spec.datasets["overview_compare"], {**params, "now": now}).to_pylist() or [{}])[0]
            cur = _metrics({c: row.get(c) for c in overview.columns})
            prev = _metrics({c: row.get(f"prev_{c}") for c in overview.columns})
        else:
            cur_rows = run(overview, current).to_pylist()
            prev_rows = run(overview, previous).to_pylist()
            cur = _metrics(cur_rows[0] if cur_rows else {})
            prev = _metrics(prev_rows[0] if prev_rows else {})
        return [
            {
                "id": m,
                "label": label,
                "format": fmt,
                "change_kind": kind,
                "value": cur[m],
                "previous": prev[m],
                "change": change(cur[m], prev[m], kind),
            }
            for m, (label, _, _, fmt, kind) in METRICS.items()
        ]

    def one_list(title: str, dataset: str, key: str, value: str, value_label: str, filt: str) -> dict[str, Any]:
        table = run(spec.datasets[dataset], params)
        rows = sorted(([r[key], _json_value(r[value])] for r in table.to_pylist()), key=lambda kv: (-(kv[1] or 0), str(kv[0])))
        return {"title": title, "value_label": value_label, "filter": filt, "rows": rows}

    tile_block = guarded(tiles)
    daily_block = guarded(lambda: _daily(run(daily, current)))
    daily_prev_block = guarded(lambda: _daily(run(daily, previous)))
    lists = {lid: guarded(partial(one_list, *spec_)) for lid, spec_ in LISTS.items()}
    today = now.date().isoformat()
    return {
        "periods": {
            "current": {
                "from": per.date_from.isoformat(),
                "to": per.date_to.isoformat(),
                "until": per.until.isoformat() if per.until else None,
            },
            "previous": {
                "from": per.prev_from.isoformat(),
                "to": per.prev_to.isoformat(),
                "until": per.prev_until.isoformat() if per.prev_until else None,
            },
            "days": per.days,
            "today": today,
        },
        "tiles": tile_block,
        "daily": daily_block,
        "daily_previous": daily_prev_block,
        "lists": lists,
    }


Compute = Callable[[Spec, Mapping[str, Any], Runner, datetime], dict[str, Any]]
