"""DynamoDB side of the live view: raw events of the last minutes, and per-minute summaries.

Raw events are read where the API wrote them (``e#<hour>#<shard>``, sort key by received
time; chalicelib.store.keys): one Query per (hour, shard) and sort-key range, in parallel.
Summaries live under ``pk = live#<app_id>``, ``sk = m#<minute start ms, 13 digits>`` (keys.py), one
item per settled minute, with a TTL of a few hours (the bars only span 30 minutes).

Every call returns the capacity DynamoDB reports (ReturnConsumedCapacity=TOTAL), so the
cost per poll is measured, not estimated (docs/decisions/0010-live-view.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import orjson
from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.errors import StorageUnavailable
from chalicelib.store import keys

SUMMARY_TTL_S = 3 * 3600


@dataclass
class Usage:
    """What one poll cost DynamoDB, as DynamoDB reported it."""

    read_units: float = 0.0
    write_units: float = 0.0
    queries: int = 0
    raw_items: int = 0
    summaries_read: int = 0
    summaries_written: int = 0
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "read_units": round(self.read_units, 2),
            "write_units": round(self.write_units, 2),
            "queries": self.queries,
            "raw_items": self.raw_items,
            "summaries_read": self.summaries_read,
            "summaries_written": self.summaries_written,
        }


def _wrap(exc: Exception, what: str) -> StorageUnavailable:
    return StorageUnavailable(f"DynamoDB failed while {what}: {exc}", retry_after_s=5)


def _query_all(client: Any, kwargs: dict[str, Any], usage: Usage) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for resp in keys.pages(client.query, {**kwargs, "ReturnConsumedCapacity": "TOTAL"}):
        usage.queries += 1
        usage.read_units += float(resp.get("ConsumedCapacity", {}).get("CapacityUnits", 0.0))
        items.extend(resp.get("Items", []))
    return items


def read_events(
    client: Any, table: str, app_id: str, lo_ms: int, hi_ms: int, shards: int, usage: Usage, consistent: bool = True
) -> list[str]:
    """Every event of ``app_id`` received in (lo_ms, hi_ms], as the stored ``d`` (a lake row's JSON).

    The partitions hold every app's events, so the read costs what all apps received in
    the range; the app is picked from the sort key before any JSON is parsed. ``consistent``
    when a settled minute is summarised from the read (its summary must see every item and is
    stored for good); an eventually consistent read, at half the units, is enough for the
    unsettled minutes, which are read again by the next poll anyway.
    """
    ranges = list(keys.partitions_between("events", lo_ms, hi_ms, shards))
    if not ranges:
        return []

    def one(pk: str) -> tuple[list[str], Usage]:
        part = Usage()
        items = _query_all(
            client,
            {
                "TableName": table,
                **keys.range_query(pk, keys.sort_key_bound(lo_ms), keys.sort_key_bound(hi_ms)),
                "ProjectionExpression": f"{keys.SK}, #d",
                "ExpressionAttributeNames": {"#d": keys.DATA},
                "ConsistentRead": consistent,
            },
            part,
        )
        part.raw_items = len(items)
        return [i[keys.DATA]["S"] for i in items if keys.app_of_event(i) == app_id], part

    try:
        with ThreadPoolExecutor(max_workers=min(16, len(ranges))) as pool:
            parts = list(pool.map(one, ranges))
    except (ClientError, BotoCoreError) as exc:
        raise _wrap(exc, "reading the last minutes' events") from exc
    rows: list[str] = []
    for found, part in parts:
        rows.extend(found)
        usage.read_units += part.read_units
        usage.queries += part.queries
        usage.raw_items += part.raw_items
    return rows


def read_summaries(client: Any, table: str, app_id: str, first_ms: int, last_ms: int, usage: Usage) -> dict[int, dict[str, Any]]:
    """The stored summaries of the minutes ``first_ms`` to ``last_ms`` (both included)."""
    try:
        items = _query_all(
            client,
            {
                "TableName": table,
                **keys.range_query(keys.live_pk(app_id), keys.minute_sk(first_ms), keys.minute_sk(last_ms)),
            },
            usage,
        )
    except (ClientError, BotoCoreError) as exc:
        raise _wrap(exc, "reading the live summaries") from exc
    usage.summaries_read += len(items)
    return {keys.minute_of(i): orjson.loads(i[keys.DATA]["S"]) for i in items}


def write_summaries(client: Any, table: str, app_id: str, summaries: Mapping[int, dict[str, Any]], usage: Usage) -> None:
    """Store settled minutes' summaries, each at most once.

    Two pollers can find the same minute missing at once:

        poll A: query -> minute m missing -> read raw -> put m (attribute_not_exists) -> stored
        poll B: query -> minute m missing -> read raw -> put m (attribute_not_exists) -> refused
                                                                                         (A's is kept)

    Both computed it from the same settled items, so whichever lands is right; the condition
    keeps the first (and its TTL) and the refused write costs one write unit, no more.
    """

    def put(minute: int, summary: dict[str, Any]) -> float:
        try:
            resp = client.put_item(
                TableName=table,
                Item={
                    **keys.live_minute_key(app_id, minute),
                    keys.DATA: {"S": orjson.dumps(summary).decode()},
                    keys.TTL_ATTR: {"N": str(minute // 1000 + SUMMARY_TTL_S)},
                },
                ConditionExpression=keys.ITEM_ABSENT,
                ReturnConsumedCapacity="TOTAL",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return 0.0  # another poll stored it first
            raise
        return float(resp.get("ConsumedCapacity", {}).get("CapacityUnits", 0.0))

    if not summaries:
        return
    try:
        with ThreadPoolExecutor(max_workers=min(8, len(summaries))) as pool:
            units = list(pool.map(lambda kv: put(*kv), summaries.items()))
    except (ClientError, BotoCoreError) as exc:
        raise _wrap(exc, "storing the live summaries") from exc
    usage.write_units += sum(units)
    usage.summaries_written += sum(1 for u in units if u)
