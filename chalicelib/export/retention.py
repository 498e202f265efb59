"""Per-app retention of the lake: partitions older than the app's retention are removed.

Applied once per UTC day by the export run's housekeeping (it already holds the lease and the lake
permissions). Raw items in DynamoDB expire on their own TTL (7 days), so an app's effective
minimum retention in the store is that TTL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from botocore.exceptions import BotoCoreError, ClientError

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
    """Remove each app's partitions before its cutoff day. ``before(app_id, cutoff)`` runs first
    for an app that has events to remove (the rollups' hold and mark: rollups.py)."""
    removed: list[Removed] = []
    for app_id, days in apps:
        if not days:
            continue
        cutoff = cutoff_day(now_ms, days)
        if expired_partitions(lake, prefix, app_id, "events", cutoff):
            before(app_id, cutoff)
        for dataset in (*layout.DATASETS, *rollup.SCHEMAS):
            for part in expired_partitions(lake, prefix, app_id, dataset, cutoff):
                keys = [o["Key"] for o in lake.list(part)]
                lake.delete(keys)
                removed.append(Removed(app_id, dataset, layout.partition_of(part)[1], len(keys)))
    return removed


def due_today(client: Any, table: str, now_ms: int) -> bool:
    """True once per UTC day: records the day with a conditional write, so one run applies it."""
    today = datetime.fromtimestamp(now_ms / 1000, tz=timezone.utc).date().isoformat()
    try:
        client.put_item(
            TableName=table,
            Item={**keys.RETENTION_DAY_KEY, "day": {"S": today}},
            ConditionExpression=f"{keys.ITEM_ABSENT} OR #d < :today",
            ExpressionAttributeNames={"#d": "day"},
            ExpressionAttributeValues={":today": {"S": today}},
        )
        return True
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False
        raise retry.storage_error(f"retention bookkeeping failed: {exc}", exc) from exc
    except BotoCoreError as exc:
        raise retry.storage_error(f"retention bookkeeping failed: {exc}", exc) from exc
