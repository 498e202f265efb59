"""One export pass: lease → finish or redo a pending run → plan the next window → export →
commit → compact closed days → release. Every door (the schedule, `clickstream etl run`,
the local scheduler) calls ``Exporter.run_once``.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterator

from chalicelib.errors import LeaseHeld
from chalicelib.export import compact, dedup, plan
from chalicelib.lake import layout, transform
from chalicelib.lake.parquetio import Lake
from chalicelib.export.reader import RawQuery
from chalicelib.export.state import ExportState, Pending, StateStore
from chalicelib.privacy import retention
from chalicelib.settings import Settings
from chalicelib.store.apps import AppStore

log = logging.getLogger("clickstream.export")

Crash = Callable[[str], None]
Invoke = Callable[[dict[str, Any]], None]


def _no_crash(point: str) -> None:
    return None


@dataclass
class GroupResult:
    events: int = 0
    duplicates: int = 0
    rejected: int = 0
    files: int = 0
    bytes: int = 0
    partitions: set[str] = field(default_factory=set)

    def add(self, other: "GroupResult") -> None:
        self.events += other.events
        self.duplicates += other.duplicates
        self.rejected += other.rejected
        self.files += other.files
        self.bytes += other.bytes
        self.partitions |= other.partitions


@dataclass
class RunReport:
    status: str  # exported | idle | skipped | fanned_out | waiting
    seq: int | None = None
    window_lo_ms: int | None = None
    window_hi_ms: int | None = None
    groups: int = 0
    events: int = 0
    duplicates_dropped: int = 0
    rejected: int = 0
    files: int = 0
    partitions: int = 0
    bytes: int = 0
    compacted_partitions: int = 0
    retention_removed: int = 0  # partitions removed by app retention (once a day)
    duration_s: float = 0.0
    lag_s: float | None = None

    def log_line(self) -> str:
        return json.dumps({"msg": "export run", **asdict(self)}, sort_keys=True)


class Exporter:
    def __init__(
        self,
        settings: Settings,
        dynamodb: Any,
        s3: Any,
        *,
        invoke: Invoke | None = None,
        clock: Callable[[], float] = time.time,
        owner: str | None = None,
        lease_ms: int = 16 * 60_000,
        budget: int | None = None,
        max_groups: int = 64,
        crash: Crash = _no_crash,
        compact_min_files: int = 2,
        metrics: Callable[[str, float], None] | None = None,
        dedup_lookback_ms: int = 48 * 3_600_000,
        count_above_ms: int = 15 * 60_000,
    ) -> None:
        self.settings = settings
        self.state = StateStore(dynamodb, settings.table)
        self.reader = RawQuery(dynamodb, settings.table)
        self.lake = Lake(s3, settings.bucket)
        self.invoke = invoke
        self.clock = clock
        self.owner = owner or f"export-{uuid.uuid4().hex[:12]}"
        self.lease_ms = lease_ms
        self.budget = budget or settings.export_budget_events
        self.max_groups = max_groups
        self.crash = crash
        self.compact_min_files = compact_min_files
        self.metrics = metrics
        self.dedup_lookback_ms = dedup_lookback_ms
        self.count_above_ms = count_above_ms

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    # -- the coordinator ---------------------------------------------------------
    def run_once(self) -> RunReport:
        started = time.monotonic()
        try:
            state = self.state.acquire(self.owner, self.now_ms(), self.lease_ms)
        except LeaseHeld:
            report = RunReport(status="skipped")
            log.info(report.log_line())
            return report
        try:
            report = self._run_locked(state)
        except Exception:
            # A failure we see: free the lease so the next run retries at once. A hard kill
            # (timeout, OOM) never gets here; the lease then expires after ``lease_ms``.
            self.state.release(self.owner)
            raise
        self.state.release(self.owner)
        report.duration_s = round(time.monotonic() - started, 3)
        if self.metrics and report.lag_s is not None:
            self.metrics("ExportLagSeconds", report.lag_s)
        log.info(report.log_line())
        return report

    def _run_locked(self, state: ExportState) -> RunReport:
        compact.resume(self.lake, self.state_client(), self.settings, self.crash)
        totals = GroupResult()
        report = RunReport(status="idle")
        if state.pending is not None:
            finished = self._finish(state.pending, totals)
            if not finished:
                report.status = "waiting"
                report.seq = state.pending.seq
                return report
            state = ExportState(state.pending.hi_ms, state.pending.seq, None)
            report.status = "exported"
        now = self.now_ms()
        window = plan.next_window(state.watermark_ms, now, self.settings.settle_seconds * 1000, (self.settings.event_ttl_days + 1) * 86_400_000)
        if window is not None:
            window, groups = self._plan_groups(window)
            pending = Pending(state.seq + 1, window.lo_ms, window.hi_ms, groups, frozenset(), now)
            self.state.begin(self.owner, pending)
            self.crash("after_begin")
            report.seq, report.window_lo_ms, report.window_hi_ms, report.groups = pending.seq, window.lo_ms, window.hi_ms, len(groups)
            if self.invoke is not None and len(groups) > 1:
                for g in range(len(groups)):
                    self.invoke({"seq": pending.seq, "group": g})
                report.status = "fanned_out"
            else:
                self._finish(pending, totals)
                state = ExportState(pending.hi_ms, pending.seq, None)
                report.status = "exported"
        if report.status in ("exported", "idle"):
            report.compacted_partitions = compact.compact_closed(
                self.lake, self.state_client(), self.settings, self.now_ms(), self.crash, self.compact_min_files
            )
            self._expire_dedup_index()
            report.retention_removed = self._apply_retention()
        report.events, report.duplicates_dropped, report.rejected = totals.events, totals.duplicates, totals.rejected
        report.files, report.bytes, report.partitions = totals.files, totals.bytes, len(totals.partitions)
        watermark = state.watermark_ms
        report.lag_s = round((self.now_ms() - watermark) / 1000, 3) if watermark is not None else None
        return report

    @contextmanager
    def exclusive(self, wait_s: float = 0.0, poll_s: float = 0.1) -> Iterator[ExportState]:
        """Hold the export lease for other work on the lake (erasure, backfill), pending run finished.

        While it is held no export can run, so nothing can write rows behind this work's back.
        """
        deadline = time.monotonic() + wait_s
        while True:
            try:
                state = self.state.acquire(self.owner, self.now_ms(), self.lease_ms)
                break
            except LeaseHeld:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(poll_s)
        try:
            if state.pending is not None and self._finish(state.pending, GroupResult()):
                state = ExportState(state.pending.hi_ms, state.pending.seq, None)
            yield state
        except Exception:
            self.state.release(self.owner)
            raise
        self.state.release(self.owner)

    def state_client(self) -> Any:
        return self.state._client

    def _finish(self, pending: Pending, totals: GroupResult) -> bool:
        """Run the groups not yet done (inline, or re-invoke stalled workers), then commit."""
        missing = [g for g in range(len(pending.groups)) if g not in pending.done]
        if missing and self.invoke is not None and len(pending.groups) > 1:
            stalled = self.now_ms() - pending.started_ms > self.lease_ms
            if not stalled:
                return False
            for g in missing:
                self.invoke({"seq": pending.seq, "group": g})
            return False
        for g in missing:
            totals.add(self.run_group(pending, g))
        self.crash("before_commit")
        self.state.commit(self.owner, pending)
        self.crash("after_commit")
        return True

    def _plan_groups(self, window: plan.Window) -> tuple[plan.Window, list[list[int]]]:
        """Count the window per shard; shrink it while one shard alone is over budget.

        Counting reads the window once more (as many read units as the export itself), so a
        window of the normal cadence is exported in one group without it; only a longer one
        (a backlog after downtime, the first run) is counted and split.
        """
        shards = self.settings.write_shards
        if window.hi_ms - window.lo_ms <= self.count_above_ms:
            return window, [list(range(shards))]
        for _ in range(40):
            counts = [0] * shards
            ranges = plan.key_ranges("events", window, shards)
            for key_range, n in zip(ranges, self.reader.count_many(ranges)):
                counts[int(key_range.pk.rsplit("#", 1)[1], 16)] += n
            if max(counts) <= self.budget or window.hi_ms - window.lo_ms <= 1:
                return window, plan.assign_groups(counts, self.budget, self.max_groups)
            window = plan.Window(window.lo_ms, window.lo_ms + (window.hi_ms - window.lo_ms) // 2)
        return window, plan.assign_groups(counts, self.budget, self.max_groups)

    # -- one group: what a fan-out worker runs -----------------------------------------
    def run_group(self, pending: Pending, group: int) -> GroupResult:
        window = plan.Window(pending.lo_ms, pending.hi_ms)
        shards = pending.groups[group]
        prefix = self.settings.lake_prefix
        result = GroupResult()
        events = transform.lines_to_table("events", self.reader.read_many(plan.key_ranges("events", window, self.settings.write_shards, shards)))
        raw_count = events.num_rows
        events = dedup.first_received(events)
        seen = dedup.load_seen(self.lake, prefix, window.lo_ms - self.dedup_lookback_ms, pending.seq)
        events, _ = dedup.drop_seen(events, seen)
        result.events, result.duplicates = events.num_rows, raw_count - events.num_rows
        rejected = transform.lines_to_table(
            "rejected_events", self.reader.read_many(plan.key_ranges("rejected_events", window, self.settings.write_shards, shards))
        )
        result.rejected = rejected.num_rows
        for dataset, table in (("events", events), ("rejected_events", rejected)):
            for app_id, dt, part in transform.split_partitions(transform.with_dt(dataset, table)):
                key = layout.data_key(prefix, dataset, app_id, dt, pending.seq, group)
                result.bytes += self.lake.put_table(key, part)
                result.files += 1
                result.partitions.add(f"{dataset}/{app_id}/{dt}")
                self.crash("after_data_file")
        self.crash("after_files")
        compact.mark_dirty(self.state_client(), self.settings.table, result.partitions)
        self.lake.put_table(layout.dedup_key(prefix, pending.hi_ms, pending.seq, group), dedup.index_table(events))
        self.crash("after_index")
        self.state.mark_done(pending.seq, group)
        self.crash("after_mark_done")
        return result

    def run_worker(self, payload: dict[str, Any]) -> GroupResult | None:
        """Entry of the export_worker function: export one group of a pending run."""
        state = self.state.read()
        pending = state.pending
        if pending is None or pending.seq != int(payload["seq"]) or int(payload["group"]) in pending.done:
            return None  # committed or done already: a duplicate delivery
        return self.run_group(pending, int(payload["group"]))

    def _apply_retention(self) -> int:
        now = self.now_ms()
        client = self.state_client()
        if not retention.due_today(client, self.settings.table, now):
            return 0
        apps = [(a.app_id, a.retention_days) for a in AppStore(client, self.settings.table, cache_seconds=0).list_apps()]
        removed = retention.apply(self.lake, self.settings.lake_prefix, apps, now)
        for r in removed:
            log.info(json.dumps({"msg": "retention removed partition", "app_id": r.app_id, "dataset": r.dataset, "dt": r.dt, "files": r.files}))
        return len(removed)

    def _expire_dedup_index(self) -> None:
        old = dedup.expired_index_keys(self.lake, self.settings.lake_prefix, self.now_ms() - 2 * self.dedup_lookback_ms)
        if old:
            self.lake.delete(old)

