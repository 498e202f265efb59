"""Read path: a backlog in the local DynamoDB (dynalite) → partitioned Parquet on the local S3 (s3rver).

Both paths export the same window (everything received in the last 8 days, the first
run's lookback) of the same table into the same bucket, in the same run:

* ``Exporter.run_once``: lease, the backlog planned from its own read (raw-HTTP Query of ``d``,
  8 threads, shard after shard; past the group budget the shards read to their end are one
  group, exported as read, and only the rest is COUNTed and read by its groups), CSV reader,
  dedup, one Parquet object per (app_id, dt), dedup index, checkpoint;
* the naive baseline: boto3 ``query`` paginated over the same key ranges, one partition
  key after another, ``TypeDeserializer`` on each item, ``json.loads`` of ``d``,
  ``pandas.DataFrame``, ``awswrangler.s3.to_parquet(dataset=True, partition_cols=[app_id, dt])``.

The baseline runs first (right after the backlog settled), so any warm-up favours the
exporter by at most the page cache, which the load has already filled.

Besides wall time, each path's client CPU (this process) and server CPU (the dynalite and
s3rver processes) are reported, and ``run_once``'s steps are timed: dynalite is one node
process on a shared machine, so what it has to do weighs as much as what Python does.
``--what-if`` also times ``run_once`` with its COUNT pass skipped (a patched instance,
not shipped behaviour), to show what that pass costs.

Loading is measured too: ``BatchWriteItem`` (25 items) from many threads. dynalite is one
node process, so the load rate is the local server's, not DynamoDB's.

Goal (issue): ``run_once`` ≥ 3× faster than the baseline on a 1,000,000-event backlog.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any, Sequence

from bench import _lakebench as lb
from chalicelib.lake.codecs import LAKE_CODEC

GOAL_RATIO = 3.0
BACKLOG_HOURS = 6
MANIFEST = "bench-backlog.json"


def naive_export(settings: Any, lo_ms: int, hi_ms: int, prefix: str) -> int:
    """The straightforward path, as a first version would write it. Returns events written."""
    import awswrangler as wr
    import boto3
    import pandas as pd
    from boto3.dynamodb.types import TypeDeserializer

    from chalicelib import clients
    from chalicelib.export import plan
    from chalicelib.lake.rows import EVENT_KEYS, NAMES
    from chalicelib.lake.schema import EVENT_TIME_COLUMNS

    client = clients.dynamodb(settings)
    deserializer = TypeDeserializer()
    long = {short: name for name, short in EVENT_KEYS.items()}
    names = NAMES["events"]
    rows: list[dict[str, Any]] = []
    paginator = client.get_paginator("query")
    for key_range in plan.key_ranges("events", plan.Window(lo_ms, hi_ms), settings.write_shards):
        pages = paginator.paginate(
            TableName=settings.table,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :lo AND :hi",
            ExpressionAttributeValues={
                ":pk": {"S": key_range.pk},
                ":lo": {"S": key_range.sk_from},
                ":hi": {"S": key_range.sk_to},
            },
            ConsistentRead=True,
        )
        for page in pages:
            for item in page["Items"]:
                record = {name: deserializer.deserialize(value) for name, value in item.items()}
                d = record["d"]
                if d.startswith("{"):  # an item written before the positional format
                    rows.append({long[short]: value for short, value in json.loads(d).items()})
                else:
                    count, *values = json.loads("[" + d + "]")
                    rows.append(dict(zip(names[:count], values)))
    if not rows:
        return 0
    df = pd.DataFrame(rows)
    for column in EVENT_TIME_COLUMNS:
        if column in df:
            df[column] = pd.to_datetime(df[column], unit="ms", utc=True)
    df["dt"] = df["event_time"].dt.strftime("%Y-%m-%d")
    wr.config.s3_endpoint_url = settings.s3_endpoint
    session = boto3.Session(aws_access_key_id="S3RVER", aws_secret_access_key="S3RVER", region_name=settings.region)
    wr.s3.to_parquet(
        df,
        path=f"s3://{settings.bucket}/{prefix}/events/",
        dataset=True,
        partition_cols=["app_id", "dt"],
        compression=LAKE_CODEC,  # what the layer can read (chalicelib/lake/codecs.py)
        mode="append",
        boto3_session=session,
    )
    return len(df)


def lake_rows(settings: Any, prefix: str) -> tuple[int, int, int]:
    """(rows, objects, bytes) of the Parquet files under ``prefix``, from the footers."""
    import io

    import pyarrow.parquet as pq

    from chalicelib import clients

    s3 = clients.s3(settings)
    rows = objects = size = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=settings.bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            if obj["Key"].endswith(".parquet") and "/_state/" not in obj["Key"]:
                body = s3.get_object(Bucket=settings.bucket, Key=obj["Key"])["Body"].read()
                rows += pq.ParquetFile(io.BytesIO(body)).metadata.num_rows
                objects += 1
                size += obj["Size"]
    return rows, objects, size


def load_backlog(stack: Any, events: int, threads: int, seed: int = 1) -> tuple[Any, dict[str, Any]]:
    """A table holding ``events`` received over the ``BACKLOG_HOURS`` before ``NOW_MS``."""
    settings = lb.stack_settings(stack, name="backlog")
    lo, hi = lb.NOW_MS - BACKLOG_HOURS * lb.HOUR_MS, lb.NOW_MS - 60_000
    chunk = 100_000
    generate_s = load_s = 0.0
    item_bytes = units = 0
    for start in range(0, events, chunk):
        n = min(chunk, events - start)
        span = (hi - lo) * n // events
        c_lo = lo + (hi - lo) * start // events
        seconds, items = lb.timed(lambda: lb.make_items(n, settings, c_lo, c_lo + span, seed=seed * 1000 + start // chunk))
        generate_s += seconds
        item_bytes += sum(lb.item_bytes(i) for i in items)
        units += sum(lb.write_units(i) for i in items)
        result = lb.load(settings, items, threads=threads)
        load_s += result.seconds
        print(f"  loaded {start + n:,}/{events:,} ({result.per_second:,.0f} items/s)", flush=True)
    facts = {
        "events": events,
        "generate_s": round(generate_s, 1),
        "load_s": round(load_s, 1),
        "load_items_per_s": round(events / load_s),
        "loader_threads": threads,
        "item_bytes_mean": round(item_bytes / events, 1),
        "wru_per_event": round(units / events, 3),
    }
    return settings, facts


def exporter(settings: Any, now_ms: int, **kw: Any) -> Any:
    from chalicelib import clients
    from chalicelib.export.run import Exporter

    return Exporter(settings, clients.dynamodb(settings), clients.s3(settings), clock=lambda: now_ms / 1000, **kw)


def _reset_export(settings: Any) -> list[dict[str, Any]]:
    """Forget the export's checkpoint and dirty-partition list (what-if runs only); returns them."""
    from chalicelib import clients
    from chalicelib.store import keys

    client = clients.dynamodb(settings)
    saved = []
    for key in (keys.EXPORT_STATE_KEY, keys.DIRTY_PARTITIONS_KEY):
        saved.append(client.get_item(TableName=settings.table, Key=key, ConsistentRead=True).get("Item"))
        client.delete_item(TableName=settings.table, Key=key)
    return [item for item in saved if item]


def _restore_export(settings: Any, saved: list[dict[str, Any]]) -> None:
    from chalicelib import clients

    _reset_export(settings)
    for item in saved:
        clients.dynamodb(settings).put_item(TableName=settings.table, Item=item)


def _run_exporter(stack: Any, settings: Any, events: int, skip_count: bool = False) -> dict[str, Any]:
    ex = exporter(settings, lb.NOW_MS)
    if skip_count:
        # What-if: no COUNT pass; every shard in one group (what run_once does anyway
        # when the window is under budget).
        ex._plan_groups = lambda window: (window, [list(range(settings.write_shards))], None)
    counter = lb.QueryCounter().attach(ex.reader)
    planning = {"wall_s": 0.0, "cpu_s": 0.0, "calls": 0}
    read_within_budget = ex._read_within_budget

    def timed_planning_read(*args: Any, **kwargs: Any) -> Any:
        wall0, cpu0 = time.perf_counter(), time.process_time()
        try:
            return read_within_budget(*args, **kwargs)
        finally:
            planning["calls"] += 1
            planning["wall_s"] = round(planning["wall_s"] + time.perf_counter() - wall0, 2)
            planning["cpu_s"] = round(planning["cpu_s"] + time.process_time() - cpu0, 2)

    ex._read_within_budget = timed_planning_read
    servers = lb.ServerCpu(stack).start()
    cpu0 = time.process_time()
    with lb.phases(ex) as steps:
        run_s, report = lb.timed(ex.run_once)
    steps["run._read_within_budget (planning read, Query d)"] = planning
    cpu_s = time.process_time() - cpu0
    server = servers.stop()
    rows, objects, size = lake_rows(settings, f"{settings.lake_prefix}/events/")
    assert report.status == "exported" and report.events == events == rows, (report, rows)
    return {
        "seconds": round(run_s, 2),
        "events_per_s": round(report.events / run_s),
        "python_cpu_s": round(cpu_s, 2),
        **server,
        "files": objects,
        "parquet_bytes": size,
        "parquet_bytes_per_event": round(size / events, 1),
        **counter.as_dict(),
        "phases": steps,
    }


def measure(stack: Any, events: int, threads: int, skip_naive: bool = False, what_if: bool = False) -> tuple[Any, dict[str, Any]]:
    print(f"loading {events:,} events into dynalite ...", flush=True)
    settings, loading = load_backlog(stack, events, threads)
    dyn_pid = stack.procs[0].pid
    lb.wait_idle(dyn_pid)

    from chalicelib.export import plan

    window = plan.next_window(None, lb.NOW_MS, settings.settle_seconds * 1000, (settings.event_ttl_days + 1) * lb.DAY_MS)
    assert window is not None
    out: dict[str, Any] = {"loading": loading}

    if not skip_naive:
        print("naive export ...", flush=True)
        servers = lb.ServerCpu(stack).start()
        cpu0 = time.process_time()
        naive_s, naive_events = lb.timed(lambda: naive_export(settings, window.lo_ms, window.hi_ms, "naive"))
        cpu_s = time.process_time() - cpu0
        server = servers.stop()
        rows, objects, size = lake_rows(settings, "naive/")
        out["naive"] = {
            "seconds": round(naive_s, 2),
            "events_per_s": round(naive_events / naive_s),
            "python_cpu_s": round(cpu_s, 2),
            **server,
            "events": naive_events,
            "files": objects,
            "parquet_bytes": size,
            "rows_in_files": rows,
        }
        lb.wait_idle(dyn_pid)

    print("Exporter.run_once ...", flush=True)
    out["run_once"] = run = _run_exporter(stack, settings, events)
    if "naive" in out:
        assert out["naive"]["rows_in_files"] == events, "both paths must write every event"
        out["ratio"] = round(out["naive"]["seconds"] / run["seconds"], 2)
        out["ratio_python_cpu"] = round(out["naive"]["python_cpu_s"] / run["python_cpu_s"], 2)
        out["goal_met"] = out["ratio"] >= GOAL_RATIO
    if what_if:
        print("what-if: run_once without the COUNT pass ...", flush=True)
        lb.wait_idle(dyn_pid)
        saved = _reset_export(settings)
        out["what_if_no_count"] = _run_exporter(stack, settings.with_(lake_prefix="whatif"), events, skip_count=True)
        if "naive" in out:
            out["what_if_no_count"]["ratio"] = round(out["naive"]["seconds"] / out["what_if_no_count"]["seconds"], 2)
        # Back to the real run's checkpoint, so the incremental benchmark continues from it.
        _restore_export(settings, saved)
    return settings, out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_readpath", description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="backlog size (default 1,000,000)")
    parser.add_argument("--threads", type=int, default=16, help="loader threads (BatchWriteItem)")
    parser.add_argument("--incremental", action="store_true", help="then run bench_incremental on the same table")
    parser.add_argument("--skip-naive", action="store_true", help="only the exporter (e.g. to profile it)")
    parser.add_argument(
        "--what-if", action="store_true", help="also time run_once with its COUNT pass skipped (not shipped code)"
    )
    parser.add_argument("--data-dir", help="keep the stack's data here (default: a temporary dir under /tmp, removed)")
    parser.add_argument("--json", help="also write the figures to this file")
    args = lb.parse_args(parser, argv, "readpath")

    result: dict[str, Any] = {"benchmark": "readpath", "machine": lb.machine(), "command": lb.command("readpath", argv)}
    with lb.local_stack(args.data_dir) as stack:
        settings, result["readpath"] = measure(stack, args.events, args.threads, args.skip_naive, args.what_if)
        if args.data_dir:
            Path(args.data_dir, MANIFEST).write_text(json.dumps({"table": settings.table, "events": args.events}))
        if args.incremental:
            from bench import bench_incremental

            result["incremental"] = bench_incremental.measure(stack, settings, args.events)
    lb.emit(result, args.json)
    goals = [result["readpath"].get("goal_met", False)] + ([result["incremental"]["goal_met"]] if "incremental" in result else [])
    return 0 if all(goals) else 1


if __name__ == "__main__":
    raise SystemExit(main())
