"""Per-app retention of the lake: partitions older than the app's retention are removed.

Applied once per UTC day by the export run's housekeeping (it already holds the lease and the lake
permissions). Raw items in DynamoDB expire on their own TTL (7 days), so an app's effective
minimum retention in the store is that TTL.

A run stopped half-way (S3 throttling a DeleteObjects, the function's timeout) must be finished
before readers trust the rollups again, so the order of the steps is what keeps them right::

    due_today: the recorded day is before today (a read: the export lease makes runs take turns)
    1. before(): PUT the app's hold (raw only), mark the first day kept    <- crash: held, nothing gone
    2. DELETE the expired days' rollup partitions                         <- crash: their events are
                                                                             there, so no state covers a
                                                                             day missing a table
       and the month files and carries of months wholly before the first day kept (the month of
       the first day kept is marked from its first day: its rows hold deleted days until rebuilt)
    3. DELETE the expired days' events partitions                         <- crash: no rollups left
                                                                             to read for them
    4. done_today: record today                                           <- crash: the rerun finds
                                                                             nothing (or the rest) to delete
    5. the same run's rollup pass rebuilds the first day kept, refreshes the state, deletes the hold

A rerun repeats 1-4 for what is left (deletes are idempotent; 1 again if anything is left), so
the hold is written again by every run that still has something to remove, and the day counts
as done only when nothing is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.export import months
from chalicelib.lake import layout, rollup
from chalicelib.lake.parquetio import Lake
from chalicelib.store import keys, retry


@dataclass(frozen=True)
class Removed:
    app_id: str
    dataset: str
    dt: str
    files: int


def cutoff_day(now_ms: int, retention_days: int) -> str:
    """Partitions with dt strictly before this day are removed (today counts as day 1)."""
    today = datetime.fromtimestamp(now_ms / 1000, tz=timezone.utc).date()
    return (today - timedelta(days=retention_days - 1)).isoformat()


def expired_partitions(lake: Lake, prefix: str, app_id: str, dataset: str, cutoff: str) -> list[str]:
    base = layout.app_prefix(prefix, dataset, app_id)
    out = []
    for entry in lake.list(base, delimiter="/"):
        part = entry.get("Prefix", "")
        dt = layout.partition_of(part)[1] if part.startswith(base + "dt=") else ""
        if dt and dt < cutoff:
            out.append(part)
    return sorted(out)


def apply(
    lake: Lake,
    prefix: str,
    apps: list[tuple[str, int | None]],
    now_ms: int,
    before: Callable[[str, str], None] = lambda app_id, cutoff: None,
) -> list[Removed]:
    """Remove each app's partitions before its cutoff day, the rollups' before the events'
    (module docstring). ``before(app_id, cutoff)`` runs first for an app that has anything to
    remove (the rollups' hold and mark: rollups.py)."""
    removed: list[Removed] = []
    for app_id, days in apps:
        if not days:
            continue
        cutoff = cutoff_day(now_ms, days)
        expired = [
            (dataset, part)
            for dataset in (*rollup.SCHEMAS, *layout.DATASETS)
            for part in expired_partitions(lake, prefix, app_id, dataset, cutoff)
        ]
        expired_months = months.expired_months(lake, prefix, app_id, cutoff)
        if expired or expired_months:
            before(app_id, cutoff)
        for month, files in expired_months.items():
            lake.delete(files)
            removed.append(Removed(app_id, months.MONTH_TABLE, months.month_text(month), len(files)))
        for dataset, part in expired:
            keys = [o["Key"] for o in lake.list(part)]
            lake.delete(keys)
            removed.append(Removed(app_id, dataset, layout.partition_of(part)[1], len(keys)))
    return removed


def _today(now_ms: int) -> str:
    return datetime.fromtimestamp(now_ms / 1000, tz=timezone.utc).date().isoformat()


def due_today(client: Any, table: str, now_ms: int) -> bool:
    """True until ``done_today`` has recorded today: a run stopped half-way leaves the day
    unrecorded, and the next run applies retention again. Two runs never apply it at once (the
    export lease); if a run outlived its lease, both delete the same objects, which is harmless."""
    try:
        item = client.get_item(TableName=table, Key=keys.RETENTION_DAY_KEY, ConsistentRead=True).get("Item", {})
    except (ClientError, BotoCoreError) as exc:
        raise retry.storage_error(f"retention bookkeeping failed: {exc}", exc) from exc
    return str(item.get("day", {}).get("S", "")) < _today(now_ms)


def done_today(client: Any, table: str, now_ms: int) -> None:
    """Record today once ``apply`` has removed everything. Only forward: a run with a clock
    behind another's never moves the day back."""
    today = _today(now_ms)
    try:
        client.put_item(
            TableName=table,
            Item={**keys.RETENTION_DAY_KEY, "day": {"S": today}},
            ConditionExpression=f"{keys.ITEM_ABSENT} OR #d < :today",
            ExpressionAttributeNames={"#d": "day"},
            ExpressionAttributeValues={":today": {"S": today}},
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return
        raise retry.storage_error(f"retention bookkeeping failed: {exc}", exc) from exc
    except BotoCoreError as exc:
        raise retry.storage_error(f"retention bookkeeping failed: {exc}", exc) from exc
