"""Key-sorted day rollups, shipped: the rollups of the benchmark lake rebuilt by the previous
release's writer (hash-of-visitor slices, 1 M-row groups) and by this one's (key-range slices,
each keyed file sorted by visitor_key in 25,000-row groups with key statistics), in one run.

    .venv/bin/python -m bench.bench_key_sorted --base DIR --lake DIR [--builds 2] [--repeat 6]

``--base``: a checkout of the previous release (``git worktree add --detach <dir> <commit>``);
its chalicelib builds the old rollups, in a subprocess of this interpreter. ``--lake``: the
modeled lake of bench.bench_rollups (bench/results/modeled-10000000-30d; read only: its events
are copied into this checkout's bench/results/keysorted-{old,new,events}/). Printed, old vs new:

1. the rebuild's CPU seconds per million events (bench_rollups.build, the export's slice size;
   the builds alternate old, new, old, new ... so that load drift hits both);
2. bytes written per table, and bytes per row of the keyed tables;
3. the Athena bytes of the 30-day page (clickstream.lake.billing) and each panel's over 90 days at
   1 billion events a month (bench_rollups' scaling: rolled-up part per event of the rolled-up
   days, raw tail per event of the last day);
4. the 30-day page as one batched DuckDB statement (bench_rollups.time_batched), old and new
   alternating, wall and CPU seconds, and one JSON profile of each (``--page-only``: this part
   alone, over the lakes a previous run built);
5. footer bytes of the new files, and what statistics on every column would add.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import pyarrow.parquet as pq

from bench.bench_dashboard_queries import APP, LAST_DAY, ROOT
from bench.bench_rollups import CUTOFF_DAYS, EVENTS_PER_DAY_AT_1B, params, profile_batched, time_batched
from chalicelib.lake import parquetio, rollup
from clickstream.lake import billing, directory_lake, prepare, query_names
from clickstream.lake.params import NOTHING_ROLLED

BUILD = """
import json, sys
from datetime import date
from pathlib import Path
import chalicelib
from bench.bench_rollups import build
root, days = Path(sys.argv[1]), [date.fromisoformat(d) for d in sys.argv[2:]]
cost = build(root, days)
print(json.dumps({**cost, "chalicelib": chalicelib.__file__}))
"""


def uptime() -> str:
    return os.popen("uptime").read().strip().split("load average: ")[-1]


def build(checkout: Path, root: Path, days: list) -> dict:
    """bench_rollups.build with ``checkout``'s chalicelib, in a fresh interpreter (cwd first on sys.path)."""
    for name in rollup.SCHEMAS:
        shutil.rmtree(root / name, ignore_errors=True)
    run = subprocess.run(
        [sys.executable, "-c", BUILD, str(root), *(d.isoformat() for d in days)],
        cwd=checkout,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(checkout)},
    )
    cost = json.loads(run.stdout.strip().splitlines()[-1])
    assert cost["chalicelib"].startswith(str(checkout)), cost["chalicelib"]
    return cost


def table_bytes(root: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for name in sorted(p.name for p in root.iterdir() if p.name.startswith("rollup_")):
        files = sorted((root / name).glob("*/*/*.parquet"))
        out[name] = (sum(f.stat().st_size for f in files), sum(pq.ParquetFile(f).metadata.num_rows for f in files))
    return out


def page_times(roots: dict[str, Path], lo: date, hi: date, repeat: int) -> None:
    """4. DuckDB, the batched page, old and new alternating: wall seconds and CPU seconds (process
    time, DuckDB's threads included: less sensitive to other tenants than the wall clock)."""
    lakes = {k: directory_lake(r) for k, r in roots.items()}
    through = lakes["new"].rolled_through(APP) or NOTHING_ROLLED
    assert through == (lakes["old"].rolled_through(APP) or NOTHING_ROLLED)
    for which in lakes:
        time_batched(lakes[which], lo, hi, through)  # warm the file cache
    seconds: dict[str, list[float]] = {"old": [], "new": []}
    cpu: dict[str, list[float]] = {"old": [], "new": []}
    for i in range(repeat):
        for which in ("old", "new") if i % 2 == 0 else ("new", "old"):
            load = uptime()
            started = time.process_time()
            seconds[which].append(time_batched(lakes[which], lo, hi, through))
            cpu[which].append(time.process_time() - started)
            print(f"batched page {which}: {seconds[which][-1]:.2f} s, {cpu[which][-1]:.2f} CPU s (load {load})")
    med = {k: (statistics.median(seconds[k]), statistics.median(cpu[k])) for k in seconds}
    print(
        "batched page, median: "
        + ", ".join(f"{k} {w:.2f} s, {c:.2f} CPU s" for k, (w, c) in med.items())
        + f"; new/old wall {med['new'][0] / med['old'][0]:.3f}, CPU {med['new'][1] / med['old'][1]:.3f}"
    )
    for which, root in roots.items():
        wall, operators, parts = profile_batched(root, lo, hi, through)
        top = ", ".join(f"{p} {s:.2f}" for p, s in parts[:6])
        print(f"profile {which}: {wall:.2f} s wall, {operators:.2f} operator-s; {top}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", type=Path, required=True)
    parser.add_argument("--lake", type=Path, required=True)
    parser.add_argument("--builds", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=6)
    parser.add_argument("--page-only", action="store_true", help="only part 4, over the lakes a previous run built")
    args = parser.parse_args(argv)
    here = Path(__file__).resolve().parent.parent
    roots = {"old": ROOT / "results" / "keysorted-old", "new": ROOT / "results" / "keysorted-new"}
    events_only = ROOT / "results" / "keysorted-events"
    for root in [*roots.values(), events_only]:
        if not (root / "events").exists():
            shutil.copytree(args.lake / "events", root / "events")
    days = sorted({p.name[3:] for p in (args.lake / "events" / f"app_id={APP}").glob("dt=*")})
    first = LAST_DAY - timedelta(days=len(days) - 1)
    closed = [first + timedelta(days=k) for k in range(len(days) - 1)]
    events = sum(pq.ParquetFile(f).metadata.num_rows for f in args.lake.glob("events/*/*/*.parquet"))
    print(f"{events:,} events, {len(closed)} closed days; load {uptime()}")

    lo, hi = first, LAST_DAY
    if args.page_only:
        page_times(roots, lo, hi, args.repeat)
        return 0
    # 1. CPU of the rebuild, alternating.
    cpu: dict[str, list[float]] = {"old": [], "new": []}
    for _ in range(args.builds):
        for which, checkout in (("old", args.base), ("new", here)):
            load = uptime()
            cost = build(checkout, roots[which], closed)
            cpu[which].append(cost["cpu_s"] * 1e6 / events)
            print(f"build {which}: {cost['cpu_s']:.1f} CPU s, {cpu[which][-1]:.2f} CPU s per million events (load {load})")
    print("CPU s per million events, median: " + ", ".join(f"{k} {statistics.median(v):.2f}" for k, v in cpu.items()))

    # 2. Bytes.
    sizes = {k: table_bytes(r) for k, r in roots.items()}
    total = {k: sum(b for b, _ in v.values()) for k, v in sizes.items()}
    for name in sizes["old"]:
        (ob, rows), (nb, _) = sizes["old"][name], sizes["new"][name]
        per_row = f"{ob / max(rows, 1):.2f} -> {nb / max(rows, 1):.2f} B/row"
        print(f"{name}: {ob / 2**20:.2f} -> {nb / 2**20:.2f} MiB ({nb / ob:.3f}x), {per_row}")
    print(f"all rollups: {total['old'] / 2**20:.1f} -> {total['new'] / 2**20:.1f} MiB ({total['new'] / total['old']:.3f}x)")

    # 3. Athena bytes: the 30-day page, and 90 days at 1 billion events a month.
    through = directory_lake(roots["new"]).rolled_through(APP) or NOTHING_ROLLED
    assert through == (directory_lake(roots["old"]).rolled_through(APP) or NOTHING_ROLLED)
    day_events = {
        d: sum(pq.ParquetFile(f).metadata.num_rows for f in args.lake.glob(f"events/app_id={APP}/dt={d}/*.parquet"))
        for d in [*closed, LAST_DAY]
    }
    rolled_events = sum(day_events[d] for d in closed)
    page = {"old": 0.0, "new": 0.0}
    scaled: dict[str, dict[str, float]] = {"old": {}, "new": {}}
    for n in query_names():
        sql, values = prepare(n, params(n, lo, hi, through))
        tail = billing.estimate(events_only, sql, values).scanned_bytes
        for which, root in roots.items():
            bill = billing.estimate(root, sql, values).scanned_bytes
            page[which] += bill
            rolled = bill - tail
            scaled[which][n] = (
                rolled / rolled_events * EVENTS_PER_DAY_AT_1B * CUTOFF_DAYS + tail / day_events[LAST_DAY] * EVENTS_PER_DAY_AT_1B
            )
    print(f"Athena, 30-day page: {page['old'] / 2**20:.1f} -> {page['new'] / 2**20:.1f} MiB ({page['new'] / page['old']:.3f}x)")
    for n in query_names():
        o, w = scaled["old"][n], scaled["new"][n]
        print(f"  90 d @ 1B/month `{n}`: {o / 2**30:.2f} -> {w / 2**30:.2f} GiB ({w / o:.3f}x)")

    page_times(roots, lo, hi, args.repeat)

    # 5. Footers of one day's new files; statistics on every column instead of parquetio's.
    day = closed[len(closed) // 2]
    for name in rollup.KEY_SORTED:
        path = roots["new"] / name / f"app_id={APP}" / f"dt={day}" / rollup.FILE_NAME
        parquet = pq.ParquetFile(path)
        table = parquet.read()
        every = ROOT / "results" / "keysorted-stats.parquet"
        options = parquetio.options(table.column_names, rollup.PLAIN.get(name, ()))
        pq.write_table(table, every, row_group_size=parquetio.KEY_SORTED_GROUP_ROWS, **{**options, "write_statistics": True})
        print(
            f"footer {name} {day}: {parquet.metadata.num_rows:,} rows, {parquet.metadata.num_row_groups} groups, "
            f"{parquet.metadata.serialized_size:,} B; statistics on every column: "
            f"{pq.ParquetFile(every).metadata.serialized_size:,} B"
        )
        every.unlink()
    print(f"load at the end {uptime()}; {time.strftime('%Y-%m-%d %H:%M:%S')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
