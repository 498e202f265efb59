"""Peak memory and CPU of rebuilding one large day's rollups, in the Lambda emulation: this
release's code against another ref's (``--before``, default ``main``), same run, same lake.

The export's housekeeping rebuilds a closed day reading the lake through ``rollups.S3Days``
(ranged reads of a large object, a row group at a time): this release with
``rollup.rebuild_day_files`` (each of the three days read once, rows dealt to slice files on
local disk, the tables written to local files, then each file's bytes read for its PUT); the
``--before`` ref with its own ``rollup.rebuild_day`` (in memory, then ``parquet_bytes`` per
table). It runs over a generated lake of three days (the day, the day before, the day after:
``rollup.read_window``) of ``--events`` events each, inside the artifact test's emulated
export function (the packaged zip, the pinned layer's pyarrow and numpy, ``python3.13 -I -S``;
tests/artifact/lambda_runtime.py), one fresh process per setting, and reports the peak RSS
(``VmHWM``), CPU seconds and, for this release, the bytes spilled to local disk. The ``--before``
runs use the same package with that ref's ``chalicelib`` (``git archive``) in place of this one.

Visitor ids are spread like the tracker's UUIDs (the old slices cut on their first hex digit).

    .venv/bin/python -m bench.bench_rollup_memory [--events 3000000] [--slices 750000] [--before main]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from datetime import timedelta
from pathlib import Path

PROBE = """
import time
from datetime import date
import pyarrow.parquet as pq
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
    spilled = []
    if hasattr(rollup, "rebuild_day_files"):  # this release: slices and tables through local files
        from chalicelib.lake import spill
        close = spill.Spill.close
        def measured(self):
            close(self)
            spilled.append(sum(p.stat().st_size for p in self.paths))
        spill.Spill.close = measured
        with spill.workdir() as folder:
            files = rollup.rebuild_day_files(source, event["app"], day, folder, event["rows_per_slice"])
            written = sum(len(files[name].read_bytes()) for name in rollups.WRITE_ORDER)
            sessions = pq.ParquetFile(files["rollup_sessions"]).metadata.num_rows
    else:  # the --before ref: in memory
        tables = rollup.rebuild_day(source, event["app"], day, event["rows_per_slice"])
        written = sum(len(parquet_bytes(tables[name])) for name in rollups.WRITE_ORDER)
        sessions = tables["rollup_sessions"].num_rows
    slices = rollup.visitor_slices(source.count(event["app"], day), event["rows_per_slice"])
    return {"code": event["code"], "rows_per_slice": event["rows_per_slice"],
            "slices": slices if isinstance(slices, int) else len(slices),
            "sessions": sessions, "bytes_written": written, "spilled_bytes": spilled[0] if spilled else None,
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


def _task_with(runtime_task: Path, ref: str, target: Path) -> Path:
    """A copy of the emulated function's code with ``ref``'s chalicelib in place of this one's."""
    shutil.copytree(runtime_task, target)
    shutil.rmtree(target / "chalicelib")
    archive = subprocess.run(["git", "archive", ref, "chalicelib"], capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    return target


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=3_000_000, help="events per day (three days are generated)")
    parser.add_argument("--slices", default="750000", help="rows_per_slice values; 0: no slicing")
    parser.add_argument("--before", default="main", help="git ref whose chalicelib runs too (empty: this release only)")
    parser.add_argument("--lake", default="", help="keep the generated lake here and reuse it (default: a temporary one)")
    args = parser.parse_args()

    from bench._lambdaprobe import emulation
    from bench.bench_dashboard_queries import APP, LAST_DAY, generate

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.lake) if args.lake else Path(tmp) / "lake"
        marker = root / "ROLLUP_MEMORY"
        if not marker.exists() or marker.read_text() != str(args.events):
            generate(root, args.events * 3, 3)
            for path in root.glob("events/*/*/*.parquet"):
                _spread_ids(path)
            marker.write_text(str(args.events))
        day = LAST_DAY - timedelta(days=1)  # the middle day: the day before and after are read too
        sizes = {p.parent.name: p.stat().st_size for p in root.glob("events/*/*/*.parquet")}
        print(json.dumps({"day_file_bytes": sizes}), flush=True)
        runtime = emulation(Path(tmp), "rollup_memory_probe", PROBE)
        tasks = {"after": runtime.task}
        if args.before:
            tasks["before"] = _task_with(runtime.task, args.before, Path(tmp) / "task-before")
        spill_root = Path(tmp) / "spill"  # the function's /tmp
        spill_root.mkdir()
        for value in [int(s) for s in args.slices.split(",")]:
            for code, task in tasks.items():
                event = {"root": str(root), "app": APP, "day": day.isoformat(), "rows_per_slice": value or 10**12, "code": code}
                [outcome] = runtime.invoke(
                    "export_worker", [event], {"TMPDIR": str(spill_root)}, task=task, handler="rollup_memory_probe.handler"
                )
                if "result" not in outcome:
                    raise SystemExit(f"{code} rows_per_slice={value}: {outcome.get('message')}\n{outcome.get('trace')}")
                print(json.dumps(outcome["result"]), flush=True)
        print(json.dumps({"python": runtime.target.describe(), "events_per_day": args.events, "load": os.getloadavg()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
