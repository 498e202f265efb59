"""Shared by the benchmarks that compare ways of running the dashboard's page on the local
engine (bench_prepared, bench_footers), over bench.bench_month_panels' lake: the answers checked
equal every way, then every way timed in turn, ``repeat`` times, on the same ranges."""

from __future__ import annotations

import argparse
import os
import statistics
from datetime import date, datetime, timedelta, timezone
from datetime import time as clock
from typing import Callable, Mapping, Sequence

from bench._docsection import write_section
from bench.bench_dashboard_queries import LAST_DAY, machine
from bench.bench_month_panels import DOC, LAKE, ROLLED, build_months, ensure_modeled, params, rows_of, with_state
from bench.bench_rollups import time_dashboard
from chalicelib.lake.month.dimensions import TABLE as MONTH_TABLE
from clickstream.lake import LocalLake, query_names
from tests.rollup_helpers import same

THROUGH = str(ROLLED)
FIRST = LAST_DAY - timedelta(days=29)  # the 30-day page: FIRST..LAST_DAY running, FIRST..ROLLED ended

Page = Callable[[date, date], float]  # the batched page over a range, in seconds


def start(argv: list[str] | None, description: str) -> tuple[argparse.Namespace, str]:
    """The options (``--repeat``, ``--no-doc``) and the load before, printed with the machine;
    bench.bench_month_panels' lake, its month rows and state built where missing."""
    parser = argparse.ArgumentParser(description=description.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-doc", action="store_true")
    args = parser.parse_args(argv)
    uptime_before = os.popen("uptime").read().strip()
    print(f"machine: {machine()}\n{uptime_before}")
    ensure_modeled()
    if not (LAKE / MONTH_TABLE).is_dir():
        build_months(LAKE)
    with_state(LAKE, THROUGH)
    return args, uptime_before


def check_answers(lakes: Sequence[LocalLake]) -> int:
    """The 16 panels over four ranges and both bot settings, equal row for row on every lake;
    how many (panel, range, bot setting) were compared."""
    ranges = [(FIRST, LAST_DAY), (FIRST, ROLLED), (ROLLED - timedelta(days=6), ROLLED), (date(2026, 11, 1), LAST_DAY)]
    checked = 0
    for a, b in ranges:
        for bots in (False, True):
            for name in query_names():
                values = params(name, a, b, THROUGH, bots)
                first, *others = (rows_of(lake, name, values) for lake in lakes)
                assert all(same(other, first) for other in others), (name, a, b, bots)
                checked += 1
    return checked


def alternate(
    repeat: int,
    pages: Mapping[str, Page],
    dashboards: Mapping[str, LocalLake],
    before: Mapping[str, Callable[[], None]] | None = None,
) -> dict[str, list[float]]:
    """Each way in turn, ``repeat`` times: ``page <running|ended> <way>`` (30 days with the raw last
    day, and ended at the last rolled-up day) and ``dashboard <running|ended> <way>`` (one
    /dashboard/api/panels request over the same 30 days, now in its last day or just after it),
    ``before[way]`` called before each of that way's requests."""
    ended = datetime.combine(LAST_DAY + timedelta(days=1), clock(0, 5), tzinfo=timezone.utc)
    running = datetime.combine(LAST_DAY, clock(18, 0), tzinfo=timezone.utc)
    runs: dict[str, list[float]] = {}
    for _ in range(repeat):
        for case, hi in (("running", LAST_DAY), ("ended", ROLLED)):
            for way, page in pages.items():
                runs.setdefault(f"page {case} {way}", []).append(page(FIRST, hi))
        for case, now in (("running", running), ("ended", ended)):
            for way, lake in dashboards.items():
                (before or {}).get(way, lambda: None)()
                runs.setdefault(f"dashboard {case} {way}", []).append(time_dashboard(lake, FIRST, LAST_DAY, now)[0])
        print("so far: " + "; ".join(f"{k} {' '.join(f'{x:.2f}' for x in v)}" for k, v in runs.items()))
    return runs


def ratio(runs: Mapping[str, list[float]], key: str, base: str, other: str) -> str:
    """``<base median> -> <other median> s (<ratio>)`` of ``<key> <base>`` and ``<key> <other>``."""
    a, b = statistics.median(runs[f"{key} {base}"]), statistics.median(runs[f"{key} {other}"])
    return f"{a:.2f} -> {b:.2f} s ({b / a:.2f})"


def singles(runs: Mapping[str, list[float]]) -> str:
    return "; ".join(f"{k} {', '.join(f'{x:.2f}' for x in v)}" for k, v in runs.items())


def report(
    module: str,
    mark: str,
    args: argparse.Namespace,
    uptime_before: str,
    lake: str,
    summary: list[str],
    runs: Mapping[str, list[float]],
) -> int:
    """The ``summary`` lines printed, and unless ``--no-doc`` docs/performance-dashboard.md's
    section ``mark``: the command, the machine and its load, ``lake`` (what was compared), the
    ``summary`` lines and every single run. The benchmark's exit code."""
    print("\n".join(summary))
    if args.no_doc:
        return 0
    repeat = args.repeat
    uptime_after = os.popen("uptime").read().strip()
    write_section(
        DOC,
        mark,
        [
            mark,
            "",
            f"Command: `.venv/bin/python -m bench.{module} --repeat {repeat}`  ",
            f"Machine: {machine()}  ",
            f"Load before: `{uptime_before}`  ",
            f"Load after: `{uptime_after}`",
            "",
            lake,
            "",
            f"Same run, alternating, medians of {repeat}:",
            "",
            *summary,
            "",
            f"Single runs: {singles(runs)}.",
            "",
        ],
    )
    return 0
