"""A click-to-filter page as the dashboard runs it: one /dashboard/api/panels request with a filter,
over the benchmark's modeled lake (bench.bench_rollups builds it), batched against one by one.

A filtered view reads raw events for every day of its range (the rollups carry no filter,
docs/lake.md *Filters*); the source filter's session starts read rollup_sessions up to the last
rolled-up day and sessionize the raw day after it (etl/blocks/source_starts.sql). The page's
datasets run as one DuckDB statement (clickstream/dashboard/pages.py ``LakeRunner.many``), which
shares the narrowed events' sessionization between the panels; the baseline in the same run is
the same runner without its batch, each dataset on its own, as the previous release ran every
filtered page. Runs alternate, medians of ``--repeat``; the ratio is what to compare across days.

    .venv/bin/python -m bench.bench_filtered_page                     # 7 days, source = the top host
    .venv/bin/python -m bench.bench_filtered_page --days 30 --repeat 2 --filter country=US
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from datetime import datetime, timedelta, timezone
from datetime import time as clock
from typing import Any, Mapping
from urllib.parse import urlencode

import duckdb

from bench.bench_dashboard_queries import APP, LAST_DAY, ROOT, machine
from chalicelib.settings import from_env
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


def request(lake: LocalLake, batched: bool, query: str, now: datetime) -> float:
    """Seconds for one /dashboard/api/panels request; every panel must answer (a failing one would be fast)."""
    runner = LakeRunner(from_env({}), lake=lake)
    pages = handlers(load(), runner if batched else OneByOne(runner), lambda: [APP], now=lambda: now)
    started = time.perf_counter()
    status, _, body = pages["/dashboard"]("GET", "/dashboard/api/panels", query)
    seconds = time.perf_counter() - started
    answer = json.loads(body)
    failed = [k for k, v in answer.get("panels", {}).items() if "error" in v]
    assert status == 200 and not failed, (status, failed, answer.get("error"))
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000, help="the modeled lake bench.bench_rollups built")
    parser.add_argument("--lake-days", type=int, default=30, help="that lake's days")
    parser.add_argument("--days", type=int, default=7, help="the page's range, ending on the lake's last day")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--filter", default="", help="name=value (default: source = the top referrer host)")
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
    request(lake, True, query, now)  # warm the file cache and the batch's plan
    runs: dict[str, list[float]] = {"one by one": [], "batched": []}
    for _ in range(args.repeat):
        for label, batched in (("one by one", False), ("batched", True)):
            runs[label].append(request(lake, batched, query, now))
        print("so far: " + "; ".join(f"{k} {' '.join(f'{s:.2f}' for s in v)}" for k, v in runs.items()), flush=True)
    alone, together = (statistics.median(runs[k]) for k in ("one by one", "batched"))
    print(
        f"{name}={value}, {args.days} days ({lo} to {hi}), the page of an ended period: one by one {alone:.2f} s, "
        f"batched {together:.2f} s ({alone / together:.1f}x; medians of {args.repeat})\n{os.popen('uptime').read().strip()}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
