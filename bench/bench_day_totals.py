"""Keyless day totals (decision 0017 step 1): the dashboard page with and without them, in one run.

    .venv/bin/python -m bench.bench_day_totals [--source PATH] [--before REF] [--repeat 6] [--panels]

The lake is bench.bench_rollups' modeled lake (``--source``, default
bench/results/modeled-10000000-30d: 10 million events over 30 days, every day but the last
rolled up; ``python -m bench.bench_rollups`` builds it). Its events and keyed rollups are linked,
not copied, into bench/results/day-totals/, and the eight keyless totals are derived there per
day from the day's keyed tables with ``rollup._totals``, the function the day build runs on each
slice (tests/unit/test_rollup_totals.py: a build in several slices sums to the same rows).

Then, alternating so that load drift hits both alike: the 16 panels as one batched DuckDB
statement (as bench.bench_rollups.time_batched and the local dashboard run them), with the panel
SQL of ``--before`` (a git ref, default the merge base with main: keyed rollups only) and with this tree's, for the
30 days ending on the last rolled-up day (ended) and on the raw last day (with a tail). Every
panel's answer is checked equal both ways first. Last, what Athena would scan per panel both
ways (clickstream.lake.billing's estimate over the same files).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import time
from datetime import date, timedelta
from pathlib import Path

import pyarrow.parquet as pq

from bench.bench_dashboard_queries import APP, LAST_DAY, ROOT
from bench.bench_rollups import params
from chalicelib.lake import rollup
from chalicelib.lake.parquetio import parquet_bytes
from clickstream.lake import LocalLake, billing, catalog, directory_lake, prepare, query_names
from clickstream.lake.translate import parameter_names

KEYED = sorted({source for source, _ in rollup.TOTALS.values()})


def derive(source: Path, out: Path) -> dict[str, float]:
    """``out``: the source lake's tables linked, the keyless totals written per rolled-up day.
    Returns each total's mean rows per day."""
    out.mkdir(parents=True, exist_ok=True)
    for table in [p.name for p in source.iterdir() if p.is_dir()]:
        link = out / table
        if not link.exists():
            link.symlink_to(source / table)
    rows: dict[str, list[int]] = {name: [] for name in rollup.TOTALS}
    for folder in sorted((source / "rollup_sessions" / f"app_id={APP}").glob("dt=*")):
        dt = folder.name
        keyed = {name: pq.read_table(source / name / f"app_id={APP}" / dt / rollup.FILE_NAME) for name in KEYED}
        for name, table in rollup._totals(keyed).items():
            target = out / name / f"app_id={APP}" / dt / rollup.FILE_NAME
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(parquet_bytes(table))
            rows[name].append(table.num_rows)
    return {name: statistics.mean(n) for name, n in rows.items()}


def sql_at(ref: str, name: str) -> str:
    """etl/queries/<name>.sql at ``ref``, its etl/blocks expanded from the same commit."""

    def show(path: str) -> str:
        return subprocess.run(
            ["git", "-C", str(ROOT.parent), "show", f"{ref}:{path}"], capture_output=True, text=True, check=True
        ).stdout

    def block(match: re.Match[str]) -> str:
        body = expand(show(f"etl/blocks/{match.group(1)}.sql")).strip()
        return body if match.group(2) is None else catalog.prefixed(body, match.group(2), origin=match.group(1))[0]

    def expand(text: str) -> str:
        return catalog._INCLUDE.sub(block, text)

    return catalog.substitute(expand(show(f"etl/queries/{name}.sql")), origin=f"{ref}:{name}")


def queries(ref: str | None, lo: date, hi: date, through: str) -> list[tuple[str, dict]]:
    out = []
    for name in query_names():
        given = params(name, lo, hi, through)
        if ref is None:
            out.append(prepare(name, given))
        else:
            text = sql_at(ref, name)
            out.append(prepare(text, {k: v for k, v in given.items() if k in parameter_names(catalog.resolve(text)[0])}))
    return out


def timed(lake: LocalLake, composed: list[tuple[str, dict]]) -> float:
    started = time.perf_counter()
    lake.query_many(composed, max_age_s=3600)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=ROOT / "results" / "modeled-10000000-30d")
    parser.add_argument("--before", default=None, help="a git ref (default: the merge base with main)")
    parser.add_argument("--repeat", type=int, default=6)
    parser.add_argument("--panels", action="store_true", help="also time each panel alone")
    args = parser.parse_args(argv)
    if args.before is None:
        base = subprocess.run(
            ["git", "-C", str(ROOT.parent), "merge-base", "HEAD", "main"], capture_output=True, text=True, check=True
        )
        args.before = base.stdout.strip()
    print(f"before: {args.before}; {os.popen('uptime').read().strip()}")
    root = ROOT / "results" / "day-totals"
    started = time.process_time()
    per_day = derive(args.source.resolve(), root)
    print(
        f"derived in {time.process_time() - started:.1f} CPU s; rows per day: "
        + ", ".join(f"{n} {r:.0f}" for n, r in per_day.items())
    )
    lake = directory_lake(root)
    through = lake.rolled_through(APP)
    assert through is not None
    ranges = {
        "ended": (date.fromisoformat(through) - timedelta(days=29), date.fromisoformat(through)),
        "with tail": (LAST_DAY - timedelta(days=29), LAST_DAY),
    }
    for what, (lo, hi) in ranges.items():
        for bots in (False, True):
            pairs = []
            for ref in (args.before, None):
                qs = [
                    (sql, {**v, "include_bots": bots} if "include_bots" in v else v) for sql, v in queries(ref, lo, hi, through)
                ]
                pairs.append(lake.query_many(qs, max_age_s=3600))
            for name, a, b in zip(query_names(), *pairs):
                assert a.equals(b), f"{name} differs, {what}, include_bots={bots}:\n{a}\n{b}"
    print("answers equal: 16 panels x 2 ranges x 2 bot settings")
    times: dict[tuple[str, str], list[float]] = {}
    composed = {
        (what, label): queries(ref, lo, hi, through)
        for what, (lo, hi) in ranges.items()
        for label, ref in (("before", args.before), ("after", None))
    }
    for _ in range(args.repeat):
        for key, qs in composed.items():
            times.setdefault(key, []).append(timed(lake, qs))
        print("so far: " + "; ".join(f"{w} {label} {' '.join(f'{x:.2f}' for x in v)}" for (w, label), v in times.items()))
    print(os.popen("uptime").read().strip())
    alone: dict[tuple[str, str, str], list[float]] = {}
    if args.panels:
        # each panel alone (LocalLake.query), before and after in turn, for the range with a tail
        for _ in range(args.repeat):
            for name, old, new in zip(query_names(), composed[("with tail", "before")], composed[("with tail", "after")]):
                for label, (sql, values) in (("before", old), ("after", new)):
                    started = time.perf_counter()
                    lake.query(sql, values, max_age_s=3600)
                    alone.setdefault((name, label, "with tail"), []).append(time.perf_counter() - started)
        print(os.popen("uptime").read().strip())
        print("DuckDB, each panel alone, 30 days with tail (medians: before -> after, ratio; runs before | after):")
        for name in query_names():
            b_runs, a_runs = alone[(name, "before", "with tail")], alone[(name, "after", "with tail")]
            b, a = statistics.median(b_runs), statistics.median(a_runs)
            runs = f"{' '.join(f'{x:.2f}' for x in b_runs)} | {' '.join(f'{x:.2f}' for x in a_runs)}"
            print(f"  {name}: {b:.3f} -> {a:.3f} s ({a / b:.2f}; {runs})")
    for what in ranges:
        b, a = statistics.median(times[(what, "before")]), statistics.median(times[(what, "after")])
        print(f"DuckDB page, 30 days {what}: before {b:.2f} s, after {a:.2f} s (medians of {args.repeat}), ratio {a / b:.2f}")
    lo, hi = ranges["with tail"]
    print("Athena bytes per panel, 30 days with tail (before -> after, after/before):")
    total = [0, 0]
    for name, old, new in zip(query_names(), queries(args.before, lo, hi, through), queries(None, lo, hi, through)):
        b, a = (billing.estimate(root, sql, values).scanned_bytes for sql, values in (old, new))
        total[0] += b
        total[1] += a
        print(f"  {name}: {b / 2**20:.1f} -> {a / 2**20:.1f} MiB ({a / b:.2f})")
    print(f"  page: {total[0] / 2**20:.1f} -> {total[1] / 2**20:.1f} MiB ({total[1] / total[0]:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
