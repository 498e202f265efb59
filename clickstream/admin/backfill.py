"""Re-export a received-time window from DynamoDB into the lake, idempotently.

For when files were lost or a column was added: every item still in the table (TTL,
7 days by default) whose receive time is in the window is read again, and merged into
its partition with the compaction protocol (staged under ``_state/``, merged with the
partition's files, deduplicated by (app_id, event_id), inputs deleted). Running it twice
changes nothing the second time. It holds the export lease (``Exporter.exclusive``, which
finishes a pending run first) and works through the ``Session`` it yields, so it never races a run.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Callable

from chalicelib.export import compact, dedup, plan, rollups
from chalicelib.export.run import Exporter
from chalicelib.lake import layout, transform

HOUR_MS = 3_600_000


@dataclass
class BackfillReport:
    events: int = 0
    rejected: int = 0
    partitions: int = 0


def hours(since_ms: int, until_ms: int) -> list[plan.Window]:
    """The window cut into hour-aligned pieces, so memory stays bounded."""
    pieces, lo = [], since_ms
    while lo < until_ms:
        hi = min(until_ms, (lo // HOUR_MS + 1) * HOUR_MS)
        pieces.append(plan.Window(lo, hi))
        lo = hi
    return pieces


def backfill(
    exporter: Exporter, since_ms: int, until_ms: int, progress: Callable[[int], None] = lambda n: None
) -> BackfillReport:
    report = BackfillReport()
    with exporter.exclusive() as session:
        s = session.settings
        hold = f"backfill-{uuid.uuid4().hex[:12]}"
        for window in hours(since_ms, until_ms):
            for dataset in plan.DATASETS:
                lines = session.reader.read_many(plan.key_ranges(dataset, window, s.write_shards))
                table = transform.lines_to_table(dataset, lines)
                if dataset == "events":
                    table = dedup.first_received(table)
                    report.events += table.num_rows
                else:
                    report.rejected += table.num_rows
                for app_id, dt, part in transform.split_partitions(transform.with_dt(dataset, table)):
                    if dataset == "events":
                        # Rows merged into a day change its rollups and its neighbours': readers held
                        # off and the days marked before the merge (chalicelib/export/rollups.py).
                        day = date.fromisoformat(dt)
                        rollups.hold(session.lake, s.lake_prefix, app_id, f"{hold}-{dt}", (day - timedelta(days=2)).isoformat())
                        rollups.mark(session.table, s.table, [(app_id, day)])
                    staged = layout.staging_key(s.lake_prefix, uuid.uuid4().hex)
                    session.lake.put_table(staged, part)
                    prefix = layout.partition_prefix(s.lake_prefix, dataset, app_id, dt)
                    existing = [o["Key"] for o in session.lake.list(prefix) if o["Key"].endswith(".parquet")]
                    compact.merge_into(session.lake, session.table, s, prefix, existing + [staged], session.crash)
                    report.partitions += 1
                if dataset == "events" and table.num_rows:
                    # Later retries of backfilled events are dropped like any other's.
                    dedup.write_index(session.lake, s.lake_prefix, window.hi_ms, session.seq, 999, table)
            session.renew()
            progress(1)
    return report
