"""The local dashboard's HTTP side: /dashboard (page + static files) and /dashboard/api/*.

Handlers follow the dev server's page contract, handler(method, path, query) ->
(status, headers, body), so `make run` serves them on the API's port.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping
from urllib.parse import parse_qsl

from chalicelib.errors import ClickstreamError, ConfigError
from chalicelib.settings import Settings
from clickstream.dashboard import panels
from clickstream.dashboard.spec import Dataset, Spec, load, parse_params

STATIC = Path(__file__).parent / "static"
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
Response = tuple[int, dict[str, str], bytes]
Apps = Callable[[], list[str]]
Coverage = Callable[[str], dict[str, Any]]  # app_id -> {first_day, last_day, retention_days}


def _json(status: int, body: Any) -> Response:
    return status, {"Content-Type": "application/json", "Cache-Control": "no-store"}, json.dumps(body).encode()


def spec_json(spec: Spec) -> dict[str, Any]:
    """What the page needs to draw: parameters and panels, not SQL."""
    def fields(fs: Any) -> list[dict[str, str]]:
        return [{"column": f.column, "label": f.label, "agg": f.agg, "format": f.format, "labels": f.labels} for f in fs]

    return {
        "id": spec.id,
        "title": spec.title,
        "parameters": [{"name": p.name, "label": p.label, "type": p.type, "choices": list(p.choices)} for p in spec.parameters],
        "panels": [
            {"id": p.id, "title": p.title, "visual": p.visual, "dataset": p.dataset, "description": p.description,
             "dimensions": fields(p.dimensions), "measures": fields(p.measures), "width": p.width, "height": p.height}
            for p in spec.panels
        ],
    }


def lake_apps(settings: Settings, cache_dir: Path | None = None) -> Apps:
    """App ids that have events in the local lake (the filter's choices)."""
    def apps() -> list[str]:
        from clickstream.lake import run_query

        table = run_query(
            "SELECT DISTINCT app_id FROM events ORDER BY app_id", {}, settings=settings, engine="duckdb", cache_dir=cache_dir
        )
        return [str(a) for a in table.column("app_id").to_pylist()]

    return apps


def lake_coverage(settings: Settings, cache_dir: Path | None = None) -> Coverage:
    """Which days hold data for an app, and its retention: retention removes old days."""

    def coverage(app_id: str) -> dict[str, Any]:
        from chalicelib import clients
        from chalicelib.store.apps import AppStore
        from clickstream.lake import run_query

        table = run_query(
            "SELECT min(dt) AS first_day, max(dt) AS last_day FROM events WHERE app_id = :app_id",
            {"app_id": app_id},
            settings=settings,
            engine="duckdb",
            cache_dir=cache_dir,
        )
        row = table.to_pylist()[0] if table.num_rows else {}
        app = AppStore(clients.dynamodb(settings), settings.table, cache_seconds=0).get_app(app_id)
        return {
            "first_day": str(row["first_day"]) if row.get("first_day") else None,
            "last_day": str(row["last_day"]) if row.get("last_day") else None,
            "retention_days": app.retention_days if app else None,
        }

    return coverage


def lake_runner(settings: Settings, cache_dir: Path | None = None) -> panels.Runner:
    """The panel SQL on DuckDB over the lake, through the lake module's run_query."""

    def run(dataset: Dataset, params: Mapping[str, Any]) -> Any:
        from clickstream.lake import run_query  # imported late: the page loads even while the lake is unreachable

        needed = {name: params[name] for name in dataset.parameters()}  # run_query refuses parameters a query does not take
        return run_query(dataset.name, needed, settings=settings, engine="duckdb", cache_dir=cache_dir)

    return run


def handlers(
    spec: Spec, run: panels.Runner, apps: Apps, today: Callable[[], date] | None = None, coverage: Coverage | None = None
) -> dict[str, Callable[[str, str, str], Response]]:
    today = today or (lambda: datetime.now(timezone.utc).date())

    def api(path: str, query: str) -> Response:
        if path == "/dashboard/api/spec":
            return _json(200, spec_json(spec))
        if path == "/dashboard/api/apps":
            try:
                return _json(200, {"apps": apps()})
            except Exception as exc:
                return _json(503, {"error": f"cannot list the lake's apps: {exc}"})
        if path == "/dashboard/api/panels":
            try:
                params = parse_params(spec, dict(parse_qsl(query)), today())
            except ConfigError as exc:
                return _json(400, {"error": str(exc)})
            try:
                data = panels.compute(spec, params, run)
            except ClickstreamError as exc:
                return _json(503, {"error": str(exc)})
            shown = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in params.items()}
            body: dict[str, Any] = {"params": shown, "panels": data}
            if coverage is not None:
                try:
                    body["coverage"] = coverage(str(params["app_id"]))
                except Exception:  # the panels are still worth showing
                    body["coverage"] = None
            return _json(200, body)
        return _json(404, {"error": f"no such endpoint: {path}"})

    def dashboard(method: str, path: str, query: str) -> Response:
        if path.startswith("/dashboard/api/"):
            return api(path, query)
        rel = path[len("/dashboard") :].strip("/")
        if rel in ("", "index.html"):
            rel = "index.html"
        elif not rel.startswith("static/"):
            return 404, {"Content-Type": "text/plain"}, b"not found"
        else:
            rel = rel[len("static/") :]
        target = (STATIC / rel).resolve()
        if STATIC.resolve() not in target.parents or not target.is_file():
            return 404, {"Content-Type": "text/plain"}, b"not found"
        return (
            200,
            {"Content-Type": TYPES.get(target.suffix, "application/octet-stream"), "Cache-Control": "no-store"},
            target.read_bytes(),
        )

    return {"/dashboard": dashboard}


def pages(
    settings: Settings, spec: Spec | None = None, cache_dir: Path | None = None
) -> dict[str, Callable[[str, str, str], Response]]:
    """The /dashboard pages of `make run`: the spec's panels over the local lake, on DuckDB."""
    return handlers(
        spec or load(),
        lake_runner(settings, cache_dir),
        lake_apps(settings, cache_dir),
        coverage=lake_coverage(settings, cache_dir),
    )
