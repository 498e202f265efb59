"""Parquet codecs the Lambda layer can read, on the benchmark's event mix: bytes/event and CPU.

The AWS SDK for pandas layer's pyarrow has snappy and gzip only (chalicelib/lake/codecs.py).
This writes the same partitions as the export (``bench_transform.build_items`` → the export's
``lines_to_table`` → ``split_partitions``), with ``lakeio``'s dictionary and statistics settings,
once per codec, and reads them back; zstd is measured for reference only (what the lake used
before, which the layer cannot read). One core, best of ``--rounds``; the ratios are the figures.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import time

from bench.bench_transform import build_items

CODECS = ("snappy", "gzip", "zstd")  # zstd: reference only, not a lake codec


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    import pyarrow as pa
    import pyarrow.parquet as pq

    from chalicelib.lake import parquetio as lakeio
    from chalicelib.lake import transform

    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    items = build_items(args.events)
    table = transform.lines_to_table("events", [item["d"]["S"] for item in items])
    parts = [part for _, _, part in transform.split_partitions(transform.with_dt("events", table))]
    results = {}
    for codec in CODECS:
        best_write = best_read = float("inf")
        size = 0
        for _ in range(args.rounds):
            bodies = []
            t0 = time.process_time()
            for part in parts:
                sink = io.BytesIO()
                names = part.column_names
                pq.write_table(
                    part,
                    sink,
                    compression=codec,
                    row_group_size=1_000_000,
                    use_dictionary=[c for c in names if c not in lakeio.NO_DICTIONARY],
                    write_statistics=[c for c in lakeio.STATISTICS if c in names],
                )
                bodies.append(sink.getvalue())
            t1 = time.process_time()
            for body in bodies:
                pq.read_table(io.BytesIO(body))
            t2 = time.process_time()
            best_write, best_read, size = min(best_write, t1 - t0), min(best_read, t2 - t1), sum(map(len, bodies))
        results[codec] = {
            "bytes_per_event": round(size / table.num_rows, 1),
            "write_s": round(best_write, 3),
            "read_s": round(best_read, 3),
        }
    print(json.dumps({"events": table.num_rows, "files": len(parts), "load": os.getloadavg()[0], "codecs": results}, indent=2))
    snappy, gzip = results["snappy"], results["gzip"]
    print(
        f"gzip/snappy: bytes {gzip['bytes_per_event'] / snappy['bytes_per_event']:.2f}x, "
        f"write CPU {gzip['write_s'] / snappy['write_s']:.2f}x, read CPU {gzip['read_s'] / snappy['read_s']:.2f}x"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
