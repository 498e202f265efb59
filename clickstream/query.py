"""`clickstream query`: the lake's SQL from the command line, on DuckDB locally or on Athena."""

from __future__ import annotations

import csv
import io
import json
import math
import sys
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import click

from chalicelib.errors import ClickstreamError

FORMATS = ("table", "csv", "json")
MAX_CELL = 60


def _plain(value: Any) -> Any:
    """A JSON-ready value: ISO dates and times, numbers for decimals, null for NaN."""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ") if value.tzinfo is None else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _is_rate(column: str) -> bool:
    return "rate" in column or "conversion" in column or column.endswith(("_share", "_ratio"))


def _duration(seconds: float) -> str:
    if abs(seconds) < 60:
        return f"{seconds:.1f} s"
    whole = int(round(seconds))
    if abs(whole) < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def _for_people(column: str, value: Any) -> str:
    """A table cell: rates as percentages, durations in minutes, other decimals rounded (csv/json stay exact)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if _is_rate(column) and isinstance(value, float):
        return f"{value * 100:.1f} %"
    if column.endswith("_s") or "duration" in column:
        return _duration(float(value))
    if isinstance(value, float):
        return f"{value:.2f}" if abs(value) >= 0.01 or value == 0 else f"{value:.3g}"
    return str(value)


def with_step_names(rows: list[dict[str, Any]], columns: list[str], steps: str) -> tuple[list[dict[str, Any]], list[str]]:
    """Funnel rows with the name of their step (Athena cannot select a parameter, so the CLI adds it)."""
    names = [s.strip() for s in steps.split(",")]
    at = columns.index("step") + 1 if "step" in columns else 0
    named = [{**r, "step_name": names[int(r["step"]) - 1] if 0 < int(r.get("step") or 0) <= len(names) else None} for r in rows]
    return named, [*columns[:at], "step_name", *columns[at:]]


def render(rows: list[dict[str, Any]], columns: list[str], fmt: str) -> str:
    rows = [{c: _plain(r[c]) for c in columns} for r in rows]
    if fmt == "json":
        return json.dumps(rows, ensure_ascii=False)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(["" if r[c] is None else r[c] for c in columns] for r in rows)
        return out.getvalue().rstrip("\n")
    cells = [["NULL" if r[c] is None else _for_people(c, r[c]) for c in columns] for r in rows]
    cells = [[v if len(v) <= MAX_CELL else v[: MAX_CELL - 1] + "…" for v in row] for row in cells]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths)), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
    lines.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(lines)


def printable(sql_or_name: str, given: dict[str, str]) -> str:
    """The Athena SQL of a query, ready for the console. With no values: Athena's `?` form and,
    above it, the execution parameters to enter in order (a name used twice is asked twice).
    With values for all parameters: checked like a run's, filled in as Trino literals."""
    from clickstream.lake import catalog, translate
    from clickstream.lake import params as params_mod

    text, _ = catalog.resolve(sql_or_name)
    names = translate.parameter_names(text)
    if not given:
        qmark, order = translate.to_qmark(text)
        head = f"-- execution parameters, in order: {', '.join(order)}\n" if order else ""
        return head + qmark.strip()
    values = params_mod.bind(names, given)
    out, last = [], 0
    for start, end, name in translate.placeholders(text):
        out.append(text[last:start])
        out.append(params_mod.athena_literal(values[name]))
        last = end + 1
    out.append(text[last:])
    return "".join(out).strip()


def _listing() -> str:
    from clickstream.lake import catalog, translate

    lines = ["queries (etl/queries):"]
    for name in catalog.query_names():
        found = catalog.query_file(name)
        assert found is not None
        lines.append(f"  {name:<18} {' '.join(':' + p for p in translate.parameter_names(found.text))}")
    lines.append("tables: events, rejected_events; views: " + ", ".join(v.name for v in catalog.view_files()))
    return "\n".join(lines)


@click.command("query")
@click.argument("sql", required=False)
@click.option(
    "--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True, help="json: an array of row objects."
)
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE", help="Bind :NAME (repeatable). steps=a,b,c for funnels.")
@click.option("--stage", default=None, help="A deployed stage: run on Athena. Default: the local stack, on DuckDB.")
@click.option(
    "--engine",
    type=click.Choice(["duckdb", "athena"]),
    default=None,
    help="Override the engine (duckdb with --stage: a local copy of that stage's lake).",
)
@click.option("--list", "list_queries", is_flag=True, help="List the named queries, their parameters and the views.")
@click.option(
    "--print",
    "print_sql",
    is_flag=True,
    help="Print the SQL (etl/blocks expanded) for the Athena console instead of running it; with every "
    "--param given, the values are filled in as literals, else `?` stands for each, in order.",
)
def query(
    sql: str | None, fmt: str, params: tuple[str, ...], stage: str | None, engine: str | None, list_queries: bool, print_sql: bool
) -> None:
    """Run SQL, or a named query from etl/queries, against the lake.

    \b
    clickstream query "SELECT dt, count(*) FROM events WHERE app_id = 'demo' GROUP BY dt"
    clickstream query top_pages --param app_id=demo --param date_from=2026-11-01 --param date_to=2026-11-07
    clickstream query funnel --param app_id=demo ... --param steps=/demo,LIKE_WOOD,CLICK_LANG --format json
    clickstream query overview --print --param app_id=demo --param date_from=2026-11-01 --param date_to=2026-11-07

    The SQL is Athena's (Trino's) dialect; locally sqlglot translates it for DuckDB. Tables:
    events, rejected_events (filter app_id = '...'); views: see --list and docs/lake.md.
    """
    if list_queries:
        click.echo(_listing())
        return
    if not sql:
        raise click.UsageError("give SQL or a query name (see --list)")
    if print_sql:
        try:
            from clickstream.lake.params import parse_pairs

            click.echo(printable(sql, parse_pairs(params)))
        except ClickstreamError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        return
    try:
        from clickstream.lake import params as params_mod
        from clickstream.lake import run_query
        from clickstream.target import settings_for

        local = not stage or stage == "local"
        chosen = engine or ("duckdb" if local else "athena")
        values = params_mod.parse_pairs(params)
        settings = settings_for(stage)
        table = run_query(sql, values, settings=settings, engine=chosen)  # type: ignore[arg-type]
        if "app_id" in values and _unknown_app(values["app_id"], settings, chosen):
            click.echo(
                f"error: no app {values['app_id']!r}: it is not in the app list and the lake holds no events for it "
                "(`clickstream apps list` shows the apps)",
                err=True,
            )
            sys.exit(2)
    except ClickstreamError as exc:
        # The same one-line message and exit code as the `clickstream` group gives, also when
        # this command runs on its own.
        from clickstream.cli import local_stack_down

        click.echo(f"error: {local_stack_down(exc) or exc}", err=True)
        sys.exit(2)
    rows, columns = table.to_pylist(), table.column_names
    if sql == "funnel" and values.get("steps") and "step" in columns:
        rows, columns = with_step_names(rows, columns, values["steps"])
    click.echo(render(rows, columns, fmt))


def _unknown_app(app_id: str, settings: Any, engine: str) -> bool:
    """Neither an app record nor an event in the lake: a typo, not an app without traffic."""
    from chalicelib import clients
    from chalicelib.store.apps import AppStore
    from clickstream.lake import run_query

    try:
        if AppStore(clients.dynamodb(settings), settings.table, cache_seconds=0).get_app(app_id) is not None:
            return False
    except ClickstreamError:
        pass  # no access to the app list (a stage's table): the lake decides
    sql = "SELECT count(*) AS n FROM events WHERE app_id = :app_id"
    found = run_query(sql, {"app_id": app_id}, settings=settings, engine=engine)  # type: ignore[arg-type]
    return not found.to_pylist()[0]["n"]
