"""visitor_key with or without a dictionary in a key-sorted day file (parquetio's options, 25,000-row
groups): one day of the modeled lake as built, and the same day resampled to 4.4 M visitor-days
(bench_key_ranges.resample: a day at 1 billion events a month). Byte counts, independent of load.

    PYTHONPATH=. .venv/bin/python -m bench.bench_key_dictionary [--lake bench/results/modeled-10000000-30d]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from bench import bench_key_ranges as bkr
from bench.bench_dashboard_queries import ROOT
from chalicelib.lake import parquetio, rollup
from clickstream.lake import billing


def write(name: str, table: pa.Table, path: Path, key_plain: bool) -> dict[str, int]:
    plain = set(rollup.PLAIN.get(name, ())) - {"visitor_key"} | ({"visitor_key"} if key_plain else set())
    options = parquetio.options(table.column_names, plain)
    pq.write_table(table, path, row_group_size=parquetio.KEY_SORTED_GROUP_ROWS, **options)
    return billing.column_sizes(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lake", type=Path, default=ROOT / "results" / "modeled-10000000-30d")
    parser.add_argument("--day", default="2026-11-10")
    args = parser.parse_args(argv)
    day = bkr.read_day(args.lake, args.day)
    big, _ = bkr.resample(day, 4_400_000, np.random.default_rng(7), 17)
    with tempfile.TemporaryDirectory(prefix="key-dictionary-") as tmp:
        for label, tables in (("bench day", day), ("4.4M day", big)):
            for name in bkr.TABLES:
                t = tables[name].sort_by([(c, "ascending") for c in rollup.KEY_SORTED[name]])
                n = t.num_rows
                d = write(name, t, Path(tmp) / "d.parquet", False)
                p = write(name, t, Path(tmp) / "p.parquet", True)
                print(
                    f"{label} {name} {n:,} rows: key dict {d['visitor_key'] / n:.3f} plain {p['visitor_key'] / n:.3f} B/row; "
                    f"total dict {sum(d.values()) / n:.3f} plain {sum(p.values()) / n:.3f}",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
