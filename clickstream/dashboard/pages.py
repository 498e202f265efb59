"""The local dashboard's HTTP side: /dashboard (page + static files) and /dashboard/api/*.

Handlers follow the dev server's page contract, handler(method, path, query) ->
(status, headers, body), so `make run` serves them on the API's port.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence
from urllib.parse import parse_qsl

from chalicelib.errors import ClickstreamError, ConfigError
from chalicelib.settings import Settings
from clickstream.dashboard import main as main_block
from clickstream.dashboard import panels, scope
from clickstream.dashboard.spec import Dataset, Spec, load, parse_params, placeholder_spans
from clickstream.lake.params import ENGINE_FILLED

if TYPE_CHECKING:
    from clickstream.lake import LocalLake

STATIC = Path(__file__).parent / "static"
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".png": "image/png",
}
Response = tuple[int, dict[str, str], bytes]
Apps = Callable[[], list[str]]
Coverage = Callable[[str], dict[str, Any]]  # app_id -> {first_day, last_day, retention_days}
Live = Callable[[str], dict[str, Any]]  # app_id -> the live view (chalicelib.live), read from DynamoDB


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
            {
                "id": p.id,
                "title": p.title,
                "visual": p.visual,
                "dataset": p.dataset,
                "description": p.description,
                "dimensions": fields(p.dimensions),
                "measures": fields(p.measures),
                "width": p.width,
                "height": p.height,
            }
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
        from clickstream.devextras import EVERY_S

        return {
            "first_day": str(row["first_day"]) if row.get("first_day") else None,
            "last_day": str(row["last_day"]) if row.get("last_day") else None,
            "retention_days": app.retention_days if app else None,
            "waiting_events": waiting_events(settings, app_id),
            "settle_s": settings.settle_seconds,
            "export_every_s": int(EVERY_S),
        }

    return coverage


def waiting_events(settings: Settings, app_id: str, now_ms: int | None = None) -> int:
    """The app's events in DynamoDB that no committed export has reached yet (received after the watermark).

    Reads only the keys of the hours since the watermark: a few small queries on a laptop.
    """
    import time

    from chalicelib import clients
    from chalicelib.export import plan
    from chalicelib.export.state import StateStore
    from chalicelib.store import keys

    client = clients.dynamodb(settings)
    now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    watermark = StateStore(client, settings.table).read().watermark_ms
    lo = watermark if watermark is not None else now_ms - (settings.event_ttl_days + 1) * 86_400_000
    infix = f"#{app_id}#"
    count = 0
    for key_range in plan.key_ranges("events", plan.Window(lo, now_ms + 60_000), settings.write_shards):
        kwargs = {
            "TableName": settings.table,
            **keys.range_query(key_range.pk, key_range.sk_from, key_range.sk_to),
            "ProjectionExpression": keys.SK,
        }
        while True:
            resp = client.query(**kwargs)
            # sort key: <13-digit ms>#<app_id>#<event_id>
            count += sum(1 for item in resp.get("Items", []) if item[keys.SK]["S"][13 : 13 + len(infix)] == infix)
            if "LastEvaluatedKey" not in resp:
                break
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
    return count


class LakeRunner:
    """The panel SQL on DuckDB over the lake, through the lake module's run_query.

    With filters (``params["filters"]``) or a cut-off (``params["until"]``) the dataset's SQL is
    narrowed by clickstream.dashboard.scope first; otherwise it runs as written. ``many`` runs a
    page's unfiltered datasets as one statement (clickstream.lake.run_queries).
    """

    def __init__(self, settings: Settings, cache_dir: Path | None = None, lake: LocalLake | None = None) -> None:
        # lake: a clickstream.lake.LocalLake to read instead of the stack's mirror (the benchmark's directory)
        self.settings, self.cache_dir, self.lake = settings, cache_dir, lake

    def __call__(self, dataset: Dataset, params: Mapping[str, Any]) -> Any:
        from clickstream.lake import run_query  # imported late: the page loads even while the lake is unreachable

        if dataset.compare:  # filtered too: each period's filter picks visitors by its own dates
            return compare_locally(dataset, params, self)
        sql, values = self.statement(dataset, params)
        return run_query(sql, values, settings=self.settings, engine="duckdb", lake=self.lake, cache_dir=self.cache_dir)

    def statement(self, dataset: Dataset, params: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        """What run_query gets for ``dataset``: its name and parameters, or its SQL narrowed by the
        filters and the cut-off with the values those bind."""
        filters, until = params.get("filters") or {}, params.get("until")
        needed = {name: params[name] for name in _parameters(dataset)}  # run_query refuses parameters a query does not take
        if not filters and until is None and not dataset.compare:
            return dataset.name, needed
        sql, extra = narrow(dataset.sql(scope.LOCAL_NOW_SQL), filters, until)
        if dataset.compare:  # the page's own "now" rather than DuckDB's clock: one instant per request
            extra["now"] = scope.bound({}, params.get("now") or datetime.now(timezone.utc))["until"]
        return sql, {**needed, **extra}

    def many(self, requests: Sequence[panels.Request]) -> dict[int, Any]:
        """The requests (a compare dataset: its two periods' runs of its base) as one DuckDB
        statement. A filtered page shares as much as an unfiltered one: its panels read the same
        narrowed events, the same sessionization of them, and the source filter's session starts."""
        from clickstream.lake import run_queries

        plain: list[tuple[str, dict[str, Any]]] = []
        where: dict[tuple[int, int], int] = {}  # (request, part) -> its query in the batch
        compared: dict[int, Dataset] = {}
        for index, (dataset, params) in enumerate(requests):
            parts: list[tuple[Dataset, Mapping[str, Any]]] = [(dataset, params)]
            if dataset.compare:
                base, cur, prev = compare_parts(dataset, params)
                parts = [(base, cur), (base, prev)]
                compared[index] = dataset
            for part, (d, p) in enumerate(parts):
                query = self.statement(d, p)
                where[(index, part)] = plain.index(query) if query in plain else len(plain)
                plain += [] if query in plain else [query]
        if not plain:
            return {}
        tables = run_queries(plain, settings=self.settings, lake=self.lake, cache_dir=self.cache_dir)
        out: dict[int, Any] = {}
        for index in range(len(requests)):
            if index in compared:
                out[index] = compare_join(compared[index], tables[where[(index, 0)]], tables[where[(index, 1)]])
            elif (index, 0) in where:
                out[index] = tables[where[(index, 0)]]
        return out


def _parameters(dataset: Dataset) -> tuple[str, ...]:
    """``dataset.parameters()``, tokenized once per SQL text (ten milliseconds a dataset, twenty a page)."""
    return _parameter_names(dataset.sql()) if not dataset.compare else tuple(dataset.parameters())


@lru_cache(maxsize=256)
def _parameter_names(sql: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(name for _, _, name in placeholder_spans(sql) if name not in ENGINE_FILLED))


def lake_runner(settings: Settings, cache_dir: Path | None = None) -> LakeRunner:
    return LakeRunner(settings, cache_dir)


def narrow(sql: str, filters: Mapping[str, str], until: datetime | None) -> tuple[str, dict[str, Any]]:
    """A panel's SQL narrowed by click-to-filter and a cut-off (clickstream.dashboard.scope),
    with the extra values it binds.

    A filter that picks whole visitors (page, source) narrows the rollups' rows to them too;
    one that keeps events (country, browser) narrows the per-day rollups of events, which group
    by both, to the rows with its value, and splits the session rollups by visitor: the rows of
    the visitors it does not split, the kept events of those it does read raw (scope's exact
    split). A query reading a rollup that the filter cannot narrow reads raw events for every
    day: the query's own ``rolled_through`` becomes the literal for nothing
    (scope.scoped_sql). The filters' own visitors read the rollups up to the
    ``rolled_through`` the engine fills in.
    tests/unit/test_rollup_filters.py checks that the answer is the same panel's over a lake of
    only the filtered events. A cut alone (``until``:
    the running period at "now", the previous one at the same elapsed time) keeps the rollups
    for the days it leaves whole (scope.rolled_cap), so the page of a running period reads them.
    """
    extra = scope.bound(filters, until)
    if not filters and until is None:
        return sql, extra
    return scope.scoped_sql(sql, filters, until is not None), extra


def compare_parts(dataset: Dataset, params: Mapping[str, Any]) -> tuple[Dataset, dict[str, Any], dict[str, Any]]:
    """A ``compare`` dataset's base query and its two runs' parameters: the period and the previous one."""
    base = Dataset(str(dataset.compare), {c: dataset.columns[c] for c in dataset.base_columns})
    day = lambda v: v if isinstance(v, date) else date.fromisoformat(str(v))  # noqa: E731
    per = scope.periods(day(params["date_from"]), day(params["date_to"]), params.get("now") or datetime.now(timezone.utc))
    return (
        base,
        {**params, "until": per.until},
        {**params, "date_from": per.prev_from, "date_to": per.prev_to, "until": per.prev_until},
    )


def compare_locally(dataset: Dataset, params: Mapping[str, Any], run: panels.Runner) -> Any:
    """A ``compare`` dataset as two runs of its base joined by the same select list the
    one-statement SQL uses (compare_join).

    Same answer as ``dataset.sql()`` (tests/integration/test_dashboard_lake.py runs both); that
    one statement is what QuickSight runs, but on DuckDB the two runs can read the rollups.
    """
    base, cur, prev = compare_parts(dataset, params)
    return compare_join(dataset, run(base, cur), run(base, prev))


def compare_join(dataset: Dataset, cur: Any, prev: Any) -> Any:
    import duckdb

    con = duckdb.connect()
    try:
        con.register("cur", cur)
        con.register("prev", prev)
        return con.sql(f"SELECT {scope.compare_select(list(dataset.base_columns))} FROM cur CROSS JOIN prev").to_arrow_table()
    finally:
        con.close()


def dynamodb_live(settings: Settings) -> Live:
    """The live view straight from DynamoDB: the same code GET /v1/live runs, minus the read key
    (the local dashboard is served only on the laptop, like the rest of /dashboard)."""

    def live(app_id: str) -> dict[str, Any]:
        import time

        from chalicelib import clients
        from chalicelib.live.service import snapshot

        body, usage = snapshot(clients.dynamodb(settings), settings, app_id, int(time.time() * 1000))
        return {**body, "app_id": app_id, "cost": usage.as_dict(), "cached": False}

    return live


def handlers(
    spec: Spec,
    run: panels.Runner,
    apps: Apps,
    today: Callable[[], date] | None = None,
    coverage: Coverage | None = None,
    live: Live | None = None,
    now: Callable[[], datetime] | None = None,
) -> dict[str, Callable[[str, str, str], Response]]:
    now = now or (lambda: datetime.now(timezone.utc))
    today = today or (lambda: now().date())  # type: ignore[misc]

    def api(path: str, query: str) -> Response:
        if path == "/dashboard/api/spec":
            return _json(200, spec_json(spec))
        if path == "/dashboard/api/apps":
            try:
                return _json(200, {"apps": apps()})
            except Exception as exc:
                return _json(503, {"error": f"cannot list the lake's apps: {exc}"})
        if path == "/dashboard/api/live":
            app_id = dict(parse_qsl(query)).get("app_id", "")
            if live is None:
                return _json(404, {"error": "no live view here"})
            try:
                parse_params(spec, {"app_id": app_id}, today())
                return _json(200, live(app_id))
            except ConfigError as exc:
                return _json(400, {"error": str(exc)})
            except ClickstreamError as exc:
                return _json(503, {"error": str(exc)})
        if path == "/dashboard/api/panels":
            raw = dict(parse_qsl(query))
            try:
                params = parse_params(spec, raw, today())
            except ConfigError as exc:
                return _json(400, {"error": str(exc)})
            filters = scope.clean_filters(raw)
            scoped = main_block.memoized(run)
            at = now()  # one instant for every block of this answer
            # Both halves' unfiltered datasets in one DuckDB statement (their shared CTEs run once).
            panel_params = {**params, "filters": filters, "now": at}
            top_params = {**params, "filters": filters}
            panels.prefetch(scoped, panels.requests(spec, panel_params) + main_block.requests(spec, top_params, at))
            try:
                data = panels.compute(spec, panel_params, scoped)
            except ClickstreamError as exc:
                return _json(503, {"error": str(exc)})
            try:
                top = main_block.compute(spec, top_params, scoped, at)
            except Exception as exc:  # the panels below are still worth showing
                top = {"error": str(exc)}
            shown = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in params.items()}
            body: dict[str, Any] = {"params": shown, "filters": filters, "panels": data, "main": top}
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
    settings: Settings, spec: Spec | None = None, cache_dir: Path | None = None, now: Callable[[], datetime] | None = None
) -> dict[str, Callable[[str, str, str], Response]]:
    """The /dashboard pages of `make run`: the spec's panels over the local lake, on DuckDB."""
    return handlers(
        spec or load(),
        lake_runner(settings, cache_dir),
        lake_apps(settings, cache_dir),
        coverage=lake_coverage(settings, cache_dir),
        live=dynamodb_live(settings),
        now=now,
    )


def warm_up(dashboard: Callable[[str, str, str], Response], say: Callable[[str], None] | None = None) -> int:
    """Answer the dashboard's first request once, before anybody asks, and throw the answer away.

    The page's first load asks for its default view (/dashboard/api/panels, no query string).
    The first such request in a process translates and batches every statement (sqlglot), has
    DuckDB prepare them and reads the lake's Parquet footers: about a second more than the next
    one (bench/bench_cold.py). ``make run`` calls this in a thread as it starts, so that the
    page's first load finds all of that done: the default view at a later instant runs the same
    statements with other values (tests/unit/test_dashboard_warm_up.py). Another view (an app or
    a range over another number of months, a filter) composes and prepares its own as before. A
    request made while this runs shares the machine with it, and its DuckDB statement waits for
    the engine's lock. Returns the status; a failure is said, not raised."""
    import time

    say = say or (lambda line: print(line, flush=True))
    started = time.perf_counter()
    try:
        status, _, body = dashboard("GET", "/dashboard/api/panels", "")
    except Exception as exc:  # the server goes on: the first page load does this work itself
        say(f"dashboard warm-up failed, so the first page load will take longer: {exc}")
        return 500
    if status == 200:
        say(f"dashboard warmed up in {time.perf_counter() - started:.1f} s")
    else:
        say(
            f"dashboard warm-up answered {status}, so the first page load will take longer: {body[:300].decode(errors='replace')}"
        )
    return status
