"""The local engine's prepared statements measured: the dashboard's page with each statement
prepared once (clickstream.lake.duck.DuckLake: PREPARE, then EXECUTE with the values as literals;
DuckDB keeps the parse and binds it again at each EXECUTE) against the same statements parsed and
bound with their values on every run (``prepare=False``, the release before), in one run.

    .venv/bin/python -m bench.bench_prepared [--repeat 5] [--no-doc]

Lake: bench.bench_month_panels' (bench.bench_rollups' modeled-10000000-30d with the month rows of
October and November, months_through = rolled_through = 2026-11-19; built there when missing).
Each way, alternating, ``--repeat`` times, medians:

1. **Answers**: the 16 panels over four ranges and both bot settings, equal row for row both ways.
2. **The batched page** (LocalLake.query_many, the 16 panels as one statement) over 30 days with
   the raw last day (a running period) and over the 30 days ended at the last rolled-up day; the
   prepared way twice: prepared already (the same page again, or the first after an export that
   added files of the columns a table already had: a sync's ``refresh()`` keeps the statements
   then), and first after a change that re-creates the views (``refresh(recreate=True)`` before
   the run: a table's first file, a file with new columns).
3. **The dashboard's request** (/dashboard/api/panels, the previous period included), ended and
   running period.

Figures go to docs/performance-dashboard.md, section "Prepared statements".
"""

from __future__ import annotations

from datetime import date

from bench._pagebench import THROUGH, alternate, check_answers, ratio, report, start
from bench.bench_month_panels import LAKE, ROLLED, time_batched
from clickstream.lake import directory_lake

MARK = "## Prepared statements"


def main(argv: list[str] | None = None) -> int:
    args, uptime_before = start(argv, __doc__ or "")
    bound, prepared = directory_lake(LAKE, prepare=False), directory_lake(LAKE)
    checked = check_answers([bound, prepared])
    print(f"answers: {checked} (panel, range, bot setting) equal both ways")

    def first(lo: date, hi: date) -> float:
        prepared.duck.refresh(recreate=True)
        return time_batched(prepared, lo, hi, THROUGH)

    pages = {
        "bound": lambda lo, hi: time_batched(bound, lo, hi, THROUGH),
        "prepared, first after a change": first,
        "prepared": lambda lo, hi: time_batched(prepared, lo, hi, THROUGH),
    }
    runs = alternate(args.repeat, pages, {"bound": bound, "prepared": prepared})

    def pair(key: str, other: str = "prepared") -> str:
        return ratio(runs, key, "bound", other)

    summary = [
        f"* the 16 panels as one batched statement, 30 days with the raw last day: {pair('page running')}; "
        f"first after a change that re-creates the views {pair('page running', 'prepared, first after a change')}",
        f"* the same ended at the last rolled-up day: {pair('page ended')}; first after a change that re-creates the views "
        f"{pair('page ended', 'prepared, first after a change')}",
        f"* the dashboard's request (the previous period included), running period: {pair('dashboard running')}",
        f"* the same, ended period: {pair('dashboard ended')}",
    ]
    lake = (
        "Lake: bench.bench_month_panels' (10,000,000 events 2026-10-22..2026-11-20, day rollups and month rows "
        f"through {ROLLED}). Before: every statement parsed and bound with its values on every run "
        "(`DuckLake(prepare=False)`, the release before); after: prepared once per statement text (DuckDB keeps "
        "the parse and binds it again at each EXECUTE) and executed with the values as literals "
        f"(`clickstream/lake/duck.py`). {checked} answers (16 panels x 4 ranges x both bot settings) equal both "
        'ways. "First after a change that re-creates the views": `refresh(recreate=True)` before the run, which '
        "re-creates the views and drops the prepared statements, as a sync does when a table's view changes (its "
        "first file, a file with new columns), so the run prepares the page again. A sync after an export that "
        "added files of the columns the tables already had keeps the statements: the page is then as prepared "
        "already."
    )
    return report("bench_prepared", MARK, args, uptime_before, lake, summary, runs)


if __name__ == "__main__":
    raise SystemExit(main())
