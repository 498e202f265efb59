"""A click-to-filter page as the dashboard runs it: one /dashboard/api/panels request with a filter,
over the benchmark's modeled lake (bench.bench_rollups builds it): read through the rollups
against the raw path, in the same run.

A view filtered by visitors (``page``, ``source``) reads the rollups narrowed to the visitors the
filter picks (clickstream/dashboard/scope.py); one filtered by events (``country``, ``browser``)
reads the per-day rollups of events by their rows with the value, and raw events for every day
of its range for the session panels (docs/lake.md *Filters*). The baseline in the same run is
the previous release's plan, every filter on the raw path: the same request with
``scope.VISITOR_FILTERS`` and ``scope.ROW_KEPT`` emptied, so that every filter pins the panels'
rollups off (the source filter's session starts still read rollup_sessions up to the last
rolled-up day and sessionize the raw day after it, etl/blocks/source_starts.sql). Both run as one batched DuckDB
statement per request (clickstream/dashboard/pages.py ``LakeRunner.many``); ``--one-by-one``
adds the same runner without its batch, each dataset on its own; ``--tail-twice`` adds the rollups'
plan with a source-filtered panel sessionizing its own raw tail instead of reading the source
filter's copy (``scope._share_source_tail`` off, the previous release). Runs alternate, medians of
``--repeat``; the ratio is what to compare across days.

    .venv/bin/python -m bench.bench_filtered_page                     # 7 days, source = the top host
    .venv/bin/python -m bench.bench_filtered_page --days 30 --repeat 2 --filter page=/demo/about
    .venv/bin/python -m bench.bench_filtered_page --days 30 --repeat 2 --filter country=US
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import time
from datetime import datetime, timedelta, timezone
from datetime import time as clock
from typing import Any, Iterator, Mapping
from urllib.parse import urlencode

import duckdb

from bench.bench_dashboard_queries import APP, LAST_DAY, ROOT, machine
from chalicelib.settings import from_env
from clickstream.dashboard import scope
from clickstream.dashboard.pages import LakeRunner, handlers
from clickstream.dashboard.spec import Dataset, load
from clickstream.lake import LocalLake, directory_lake


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


@contextlib.contextmanager
def plan(rollups: bool, shared_tail: bool = True) -> Iterator[None]:
    """``rollups`` False: the previous release's plan, where every filter pins the rollups off;
    ``shared_tail`` False: a source-filtered panel sessionizes its own raw tail."""
    kept = scope.VISITOR_FILTERS, scope.ROW_KEPT, scope._share_source_tail
    if not rollups:
        scope.VISITOR_FILTERS, scope.ROW_KEPT = frozenset(), frozenset()
    if not shared_tail:
        scope._share_source_tail = lambda tree, value: None
    try:
        yield
    finally:
        scope.VISITOR_FILTERS, scope.ROW_KEPT, scope._share_source_tail = kept


def request(
    lake: LocalLake, batched: bool, query: str, now: datetime, rollups: bool = True, shared_tail: bool = True
) -> tuple[float, Any]:
    """Seconds for one /dashboard/api/panels request and its panels; every panel must answer (a
    failing one would be fast)."""
    runner = LakeRunner(from_env({}), lake=lake)
    pages = handlers(load(), runner if batched else OneByOne(runner), lambda: [APP], now=lambda: now)
    with plan(rollups, shared_tail):
        started = time.perf_counter()
        status, _, body = pages["/dashboard"]("GET", "/dashboard/api/panels", query)
        seconds = time.perf_counter() - started
    answer = json.loads(body)
    failed = [k for k, v in answer.get("panels", {}).items() if "error" in v]
    assert status == 200 and not failed, (status, failed, answer.get("error"))
    return seconds, answer["panels"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000, help="the modeled lake bench.bench_rollups built")
    parser.add_argument("--lake-days", type=int, default=30, help="that lake's days")
    parser.add_argument("--days", type=int, default=7, help="the page's range, ending on the lake's last day")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--filter", default="", help="name=value (default: source = the top referrer host)")
    parser.add_argument("--one-by-one", action="store_true", help="also time the rollups' plan without the batch")
    parser.add_argument("--tail-twice", action="store_true", help="also time the rollups' plan without the shared source tail")
    args = parser.parse_args(argv)
    root = ROOT / "results" / f"modeled-{args.events}-{args.lake_days}d"
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
    lake = directory_lake(root)
    # warm the file cache and the batches' plans; both plans must answer alike
    _, raw = request(lake, True, query, now, rollups=False)
    _, rolled = request(lake, True, query, now)
    assert rolled == raw, "the rollups' plan answers differently from the raw path"
    modes = [("raw path", True, False, True), ("rollups", True, True, True)]
    if args.one_by_one:
        modes.append(("rollups, one by one", False, True, True))
    if args.tail_twice:
        assert request(lake, True, query, now, shared_tail=False)[1] == raw, "the tail sessionized twice answers differently"
        modes.append(("rollups, tail twice", True, True, False))
    runs: dict[str, list[float]] = {label: [] for label, *_ in modes}
    for _ in range(args.repeat):
        for label, batched, rollups, shared in modes:
            runs[label].append(request(lake, batched, query, now, rollups, shared)[0])
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
