"""A copy of the benchmark's modeled lake where some visitors are *mixed*: a traveller's country
changes between events, so a view filtered by country keeps part of their days and sessions (the
generated lake has none: every visitor keeps one country, clickstream/dashboard/scope.py's exact
split then reads no raw event before the last rolled-up day).

The visitors whose key (chalicelib/lake/visitor_key.py) is a multiple of ``1 / --share`` get, on
a third of their events (by a hash of the event id), ``US`` where they had another country and
``DE`` where they had ``US``; the events are written back with the lake's writer (one file a day,
as the source's), and the days the source rolled up are rolled up again
(bench.bench_rollups.build, as the export's housekeeping builds them). Then:

    .venv/bin/python -m bench.bench_mixed_lake --share 0.01
    .venv/bin/python -m bench.bench_filtered_page --days 30 --repeat 2 --filter country=US --lake modeled-10000000-30d-mixed-10
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from bench.bench_dashboard_queries import APP, ROOT
from bench.bench_rollups import build
from chalicelib.lake import rollup, visitor_key
from chalicelib.lake.parquetio import parquet_bytes


def travel(table: pa.Table, every: int) -> tuple[pa.Table, set[int]]:
    """``table`` (one day's events) with a third of the mixed visitors' events moved across the
    US border, and those visitors' keys."""
    keys = visitor_key.keys(visitor_key.visitors(table["anonymous_id"], table["user_id"])).to_numpy(zero_copy_only=False)
    mixed = (keys % every) == 0
    ids = table["event_id"].to_pylist()
    third = np.array([hashlib.md5(str(i).encode()).digest()[0] % 3 == 0 for i in ids], dtype=bool)
    moved = pa.array(mixed & third)
    country = table["country"]
    flipped = pc.if_else(pc.fill_null(pc.equal(country, "US"), False), pa.scalar("DE"), pa.scalar("US"))
    at = table.schema.get_field_index("country")
    return table.set_column(at, "country", pc.if_else(moved, flipped, country)), {int(k) for k in keys[mixed]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000, help="the modeled lake bench.bench_rollups built")
    parser.add_argument("--lake-days", type=int, default=30, help="that lake's days")
    parser.add_argument("--share", type=float, default=0.01, help="the share of visitors who travel")
    args = parser.parse_args(argv)
    source = ROOT / "results" / f"modeled-{args.events}-{args.lake_days}d"
    every = max(1, round(1 / args.share))
    target = ROOT / "results" / f"{source.name}-mixed-{round(args.share * 1000)}"
    if target.exists():
        shutil.rmtree(target)
    travellers: set[int] = set()
    for folder in sorted((source / "events" / f"app_id={APP}").glob("dt=*")):
        out = target / "events" / f"app_id={APP}" / folder.name
        out.mkdir(parents=True)
        for path in sorted(folder.glob("*.parquet")):
            table, keys = travel(pq.read_table(path), every)
            travellers |= keys
            (out / path.name).write_bytes(parquet_bytes(table))
    rolled = sorted(date.fromisoformat(p.name[3:]) for p in (source / "rollup_sessions" / f"app_id={APP}").glob("dt=*"))
    cost = build(target, rolled)
    print(f"{target}: {len(travellers):,} travelling visitors (1 in {every}), {len(rolled)} days rolled up again: {cost}")
    print(os.popen("uptime").read().strip())
    days = [p.name[3:] for p in (target / "events" / f"app_id={APP}").glob("dt=*")]
    assert rollup.rolled_through(days, [str(d) for d in rolled]), "the copy must be rolled up as its source is"
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
