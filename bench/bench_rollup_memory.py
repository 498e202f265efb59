"""Peak memory of rebuilding one large day's rollups, in the Lambda emulation, with and without slicing.

The export's housekeeping rebuilds a closed day with ``rollup.rebuild_day`` reading the lake
through ``rollups.S3Days`` (each object's body in memory, decoded a batch at a time), then
writes each rollup table (``parquet_bytes``). This runs exactly that, over a generated lake of
three days (the day, the day before, the day after: ``rollup.read_window``) of ``--events``
events each, inside the artifact test's emulated export function (the packaged zip, the
pinned layer's pyarrow and numpy, ``python3.13 -I -S``; tests/artifact/lambda_runtime.py),
once per ``rows_per_slice``, one fresh process each, and reports the peak RSS (``VmHWM``).
The export functions have 3,008 MB (chalicelib/export/budget.py plans 60 % of it).

Visitor ids are spread like the tracker's UUIDs (the slices cut on their first hex digit).

    .venv/bin/python -m bench.bench_rollup_memory [--events 3000000] [--slices 0,2000000,500000]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from datetime import timedelta
from pathlib import Path

PROBE = """
import time
from datetime import date
from chalicelib.export import rollups
from chalicelib.lake import rollup
from chalicelib.lake.parquetio import parquet_bytes

def hwm_mib():
    with open("/proc/self/status") as f:
        return round(int(next(l for l in f if l.startswith("VmHWM:")).split()[1]) / 1024, 1)

class DirLake:
    # The lake's list and read_bytes over a directory: S3Days reads it as it reads S3.
    def __init__(self, root):
        self.root = root
    def list(self, prefix, delimiter=None):
        import os
        folder = os.path.join(self.root, prefix)
        for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
            path = os.path.join(folder, name)
            yield {"Key": prefix + name, "Size": os.path.getsize(path)}
    def read_bytes(self, key):
        with open(f"{self.root}/{key}", "rb") as f:
            return f.read()
    def read_range(self, key, start, end):
        with open(f"{self.root}/{key}", "rb") as f:
            f.seek(start)
            return f.read(end - start + 1)

def handler(event, context):
    source = rollups.S3Days(DirLake(event["root"]), "")
    day = date.fromisoformat(event["day"])
    before = hwm_mib()
    t0, c0 = time.monotonic(), time.process_time()
    tables = rollup.rebuild_day(source, event["app"], day, event["rows_per_slice"])
    written = sum(len(parquet_bytes(tables[name])) for name in rollups.WRITE_ORDER)
    slices = rollup.visitor_slices(source.count(event["app"], day), event["rows_per_slice"])
    return {"rows_per_slice": event["rows_per_slice"], "slices": len(slices),
            "sessions": tables["rollup_sessions"].num_rows, "bytes_written": written,
            "seconds": round(time.monotonic() - t0, 1), "cpu_s": round(time.process_time() - c0, 1),
            "peak_rss_before_mib": before, "peak_rss_mib": hwm_mib()}
"""


def _spread_ids(path: Path) -> None:
    """The generator's ids share their first hex digits; give them a UUID's spread (a bijection)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from chalicelib.lake.parquetio import parquet_bytes

    table = pq.read_table(path)
    mixed = [f"{(int(v, 16) * 0x9E3779B97F4A7C15) % 2**64:016x}" for v in table.column("anonymous_id").to_pylist()]
    table = table.set_column(table.schema.get_field_index("anonymous_id"), "anonymous_id", pa.array(mixed))
    path.write_bytes(parquet_bytes(table))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=3_000_000, help="events per day (three days are generated)")
    parser.add_argument("--slices", default="0,2000000,500000", help="rows_per_slice values; 0: no slicing")
    args = parser.parse_args()

    from bench._lambdaprobe import emulation, probe
    from bench.bench_dashboard_queries import APP, LAST_DAY, generate

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "lake"
        generate(root, args.events * 3, 3)
        for path in root.glob("events/*/*/*.parquet"):
            _spread_ids(path)
        day = LAST_DAY - timedelta(days=1)  # the middle day: the day before and after are read too
        sizes = {p.parent.name: p.stat().st_size for p in root.glob("events/*/*/*.parquet")}
        print(json.dumps({"day_file_bytes": sizes}), flush=True)
        runtime = emulation(Path(tmp), "rollup_memory_probe", PROBE)
        for value in [int(s) for s in args.slices.split(",")]:
            event = {"root": str(root), "app": APP, "day": day.isoformat(), "rows_per_slice": value or 10**12}
            probe(runtime, "rollup_memory_probe", event, f"rows_per_slice={value}")
        print(json.dumps({"python": runtime.target.describe(), "events_per_day": args.events, "load": os.getloadavg()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
