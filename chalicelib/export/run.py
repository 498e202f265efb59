"""The coordinator of one export pass: lease → finish or redo a pending run → plan the next
window → export its groups (inline or fanned out) → commit → housekeeping → release.

Every door (the schedule, `clickstream etl run`, the local scheduler) calls
``Exporter.run_once``; the worker function calls ``Exporter.run_worker``. What one group
does is in group.py, what follows a commit in housekeeping.py; work that needs the lake
without a run (backfill, erasure) gets a ``Session`` from ``Exporter.exclusive``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterator

from chalicelib.errors import LeaseHeld, TransientError
from chalicelib.export import plan
from chalicelib.export.budget import effective_budget
from chalicelib.export.group import GroupExport, GroupResult
from chalicelib.export.housekeeping import Housekeeping
from chalicelib.export.reader import KeyRange, RawQuery
from chalicelib.export.session import Session
from chalicelib.export.state import ExportState, Pending, StateStore
from chalicelib.lake.parquetio import Lake
from chalicelib.lake.transform import Blocks
from chalicelib.settings import Settings

log = logging.getLogger("clickstream.export")

Crash = Callable[[str], None]
Invoke = Callable[[dict[str, Any]], None]


def _no_crash(point: str) -> None:
    return None


def _in_read_order(
    window: plan.Window, ranges: list[KeyRange], parts: list[Blocks | None], shards: int, only: list[int] | None
) -> Blocks:
    """The lines of the shards ``only`` (None: all), range by range in the order a group reads them."""
    by_range = dict(zip(ranges, parts))
    out = Blocks()
    for key_range in plan.key_ranges("events", window, shards, only):
        part = by_range[key_range]
        assert part is not None, f"{key_range} was not read to its end"
        out.extend(part)
    return out


class PendingRunBusy(TransientError):
    """Work needing the lease waited for a fanned-out run's workers to finish, in vain."""


class _OverBudget(Exception):
    """Planning's read of a backlog came past the budget: this range is dropped, no new one begun."""


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
    retention_removed: int = 0
    rolled_up_days: int = 0  # days whose rollup tables were (re)written  # partitions removed by app retention (once a day)
    duration_s: float = 0.0
    lag_s: float | None = None
    lease_owner: str | None = None  # skipped: who holds the lease, and until when
    lease_until_ms: int | None = None

    def log_line(self) -> str:
        return json.dumps({"msg": "export run", **asdict(self)}, sort_keys=True)


@dataclass(frozen=True)
class Tuning:
    """The export's knobs; the defaults are what production runs."""

    lease_ms: int = 16 * 60_000  # longer than the export function's timeout (15 min)
    budget: int | None = None  # items per group; None: settings.export_budget_events
    max_groups: int = 64
    compact_min_files: int = 2
    dedup_lookback_ms: int = 48 * 3_600_000
    count_above_ms: int = 15 * 60_000  # windows longer than this are counted and split


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
        crash: Crash = _no_crash,
        metrics: Callable[[str, float], None] | None = None,
        tuning: Tuning = Tuning(),
    ) -> None:
        self.settings = settings
        self._table = dynamodb
        self.state = StateStore(dynamodb, settings.table)
        self.reader = RawQuery(dynamodb, settings.table)
        self.lake = Lake(s3, settings.bucket)
        self.invoke = invoke
        self.clock = clock
        self.owner = owner or f"export-{uuid.uuid4().hex[:12]}"
        self.crash = crash
        self.metrics = metrics
        self.lease_ms = tuning.lease_ms
        self.budget = tuning.budget or effective_budget(settings.export_budget_events, settings.lambda_memory_mb)
        self.max_groups = tuning.max_groups
        self.count_above_ms = tuning.count_above_ms
        self.group = GroupExport(settings, self.reader, self.lake, self.state, dynamodb, crash, tuning.dedup_lookback_ms)
        # (seq, window lo, window hi, group 0's shards, their event lines) read while planning
        self._prefetched: tuple[int, int, int, list[int], Blocks] | None = None
        self.housekeeping = Housekeeping(settings, self.lake, dynamodb, crash, tuning.compact_min_files, tuning.dedup_lookback_ms)

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    # -- the coordinator ---------------------------------------------------------
    def run_once(self) -> RunReport:
        started = time.monotonic()
        try:
            state = self.state.acquire(self.owner, self.now_ms(), self.lease_ms)
        except LeaseHeld:
            owner, until = self.state.lease()
            report = RunReport(status="skipped", lease_owner=owner, lease_until_ms=until)
            log.info(report.log_line())
            return report
        try:
            report = self._run_locked(state)
        except BaseException:
            # Any end we see (an error, a storage timeout, Ctrl-C, SIGTERM turned into
            # KeyboardInterrupt by the CLI) frees the lease so the next run starts at once.
            # The window begun is recorded as pending, so that run redoes it: still exactly once.
            # A hard kill (Lambda timeout, OOM, SIGKILL) never gets here; the lease then expires
            # after ``lease_ms``.
            self._release_after_failure()
            raise
        self.state.release(self.owner)
        report.duration_s = round(time.monotonic() - started, 3)
        if self.metrics and report.lag_s is not None:
            self.metrics("ExportLagSeconds", report.lag_s)
        log.info(report.log_line())
        return report

    def _run_locked(self, state: ExportState) -> RunReport:
        self.housekeeping.resume()
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
        window = plan.next_window(
            state.watermark_ms, now, self.settings.settle_seconds * 1000, (self.settings.event_ttl_days + 1) * 86_400_000
        )
        if window is not None:
            window, groups, lines = self._plan_groups(window)
            pending = Pending(state.seq + 1, window.lo_ms, window.hi_ms, groups, frozenset(), now)
            if lines is not None:
                self._prefetched = (pending.seq, window.lo_ms, window.hi_ms, groups[0], lines)
            self.state.begin(self.owner, pending)
            self.crash("after_begin")
            report.seq, report.window_lo_ms, report.window_hi_ms, report.groups = (
                pending.seq,
                window.lo_ms,
                window.hi_ms,
                len(groups),
            )
            if self.invoke is not None and len(groups) > 1:
                # Group 0 read while planning is exported here, from what was read (a worker would
                # read it again); the others by workers. If this run dies first, the next one finds
                # group 0 missing and, once the run is stalled, invokes a worker for it.
                kept = lines is not None
                for g in range(1 if kept else 0, len(groups)):
                    self.invoke({"seq": pending.seq, "group": g})
                if kept:
                    totals.add(self.run_group(pending, 0) or GroupResult())
                report.status = "fanned_out"
            else:
                self._finish(pending, totals)
                state = ExportState(pending.hi_ms, pending.seq, None)
                report.status = "exported"
        if report.status in ("exported", "idle"):
            report.compacted_partitions = self.housekeeping.compact(self.now_ms())
            self.housekeeping.expire_dedup_index(self.now_ms())
            report.retention_removed = self.housekeeping.apply_retention(self.now_ms())
            report.rolled_up_days = self.housekeeping.roll_up(self.now_ms())
        report.events, report.duplicates_dropped, report.rejected = totals.events, totals.duplicates, totals.rejected
        report.files, report.bytes, report.partitions = totals.files, totals.bytes, len(totals.partitions)
        watermark = state.watermark_ms
        report.lag_s = round((self.now_ms() - watermark) / 1000, 3) if watermark is not None else None
        return report

    @contextmanager
    def exclusive(self, wait_s: float = 0.0, poll_s: float = 0.1) -> Iterator[Session]:
        """Hold the export lease for other work on the lake (erasure, backfill), pending run finished.

        While it is held no export can run, so nothing can write rows behind this work's back:
        a half-done compaction is completed and the pending run committed first, its groups run
        here, except those a live worker claimed, whose ``mark_done`` is awaited (``PendingRunBusy``
        after ``wait_s``). ``wait_s`` bounds the wait for the lease and for those workers together.
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
            # A compaction killed between its output and its inputs' deletion leaves both in the
            # partition; the work handed this session would read (and rewrite) every row twice.
            # Completed first, as every run does (compact.py: resume runs first under the lease).
            self.housekeeping.resume()
            state = self._finish_before_session(state, deadline, poll_s)
            yield Session(self.settings, self.lake, self.reader, self._table, state.seq, self.crash, self._renew)
        except BaseException:
            self._release_after_failure()
            raise
        self.state.release(self.owner)

    def _finish_before_session(self, state: ExportState, deadline: float, poll_s: float) -> ExportState:
        """Commit the pending run before the session starts, waiting (lease renewed) while a
        worker still exports one of its groups: that worker may write files until it ends, and
        the session's work must see them (``StateStore.claim``)."""
        while state.pending is not None:
            pending = state.pending
            if self._finish(pending, GroupResult(), inline=True):
                return ExportState(pending.hi_ms, pending.seq, None)
            if time.monotonic() >= deadline:
                raise PendingRunBusy(
                    f"export run {pending.seq} still has groups being exported by workers (done: {sorted(pending.done)} "
                    f"of {len(pending.groups)}); nothing was changed: try again once they have finished (at most "
                    f"{self.lease_ms // 1000} s after they started)"
                )
            time.sleep(poll_s)
            self._renew()
            state = self.state.read()
        return state

    def _release_after_failure(self) -> None:
        """Release without hiding the failure that got us here (if storage is down, the lease expires)."""
        try:
            self.state.release(self.owner)
        except Exception as exc:
            log.warning(
                json.dumps({"msg": "export lease not released; it expires on its own", "owner": self.owner, "error": str(exc)})
            )

    def _renew(self) -> None:
        self.state.renew(self.owner, self.now_ms(), self.lease_ms)

    def _finish(self, pending: Pending, totals: GroupResult, inline: bool = False) -> bool:
        """Run the groups not yet done (inline, or re-invoke stalled workers), then commit.
        False: not committed yet (workers invoked or still running a group they claimed)."""
        missing = [g for g in range(len(pending.groups)) if g not in pending.done]
        if missing and self.invoke is not None and len(pending.groups) > 1 and not inline:
            stalled = self.now_ms() - pending.started_ms > self.lease_ms
            if not stalled:
                return False
            for g in missing:
                self.invoke({"seq": pending.seq, "group": g})
            return False
        busy = False
        for g in missing:
            result = self.run_group(pending, g)
            if result is None:
                busy = True  # a live worker has it (or just finished it): wait for its mark_done
            else:
                totals.add(result)
        if busy:
            return False
        self.crash("before_commit")
        self.state.commit(self.owner, pending)
        self.crash("after_commit")
        return True

    def _plan_groups(self, window: plan.Window) -> tuple[plan.Window, list[list[int]], Blocks | None]:
        """The window's groups, and group 0's event lines when planning had to read them anyway.

        A window of the normal cadence is one group, unread. A longer one (a backlog after
        downtime, the first run) may hold more than one group can export: it is read, shard
        after shard. If the reads stay within the budget, that read is the plan (one group) and
        its lines are exported as they are, so each item is read once. Past the budget the read
        stops, and what it finished is kept: the shards read to their end become group 0 (their
        lines exported as read), and only the key ranges not finished are COUNTed to split the
        other shards into groups. Only when one unread shard alone is over the budget is the read
        dropped and the window counted and halved as before.
        """
        shards = self.settings.write_shards
        if window.hi_ms - window.lo_ms <= self.count_above_ms:
            return window, [list(range(shards))], None
        ranges = plan.shard_major(plan.key_ranges("events", window, shards))
        parts = self._read_within_budget(ranges)
        finished = [p is not None for p in parts]
        if all(finished):
            return window, [list(range(shards))], _in_read_order(window, ranges, parts, shards, None)
        unread = [r for r, done in zip(ranges, finished) if not done]
        counts = plan.shard_counts(unread, self.reader.count_many(unread), shards)
        groups = plan.groups_after_read(plan.finished_shards(ranges, finished, shards), counts, self.budget, self.max_groups)
        if groups is not None:
            lines = _in_read_order(window, ranges, parts, shards, groups[0])
            return window, groups, lines
        del parts
        for _ in range(40):
            ranges = plan.key_ranges("events", window, shards)
            counts = plan.shard_counts(ranges, self.reader.count_many(ranges), shards)
            step = plan.plan_groups(window, counts, self.budget, self.max_groups)
            if isinstance(step, plan.GroupPlan):
                return step.window, step.groups, None
            window = step
        return window, plan.assign_groups(counts, self.budget, self.max_groups), None

    def _read_within_budget(self, ranges: list[KeyRange], threads: int = 8) -> list[Blocks | None]:
        """Each range's event lines, or None for a range not read to its end: past the budget
        every reader thread stops at its next page and no new range is begun, so memory stays
        about one budget (plus a page per thread). What the finished ranges hold is at most the
        budget: a range counts as finished only if its last page came back within it."""
        read = 0
        lock = threading.Lock()
        stop = threading.Event()

        def on_page(items: int) -> None:
            nonlocal read
            with lock:
                read += items
                over = read > self.budget
            if over:
                stop.set()
                raise _OverBudget

        def one(key_range: KeyRange) -> Blocks | None:
            if stop.is_set():
                return None
            try:
                return self.reader.read(key_range, on_page)
            except _OverBudget:
                return None

        if not ranges:
            return []
        with ThreadPoolExecutor(max_workers=min(threads, len(ranges))) as pool:
            return list(pool.map(one, ranges))

    # -- one group: what a fan-out worker runs -----------------------------------------
    def run_group(self, pending: Pending, group: int, worker: bool = False) -> GroupResult | None:
        """Export one group, once claimed (``StateStore.claim``); None if the claim was refused."""
        if not self.state.claim(pending.seq, group, self.owner, self.now_ms(), self.lease_ms, worker):
            self._prefetched = None
            return None
        lines = None
        kept = self._prefetched
        if kept is not None and group == 0 and kept[:4] == (pending.seq, pending.lo_ms, pending.hi_ms, pending.groups[0]):
            lines = kept[4]  # the same shards of the same settled window: their items cannot have changed since
        self._prefetched = None
        return self.group.run(pending, group, lines)

    def run_worker(self, payload: dict[str, Any]) -> GroupResult | None:
        """Entry of the export_worker function: export one group of a pending run."""
        state = self.state.read()
        pending = state.pending
        if pending is None or pending.seq != int(payload["seq"]) or int(payload["group"]) in pending.done:
            return None  # committed or done already: a duplicate delivery
        return self.run_group(pending, int(payload["group"]), worker=True)
