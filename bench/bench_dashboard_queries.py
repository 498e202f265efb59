"""Dashboard queries on a 10,000,000-event local lake: DuckDB time per panel and per page, and
the bytes Athena would bill per panel for one day and for 30 days.

    .venv/bin/python -m bench.bench_dashboard_queries [--events 10000000] [--days 365] [--stress-days 30] [--regenerate]

The lake is generated directly as the export writes it (chalicelib.lake.schema.EVENTS,
zstd Parquet through chalicelib.lake.parquetio, events/app_id=<app>/dt=<day>/*.parquet),
not through the API, into bench/results/lake-<events>-<days>d/ (kept between runs). Sessions follow the
tracker's shape: visitors who come back, 30-minute sessions of page views and the demo's
custom events, campaigns, referrers, bots. Results go to docs/performance-dashboard.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from chalicelib.lake.parquetio import parquet_bytes
from chalicelib.lake.schema import EVENTS
from chalicelib.lake.transform import conform
from clickstream.lake import billing, directory_lake, prepare, query_names
from clickstream.traffic import BOTS, HUMANS, PAGES, PLACES

ROOT = Path(__file__).resolve().parent
LAST_DAY = date(2026, 11, 20)
APP = "demo"
FORMAT_VERSION = "1"
PANEL_BUDGET_S, PAGE_BUDGET_S = 1.0, 3.0
FUNNEL = ["/demo", "LIKE_WOOD", "CLICK_LANG"]
DOC = ROOT.parent / "docs" / "performance-dashboard.md"


def _choice(rng: np.random.Generator, weighted: tuple, size: int) -> np.ndarray:
    weights = np.array([w for _, w in weighted], dtype=float)
    return rng.choice(len(weighted), size=size, p=weights / weights.sum())


def _day_table(
    rng: np.random.Generator, day: date, n_events: int, visitors: int, visitor_agent: np.ndarray, visitor_place: np.ndarray
) -> pa.Table:
    """About n_events events of one UTC day, in sessions of a pool of returning visitors."""
    mean_len = 6.0
    lengths = np.minimum(rng.geometric(1 / mean_len, int(n_events / mean_len * 1.3) + 10), 60)
    n_sessions = int(np.searchsorted(np.cumsum(lengths), n_events)) + 1
    lengths = lengths[:n_sessions]
    lengths[-1] -= int(lengths.sum()) - n_events  # exactly n_events
    total = n_events
    session_of = np.repeat(np.arange(n_sessions), lengths)
    first = np.r_[0, np.cumsum(lengths)[:-1]]
    pos = np.arange(total) - first[session_of]
    # a third of the sessions come from a small pool of regulars, the rest from everyone
    regular = rng.random(n_sessions) < 0.35
    who = np.where(regular, rng.integers(0, max(1, visitors // 20), n_sessions), rng.integers(0, visitors, n_sessions))
    start_s = rng.integers(0, 86_400 - 1_800, n_sessions)
    gaps = np.minimum(rng.exponential(70.0, total), 1_700).astype(np.int64)
    gaps[first] = 0
    running = np.cumsum(gaps)
    offset = running - np.repeat(running[first], lengths)
    day0 = int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp() * 1000)
    event_ms = day0 + (start_s[session_of] * 1000) + offset * 1000 + rng.integers(0, 1000, total)
    event_ms = np.minimum(event_ms, day0 + 86_400_000 - 1)
    visitor = who[session_of]
    agents = [a for a, _ in HUMANS + BOTS]
    agent_ix = visitor_agent[visitor]
    is_bot = np.array([a.is_bot for a in agents])[agent_ix]
    kinds = np.array(["page_view", "LIKE_WOOD", "UNLIKE_WOOD", "CLICK_LANG", "GEO_LOC"])
    kind = np.where(pos == 0, 0, rng.choice(5, total, p=[0.55, 0.2, 0.05, 0.12, 0.08]))
    kind = np.where(is_bot, 0, kind)
    names = kinds[kind]
    page_ix = _choice(rng, PAGES, total)
    paths = np.array([p for p, _ in PAGES])[page_ix]
    campaign = rng.choice(4, n_sessions, p=[0.7, 0.15, 0.1, 0.05])[session_of]
    utm = [None, ("newsletter", "email", "spring-sale"), ("twitter", "social", "launch"), ("google", "cpc", "woods")]
    entry = pos == 0
    referrers = np.array([None, "www.google.com", "duckduckgo.com", "news.ycombinator.com", "t.co"], dtype=object)[
        rng.choice(5, total, p=[0.4, 0.35, 0.1, 0.1, 0.05])
    ]
    places = [p for p, _ in PLACES]
    place_ix = visitor_place[visitor]
    geo = kind == 4
    url = np.char.add("https://touchwood.example", paths.astype(str)).astype(object)
    utm_source = np.full(total, None, dtype=object)
    utm_medium = np.full(total, None, dtype=object)
    utm_campaign = np.full(total, None, dtype=object)
    for c in (1, 2, 3):
        mask = entry & (campaign == c)
        utm_source[mask], utm_medium[mask], utm_campaign[mask] = utm[c]
        url[mask] = url[mask] + f"?utm_source={utm[c][0]}&utm_medium={utm[c][1]}&utm_campaign={utm[c][2]}"
    ids = rng.integers(0, 2**63, (total, 2), dtype=np.int64)
    event_id = np.char.add(np.char.mod("%016x", ids[:, 0]), np.char.mod("%08x", ids[:, 1] & 0xFFFFFFFF))
    table = pa.table(
        {
            "event_id": pa.array(event_id.astype(str)),
            "app_id": pa.array([APP] * total),
            "event_type": pa.array(np.where(kind == 0, "page_view", "click").astype(str)),
            "event_name": pa.array(names.astype(str)),
            "event_time": pa.array(event_ms, pa.int64()).cast(pa.timestamp("ms", tz="UTC")),
            "received_at": pa.array(event_ms + 3_000, pa.int64()).cast(pa.timestamp("ms", tz="UTC")),
            "client_timestamp": pa.array(event_ms, pa.int64()).cast(pa.timestamp("ms", tz="UTC")),
            "anonymous_id": pa.array(np.char.mod("%016x", visitor.astype(np.int64) * 2654435761 % 2**48).astype(str)),
            "session_id": pa.array(np.char.mod("s%x", session_of + day.toordinal() * 10**6).astype(str)),
            "url": pa.array(url, pa.string()),
            "path": pa.array(paths.astype(str)),
            "referrer_host": pa.array(np.where(entry, referrers, "touchwood.example"), pa.string()),
            "utm_source": pa.array(utm_source, pa.string()),
            "utm_medium": pa.array(utm_medium, pa.string()),
            "utm_campaign": pa.array(utm_campaign, pa.string()),
            "user_agent": pa.array([agents[i].user_agent for i in agent_ix]),
            "browser": pa.array([agents[i].browser for i in agent_ix], pa.string()),
            "os": pa.array([agents[i].os for i in agent_ix], pa.string()),
            "device_type": pa.array([agents[i].device_type for i in agent_ix]),
            "is_bot": pa.array(is_bot),
            "bot_reason": pa.array([agents[i].bot_reason for i in agent_ix], pa.string()),
            "country": pa.array([places[i].country for i in place_ix]),
            "locale": pa.array([places[i].locale for i in place_ix]),
            "timezone": pa.array([places[i].timezone for i in place_ix]),
            "geo_lat": pa.array(
                np.where(geo, np.array([p.lat for p in places])[place_ix] + rng.uniform(-0.03, 0.03, total), np.nan),
                pa.float64(),
                from_pandas=True,
            ),
            "geo_lon": pa.array(
                np.where(geo, np.array([p.lon for p in places])[place_ix] + rng.uniform(-0.03, 0.03, total), np.nan),
                pa.float64(),
                from_pandas=True,
            ),
            "properties": pa.array(
                np.where(kind == 1, '{"item_index":"3"}', np.where(kind == 3, '{"lang":"fr"}', None)), pa.string()
            ),
        }
    )
    order = np.argsort(event_ms, kind="stable")
    return conform(table.take(order), EVENTS)


def generate(root: Path, events: int, days: int, seed: int = 42) -> None:
    rng = np.random.default_rng(seed)
    visitors = max(1000, events // 25)
    visitor_agent = _choice(rng, HUMANS + BOTS, visitors)
    visitor_place = _choice(rng, PLACES, visitors)
    shutil.rmtree(root, ignore_errors=True)
    per_day = events // days
    for k in range(days):
        day = LAST_DAY - timedelta(days=days - 1 - k)
        n = per_day + (events - per_day * days if k == days - 1 else 0)
        table = _day_table(rng, day, n, visitors, visitor_agent, visitor_place)
        target = root / "events" / f"app_id={APP}" / f"dt={day.isoformat()}"
        target.mkdir(parents=True, exist_ok=True)
        (target / "compacted-bench.parquet").write_bytes(parquet_bytes(table))
    (root / "FORMAT").write_text(json.dumps({"version": FORMAT_VERSION, "events": events, "days": days, "seed": seed}))


def ensure_lake(root: Path, events: int, days: int, regenerate: bool) -> float:
    """Generate the lake unless an identical one is there; returns the seconds it took."""
    marker = root / "FORMAT"
    wanted = {"version": FORMAT_VERSION, "events": events, "days": days, "seed": 42}
    if not regenerate and marker.exists() and json.loads(marker.read_text()) == wanted:
        return 0.0
    started = time.monotonic()
    generate(root, events, days)
    return time.monotonic() - started


def panel_params(name: str, lo: date, hi: date) -> dict:
    params = {"app_id": APP, "date_from": lo.isoformat(), "date_to": hi.isoformat()}
    if name == "funnel":
        params["steps"] = FUNNEL
    return params


def time_panels(lake, lo: date, hi: date, repeat: int) -> tuple[dict[str, float], list[float], dict[str, int]]:
    """Median seconds per panel, the wall time of each whole page, and rows per panel."""
    names = query_names()
    runs: dict[str, list[float]] = {n: [] for n in names}
    pages, rows = [], {}
    for _ in range(repeat):
        page_started = time.perf_counter()
        for name in names:
            sql, values = prepare(name, panel_params(name, lo, hi))
            started = time.perf_counter()
            rows[name] = lake.query(sql, values, max_age_s=3600).num_rows
            runs[name].append(time.perf_counter() - started)
        pages.append(time.perf_counter() - page_started)
    return {n: statistics.median(t) for n, t in runs.items()}, pages, rows


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = next(int(x.split()[1]) for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemTotal")) / 2**20
    except (OSError, StopIteration):
        mem = float("nan")
    return (
        f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB RAM, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, DuckDB {duckdb.__version__}, pyarrow {pa.__version__}"
    )


def mb(n: int) -> str:
    return f"{n / 2**20:,.1f}"


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def run_shape(events: int, days: int, repeat: int, regenerate: bool) -> dict:
    """Generate (or reuse) one lake and time the page for a 1-day and a 30-day range."""
    root = ROOT / "results" / f"lake-{events}-{days}d"
    generated_s = ensure_lake(root, events, days, regenerate)
    files = sorted(root.glob("events/*/*/*.parquet"))
    lake = directory_lake(root)
    total = lake.query("SELECT count(*) AS n FROM events", {}).to_pylist()[0]["n"]
    print(
        f"\nlake: {total:,} events over {days} days in {len(files)} files, {mb(sum(f.stat().st_size for f in files))} MiB"
        + (f" (generated in {generated_s:.0f} s)" if generated_s else "")
    )
    # The first session query after the lake changes materialises session_events (once).
    started = time.perf_counter()
    lake.query(*prepare("overview", panel_params("overview", LAST_DAY, LAST_DAY)))
    first = time.perf_counter() - started
    build = lake.sessions.build_seconds if lake.sessions else None
    print(f"first session query after a change: {first:.1f} s, of which materialising session_events {build:.1f} s")
    shape = {
        "events": total,
        "days": days,
        "files": len(files),
        "bytes": sum(f.stat().st_size for f in files),
        "build_s": build,
        "first_s": first,
        "ranges": {},
        "load": [load()],
    }
    for label, span in (("1 day", 1), ("30 days", 30)):
        lo, hi = LAST_DAY - timedelta(days=span - 1), LAST_DAY
        medians, pages, rows = time_panels(lake, lo, hi, repeat)
        bills = {n: billing.estimate(root, *prepare(n, panel_params(n, lo, hi))) for n in medians}
        shape["ranges"][label] = {
            "lo": lo,
            "hi": hi,
            "medians": medians,
            "pages": pages,
            "rows": rows,
            "bills": bills,
            "events": lake.query(
                f"SELECT count(*) AS n FROM events WHERE app_id = '{APP}' AND dt BETWEEN '{lo}' AND '{hi}'", {}
            ).to_pylist()[0]["n"],
        }
        print(
            f"{label} ({lo} to {hi}, {shape['ranges'][label]['events']:,} events): page {statistics.median(pages):.2f} s "
            f"(runs: {', '.join(f'{p:.2f}' for p in pages)})"
        )
        for name, seconds in medians.items():
            flag = "" if seconds < PANEL_BUDGET_S else "  OVER BUDGET"
            print(
                f"  {name:<18} {seconds * 1000:7.0f} ms  {rows[name]:>5} rows  scans {mb(bills[name].scanned_bytes):>7} MiB  "
                f"bills {mb(bills[name].billed_bytes):>7} MiB{flag}"
            )
    shape["load"].append(load())
    return shape


def within_budget(shape: dict) -> bool:
    return all(
        max(r["medians"].values()) < PANEL_BUDGET_S and statistics.median(r["pages"]) < PAGE_BUDGET_S
        for r in shape["ranges"].values()
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=365, help="days the lake spans (10M events over a year: ~27,000 a day)")
    parser.add_argument("--stress-days", type=int, default=30, help="also a lake with every event in these days (0: skip)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of the whole page per range; the median is reported")
    parser.add_argument("--regenerate", action="store_true")
    parser.add_argument("--no-doc", action="store_true", help="print only, leave docs/performance-dashboard.md alone")
    args = parser.parse_args(argv)
    print(f"machine: {machine()}; load average {load()}")
    shapes = [run_shape(args.events, args.days, args.repeat, args.regenerate)]
    if args.stress_days:
        shapes.append(run_shape(args.events, args.stress_days, args.repeat, args.regenerate))
    verdict = ", ".join(f"{s['days']}-day lake: {'met' if within_budget(s) else 'NOT met'}" for s in shapes)
    print(f"\nbudget (every panel < {PANEL_BUDGET_S:.0f} s, page < {PAGE_BUDGET_S:.0f} s): {verdict}")
    if not args.no_doc:
        write_doc(shapes, args)
        print(f"wrote {DOC.relative_to(ROOT.parent)}")
    return 0 if within_budget(shapes[0]) else 1


def _table(shape: dict) -> list[str]:
    labels = list(shape["ranges"])
    r = shape["ranges"]
    head = [
        "| panel | "
        + " | ".join(f"DuckDB, {label}" for label in labels)
        + " | "
        + " | ".join(f"Athena scans, {label}" for label in labels)
        + " | "
        + " | ".join(f"Athena bills, {label}" for label in labels)
        + " |",
        "| --- |" + " ---: |" * (3 * len(labels)),
    ]
    rows = []
    for name in r[labels[0]]["medians"]:
        cells = [f"{r[label]['medians'][name] * 1000:,.0f} ms" for label in labels]
        cells += [f"{mb(r[label]['bills'][name].scanned_bytes)} MiB" for label in labels]
        cells += [f"{mb(r[label]['bills'][name].billed_bytes)} MiB" for label in labels]
        rows.append(f"| `{name}` | " + " | ".join(cells) + " |")
    total = [f"**{statistics.median(r[label]['pages']):.2f} s**" for label in labels]
    total += [f"**{mb(sum(b.scanned_bytes for b in r[label]['bills'].values()))} MiB**" for label in labels]
    total += [f"**{mb(sum(b.billed_bytes for b in r[label]['bills'].values()))} MiB**" for label in labels]
    return head + rows + ["| whole page (16 panels) | " + " | ".join(total) + " |"]


def write_doc(shapes: list[dict], args: argparse.Namespace) -> None:
    lines = [
        "# Dashboard queries: DuckDB time and Athena bytes",
        "",
        f"Command: `.venv/bin/python -m bench.bench_dashboard_queries --events {args.events} --days {args.days} --stress-days "
        f"{args.stress_days} --repeat {args.repeat}`  ",
        f"Date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC  ",
        f"Machine: {machine()}",
        "",
        "Each lake is generated as the export writes it (schema `chalicelib.lake.schema.EVENTS`, zstd Parquet "
        "through `chalicelib.lake.parquetio`, one compacted file per app and day), with the traffic generator's agents, "
        "places, pages, campaigns and custom events; sessions of about six events, a third of them from returning "
        "visitors. Every panel is its file in `etl/queries/`, run through `clickstream.lake.run_query`'s local engine "
        "exactly as the dashboard and `clickstream query` run it: Athena SQL translated by sqlglot, parameters bound, "
        "session queries answered from `session_events` materialised once per lake change "
        "(`clickstream.lake.accelerate`). Times are the median of "
        f"{args.repeat} runs of the whole page, the 16 panels one after another on one DuckDB connection, OS page cache warm.",
        "",
        "Athena columns: what Athena would scan and bill (`clickstream.lake.billing`), computed from the Athena SQL and the "
        "files' Parquet metadata: per scan of `events`, the compressed column chunks of the columns it needs in the "
        "partitions its `app_id`/`dt` predicates keep (row-group skipping ignored: an upper bound). Athena bills at least "
        "10 MB per query, so a whole page costs at least 160 MB, $0.0008 at $5 per TB.",
    ]
    for i, shape in enumerate(shapes):
        title = "Main case" if i == 0 else "Stress case"
        lines += [
            "",
            f"## {title}: {shape['events']:,} events over {shape['days']} days ({shape['events'] // shape['days']:,} a day)",
            "",
            f"{shape['files']} files, {mb(shape['bytes'])} MiB. Ranges: "
            + "; ".join(f"{label}: {r['lo']} to {r['hi']}, {r['events']:,} events" for label, r in shape["ranges"].items())
            + f". Load average during the run (1/5/15 min): {' then '.join(shape['load'])} (other jobs shared the 2 cores).",
            "",
            f"After the lake changes, the first session query materialises `session_events`: {shape['build_s']:.1f} s "
            f"for {shape['events']:,} events (the first query took {shape['first_s']:.1f} s); every query after that is in the "
            f"table.",
            "",
        ]
        lines += _table(shape)
        worst = {label: max(r["medians"].items(), key=lambda kv: kv[1]) for label, r in shape["ranges"].items()}
        lines += [
            "",
            f"Budget (every panel < {PANEL_BUDGET_S:.0f} s, page < {PAGE_BUDGET_S:.0f} s): "
            + ("**met**" if within_budget(shape) else "**not met**")
            + ". Slowest panel: "
            + "; ".join(f"{label}: `{n}` {t * 1000:,.0f} ms" for label, (n, t) in worst.items())
            + ".",
        ]
    lines += [
        "",
        "## Reading the figures",
        "",
        "- Event panels (`top_pages`, `devices`, `countries`, ...) read only the range's partitions; Athena scans grow "
        "linearly with the range and stay under the 10 MB minimum for a day.",
        "- Session panels (`overview`, `entry_pages`, `exit_pages`, `referrers`, `utm_campaigns`, `funnel`, and the "
        "sessions of `daily_metrics`) also read the day after the range and the day before it (only that day's last 30 "
        "minutes count, but Athena reads the day's column chunks), so a 1-day session panel scans about 3 days.",
        "- `daily_metrics` also reads 29 days before the range (anonymous_id, event_type, is_bot) for WAU and MAU.",
        "- Without the materialised sessions (`directory_lake(root, accelerate=False)`, i.e. exactly the Athena SQL) each "
        "session panel sorts every event of its range by visitor and time: on this machine about 1 s per million events, "
        "per panel, which no page of seven session panels survives.",
    ]
    if len(shapes) > 1:
        stress = shapes[1]["ranges"]
        month = stress[list(stress)[-1]]
        over = [n for n, t in month["medians"].items() if t >= PANEL_BUDGET_S]
        lines.append(
            f"- The stress case puts {month['events']:,} events in one 30-day range. A day of it holds the budget; the month "
            f"takes {statistics.median(month['pages']):.1f} s a page"
            + (f" ({', '.join(f'`{n}`' for n in over)} over 1 s)" if over else "")
            + ": every panel then aggregates ten million rows (the funnel also orders each session's matches). Holding the "
            "budget there needs pre-aggregation by day (visitors per day and dimension, sessions per day), a derived table "
            "this lake does not have yet."
        )
    lines.append("- The materialisation is paid once per change of an app's files, by the first session query after it.")
    DOC.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
