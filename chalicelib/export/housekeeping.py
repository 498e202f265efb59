"""After a run commits: compact closed days, expire the dedup index, apply app retention,
rebuild the rollups of the days that changed (rollups.py).

All three only delete or merge what committed runs wrote, under the export lease; each is
safe to stop at any point and to repeat (compaction through its intent items, the others
because deleting what is already gone changes nothing).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import date
from typing import Any, Callable

from chalicelib.export import compact, dedup, retention, rollups
from chalicelib.lake import layout
from chalicelib.lake.parquetio import Lake
from chalicelib.settings import Settings
from chalicelib.store.apps import AppStore

log = logging.getLogger("clickstream.export")


@dataclass(frozen=True)
class Housekeeping:
    settings: Settings
    lake: Lake
    table: Any  # the DynamoDB client
    crash: Callable[[str], None]
    compact_min_files: int
    dedup_lookback_ms: int
    # The invocation's remaining time (Lambda's context.get_remaining_time_in_millis): bounds
    # the rollup pass (rollups.rebuild_due). None: no limit (the CLI, the local scheduler).
    remaining_ms: Callable[[], int] | None = None

    def resume(self) -> int:
        """Complete compactions a crashed run left half done. Returns how many."""
        return compact.resume(self.lake, self.table, self.settings, self.crash)

    def compact(self, now_ms: int) -> int:
        # The partitions runs wrote change their days' rollups: noted before compaction forgets them.
        rollups.note_exported(self.table, self.settings.table, compact.dirty_partitions(self.table, self.settings.table))
        return compact.compact_closed(self.lake, self.table, self.settings, now_ms, self.crash, self.compact_min_files)

    def expire_dedup_index(self, now_ms: int) -> None:
        old = dedup.expired_index_keys(self.lake, self.settings.lake_prefix, now_ms - 2 * self.dedup_lookback_ms)
        if old:
            self.lake.delete(old)

    def apply_retention(self, now_ms: int) -> int:
        """Partitions removed by the apps' retention; the day is recorded once all of it is done
        (a run stopped half-way is finished by the next: retention.py)."""
        if not retention.due_today(self.table, self.settings.table, now_ms):
            return 0
        apps = [(a.app_id, a.retention_days) for a in AppStore(self.table, self.settings.table, cache_seconds=0).list_apps()]

        def before(app_id: str, cutoff: str) -> None:
            # Readers off the rollups (all raw) until roll_up has rebuilt the first day kept,
            # which loses the 30 minutes before it: its sessions may start earlier now.
            rollups.hold(self.lake, self.settings.lake_prefix, app_id, "retention", rollups.NOTHING_ROLLED)
            first_kept = date.fromisoformat(cutoff)
            rollups.mark(self.table, self.settings.table, [(app_id, first_kept)], neighbours=False)
            # Its month holds the deleted days until rebuilt: wrong from the month's first day.
            rollups.mark_months(self.table, self.settings.table, app_id, [first_kept.replace(day=1)])

        removed = retention.apply(self.lake, self.settings.lake_prefix, apps, now_ms, before)
        retention.done_today(self.table, self.settings.table, now_ms)
        for r in removed:
            log.info(
                json.dumps(
                    {"msg": "retention removed partition", "app_id": r.app_id, "dataset": r.dataset, "dt": r.dt, "files": r.files}
                )
            )
        return sum(r.dataset in layout.DATASETS for r in removed)

    def roll_up(self, now_ms: int) -> int:
        """Rebuild the rollups of the changed days that are closed. Returns days written."""
        return rollups.rebuild_due(self.lake, self.table, self.settings, now_ms, self.crash, remaining_ms=self.remaining_ms)
