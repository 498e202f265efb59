"""The modeled lake against today's path, in one run: rollup cost per day closed, then the
dashboard page over 30 days read from raw events only (today's path) and from the rollups.

    .venv/bin/python -m bench.bench_rollups [--events 10000000] [--days 30] [--repeat 3] [--no-doc]

The lake is bench.bench_dashboard_queries's (generated once into bench/results/lake-<events>-
<days>d/ and reused). Rollups are built for every day but the last (the last is "today": its
sessions are open) with chalicelib.lake.rollup.rebuild_day, as the export's housekeeping builds
them, into a copy of the lake; CPU seconds (process time) and the S3 requests the same build
makes against S3 (one LIST and one GET per events file of each day read, three PUTs per day)
are reported per million events. Then every panel runs both ways on DuckDB (rolled_through =
nothing: raw events, the Athena SQL as today; rolled_through = the last rolled-up day), and
clickstream.lake.billing estimates what Athena would scan for each. Figures go to
docs/performance-dashboard.md (section "Modeled lake").
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Iterator, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from bench.bench_dashboard_queries import APP, FUNNEL, LAST_DAY, ROOT, ensure_lake, machine
from chalicelib.lake import rollup
from chalicelib.lake.parquetio import parquet_bytes
from clickstream.lake import billing, directory_lake, prepare, query_names
from clickstream.lake.params import NOTHING_ROLLED

DOC = ROOT.parent / "docs" / "performance-dashboard.md"
MARK = "## Modeled lake"


class DirDays:
    """rollup.DaySource over the generated lake, counting the requests S3 would get."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.lists = self.gets = 0

    def _files(self, app_id: str, day: date) -> list[Path]:
        return sorted((self.root / "events" / f"app_id={app_id}" / f"dt={day}").glob("*.parquet"))

    def count(self, app_id: str, day: date) -> int:
        self.lists += 1
        return sum(f.stat().st_size for f in self._files(app_id, day)) // 25

    def batches(self, app_id: str, day: date, columns: Sequence[str]) -> Iterator[pa.RecordBatch]:
        self.lists += 1
        for f in self._files(app_id, day):
            self.gets += 1
            yield from pq.ParquetFile(f).iter_batches(batch_size=100_000, columns=list(columns))


def build(root: Path, days: list[date]) -> dict:
    source = DirDays(root)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    puts = written = 0
    for day in days:
        for name, table in rollup.rebuild_day(source, APP, day).items():
            folder = root / name / f"app_id={APP}" / f"dt={day}"
            folder.mkdir(parents=True, exist_ok=True)
            body = parquet_bytes(table)
            (folder / rollup.FILE_NAME).write_bytes(body)
            puts += 1
            written += len(body)
    return {
        "cpu_s": time.process_time() - cpu0,
        "wall_s": time.perf_counter() - wall0,
        "lists": source.lists,
        "gets": source.gets,
        "puts": puts,
        "bytes": written,
    }


def params(name: str, lo: date, hi: date, through: str) -> dict:
    out = {"app_id": APP, "date_from": lo.isoformat(), "date_to": hi.isoformat()}
    if name == "funnel":
        out["steps"] = FUNNEL
    sql, _ = prepare(name, out)
    if "rolled_through" in sql:
        out["rolled_through"] = through
    return out


def time_page(lake, lo: date, hi: date, through: str, repeat: int) -> tuple[dict[str, float], list[float]]:
    names = query_names()
    runs: dict[str, list[float]] = {n: [] for n in names}
    pages = []
    for _ in range(repeat):
        page0 = time.perf_counter()
        for name in names:
            sql, values = prepare(name, params(name, lo, hi, through))
            t0 = time.perf_counter()
            lake.query(sql, values, max_age_s=3600)
            runs[name].append(time.perf_counter() - t0)
        pages.append(time.perf_counter() - page0)
    return {n: statistics.median(v) for n, v in runs.items()}, pages


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-doc", action="store_true")
    args = parser.parse_args(argv)
    uptime_before = os.popen("uptime").read().strip()
    print(f"machine: {machine()}\n{uptime_before}")
    source_root = ROOT / "results" / f"lake-{args.events}-{args.days}d"
    ensure_lake(source_root, args.events, args.days, regenerate=False)
    root = ROOT / "results" / f"modeled-{args.events}-{args.days}d"
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(source_root / "events", root / "events")
    first = LAST_DAY - timedelta(days=args.days - 1)
    closed = [first + timedelta(days=k) for k in range(args.days - 1)]
    events = sum(pq.ParquetFile(f).metadata.num_rows for f in root.glob("events/*/*/*.parquet"))
    cost = build(root, closed)
    per_m = 1_000_000 / events
    requests = cost["lists"] + cost["gets"] + cost["puts"]
    print(
        f"rollups of {len(closed)} days ({events:,} events in the lake): {cost['cpu_s']:.1f} CPU s, {cost['wall_s']:.1f} s wall; "
        f"{cost['cpu_s'] * per_m:.2f} CPU s and {requests * per_m:.1f} S3 requests per million events"
    )
    lake = directory_lake(root)
    through = lake.rolled_through(APP) or NOTHING_ROLLED
    lo, hi = first, LAST_DAY
    # Alternate the two paths so load drift hits both alike; medians per panel and per page.
    runs: dict[str, dict[str, list[float]]] = {"raw": {}, "modeled": {}}
    pages: dict[str, list[float]] = {"raw": [], "modeled": []}
    for _ in range(args.repeat):
        for path, value in (("raw", NOTHING_ROLLED), ("modeled", through)):
            medians, page = time_page(lake, lo, hi, value, 1)
            pages[path] += page
            for n, s in medians.items():
                runs[path].setdefault(n, []).append(s)
    raw_m = {n: statistics.median(v) for n, v in runs["raw"].items()}
    mod_m = {n: statistics.median(v) for n, v in runs["modeled"].items()}
    raw_pages, mod_pages = pages["raw"], pages["modeled"]
    bills = {}
    for n in query_names():
        raw_sql, raw_v = prepare(n, params(n, lo, hi, NOTHING_ROLLED))
        mod_sql, mod_v = prepare(n, params(n, lo, hi, through))
        bills[n] = (billing.estimate(root, raw_sql, raw_v).scanned_bytes, billing.estimate(root, mod_sql, mod_v).scanned_bytes)
    uptime_after = os.popen("uptime").read().strip()
    rows = []
    for n in query_names():
        rows.append(
            f"| `{n}` | {raw_m[n] * 1000:,.0f} | {mod_m[n] * 1000:,.0f} | {raw_m[n] / max(mod_m[n], 1e-9):.1f}x | "
            f"{bills[n][0] / 2**20:,.1f} | {bills[n][1] / 2**20:,.1f} |"
        )
        print(rows[-1])
    raw_total, mod_total = sum(b[0] for b in bills.values()), sum(b[1] for b in bills.values())
    summary = (
        f"page (16 panels, 30 days, median of {args.repeat}): today's path {statistics.median(raw_pages):.2f} s, modeled "
        f"{statistics.median(mod_pages):.2f} s ({statistics.median(raw_pages) / statistics.median(mod_pages):.1f}x); Athena scan "
        f"{raw_total / 2**20:,.1f} MiB -> {mod_total / 2**20:,.1f} MiB ({100 * mod_total / raw_total:.0f} %)"
    )
    print(summary)
    if not args.no_doc:
        section = [
            MARK,
            "",
            "Command: `.venv/bin/python -m bench.bench_rollups "
            f"--events {args.events} --days {args.days} --repeat {args.repeat}`  ",
            f"Machine: {machine()}  ",
            f"Load before: `{uptime_before}`  ",
            f"Load after: `{uptime_after}`",
            "",
            f"Lake: {events:,} events in {args.days} days (bench.bench_dashboard_queries's generator). Rollups of the "
            f"{len(closed)} closed days: {cost['cpu_s']:.1f} CPU s ({cost['wall_s']:.1f} s wall), "
            f"**{cost['cpu_s'] * per_m:.2f} CPU s per million events**; S3 requests as the export makes them: "
            f"{cost['lists']} LIST + {cost['gets']} GET + {cost['puts']} PUT = "
            f"**{(cost['lists'] + cost['gets'] + cost['puts']) * per_m:.1f} per million events** "
            f"(per day: 3 reads of a partition's listing and files, 3 PUTs); {cost['bytes'] / 2**20:,.1f} MiB written.",
            "",
            f"Same run, same DuckDB connection, alternating: {summary}. rolled_through = {through}.",
            "",
            "| Panel | today's path ms | modeled ms | ratio | Athena MiB today | Athena MiB modeled |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
            *rows,
            "",
        ]
        text = DOC.read_text() if DOC.exists() else ""
        if MARK in text:
            head, _, rest = text.partition(MARK)
            tail = rest.split("\n## ", 1)
            text = head + "\n".join(section) + ("\n## " + tail[1] if len(tail) > 1 else "")
        else:
            text = text.rstrip("\n") + "\n\n" + "\n".join(section)
        DOC.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
