"""Reads back what the API stored, the way the export will: a Query per (hour, shard).

Going through ``keys.partitions_between`` instead of a Scan also checks that every item
lands in a partition the export reads.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from chalicelib import clients
from chalicelib.lake.rows import decode_row
from chalicelib.settings import Settings
from chalicelib.store import keys


@dataclass(frozen=True)
class Stored:
    pk: str
    sk: str
    expires_at: int
    row: dict[str, Any]  # the decoded ``d`` attribute, long column names


def stored(settings: Settings, dataset: keys.Dataset = "events", since_ms: int | None = None) -> list[Stored]:
    """Every item of ``dataset`` received since ``since_ms`` (default: the last ten minutes)."""
    now = int(time.time() * 1000)
    lo = (since_ms if since_ms is not None else now - 600_000) - 1
    client = clients.dynamodb(settings)
    out: list[Stored] = []
    for pk in keys.partitions_between(dataset, lo, now + 60_000, settings.write_shards):
        kwargs: dict[str, Any] = {
            "TableName": settings.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": pk}},
            "ConsistentRead": True,
        }
        while True:
            page = client.query(**kwargs)
            for item in page.get("Items", []):
                out.append(
                    Stored(
                        pk=item[keys.PK]["S"],
                        sk=item[keys.SK]["S"],
                        expires_at=int(item[keys.TTL_ATTR]["N"]),
                        row=decode_row(item[keys.DATA]["S"], dataset),
                    )
                )
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return sorted(out, key=lambda s: s.sk)


def rows(settings: Settings, dataset: keys.Dataset = "events") -> list[dict[str, Any]]:
    return [s.row for s in stored(settings, dataset)]


def rows_by_id(settings: Settings) -> dict[str, dict[str, Any]]:
    return {r["event_id"]: r for r in rows(settings, "events")}


def scan_all(settings: Settings) -> list[dict[str, Any]]:
    """Every raw item in the table (apps, keys, origins, events): for "nothing holds X" checks."""
    client = clients.dynamodb(settings)
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": settings.table}
    while True:
        page = client.scan(**kwargs)
        items.extend(page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
