"""Peak memory of one export group, in the Lambda emulation (python3.13, the layer's pyarrow).

A group holds everything it exports in memory at once: the item lines its Queries return
(``RawQuery.read_many``), the Arrow table, the deduplicated table, one Parquet body per
partition and the dedup index. This runs exactly that path of ``Exporter.run_group``
(``transform.lines_to_table`` → ``dedup.first_received`` → ``drop_seen`` → ``with_dt`` →
``split_partitions`` → ``lakeio.parquet_bytes`` per partition → ``dedup.index_table``) on
``bench_transform.build_items`` lines, inside the artifact test's emulated export function
(tests/artifact/lambda_runtime.py: the packaged zip, the pinned layer, ``python3.13 -I -S``),
and reports the process's peak RSS (``VmHWM``) for each size, one fresh process each, plus
the straight line through them: the figures behind chalicelib/export/budget.py.

    .venv/bin/python -m bench export_memory [--sizes 50000,200000,700000]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

PROBE = """
import time
from chalicelib.export import dedup
from chalicelib.lake import parquetio as lakeio, transform

def hwm_mib():
    # VmHWM: this process's peak RSS. Not ru_maxrss: Linux carries the parent's peak across fork+exec.
    with open("/proc/self/status") as f:
        return round(int(next(l for l in f if l.startswith("VmHWM:")).split()[1]) / 1024, 1)

def handler(event, context):
    with open(event["lines"]) as f:
        lines = transform.Blocks.of(line.rstrip("\\n") for line in f)  # what RawQuery.read_many returns
    before = hwm_mib()
    t0 = time.monotonic()
    events = transform.lines_to_table("events", lines)
    events = dedup.first_received(events)
    events, _ = dedup.drop_seen(events, dedup.keys_of(events.slice(0, 0)))
    written = 0
    for _app, _dt, part in transform.split_partitions(transform.with_dt("events", events)):
        written += len(lakeio.parquet_bytes(part))
    written += len(lakeio.parquet_bytes(events.select(["app_id", "event_id"])))  # the keys dedup.write_index puts, by hour
    return {"events": events.num_rows, "parquet_bytes": written, "seconds": round(time.monotonic() - t0, 2),
            "peak_rss_after_reading_mib": before, "peak_rss_mib": hwm_mib()}
"""


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="50000,200000,700000")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    from bench._lambdaprobe import emulation, probe
    from bench.bench_transform import build_items

    with tempfile.TemporaryDirectory() as tmp:
        runtime = emulation(Path(tmp), "memory_probe", PROBE)
        rows = []
        for n in sizes:
            lines = Path(tmp) / f"lines-{n}.txt"
            lines.write_text("\n".join(item["d"]["S"] for item in build_items(n)))
            rows.append(probe(runtime, "memory_probe", {"lines": str(lines)}, str(n)))
            lines.unlink()
    (x0, y0), (x1, y1) = (rows[0]["events"], rows[0]["peak_rss_mib"]), (rows[-1]["events"], rows[-1]["peak_rss_mib"])
    slope_kib = (y1 - y0) * 1024 / (x1 - x0)
    base = y0 - slope_kib * x0 / 1024
    print(
        json.dumps(
            {
                "python": runtime.target.describe(),
                "load": os.getloadavg()[0],
                "fit": {"base_mib": round(base, 1), "kib_per_event": round(slope_kib, 3)},
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
