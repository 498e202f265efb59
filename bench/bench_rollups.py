"""The modeled lake against today's path, in one run: rollup cost per day closed, then the
dashboard page over 30 days read from raw events only (today's path) and from the rollups.

    .venv/bin/python -m bench.bench_rollups [--events 10000000] [--days 30] [--repeat 3] [--no-doc]

The lake is bench.bench_dashboard_queries's (generated once into bench/results/lake-<events>-
<days>d/ and reused). Rollups are built for every day but the last (the last is "today": its
sessions are open) with chalicelib.lake.rollup.rebuild_day_files and the export's slice size, as the
export's housekeeping builds them, into a copy of the lake; CPU seconds (process time) and the S3 requests the same build
makes against S3 (one LIST and one GET per events file of each day read, a PUT per table and day)
are reported per million events. Then every panel runs both ways on DuckDB (rolled_through =
nothing: raw events, the Athena SQL as today; rolled_through = the last rolled-up day), and
clickstream.lake.billing estimates what Athena would scan for each. In the same loop, alternating
with those: the 16 panels as one batched statement (LocalLake.query_many: shared CTEs run once),
and the page as the dashboard runs it, its /dashboard/api/panels request through LakeRunner over
the same lake (every panel and the top half: the previous period, its daily graph), for a period
that has ended (the goal line is judged on this one) and for one still running (its top half is
cut at now: the rollups up to two days before, raw events after). Figures go to
docs/performance-dashboard.md (section "Modeled lake").

The 90-day cutoff check: what each panel would scan over 90 days for an app with 1 billion
events a month, against the workgroup's AthenaBytesScannedCutoff (deploy/resources.yaml).
A modeled panel's bytes split in two: the rolled-up days (the estimate minus the same SQL's
estimate over the events alone) and the raw tail (that second estimate: the last day, read
from events, and its margins). Each part is scaled by its events: the rolled-up part per event
of the rolled-up days times 90 days of events, the tail per event of the last day times one
day of events. Linear in events: right for the tables with a row per event, session or
visitor-day (visitors assumed to grow with events), an upper bound for rollup_funnel_days and
rollup_session_totals (rows per day, whatever the events).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from datetime import time as clock
from pathlib import Path
from typing import Any, Iterator, Sequence

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from bench._docsection import write_section
from bench.bench_dashboard_queries import APP, FUNNEL, LAST_DAY, ROOT, ensure_lake, machine
from chalicelib.export import rollups
from chalicelib.lake import rollup, spill
from chalicelib.settings import from_env
from clickstream.dashboard.pages import LakeRunner, handlers
from clickstream.dashboard.spec import load
from clickstream.lake import LocalLake, batch, billing, catalog, directory_lake, prepare, query_names
from clickstream.lake.duck import table_sql
from clickstream.lake.params import NOTHING_ROLLED
from clickstream.lake.translate import parameter_names

DOC = ROOT.parent / "docs" / "performance-dashboard.md"
MARK = "## Modeled lake"
PAGE_GOAL_S, PANEL_GOAL_S, ATHENA_GOAL = 2.0, 1.0, 0.20  # issue 14's goals
EVENTS_PER_DAY_AT_1B = 1e9 * 12 / 365  # 1 billion events a month
CUTOFF_DAYS = 90


# The panel SQL when issue 14 was filed (the restructuring done, no rollups): the "today's" of
# its Athena goal. The same SQL with rollups off is cheaper since (ties in event_time no longer
# read event_id, decision 0011 point 5), so the bench reports the modeled page against both.
ISSUE_REF = "b949aa4"


def issue_time_sql(name: str) -> str | None:
    """etl/queries/<name>.sql at ISSUE_REF, its etl/blocks expanded from the same commit; None
    without the git history (a source archive)."""

    def show(path: str) -> str:
        done = subprocess.run(["git", "-C", str(ROOT.parent), "show", f"{ISSUE_REF}:{path}"], capture_output=True, text=True)
        if done.returncode:
            raise FileNotFoundError(path)
        return done.stdout

    def expand(text: str) -> str:
        return catalog._INCLUDE.sub(lambda m: expand(show(f"etl/blocks/{m.group(1)}.sql")), text)

    try:
        return expand(show(f"etl/queries/{name}.sql"))
    except (FileNotFoundError, OSError):
        return None


def issue_time_bytes(root: Path, lo: date, hi: date) -> float | None:
    """What Athena would scan for the 16-panel page with ISSUE_REF's SQL over this lake."""
    total = 0
    for name in query_names():
        sql = issue_time_sql(name)
        if sql is None:
            return None
        values = {k: v for k, v in params(name, lo, hi, NOTHING_ROLLED).items() if k in parameter_names(sql)}
        old_sql, bound = prepare(sql, values)
        total += billing.estimate(root, old_sql, bound).scanned_bytes
    return total


def cutoff_bytes() -> int:
    """The workgroup's default per-query scan limit (AthenaBytesScannedCutoff)."""
    text = (ROOT.parent / "deploy" / "resources.yaml").read_text()
    found = re.search(r"AthenaBytesScannedCutoff:\n(?:\s+\w+: .*\n)*?\s+Default: (\d+)", text)
    assert found, "deploy/resources.yaml: no AthenaBytesScannedCutoff default"
    return int(found.group(1))


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
        # As the export's housekeeping writes them (chalicelib/export/rollups.py): each table's
        # file as rebuild_day_files wrote it, one PUT each.
        with spill.workdir() as work:
            for name, path in rollup.rebuild_day_files(source, APP, day, work, rollups.ROWS_PER_SLICE).items():
                folder = root / name / f"app_id={APP}" / f"dt={day}"
                folder.mkdir(parents=True, exist_ok=True)
                body = path.read_bytes()
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


def time_batched(lake: LocalLake, lo: date, hi: date, through: str) -> float:
    """The 16 panels as one statement (clickstream.lake.batch)."""
    queries = [prepare(name, params(name, lo, hi, through)) for name in query_names()]
    started = time.perf_counter()
    lake.query_many(queries, max_age_s=3600)
    return time.perf_counter() - started


def profile_batched(
    root: Path, lo: date, hi: date, through: str, queries: list[tuple[str, dict[str, Any]]] | None = None
) -> tuple[float, float, list[tuple[str, float]]]:
    """The batched page once with DuckDB's JSON profile, on a connection of its own: (wall seconds,
    operator seconds summed over threads, operator seconds per part: each CTE's definition, each
    panel's own SELECT, known by the columns it projects beside the ordinal). ``queries``: the
    panels' prepared queries in query_names() order (default: rolled through ``through``)."""
    names = query_names()
    composed = batch.compose(queries or [prepare(n, params(n, lo, hi, through)) for n in names])
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for table in catalog.TABLES:
        con.execute(table_sql(root, table))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "profile.json"
        con.execute("PRAGMA enable_profiling = 'json'")
        con.execute(f"PRAGMA profiling_output = '{out}'")
        started = time.perf_counter()
        answer = con.sql(composed.sql, params=composed.params).to_arrow_table()
        wall = time.perf_counter() - started
        con.execute("PRAGMA disable_profiling")
        tree = json.loads(out.read_text())
    con.close()
    total, parts = profile_parts(tree, names, composed.split(answer))
    return wall, total, parts


def profile_parts(tree: dict, names: Sequence[str], tables: Sequence[pa.Table]) -> tuple[float, list[tuple[str, float]]]:
    """A batched page's DuckDB JSON profile split by part: (operator seconds summed over threads,
    operator seconds per part, largest first). A part is a CTE's definition or a panel's own
    SELECT, known by the columns it projects beside the ordinal (``tables``: the panels' answers)."""
    parts: dict[str, float] = {}
    by_columns: dict[tuple[str, ...], list[str]] = {}
    for name, table in zip(names, tables):
        by_columns.setdefault((batch.ORDINAL, *table.column_names), []).append(name)

    def panel_of(node: dict) -> str:
        for _ in range(3):  # struct_pack(...), then the columns beside the ordinal
            node = (node.get("children") or [{}])[0]
            projected = (node.get("extra_info") or {}).get("Projections")
            if isinstance(projected, list) and tuple(projected) in by_columns:
                return "panel " + "/".join(by_columns[tuple(projected)])
        return "panel ?"

    def walk(node: dict, owner: str) -> None:
        info, children = node.get("extra_info") or {}, node.get("children", [])
        if node.get("name") == "CTE" and len(children) == 2:
            name = f"CTE {info.get('CTE Name')}"
            parts[name] = parts.get(name, 0.0) + float(node.get("timing", 0.0))  # materialising it
            walk(children[0], name)
            walk(children[1], owner)
            return
        if node.get("name") == "UNGROUPED_AGGREGATE" and owner == "statement" and "list(" in str(info.get("Aggregates")):
            owner = panel_of(node)
        parts[owner] = parts.get(owner, 0.0) + float(node.get("timing", 0.0))
        for child in children:
            walk(child, owner)

    for node in tree.get("operator", []):
        walk(node, "statement")
    total = sum(parts.values())
    return total, sorted(parts.items(), key=lambda kv: -kv[1])


class CountingRunner(LakeRunner):
    """The dashboard's runner, counting what ran in a batch and what ran alone."""

    batched = alone = 0

    def __call__(self, dataset, params):  # type: ignore[no-untyped-def]
        self.alone += 1
        return super().__call__(dataset, params)

    def many(self, requests):  # type: ignore[no-untyped-def]
        out = super().many(requests)
        self.batched += len(out)
        return out


def time_dashboard(lake: LocalLake, lo: date, hi: date, now: datetime) -> tuple[float, int, int]:
    """One /dashboard/api/panels request as `make run` serves it, over ``lake``: (seconds, datasets
    fetched in the batch, datasets run alone). Every panel must answer: a failing one would be fast."""
    run = CountingRunner(from_env({}), lake=lake)
    pages = handlers(load(), run, lambda: [APP], now=lambda: now)
    started = time.perf_counter()
    status, _, body = pages["/dashboard"]("GET", "/dashboard/api/panels", f"app_id={APP}&date_from={lo}&date_to={hi}")
    seconds = time.perf_counter() - started
    answer = json.loads(body)
    failed = [k for k, v in answer.get("panels", {}).items() if "error" in v]
    failed += [k for k, v in answer.get("main", {}).items() if isinstance(v, dict) and "error" in v]
    assert status == 200 and not failed, (status, failed, answer.get("error"))
    return seconds, run.batched, run.alone


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
    # Alternate the paths so load drift hits them alike; medians per panel and per page.
    runs: dict[str, dict[str, list[float]]] = {"raw": {}, "modeled": {}}
    pages: dict[str, list[float]] = {"raw": [], "modeled": [], "batched": [], "dashboard": [], "running": []}
    ended = datetime.combine(hi + timedelta(days=1), clock(0, 5), tzinfo=timezone.utc)  # the period has ended
    running = datetime.combine(hi, clock(18, 0), tzinfo=timezone.utc)  # the last day is today
    counts: dict[str, tuple[int, int]] = {}
    for _ in range(args.repeat):
        for path, value in (("raw", NOTHING_ROLLED), ("modeled", through)):
            medians, page = time_page(lake, lo, hi, value, 1)
            pages[path] += page
            for n, s in medians.items():
                runs[path].setdefault(n, []).append(s)
        pages["batched"].append(time_batched(lake, lo, hi, through))
        for path, now in (("dashboard", ended), ("running", running)):
            seconds, batched, alone = time_dashboard(lake, lo, hi, now)
            pages[path].append(seconds)
            counts[path] = (batched, alone)
        print("pages so far: " + ", ".join(f"{k} {' '.join(f'{x:.2f}' for x in v)}" for k, v in pages.items()))
    wall, operators, parts = profile_batched(root, lo, hi, through)
    profile = (
        f"Where the batched page's time goes (DuckDB JSON profile of one run: {wall:.2f} s wall, {operators:.2f} s of "
        "operator time summed over threads; a CTE's definition counts once however many panels read it): "
        + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in parts[:12])
    )
    print(profile)
    raw_m = {n: statistics.median(v) for n, v in runs["raw"].items()}
    mod_m = {n: statistics.median(v) for n, v in runs["modeled"].items()}
    raw_pages, mod_pages = pages["raw"], pages["modeled"]
    bills, tails = {}, {}
    for n in query_names():
        raw_sql, raw_v = prepare(n, params(n, lo, hi, NOTHING_ROLLED))
        mod_sql, mod_v = prepare(n, params(n, lo, hi, through))
        bills[n] = (billing.estimate(root, raw_sql, raw_v).scanned_bytes, billing.estimate(root, mod_sql, mod_v).scanned_bytes)
        tails[n] = billing.estimate(source_root, mod_sql, mod_v).scanned_bytes  # the events alone: the raw tail
    uptime_after = os.popen("uptime").read().strip()
    day_events = {
        d: sum(pq.ParquetFile(f).metadata.num_rows for f in root.glob(f"events/app_id={APP}/dt={d}/*.parquet"))
        for d in [*closed, LAST_DAY]
    }
    rolled_events = sum(day_events[d] for d in closed)
    cutoff = cutoff_bytes()

    def at_scale(n: str) -> tuple[float, float]:
        """(today's path, modeled) bytes over 90 days at 1 billion events a month (module docstring)."""
        raw = bills[n][0] / events * EVENTS_PER_DAY_AT_1B * CUTOFF_DAYS
        rolled, tail = bills[n][1] - tails[n], tails[n]
        modeled = rolled / rolled_events * EVENTS_PER_DAY_AT_1B * CUTOFF_DAYS + tail / day_events[LAST_DAY] * EVENTS_PER_DAY_AT_1B
        return raw, modeled

    rows = []
    for n in query_names():
        raw90, mod90 = at_scale(n)
        rows.append(
            f"| `{n}` | {raw_m[n] * 1000:,.0f} | {mod_m[n] * 1000:,.0f} | {raw_m[n] / max(mod_m[n], 1e-9):.1f}x | "
            f"{bills[n][0] / 2**20:,.1f} | {bills[n][1] / 2**20:,.1f} | {tails[n] / 2**20:,.1f} | "
            f"{raw90 / 2**30:,.1f} | {mod90 / 2**30:,.2f} | {'under' if mod90 < cutoff else '**over**'} |"
        )
        print(rows[-1])
    raw_total, mod_total = sum(b[0] for b in bills.values()), sum(b[1] for b in bills.values())
    issue_total = issue_time_bytes(root, lo, hi) or raw_total
    page_raw, page_mod = statistics.median(raw_pages), statistics.median(mod_pages)
    page_batch, page_dash, page_run = (statistics.median(pages[k]) for k in ("batched", "dashboard", "running"))
    slowest = max(mod_m, key=lambda n: mod_m[n])
    summary = (
        f"page (16 panels, 30 days, median of {args.repeat}): today's path {page_raw:.2f} s, modeled one panel at a "
        f"time {page_mod:.2f} s ({page_raw / page_mod:.1f}x), modeled as one batched statement {page_batch:.2f} s "
        f"({page_raw / page_batch:.1f}x; {page_mod / page_batch:.1f}x the per-panel page); Athena scan "
        f"{raw_total / 2**20:,.1f} MiB -> {mod_total / 2**20:,.1f} MiB ({100 * mod_total / raw_total:.0f} %); "
        f"the page's SQL when the issue was filed (git {ISSUE_REF}, raw events only) scans {issue_total / 2**20:,.1f} MiB"
    )
    dashboard = (
        f"The page as the dashboard runs it (one /dashboard/api/panels request: {len(load().panels)} panels and the "
        f"top half, the previous period included): {page_dash:.2f} s for a period that has ended "
        f"({counts['dashboard'][0]} datasets in one batch, {counts['dashboard'][1]} run alone); {page_run:.2f} s for a "
        f"running period (the last day is today: {counts['running'][0]} in the batch, {counts['running'][1]} run alone; "
        "the top half's runs are cut at now, and read the rollups up to two days before it, scope.rolled_cap)"
    )
    met = lambda ok: "met" if ok else "not met"  # noqa: E731
    goals = (
        f"Goals: the dashboard's page {page_dash:.2f} s on DuckDB (goal <= {PAGE_GOAL_S:.0f} s: "
        f"{met(page_dash <= PAGE_GOAL_S)}); "
        f"slowest panel `{slowest}` {mod_m[slowest] * 1000:,.0f} ms (goal <= {PANEL_GOAL_S * 1000:,.0f} ms: "
        f"{met(mod_m[slowest] <= PANEL_GOAL_S)}); Athena bytes {100 * mod_total / issue_total:.1f} % of the page "
        f"when the issue was filed (goal <= {100 * ATHENA_GOAL:.0f} %: {met(mod_total <= ATHENA_GOAL * issue_total)}), "
        f"{100 * mod_total / raw_total:.1f} % of the same SQL with the rollups off; "
        f"90 days at 1 billion events a month: {sum(1 for n in bills if at_scale(n)[1] >= cutoff)} of {len(bills)} panels "
        f"reach the {cutoff / 2**30:g} GiB cutoff (today's path: {sum(1 for n in bills if at_scale(n)[0] >= cutoff)})."
    )
    print(summary)
    print(dashboard)
    print(goals)
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
            f"(per day: 3 reads of a partition's listing and files, {len(rollup.SCHEMAS)} PUTs); "
            f"{cost['bytes'] / 2**20:,.1f} MiB written.",
            "",
            f"Same run, same DuckDB connection, alternating: {summary}. rolled_through = {through}.",
            "",
            f"{dashboard}.",
            "",
            f"{profile}.",
            "",
            goals,
            "",
            "MiB tail: the part of the modeled scan that reads raw events (the last day, which is not rolled up, and "
            "its margins). 90-day columns: the estimate scaled to 90 days of an app with 1 billion events a month "
            f"({EVENTS_PER_DAY_AT_1B / 1e6:,.1f} M events a day): the rolled-up part per event of the {len(closed)} "
            f"rolled-up days ({rolled_events:,} events) times 90 days of events, the tail per event of the last day "
            f"({day_events[LAST_DAY]:,} events) times one day; today's path per event of the lake times 90 days. "
            "Linear in events (visitors assumed to grow with events; an upper bound for rollup_funnel_days and "
            f"rollup_session_totals, whose rows grow with days). Cutoff: AthenaBytesScannedCutoff = {cutoff:,} bytes.",
            "",
            "| Panel | today's path ms | modeled ms | ratio | Athena MiB today | Athena MiB modeled | MiB tail "
            "| GiB 90 d @ 1B/month today | GiB 90 d @ 1B/month modeled | vs cutoff |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
            *rows,
            "",
        ]
        write_section(DOC, MARK, section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
