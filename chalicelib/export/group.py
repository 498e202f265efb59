"""One group of one run: read the group's shards for the window, drop retries, write Parquet.

What a fan-out worker runs (``export_worker``), and what the coordinator runs inline when
there is one group. Idempotent per (seq, group): file names derive from both, so a rerun
overwrites its own files; ``mark_done`` comes last.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from chalicelib.export import compact, dedup, plan
from chalicelib.export.reader import RawQuery
from chalicelib.export.state import Pending, StateStore
from chalicelib.lake import layout, transform
from chalicelib.lake.parquetio import Lake
from chalicelib.settings import Settings
from chalicelib.store.keys import Dataset

Crash = Callable[[str], None]


@dataclass
class GroupResult:
    events: int = 0
    duplicates: int = 0
    rejected: int = 0
    files: int = 0
    bytes: int = 0
    partitions: set[str] = field(default_factory=set)

    def add(self, other: GroupResult) -> None:
        self.events += other.events
        self.duplicates += other.duplicates
        self.rejected += other.rejected
        self.files += other.files
        self.bytes += other.bytes
        self.partitions |= other.partitions


@dataclass(frozen=True)
class GroupExport:
    settings: Settings
    reader: RawQuery
    lake: Lake
    state: StateStore
    table: Any  # the DynamoDB client (dirty-partition list)
    crash: Crash
    dedup_lookback_ms: int

    def run(self, pending: Pending, group: int, event_lines: transform.Blocks | None = None) -> GroupResult:
        """Export one group; ``event_lines``: its events as the coordinator's planning read them, if it did."""
        window = plan.Window(pending.lo_ms, pending.hi_ms)
        shards = pending.groups[group]
        prefix = self.settings.lake_prefix
        result = GroupResult()
        events = transform.lines_to_table("events", self._read("events", window, shards) if event_lines is None else event_lines)
        raw_count = events.num_rows
        events = dedup.first_received(events)
        hours = dedup.hours_of(events)  # a retry has its first copy's client hour
        seen = dedup.load_seen(self.lake, prefix, window.lo_ms - self.dedup_lookback_ms, pending.seq, hours)
        events, _ = dedup.drop_seen(events, seen)
        result.events, result.duplicates = events.num_rows, raw_count - events.num_rows
        rejected = transform.lines_to_table("rejected_events", self._read("rejected_events", window, shards))
        result.rejected = rejected.num_rows
        for dataset, table in (("events", events), ("rejected_events", rejected)):
            for app_id, dt, part in transform.split_partitions(transform.with_dt(dataset, table)):
                key = layout.data_key(prefix, dataset, app_id, dt, pending.seq, group)
                result.bytes += self.lake.put_table(key, part)
                result.files += 1
                result.partitions.add(f"{dataset}/{app_id}/{dt}")
                self.crash("after_data_file")
        self.crash("after_files")
        compact.mark_dirty(self.table, self.settings.table, result.partitions)
        dedup.write_index(self.lake, prefix, pending.hi_ms, pending.seq, group, events)
        self.crash("after_index")
        self.state.mark_done(pending.seq, group)
        self.crash("after_mark_done")
        return result

    def _read(self, dataset: Dataset, window: plan.Window, shards: list[int]) -> transform.Blocks:
        return self.reader.read_many(plan.key_ranges(dataset, window, self.settings.write_shards, shards))
