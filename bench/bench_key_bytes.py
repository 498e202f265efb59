"""Bytes per visitor-day row, per column, at production scale: today's 64-bit hashed visitor key
against a dense visitor id (an integer the ETL would assign per app, in order of first visit),
sorted and written DELTA_BINARY_PACKED. What a distinct-visitor panel over 90 days makes Athena
read depends on it (docs/decisions/0017-month-grain-and-dense-visitor-ids.md).

    .venv/bin/python -m bench.bench_key_bytes [--rows 4400000] [--day 2026-11-10]

One day of rollup_visitor_days from the modeled benchmark lake (bench.bench_rollups builds it
into bench/results/modeled-10000000-30d) is resampled to ``--rows`` rows (4.4 million: a day at
1 billion events a month and 7.5 events per visitor-day, the lake's ratio), so every column but
the key keeps the lake's distribution. The key column is then written three ways in one
snappy file each, the other columns as the rollups write them (dictionary):

* ``hashed``: today's key, a random 64-bit integer per visitor (decision 0015), plain;
* ``dense N``: the day's ids drawn without replacement from 0..N-1 (N visitors ever seen by the
  app), sorted, DELTA_BINARY_PACKED; for N = 100 million, 300 million and 3 billion.

Printed: compressed bytes per row of each column, from the files' Parquet metadata (what
clickstream.lake.billing counts). No timing: the figures do not depend on the machine.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from bench.bench_dashboard_queries import APP, ROOT
from clickstream.lake import billing

LAKE = ROOT / "results" / "modeled-10000000-30d"
DIRECTORY_SIZES = (100_000_000, 300_000_000, 3_000_000_000)


def dense_ids(rng: np.random.Generator, rows: int, directory: int) -> np.ndarray:
    """``rows`` distinct ids out of ``directory``, sorted."""
    picked: np.ndarray = np.unique(rng.integers(0, directory, size=int(rows * 1.01)))
    while picked.size < rows:  # collisions at small directories: draw more
        picked = np.unique(np.concatenate([picked, rng.integers(0, directory, size=rows)]))
    return np.sort(rng.permutation(picked)[:rows])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=4_400_000)
    parser.add_argument("--day", default="2026-11-10")
    parser.add_argument("--lake", type=Path, default=LAKE)
    args = parser.parse_args(argv)
    folder = args.lake / "rollup_visitor_days" / f"app_id={APP}" / f"dt={args.day}"
    if not folder.is_dir():
        print(f"no {folder}: build the modeled lake with bench.bench_rollups, or pass --lake/--day", file=sys.stderr)
        return 2
    day = pq.read_table(folder)
    rng = np.random.default_rng(1)
    rows = day.take(pa.array(rng.integers(0, day.num_rows, size=args.rows))).drop_columns(["visitor_key"])
    others = list(rows.column_names)
    print(f"{day.num_rows:,} visitor-days of {args.day} resampled to {args.rows:,} rows")
    print("bytes per row: " + ", ".join(others + ["visitor_key"]))
    with tempfile.TemporaryDirectory() as tmp:
        variants: list[tuple[str, pa.Array, dict]] = [
            ("hashed", pa.array(rng.integers(-(2**63), 2**63 - 1, size=args.rows, dtype=np.int64)), {}),
        ]
        for n in DIRECTORY_SIZES:
            ids = pa.array(dense_ids(rng, args.rows, n).astype(np.int64))
            variants.append((f"dense {n:,}", ids, {"visitor_key": "DELTA_BINARY_PACKED"}))
        for name, keys, encoding in variants:
            table = rows.append_column("visitor_key", keys)
            path = Path(tmp) / "day.parquet"
            pq.write_table(table, path, compression="snappy", use_dictionary=others, column_encoding=encoding or None)
            sizes = billing.column_sizes(path)
            print(f"{name:>18}: " + ", ".join(f"{sizes[c] / args.rows:.3f}" for c in others + ["visitor_key"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
