"""Decision 0017 step 3 measured: the panels counting their visitors from the month rows
(``rollup_visitor_months``) against the same SQL with the month rows off (``months_through`` =
nothing: every visitor from the visitor-day rows, the release before), in one run.

    .venv/bin/python -m bench.bench_month_panels [--repeat 5] [--no-doc] [--profile]

Lake: bench.bench_rollups' modeled-10000000-30d (10 million events 2026-10-22..2026-11-20, day
rollups through 2026-11-19; generated and rolled up here as bench_rollups does when missing). The
month rows of October and November are built from those day rollups with
chalicelib.lake.month.build_month (October from nothing, November from October's carry) and
written with the export's writer (chalicelib.export.months: key-sorted row groups, the key
without a dictionary), one part per dimension and month; CPU seconds reported.

Then, each way (months_through = 2026-11-19, the last rolled-up day, or nothing), rolled_through
= 2026-11-19 both ways:

1. **Answers**: every panel over four ranges (30 days with the raw last day, the same ended at
   the last rolled-up day, the last 7 rolled-up days, November to date) and both bot settings,
   equal row for row, or the run stops.
2. **DuckDB**: the 16 panels as one batched statement (LocalLake.query_many), and the page as the
   dashboard runs it (/dashboard/api/panels, the previous period included) for an ended and a
   running period, the lake's rollup_state saying months_through (a lake copy of symlinks whose
   state says none, for the other way): alternating, ``--repeat`` times, medians; each panel alone.
3. **Athena**: clickstream.lake.billing's estimate per panel for the 30 days with the raw last day,
   split into the month rows, the day rollups and the raw tail (the same estimate over lakes of
   symlinks holding only some tables), and scaled to 90 days at 1 billion events a month: the
   month rows per event of the rolled-up days times 4 full months (a 90-day range overlaps 4
   calendar months, each read whole: an upper bound, since a whole month holds fewer rows per
   event than these 10- and 19-day months), the day rollups per event of the rolled-up days times
   90 days of events (left from the later arm: the day totals, the funnel's rollups), the tail per
   event of the last day times one day. Two cases: the range with the raw last day (a running
   period: the later arm's anti-join reads the month rows' keys) and the range ended at the last
   rolled-up day (the previous period, QuickSight's datasets: no later day, no key read).

Figures go to docs/performance-dashboard.md, section "Month grain: the panels reading it".
``--profile`` instead prints where the batched 30-day page spends its time (DuckDB's JSON
profile, bench_rollups.profile_batched: operator seconds per CTE and per panel) and stops.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import time
from datetime import date, datetime, timedelta, timezone
from datetime import time as clock
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from bench._docsection import write_section
from bench.bench_dashboard_queries import APP, FUNNEL, LAST_DAY, ROOT, ensure_lake, machine
from bench.bench_month_build import lake_days, read_days
from bench.bench_rollups import build, cutoff_bytes, profile_batched, time_dashboard
from chalicelib.export import months, rollups
from chalicelib.lake import month, parquetio
from chalicelib.lake.month import weeks
from chalicelib.lake.month.dimensions import TABLE as MONTH_TABLE
from clickstream.lake import LocalLake, billing, catalog, directory_lake, prepare, query_names
from clickstream.lake.params import NOTHING_ROLLED
from clickstream.lake.translate import parameter_names
from tests.rollup_helpers import same

DOC = ROOT.parent / "docs" / "performance-dashboard.md"
MARK = "## Month grain: the panels reading it"
LAKE = ROOT / "results" / "modeled-10000000-30d"
ROLLED = LAST_DAY - timedelta(days=1)
EVENTS_PER_DAY_AT_1B = 1e9 * 12 / 365
MONTHS_AT_90_DAYS = 4  # calendar months a 90-day range overlaps, at most


def ensure_modeled() -> None:
    """bench.bench_rollups' lake, generated and rolled up as it builds it, unless it is there."""
    if (LAKE / "rollup_sessions" / f"app_id={APP}" / f"dt={ROLLED}").is_dir():
        return
    source = ROOT / "results" / "lake-10000000-30d"
    ensure_lake(source, 10_000_000, 30, regenerate=False)
    shutil.rmtree(LAKE, ignore_errors=True)
    shutil.copytree(source / "events", LAKE / "events")
    first = LAST_DAY - timedelta(days=29)
    build(LAKE, [first + timedelta(days=k) for k in range(29)])


def build_months(root: Path) -> dict[str, Any]:
    """October's and November's month rows (and carry) from the day rollups, in the export's files."""
    shutil.rmtree(root / MONTH_TABLE, ignore_errors=True)
    cpu0, rows, written, carry = time.process_time(), 0, 0, None
    for first in (date(2026, 10, 1), date(2026, 11, 1)):
        built = month.build_month(first, read_days(root, lake_days(root, first)), carry)
        writer = months._PartWriter(first)  # the export's writer: what a month pass PUTs
        writer.append(built)
        for (kind, dim), body in writer.close().items():
            if kind != "rows":
                continue
            path = root / MONTH_TABLE / f"app_id={APP}" / f"dim={dim}" / f"month={first:%Y-%m}" / months.part_name(0, 1)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(body)
            written += len(body)
        rows += sum(t.num_rows for t in built.rows.values())
        carry = dict(built.carry)
    return {"cpu_s": time.process_time() - cpu0, "rows": rows, "bytes": written}


def with_state(root: Path, months_through: str | None) -> None:
    folder = root / rollups.STATE_TABLE / f"app_id={APP}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    pq.write_table(rollups.state_table(str(ROLLED), months_through=months_through), folder / rollups.STATE_FILE)


def farm(root: Path, out: Path, tables: set[str] | None = None) -> Path:
    """A lake of symlinks to ``root``'s tables (``tables``: only those), without its state."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    for table in root.iterdir():
        if table.is_dir() and table.name != rollups.STATE_TABLE and (tables is None or table.name in tables):
            (out / table.name).symlink_to(table.resolve())
    return out


def params(name: str, lo: date, hi: date, months_through: str, bots: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"app_id": APP, "date_from": str(lo), "date_to": str(hi)}
    if name == "funnel":
        out["steps"] = FUNNEL
    names = parameter_names(catalog.query_file(name).text)  # type: ignore[union-attr]
    chosen = {"include_bots": bots, "rolled_through": str(ROLLED), "months_through": months_through}
    out.update({k: v for k, v in chosen.items() if k in names})
    return out


def rows_of(lake: LocalLake, name: str, values: dict[str, Any]) -> list[dict[str, Any]]:
    return lake.query(*prepare(name, values), max_age_s=3600).to_pylist()


def check_answers(lake: LocalLake, ranges: list[tuple[date, date]]) -> int:
    checked = 0
    for lo, hi in ranges:
        for bots in (False, True):
            for name in query_names():
                on = rows_of(lake, name, params(name, lo, hi, str(ROLLED), bots))
                off = rows_of(lake, name, params(name, lo, hi, NOTHING_ROLLED, bots))
                assert same(on, off), f"{name} {lo}..{hi} bots={bots}: month rows {on[:3]} vs visitor-day rows {off[:3]}"
                checked += 1
    return checked


def time_batched(lake: LocalLake, lo: date, hi: date, months_through: str) -> float:
    queries = [prepare(n, params(n, lo, hi, months_through)) for n in query_names()]
    started = time.perf_counter()
    lake.query_many(queries, max_age_s=3600)
    return time.perf_counter() - started


def time_alone(lake: LocalLake, name: str, lo: date, hi: date, months_through: str) -> float:
    sql, values = prepare(name, params(name, lo, hi, months_through))
    started = time.perf_counter()
    lake.query(sql, values, max_age_s=3600)
    return time.perf_counter() - started


def populated_history(root: Path, rolled_events: int) -> dict[str, float]:
    """What a populated hist column costs: November's people masks reduced as the build writes
    them into December's ``hist1``, the non-zero ones in the file's (key) order, and the 90-day
    bytes of the 6 hist column-files a 90-day range reads at 1 billion events a month."""
    files = sorted(root.glob(f"{MONTH_TABLE}/app_id={APP}/dim=overall/month=*/*.parquet"))
    rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    november = pq.read_table(root / MONTH_TABLE / f"app_id={APP}" / "dim=overall" / "month=2026-11", columns=["mask_people"])
    reduced = weeks.last_of_weeks(november.column("mask_people").to_numpy(), date(2026, 11, 1))
    reduced = reduced[reduced != 0]
    body = parquetio.parquet_bytes(pa.table({"hist1_people": pa.array(reduced, pa.int32())}), frozenset())
    per_row = billing.column_sizes(pa.BufferReader(body))["hist1_people"] / len(reduced)
    full = per_row * 31 / ROLLED.day
    per_event = rows / rolled_events
    return {
        "rows": len(reduced),
        "bytes_per_row": per_row,
        "full_bytes_per_row": full,
        "rows_per_event": per_event,
        "bytes_at_90_days": 6 * full * per_event * 1e9,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-doc", action="store_true")
    parser.add_argument("--profile", action="store_true", help="only profile the batched 30-day page (month rows on) and stop")
    args = parser.parse_args(argv)
    uptime_before = os.popen("uptime").read().strip()
    print(f"machine: {machine()}\n{uptime_before}")
    ensure_modeled()
    built = build_months(LAKE)
    mib = built["bytes"] / 2**20
    print(f"month rows of October and November: {built['rows']:,} rows, {mib:.1f} MiB, {built['cpu_s']:.1f} CPU s")
    scratch = ROOT / "results" / "month-panels"
    with_state(LAKE, str(ROLLED))
    off_root = farm(LAKE, scratch / "off")
    with_state(off_root, None)
    on_lake, off_lake = directory_lake(LAKE), directory_lake(off_root)
    assert on_lake.rolled_through(APP, "months") == str(ROLLED) and off_lake.rolled_through(APP, "months") == NOTHING_ROLLED

    lo, hi = LAST_DAY - timedelta(days=29), LAST_DAY
    if args.profile:
        queries = [prepare(n, params(n, lo, hi, str(ROLLED))) for n in query_names()]
        wall, total, parts = profile_batched(LAKE, lo, hi, str(ROLLED), queries)
        print(f"batched page, one profiled run: {wall:.2f} s wall, {total:.2f} operator s")
        for part, seconds in parts[:20]:
            print(f"  {seconds:6.3f} s  {part} ({seconds / total:.0%})")
        return 0
    ranges = [(lo, hi), (lo, ROLLED), (ROLLED - timedelta(days=6), ROLLED), (date(2026, 11, 1), hi)]
    checked = check_answers(on_lake, ranges)
    print(f"answers: {checked} (panel, range, bot setting) equal both ways")

    ended = datetime.combine(hi + timedelta(days=1), clock(0, 5), tzinfo=timezone.utc)
    running = datetime.combine(hi, clock(18, 0), tzinfo=timezone.utc)
    runs: dict[str, list[float]] = {}
    alone: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.repeat):
        for way, lake, through in (("off", off_lake, NOTHING_ROLLED), ("on", on_lake, str(ROLLED))):
            runs.setdefault(f"batched {way}", []).append(time_batched(lake, lo, hi, through))
            runs.setdefault(f"dashboard ended {way}", []).append(time_dashboard(lake, lo, hi, ended)[0])
            runs.setdefault(f"dashboard running {way}", []).append(time_dashboard(lake, lo, hi, running)[0])
        print("so far: " + "; ".join(f"{k} {' '.join(f'{x:.2f}' for x in v)}" for k, v in runs.items()))
    for _ in range(max(1, args.repeat // 2)):
        for name in query_names():
            for way, lake, through in (("off", off_lake, NOTHING_ROLLED), ("on", on_lake, str(ROLLED))):
                alone.setdefault((name, way), []).append(time_alone(lake, name, lo, hi, through))
    medians = {k: statistics.median(v) for k, v in runs.items()}

    # Athena: the estimate per panel, split by where the bytes are (module docstring)
    only_days = farm(LAKE, scratch / "days", {t.name for t in LAKE.iterdir() if t.name != MONTH_TABLE})
    only_events = farm(LAKE, scratch / "events", {"events"})
    day_events = {
        d: sum(pq.ParquetFile(f).metadata.num_rows for f in LAKE.glob(f"events/app_id={APP}/dt={d}/*.parquet"))
        for d in (lo + timedelta(days=k) for k in range(30))
    }
    rolled_events = sum(n for d, n in day_events.items() if d <= ROLLED)
    cutoff = cutoff_bytes()
    rows, totals = [], {"off": 0, "on": 0}
    over = {(way, case): 0 for way in ("off", "on") for case in ("running", "ended")}
    ended_at_1b: dict[str, float] = {}
    for name in query_names():
        scaled: dict[tuple[str, str], float] = {}
        bill: dict[str, tuple[int, int, int, int]] = {}
        for way, through in (("off", NOTHING_ROLLED), ("on", str(ROLLED))):
            for case, until in (("running", hi), ("ended", ROLLED)):
                sql, values = prepare(name, params(name, lo, until, through))
                whole = billing.estimate(LAKE, sql, values).scanned_bytes
                days = billing.estimate(only_days, sql, values).scanned_bytes
                tail = billing.estimate(only_events, sql, values).scanned_bytes
                month_part, day_part = whole - days, days - tail
                scaled[way, case] = (
                    month_part / rolled_events * 1e9 * MONTHS_AT_90_DAYS
                    + day_part / rolled_events * EVENTS_PER_DAY_AT_1B * 90
                    + tail / day_events[LAST_DAY] * EVENTS_PER_DAY_AT_1B
                )
                over[way, case] += scaled[way, case] >= cutoff
                if case == "running":
                    bill[way] = (whole, month_part, day_part, tail)
                    totals[way] += whole
        ended_at_1b[name] = scaled["on", "ended"]
        t_off = statistics.median(alone[name, "off"])
        t_on = statistics.median(alone[name, "on"])
        gib = {k: v / 2**30 for k, v in scaled.items()}
        verdict = lambda case: "under" if scaled["on", case] < cutoff else "**over**"  # noqa: E731
        rows.append(
            f"| `{name}` | {t_off * 1000:,.0f} | {t_on * 1000:,.0f} | {bill['off'][0] / 2**20:,.1f} | "
            f"{bill['on'][0] / 2**20:,.1f} | {bill['on'][1] / 2**20:,.1f} / {bill['on'][2] / 2**20:,.1f} / "
            f"{bill['on'][3] / 2**20:,.1f} | {gib['off', 'running']:,.2f} -> {gib['on', 'running']:,.2f} | "
            f"{gib['off', 'ended']:,.2f} -> {gib['on', 'ended']:,.2f} | {verdict('running')} / {verdict('ended')} |"
        )
        print(rows[-1])
    history = populated_history(LAKE, rolled_events)
    with_history = ended_at_1b["retention"] + history["bytes_at_90_days"]
    history_text = (
        f"`retention`'s history: here `hist1` holds a {(date(2026, 11, 1) - (lo)).days}-day October and `hist2`..`hist4` "
        f"are empty, so its 90-day figure undercounts them. As full as a long-lived lake's: November's people masks "
        f"reduced as the build writes them into December's `hist1` (chalicelib.lake.month.weeks.last_of_weeks), "
        f"{history['rows']:,} non-zero rows in key order, {history['bytes_per_row']:.3f} bytes a row, "
        f"x 31/{ROLLED.day} for a whole month ({history['full_bytes_per_row']:.3f}), charged for every month row "
        f"({history['rows_per_event']:.4f} overall rows an event) of the 6 hist column-files a 90-day range reads "
        f"(months 2..4 of the range read 1, 2, 3): +{history['bytes_at_90_days'] / 2**30:.2f} GiB, so "
        f"**{with_history / 2**30:.2f} GiB** ended ({'under' if with_history < cutoff else 'over'} the cutoff; "
        "an upper bound: every row with a full history, at the partial months' rows per event)."
    )
    print(history_text)
    uptime_after = os.popen("uptime").read().strip()
    summary = (
        f"the 16 panels as one batched statement {medians['batched off']:.2f} s -> {medians['batched on']:.2f} s "
        f"({medians['batched on'] / medians['batched off']:.2f}); the dashboard's request, ended period "
        f"{medians['dashboard ended off']:.2f} -> {medians['dashboard ended on']:.2f} s "
        f"({medians['dashboard ended on'] / medians['dashboard ended off']:.2f}), running period "
        f"{medians['dashboard running off']:.2f} -> {medians['dashboard running on']:.2f} s "
        f"({medians['dashboard running on'] / medians['dashboard running off']:.2f}); Athena, the 30-day page "
        f"{totals['off'] / 2**20:,.1f} -> {totals['on'] / 2**20:,.1f} MiB ({totals['on'] / totals['off']:.2f}); "
        f"90 days at 1 billion events a month: {over['on', 'running']} of 16 panels reach the {cutoff / 2**30:g} GiB "
        f"cutoff over a range with a raw last day ({over['off', 'running']} without the month rows), "
        f"{over['on', 'ended']} over a range ended at the last rolled-up day ({over['off', 'ended']} without)"
    )
    print(summary)
    if args.no_doc:
        return 0
    singles = "; ".join(f"{k} {', '.join(f'{x:.2f}' for x in v)}" for k, v in runs.items())
    section = [
        MARK,
        "",
        f"Command: `.venv/bin/python -m bench.bench_month_panels --repeat {args.repeat}`  ",
        f"Machine: {machine()}  ",
        f"Load before: `{uptime_before}`  ",
        f"Load after: `{uptime_after}`",
        "",
        f"Lake: bench.bench_rollups' modeled-10000000-30d ({sum(day_events.values()):,} events, {lo}..{hi}, day rollups "
        f"through {ROLLED}). Month rows of October and November built from its day rollups as the export builds "
        f"them: {built['rows']:,} rows, {built['bytes'] / 2**20:.1f} MiB, {built['cpu_s']:.1f} CPU s. Before: the same SQL "
        "with months_through = nothing (every visitor from the visitor-day rows, as the release before); after: "
        f"months_through = {ROLLED}. {checked} answers (16 panels x 4 ranges x both bot settings) equal both ways.",
        "",
        f"Same run, alternating, medians of {args.repeat}: {summary}.",
        "",
        f"Single runs: {singles}.",
        "",
        "Per panel: DuckDB ms run alone (medians), Athena MiB over the 30 days with the raw last day (`billing.estimate`), "
        "the after path's split (month rows / day rollups / raw tail), and 90 days at 1 billion events a month "
        f"({EVENTS_PER_DAY_AT_1B / 1e6:,.1f} M events a day): month rows per event of the {rolled_events:,} rolled-up "
        f"events times {MONTHS_AT_90_DAYS} whole months of 1 billion, day rollups per event times 90 days, the tail per "
        f"event of the last day ({day_events[LAST_DAY]:,}) times one day; each from the estimate over the 30 days "
        f"ending the same way: with the raw last day ({hi}: a running period, whose later arm checks its visitors "
        f"against the month rows' keys) or ended at the last rolled-up day ({ROLLED}: the previous period, any past "
        f"one, QuickSight's datasets; no later day, so the anti-join reads nothing, `@month_later`). "
        f"Cutoff: {cutoff:,} bytes.",
        "",
        history_text,
        "",
        "| Panel | ms before | ms after | MiB before | MiB after | after: months / days / tail "
        "| GiB 90 d with a raw day, before -> after | GiB 90 d ended, before -> after | vs cutoff (raw day / ended) |",
        "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- |",
        *rows,
        "",
    ]
    write_section(DOC, MARK, section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
