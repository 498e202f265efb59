"""A click-to-filter page as the dashboard runs it: one /dashboard/api/panels request with a filter,
over the benchmark's modeled lake (bench.bench_rollups builds it): read through the rollups
against the raw path, in the same run.

A view filtered by visitors (``page``, ``source``) reads the rollups narrowed to the visitors the
filter picks (clickstream/dashboard/scope.py); one filtered by events (``country``, ``browser``)
reads the per-day rollups of events by their rows with the value, and the session rollups
through the exact split: the visitors with kept and other user actions in the days the range's
sessions reach ("mixed") have their kept events read raw, everyone else their rollup rows
(docs/lake.md *Filters*). The baseline in the same run is every filter on the raw path: the
same request with ``scope.VISITOR_FILTERS``, ``scope.ROW_KEPT`` and ``scope.SESSION_SPLIT``
emptied, so that every filter pins the panels' rollups off (the source filter's session starts
still read rollup_sessions up to the last rolled-up day and sessionize the raw day after it,
etl/blocks/source_starts.sql). Both run as one batched DuckDB statement per request
(clickstream/dashboard/pages.py ``LakeRunner.many``); ``--one-by-one`` adds the same runner
without its batch, each dataset on its own; ``--tail-twice`` adds the rollups' plan with a
source-filtered panel sessionizing its own raw tail instead of reading the source filter's copy
(``scope._share_source_tail`` off, the previous release); ``--previous`` adds the previous
release's plan for country and browser, the session panels on raw events for every day
(``scope.SESSION_SPLIT`` emptied). Every plan is checked to answer as the raw path first. Runs
alternate, medians of ``--repeat``; the ratio is what to compare across days.

    .venv/bin/python -m bench.bench_filtered_page                     # 7 days, source = the top host
    .venv/bin/python -m bench.bench_filtered_page --days 30 --repeat 2 --filter page=/demo/about
    .venv/bin/python -m bench.bench_filtered_page --days 30 --repeat 2 --filter country=US --previous
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import time
from datetime import date, datetime, timedelta, timezone
from datetime import time as clock
from typing import Any, Iterator, Literal, Mapping
from urllib.parse import urlencode

import duckdb
import sqlglot
from sqlglot import exp
from sqlglot.optimizer.pushdown_predicates import pushdown_predicates

from bench.bench_dashboard_queries import APP, FUNNEL, LAST_DAY, ROOT, machine
from chalicelib.settings import from_env
from clickstream.dashboard import scope
from clickstream.dashboard.pages import LakeRunner, handlers, narrow
from clickstream.dashboard.spec import Dataset, load
from clickstream.lake import LocalLake, billing, catalog, directory_lake, query_names, translate
from clickstream.lake.params import bind


class OneByOne:
    """The dashboard's runner without its batch: every dataset on its own."""

    def __init__(self, run: LakeRunner) -> None:
        self.run = run

    def __call__(self, dataset: Dataset, params: Mapping[str, Any]) -> Any:
        return self.run(dataset, params)


def top_host(root: Any) -> str:
    """The referrer host that starts the most sessions in the lake's rollups (what Top sources lists first)."""
    con = duckdb.connect()
    rows = con.sql(
        f"SELECT referrer_host FROM read_parquet('{root}/rollup_sessions/**/*.parquet', hive_partitioning = true) "
        "WHERE referrer_host IS NOT NULL GROUP BY referrer_host ORDER BY count(*) DESC, referrer_host LIMIT 1"
    ).fetchall()
    return str(rows[0][0])


Plan = Literal["raw", "previous", "rollups"]


@contextlib.contextmanager
def plan(which: Plan, shared_tail: bool = True) -> Iterator[None]:
    """``raw``: every filter pins the rollups off; ``previous``: the previous release's, where a
    filter by events pins the session panels off (no split); ``shared_tail`` False: a
    source-filtered panel sessionizes its own raw tail."""
    kept = scope.VISITOR_FILTERS, scope.ROW_KEPT, scope.SESSION_SPLIT, scope._share_source_tail
    if which == "raw":
        scope.VISITOR_FILTERS, scope.ROW_KEPT = frozenset(), frozenset()
    if which in ("raw", "previous"):
        scope.SESSION_SPLIT = frozenset()
    if not shared_tail:
        scope._share_source_tail = lambda tree, value: None
    try:
        yield
    finally:
        scope.VISITOR_FILTERS, scope.ROW_KEPT, scope.SESSION_SPLIT, scope._share_source_tail = kept


def request(
    lake: LocalLake, batched: bool, query: str, now: datetime, which: Plan = "rollups", shared_tail: bool = True
) -> tuple[float, Any]:
    """Seconds for one /dashboard/api/panels request and its panels; every panel must answer (a
    failing one would be fast)."""
    runner = LakeRunner(from_env({}), lake=lake)
    pages = handlers(load(), runner if batched else OneByOne(runner), lambda: [APP], now=lambda: now)
    with plan(which, shared_tail):
        started = time.perf_counter()
        status, _, body = pages["/dashboard"]("GET", "/dashboard/api/panels", query)
        seconds = time.perf_counter() - started
    answer = json.loads(body)
    failed = [k for k, v in answer.get("panels", {}).items() if "error" in v]
    assert status == 200 and not failed, (status, failed, answer.get("error"))
    return seconds, answer["panels"]


def inlined(sql: str) -> str:
    """``sql`` with every CTE written out where it is read, as Trino (Athena) runs a WITH: each
    reference scans again (clickstream.lake.billing counts a CTE's scans once)."""
    tree = sqlglot.parse_one(sql, read="athena")
    with_ = tree.args.get("with_")
    if with_ is None:
        return sql
    bodies: dict[str, exp.Expression] = {}

    def expand(node: exp.Expression) -> None:
        for table in list(node.find_all(exp.Table)):
            if not table.db and table.name in bodies:
                alias = exp.TableAlias(this=exp.to_identifier(table.alias_or_name))
                table.replace(exp.Subquery(this=bodies[table.name].copy(), alias=alias))

    for cte in with_.expressions:
        body = cte.this.copy()
        expand(body)
        bodies[cte.alias] = body
    tree.set("with_", None)
    expand(tree)
    return tree.sql(dialect="athena")


def athena_bytes(root: Any, filters: Mapping[str, str], lo: date, hi: date, which: Plan) -> dict[str, tuple[int, int]]:
    """Per panel of the page's range (the 16 query files), what Athena would scan under ``which``
    plan: (the billing estimate, CTEs counted once; the same with every CTE inlined, as Trino
    runs them). Trino pushes the predicates of a SELECT into the subqueries it reads (the
    filters' narrowed reads of events), so they are pushed down here before estimating."""
    through = directory_lake(root).rolled_through(APP)
    out = {}
    for name in query_names():
        given: dict[str, Any] = {"app_id": APP, "date_from": str(lo), "date_to": str(hi), "rolled_through": through}
        if name == "funnel":
            given["steps"] = FUNNEL
        with plan(which):
            sql, extra = narrow(catalog.query_file(name).text, filters, None)  # type: ignore[union-attr]
        names = translate.parameter_names(sql)
        values = bind(names, {k: v for k, v in {**given, **extra}.items() if k in names})
        counted = []
        for text in (sql, inlined(sql)):
            counted.append(billing.estimate(root, pushed_down(text), values).scanned_bytes)
        out[name] = (counted[0], counted[1])
    return out


def pushed_down(sql: str) -> str:
    return pushdown_predicates(billing.qualified(sql)).sql(dialect="athena")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000, help="the modeled lake bench.bench_rollups built")
    parser.add_argument("--lake-days", type=int, default=30, help="that lake's days")
    parser.add_argument("--days", type=int, default=7, help="the page's range, ending on the lake's last day")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--filter", default="", help="name=value (default: source = the top referrer host)")
    parser.add_argument("--one-by-one", action="store_true", help="also time the rollups' plan without the batch")
    parser.add_argument("--tail-twice", action="store_true", help="also time the rollups' plan without the shared source tail")
    parser.add_argument("--previous", action="store_true", help="also time the previous release's plan (no split)")
    parser.add_argument("--lake", default="", help="another lake under bench/results (bench.bench_mixed_lake builds one)")
    parser.add_argument("--athena", action="store_true", help="print what Athena would scan per panel, each plan, and stop")
    args = parser.parse_args(argv)
    root = ROOT / "results" / (args.lake or f"modeled-{args.events}-{args.lake_days}d")
    if not (root / "rollup_sessions").is_dir():
        build = f".venv/bin/python -m bench.bench_rollups --events {args.events} --days {args.lake_days}"
        print(f"{root} has no rollups: run `{build}` first")
        return 2
    name, _, value = args.filter.partition("=")
    if not args.filter:
        name, value = "source", top_host(root)
    print(f"machine: {machine()}\n{os.popen('uptime').read().strip()}")
    lo, hi = LAST_DAY - timedelta(days=args.days - 1), LAST_DAY
    query = urlencode({"app_id": APP, "date_from": str(lo), "date_to": str(hi), name: value})
    now = datetime.combine(hi + timedelta(days=1), clock(0, 5), tzinfo=timezone.utc)  # the period has ended
    if args.athena:
        filters = {name: value}
        bills = {which: athena_bytes(root, filters, lo, hi, which) for which in ("raw", "previous", "rollups")}
        print("panel | raw path MiB (CTEs inlined) | previous | split")
        for panel in query_names():
            print(
                panel,
                " | ".join(f"{bills[w][panel][0] / 2**20:,.1f} ({bills[w][panel][1] / 2**20:,.1f})" for w in bills),
                sep=" | ",
            )
        totals = {w: [sum(b[i] for b in bills[w].values()) / 2**20 for i in (0, 1)] for w in bills}
        print("total", " | ".join(f"{t[0]:,.1f} ({t[1]:,.1f})" for t in totals.values()), sep=" | ")
        return 0
    lake = directory_lake(root)
    # warm the file cache and the batches' plans; every plan must answer as the raw path
    _, raw = request(lake, True, query, now, "raw")
    modes: list[tuple[str, bool, Plan, bool]] = [("raw path", True, "raw", True), ("rollups", True, "rollups", True)]
    if args.previous:
        modes.append(("previous release", True, "previous", True))
    if args.one_by_one:
        modes.append(("rollups, one by one", False, "rollups", True))
    if args.tail_twice:
        modes.append(("rollups, tail twice", True, "rollups", False))
    for label, batched, which, shared in modes[1:]:
        assert request(lake, batched, query, now, which, shared)[1] == raw, f"{label} answers differently from the raw path"
    runs: dict[str, list[float]] = {label: [] for label, *_ in modes}
    for _ in range(args.repeat):
        for label, batched, which, shared in modes:
            runs[label].append(request(lake, batched, query, now, which, shared)[0])
        print("so far: " + "; ".join(f"{k} {' '.join(f'{s:.2f}' for s in v)}" for k, v in runs.items()), flush=True)
    medians = {k: statistics.median(v) for k, v in runs.items()}
    base = medians["raw path"]
    print(
        f"{name}={value}, {args.days} days ({lo} to {hi}), the page of an ended period, batched: "
        + ", ".join(f"{k} {m:.2f} s ({base / m:.1f}x)" for k, m in medians.items())
        + f"; medians of {args.repeat}\n{os.popen('uptime').read().strip()}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
