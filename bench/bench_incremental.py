"""Incrementality: what one export run of 10,000 new events costs after 1,000,000 were exported.

Two tables on the same local stack, their runs interleaved (alternating which goes first)
and repeated, each run of the same 10,000 events (same items) at the same clock:

* ``history``: the 1,000,000-event backlog, already exported by ``run_once`` (the table
  ``bench_readpath`` leaves, reused when run together), then 10,000 new events;
* ``fresh``: an empty table whose export has committed a watermark at the same instant
  (one run over nothing), then the same 10,000 new events.

So both runs export the same window; only the history differs. Every run starts cold: the
dedup index cache a warm Lambda keeps is emptied first (issue 15). Measured per run: wall
time of ``run_once``, the Python process's CPU time, the DynamoDB Queries the exporter's
reader sends (requests, items returned, items counted) and its boto3 calls (state item,
S3). Also reported once: a first-ever run of the same 10,000 events on a table with no
checkpoint, whose window is the whole 8-day lookback.

Goal (issue): the ``history`` run costs ≤ 1.2 × the ``fresh`` run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any, Sequence

from bench import _lakebench as lb

GOAL_RATIO = 1.2
STEP_MS = 10 * 60_000  # one run every 10 minutes of (fake) clock


def _export_run(settings: Any, now_ms: int, calls: lb.CallCounter) -> dict[str, Any]:
    from bench.bench_readpath import exporter
    from chalicelib.export import dedup

    dedup._CACHE.clear()  # a cold process: Lambda cold starts are normal, nothing cached from the last run
    ex = exporter(settings, now_ms)
    queries = lb.QueryCounter().attach(ex.reader)
    before = dict(calls.calls)
    cpu0 = time.process_time()
    with lb.phases(ex) as steps:
        wall, report = lb.timed(ex.run_once)
    cpu = time.process_time() - cpu0
    boto = {k: v - before.get(k, 0) for k, v in calls.calls.items() if v - before.get(k, 0)}
    return {
        "seconds": round(wall, 3),
        "python_cpu_s": round(cpu, 3),
        "events": report.events,
        "status": report.status,
        **queries.as_dict(),
        "boto3_calls": boto,
        "phases": steps,
    }


def _watermark(settings: Any) -> int | None:
    from chalicelib import clients
    from chalicelib.export.state import StateStore

    return StateStore(clients.dynamodb(settings), settings.table).read().watermark_ms


def _new_items(settings: Any, n: int, run_at_ms: int, seed: int) -> list[dict[str, Any]]:
    """``n`` events received in the 9 minutes before ``run_at_ms`` - 1 minute (settled by then)."""
    return lb.make_items(n, settings, run_at_ms - 9 * 60_000, run_at_ms - 60_000, seed=seed)


def _counter(settings: Any) -> lb.CallCounter:
    from chalicelib import clients

    calls = lb.CallCounter()
    calls.attach(clients.dynamodb(settings))
    calls.attach(clients.s3(settings))
    return calls


def measure(stack: Any, history: Any, backlog_events: int, new: int = 10_000, repeats: int = 3) -> dict[str, Any]:
    """``history``: settings of a table whose backlog ``run_once`` has exported."""
    start = _watermark(history)
    if start is None:
        raise RuntimeError(f"table {history.table} has no export checkpoint; export its backlog first")
    settle_ms = history.settle_seconds * 1000
    fresh = lb.stack_settings(stack)
    history_calls, fresh_calls = _counter(history), _counter(fresh)

    # The fresh table's export commits a watermark at the same instant as the history's.
    seed_run = _export_run(fresh, start + settle_ms, fresh_calls)
    assert _watermark(fresh) == start, (seed_run, _watermark(fresh), start)

    runs: dict[str, list[dict[str, Any]]] = {"history": [], "fresh": []}
    # New ids on every invocation: a reused table has exported earlier repeats' events.
    seed = start // 1000
    for rep in range(repeats):
        run_at = start + (rep + 1) * STEP_MS
        for _name, settings in (("history", history), ("fresh", fresh)):
            lb.load(settings, _new_items(settings, new, run_at, seed=seed + rep))
        lb.wait_idle(stack.procs[0].pid)
        order = ("history", "fresh") if rep % 2 == 0 else ("fresh", "history")
        for name in order:
            settings, calls = (history, history_calls) if name == "history" else (fresh, fresh_calls)
            run = _export_run(settings, run_at, calls)
            assert run["status"] == "exported" and run["events"] == new, run
            runs[name].append(run)
        print(
            f"  repeat {rep + 1}: history {runs['history'][-1]['seconds']:.2f}s, fresh {runs['fresh'][-1]['seconds']:.2f}s",
            flush=True,
        )

    # For scale: the same events as a table's first-ever export (an 8-day lookback window).
    first = lb.stack_settings(stack)
    run_at = start + STEP_MS
    lb.load(first, _new_items(first, new, run_at, seed=seed))
    first_ever = _export_run(first, run_at, _counter(first))

    def med(name: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[name])

    ratio = med("history", "seconds") / med("fresh", "seconds")
    result = {
        "backlog_events": backlog_events,
        "new_events": new,
        "repeats": repeats,
        "history_median_s": round(med("history", "seconds"), 3),
        "fresh_median_s": round(med("fresh", "seconds"), 3),
        "ratio_wall": round(ratio, 2),
        "ratio_python_cpu": round(med("history", "python_cpu_s") / med("fresh", "python_cpu_s"), 2),
        "ratio_query_requests": round(med("history", "query_requests") / med("fresh", "query_requests"), 2),
        "ratio_items_read": round(med("history", "items_read") / med("fresh", "items_read"), 2),
        "goal_met": ratio <= GOAL_RATIO,
        "runs": runs,
        "first_ever_run_same_events": first_ever,
    }
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_incremental", description=__doc__.splitlines()[0])
    parser.add_argument("--backlog", type=int, default=1_000_000, help="events exported before (default 1,000,000)")
    parser.add_argument("--new", type=int, default=10_000, help="new events per run (default 10,000)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each kind (default 3)")
    parser.add_argument("--threads", type=int, default=16, help="loader threads (BatchWriteItem)")
    parser.add_argument("--data-dir", help="reuse the exported backlog bench_readpath --data-dir left here, if any")
    parser.add_argument("--json", help="also write the figures to this file")
    args = lb.parse_args(parser, argv, "incremental")

    from bench import bench_readpath

    result: dict[str, Any] = {"benchmark": "incremental", "machine": lb.machine(), "command": lb.command("incremental", argv)}
    manifest = Path(args.data_dir, bench_readpath.MANIFEST) if args.data_dir else None
    with lb.local_stack(args.data_dir) as stack:
        if manifest is not None and manifest.exists() and json.loads(manifest.read_text())["events"] == args.backlog:
            history = lb.stack_settings(stack, name=json.loads(manifest.read_text())["table"])
            result["backlog"] = {"reused": str(manifest.parent)}
        else:
            print(f"loading and exporting a backlog of {args.backlog:,} events ...", flush=True)
            history, loading = bench_readpath.load_backlog(stack, args.backlog, args.threads)
            wall, report = lb.timed(bench_readpath.exporter(history, lb.NOW_MS).run_once)
            assert report.events == args.backlog, report
            result["backlog"] = {"loading": loading, "export_s": round(wall, 1)}
            if manifest is not None:
                manifest.write_text(json.dumps({"table": history.table, "events": args.backlog}))
        result["incremental"] = measure(stack, history, args.backlog, args.new, args.repeats)
    lb.emit(result, args.json)
    return 0 if result["incremental"]["goal_met"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
