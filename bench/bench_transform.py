"""Transform on one core: DynamoDB items (as the low-level client returns them) → Parquet bytes (zstd).

The items are built by ``plan_batch`` exactly as the API stores them, from realistic
tracker events (web/tracker.js's fields: UUID ids, six user agents, URLs with UTM,
properties, context), three apps, some events a day late (two ``dt`` partitions).

Timed, one round each, interleaved and alternating which goes first, so both share
the machine's noise:

* the export's path: ``d`` of each item → ``transform.lines_to_table`` (pyarrow's JSON
  reader against the explicit schema) → ``with_dt`` → ``split_partitions`` →
  ``parquetio.parquet_bytes`` per (app_id, dt);
* the naive baseline: boto3 ``TypeDeserializer`` on each item → ``json.loads`` of ``d`` →
  ``pandas.DataFrame`` (long names, UTC timestamps, ``dt``) → ``to_parquet(zstd)`` per
  (app_id, dt).

Both run pinned to CPU 0 with pyarrow's pools at one thread. Figures are per round:
the best round (least disturbed) and the median; the ratio is the robust figure.

Also reported: the pyarrow JSON reader alone (the floor of the export's path), the
stage split, what ``dedup.first_received`` adds, the DynamoDB item size and write units
per event, and Parquet bytes per event.

Goals (issue): ≥ 300,000 events/s, and ≥ 3× the naive baseline.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import time
from typing import Any, Callable, Sequence

from bench import _lakebench as lb

GOAL_EVENTS_PER_S = 300_000
GOAL_RATIO = 3.0


def build_items(events: int) -> list[dict[str, Any]]:
    """``events`` items received over six hours, 10% of them with an event time a day earlier."""
    from chalicelib.settings import from_env

    settings = from_env({})
    lo, hi = lb.NOW_MS - 6 * lb.HOUR_MS, lb.NOW_MS - 60_000
    late = events // 10
    return lb.make_items(events - late, settings, lo, hi, seed=11) + lb.make_items(
        late, settings, lo, hi, seed=12, event_lag_ms=lb.DAY_MS
    )


def export_path(items: Sequence[dict[str, Any]]) -> int:
    """What ``Exporter.run_group`` does between the Query and the PUT (without dedup). Returns bytes."""
    from chalicelib.lake import parquetio, transform

    table = transform.lines_to_table("events", [item["d"]["S"] for item in items])
    return sum(
        len(parquetio.parquet_bytes(part)) for _, _, part in transform.split_partitions(transform.with_dt("events", table))
    )


def naive_path(items: Sequence[dict[str, Any]]) -> int:
    """The straightforward version: TypeDeserializer, json.loads, pandas, to_parquet. Returns bytes."""
    import pandas as pd
    from boto3.dynamodb.types import TypeDeserializer

    from chalicelib.lake.rows import EVENT_KEYS
    from chalicelib.lake.schema import EVENT_TIME_COLUMNS

    deserializer = TypeDeserializer()
    rows = []
    for item in items:
        record = {name: deserializer.deserialize(value) for name, value in item.items()}
        rows.append(json.loads(record["d"]))
    df = pd.DataFrame(rows).rename(columns={short: name for name, short in EVENT_KEYS.items()})
    for column in EVENT_TIME_COLUMNS:
        df[column] = pd.to_datetime(df[column], unit="ms", utc=True)
    df["dt"] = df["event_time"].dt.strftime("%Y-%m-%d")
    total = 0
    for _, part in df.groupby(["app_id", "dt"], sort=True):
        sink = io.BytesIO()
        part.drop(columns=["dt"]).to_parquet(sink, compression="zstd", index=False)
        total += len(sink.getvalue())
    return total


def json_reader_only(lines: Sequence[str]) -> int:
    """pyarrow's JSON reader on the joined lines, nothing else: the floor of the export's path."""
    import pyarrow.json as pj

    from chalicelib.lake.schema import JSON_SCHEMAS

    blob = "\n".join(lines).encode()
    table = pj.read_json(
        io.BytesIO(blob),
        read_options=pj.ReadOptions(block_size=4 << 20, use_threads=False),
        parse_options=pj.ParseOptions(explicit_schema=JSON_SCHEMAS["events"], unexpected_field_behavior="ignore"),
    )
    return table.num_rows


def stages(items: Sequence[dict[str, Any]]) -> dict[str, float]:
    """CPU seconds of each step of the export's path, plus dedup, on one round."""
    from chalicelib.export import dedup
    from chalicelib.lake import parquetio, transform

    clock = time.process_time
    t0 = clock()
    lines = [item["d"]["S"] for item in items]
    t1 = clock()
    table = transform.lines_to_table("events", lines)
    t2 = clock()
    parts = list(transform.split_partitions(transform.with_dt("events", table)))
    t3 = clock()
    for _, _, part in parts:
        parquetio.parquet_bytes(part)
    t4 = clock()
    dedup.first_received(table)
    t5 = clock()
    return {
        "extract_d": t1 - t0,
        "lines_to_table": t2 - t1,
        "with_dt+split": t3 - t2,
        "parquet_bytes": t4 - t3,
        "dedup.first_received (not timed above)": t5 - t4,
    }


def _round(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    wall0, cpu0 = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - wall0, time.process_time() - cpu0, result


def item_costs(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    sizes = sorted(lb.item_bytes(i) for i in items)
    units = [lb.write_units(i) for i in items]
    return {
        "item_bytes_mean": round(statistics.mean(sizes), 1),
        "item_bytes_p50": sizes[len(sizes) // 2],
        "item_bytes_p99": sizes[int(len(sizes) * 0.99)],
        "item_bytes_max": sizes[-1],
        "d_bytes_mean": round(statistics.mean(len(i["d"]["S"].encode()) for i in items), 1),
        "items_over_1kb": round(sum(1 for s in sizes if s > 1024) / len(sizes), 3),
        "wru_per_event": round(sum(units) / len(units), 3),
    }


def check_same_rows(items: Sequence[dict[str, Any]]) -> None:
    """Both paths keep every event with the same ids and times (types differ: pandas has no int32 with nulls)."""
    import pandas as pd

    from chalicelib.lake import transform

    table = transform.lines_to_table("events", [item["d"]["S"] for item in items])
    ours = table.select(["event_id", "event_time", "app_id"]).to_pandas().sort_values("event_id").reset_index(drop=True)
    rows = [json.loads(item["d"]["S"]) for item in items]
    theirs = (
        pd.DataFrame(
            {
                "event_id": [r["i"] for r in rows],
                "event_time": pd.to_datetime([r["T"] for r in rows], unit="ms", utc=True),
                "app_id": [r["a"] for r in rows],
            }
        )
        .sort_values("event_id")
        .reset_index(drop=True)
    )
    assert len(ours) == len(theirs) == len(items)
    assert (ours["event_id"] == theirs["event_id"]).all() and (ours["app_id"] == theirs["app_id"]).all()
    assert (ours["event_time"] == theirs["event_time"]).all()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_transform", description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000, help="items per round (default 200,000)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds of each path (default 5)")
    parser.add_argument("--json", help="also write the figures to this file")
    args = lb.parse_args(parser, argv, "transform")

    items = build_items(args.events)
    lines = [item["d"]["S"] for item in items]
    check_same_rows(items)
    lb.pin_one_core(0)

    runs: dict[str, list[tuple[float, float]]] = {"export": [], "naive": [], "json_reader_only": []}
    sizes: dict[str, int] = {}
    paths = {
        "export": lambda: export_path(items),
        "naive": lambda: naive_path(items),
        "json_reader_only": lambda: json_reader_only(lines),
    }
    export_path(items[:1000])  # import and warm both paths outside the timing
    naive_path(items[:1000])
    for r in range(args.rounds):
        order = ["export", "naive", "json_reader_only"] if r % 2 == 0 else ["naive", "export", "json_reader_only"]
        for name in order:
            wall, cpu, result = _round(paths[name])
            runs[name].append((wall, cpu))
            if name != "json_reader_only":
                sizes[name] = result
        print(f"  round {r + 1}: " + ", ".join(f"{n} {args.events / runs[n][-1][0]:,.0f}/s" for n in runs), flush=True)

    def rate(name: str) -> dict[str, Any]:
        walls, cpus = [w for w, _ in runs[name]], [c for _, c in runs[name]]
        return {
            "events_per_s_best": round(args.events / min(walls)),
            "events_per_s_median": round(args.events / statistics.median(walls)),
            "events_per_s_cpu_best": round(args.events / min(cpus)),
            **lb.summary(walls),
        }

    ratios = [n[0] / e[0] for e, n in zip(runs["export"], runs["naive"])]
    export = rate("export")
    result: dict[str, Any] = {
        "benchmark": "transform",
        "machine": lb.machine(),
        "command": lb.command("transform", argv),
        "events_per_round": args.events,
        "export": export,
        "naive": rate("naive"),
        "json_reader_only": rate("json_reader_only"),
        "ratio_best": round(min(n for n, _ in runs["naive"]) / min(e for e, _ in runs["export"]), 2),
        "ratio_median_of_rounds": round(statistics.median(ratios), 2),
        "stages_cpu_s": {k: round(v, 3) for k, v in stages(items).items()},
        "parquet_bytes_per_event": round(sizes["export"] / args.events, 1),
        "naive_parquet_bytes_per_event": round(sizes["naive"] / args.events, 1),
        **item_costs(items),
    }
    result["goal_events_per_s_met"] = export["events_per_s_best"] >= GOAL_EVENTS_PER_S
    result["goal_ratio_met"] = result["ratio_median_of_rounds"] >= GOAL_RATIO
    lb.emit(result, args.json)
    return 0 if result["goal_events_per_s_met"] and result["goal_ratio_met"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
