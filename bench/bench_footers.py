"""Binding the dashboard's page, measured: the local engine as the dashboard runs it (the Parquet
footers kept between queries: DuckDB's ``parquet_metadata_cache``, clickstream.lake.duck.DuckLake
``cache_metadata``, as ``mirrored_lake`` runs it; and the month arm's last day U bound as a
parameter: clickstream.lake.month_reads.with_upto, with the month arm's scans that the range
cannot keep left out) against the release before (every footer read again at every statement, U
written out as Athena runs it), the footers kept alone, and U bound with every month scan kept
(the release before the scans were left out), in one run.

    .venv/bin/python -m bench.bench_footers [--repeat 5] [--no-doc]

Why: a DuckDB statement with parameters that scans files is bound and optimized again at every
EXECUTE (DuckDB keeps only its parse: ``PreparedStatement::CanCachePlan``); binding a view over
``read_parquet`` opens the files it names for their schema (the page's statement names the month
table about 65 times), and U's expression is two thirds of the page's 276 KB. A JSON profile of
the ended 30-day page (2026-12-04, 22:30): 0.60 s in the planner and 0.17 s in the optimizer of
1.09 s.

Lake: bench.bench_month_panels' (built there when missing). Each way, alternating, ``--repeat``
times, medians:

1. **Answers**: the 16 panels over four ranges and both bot settings, equal row for row all ways
   (the ranges within one month and over two months: both ways of leaving scans out).
2. **The batched page** (LocalLake.query_many) over 30 days with the raw last day and over the 30
   days ended at the last rolled-up day; the dashboard's way also **first after an export**: the
   raw last day's events files and November's month files (what an export rewrites) renamed into
   place again before the run (new inodes, so DuckDB reads their footers again, as after a sync).
3. **The dashboard's request** (/dashboard/api/panels, the previous period included), ended and
   running period; the baselines narrow a running period's statements anew at every request (as
   the releases before ``scope.scoped_sql`` kept them did), and "kept, narrowed anew" is the
   dashboard's way with that alone undone.

Figures go to docs/performance-dashboard.md, section "Binding the page".
"""

from __future__ import annotations

import os
import shutil
from datetime import date

from bench._pagebench import THROUGH, alternate, check_answers, ratio, report, start
from bench.bench_dashboard_queries import APP, LAST_DAY
from bench.bench_month_panels import LAKE, ROLLED, time_batched
from chalicelib.lake.month.dimensions import TABLE as MONTH_TABLE
from clickstream.dashboard import scope
from clickstream.lake import directory_lake

MARK = "## Binding the page: footers kept, U bound"


def rewrite_as_an_export_does() -> int:
    """The files an export rewrites for a running day (its events, the current month's rows),
    renamed into place again with the same bytes: new inodes, as the mirror's renames give."""
    files = [*(LAKE / "events" / f"app_id={APP}" / f"dt={LAST_DAY}").glob("*.parquet")]
    files += (LAKE / MONTH_TABLE / f"app_id={APP}").glob("dim=*/month=2026-11/*.parquet")
    for f in files:
        copy = f.with_name(f".{f.name}.copy")
        shutil.copyfile(f, copy)
        os.replace(copy, f)
    return len(files)


def main(argv: list[str] | None = None) -> int:
    args, uptime_before = start(argv, __doc__ or "")
    # the benchmark's lake is not written while it is read (a rewrite below is a rename)
    read = directory_lake(LAKE, bind_upto=False)
    footers = directory_lake(LAKE, cache_metadata=True, bind_upto=False)
    every_scan = directory_lake(LAKE, cache_metadata=True, prune_months=False)
    kept = directory_lake(LAKE, cache_metadata=True)
    checked = check_answers([read, footers, every_scan, kept])
    print(f"answers: {checked} (panel, range, bot setting) equal all ways")

    rewritten = 0

    def first(lo: date, hi: date) -> float:
        nonlocal rewritten
        rewritten = rewrite_as_an_export_does()
        return time_batched(kept, lo, hi, THROUGH)

    pages = {
        "read": lambda lo, hi: time_batched(read, lo, hi, THROUGH),
        "footers": lambda lo, hi: time_batched(footers, lo, hi, THROUGH),
        "every month scan": lambda lo, hi: time_batched(every_scan, lo, hi, THROUGH),
        "kept, first after an export": first,
        "kept": lambda lo, hi: time_batched(kept, lo, hi, THROUGH),
    }
    # the dashboard's request: the baselines narrow a running period's statements anew at every
    # request (scope.scoped_sql, kept since 2026-12-05), as the releases before did
    dashboards = {"read": read, "footers": footers, "kept, narrowed anew": kept, "kept": kept}
    anew = {way: scope.clear_narrowed for way in ("read", "footers", "kept, narrowed anew")}
    runs = alternate(args.repeat, pages, dashboards, anew)

    def pair(key: str, other: str = "kept", base: str = "read") -> str:
        return ratio(runs, key, base, other)

    summary = [
        f"* the 16 panels as one batched statement, 30 days with the raw last day: {pair('page running')}; "
        f"first after an export {pair('page running', 'kept, first after an export')}; the footers kept alone "
        f"{pair('page running', 'footers')}",
        f"* the same ended at the last rolled-up day: {pair('page ended')}; first after an export "
        f"{pair('page ended', 'kept, first after an export')}; the footers kept alone {pair('page ended', 'footers')}",
        f"* the month scans a range cannot keep left out, against every one bound (footers kept and U bound both "
        f"ways): running {pair('page running', base='every month scan')}; ended {pair('page ended', base='every month scan')}",
        f"* the dashboard's request (the previous period included), running period: {pair('dashboard running')}; "
        f"the footers kept alone {pair('dashboard running', 'footers')}; the narrowed statements kept, against "
        f"narrowed anew {pair('dashboard running', base='kept, narrowed anew')}",
        f"* the same, ended period: {pair('dashboard ended')}; the footers kept alone {pair('dashboard ended', 'footers')}; "
        f"the narrowed statements kept {pair('dashboard ended', base='kept, narrowed anew')}",
    ]
    lake = (
        "Lake: bench.bench_month_panels' (10,000,000 events 2026-10-22..2026-11-20, day rollups and month rows "
        f"through {ROLLED}). Before: every footer read again at every statement and U written out "
        "(`directory_lake(cache_metadata=False, bind_upto=False)`, the release before); after: the footers kept "
        "between queries and U bound (`cache_metadata=True, bind_upto=True`, as `mirrored_lake` runs the "
        'dashboard); "the footers kept alone": `cache_metadata=True, bind_upto=False`; "every month scan": '
        '`cache_metadata=True, prune_months=False`; the dashboard\'s request of "read", "footers" and '
        '"kept, narrowed anew" with the narrowed statements forgotten before each (`scope.clear_narrowed`). '
        "All prepared. "
        f"{checked} answers (16 panels x 4 ranges x both bot settings) equal all ways. "
        "\"First after an export\": the raw last day's events files and November's month files "
        f"({rewritten} files, what an export rewrites for a running day) renamed into place again before the run, "
        "so their footers are read again."
    )
    return report("bench_footers", MARK, args, uptime_before, lake, summary, runs)


if __name__ == "__main__":
    raise SystemExit(main())
