"""The single-table key design (docs/decisions/0002-dynamodb-item-and-keys.md).

Events are written under ``pk = e#<hour of received_at, UTC>#<shard>`` with
``sk = <received_at ms, 13 digits>#<app_id>#<event_id>``, so:

* the export reads "everything received in (lo, hi]" with one Query per
  (hour, shard) and a sort-key range, never a Scan: its cost follows the new
  events, not the table's history;
* writes of one hour spread over ``write_shards`` partition keys (crc32 of the
  event_id), so one busy app is not held to one partition's 1,000 WCU/s.

Everything here is pure so it can be property-tested.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timezone
from typing import Any, Literal

Dataset = Literal["events", "rejected_events"]

PK = "pk"
SK = "sk"
DATA = "d"  # the enriched event as one line of JSON: exactly the lake row
TTL_ATTR = "expires_at"  # epoch seconds; TTL is switched on by the deploy template

_DATASET_PREFIX: dict[str, str] = {"events": "e", "rejected_events": "r"}
HOUR_MS = 3_600_000


def hour_bucket(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms // 1000, tz=timezone.utc).strftime("%Y%m%d%H")


def shard_of(event_id: str, shards: int) -> int:
    return zlib.crc32(event_id.encode("utf-8")) % shards


def partition_key(dataset: Dataset, received_ms: int, shard: int) -> str:
    return f"{_DATASET_PREFIX[dataset]}#{hour_bucket(received_ms)}#{shard:02x}"


def shard_of_partition(pk: str) -> int:
    """The shard number of an event partition key (the inverse of ``partition_key``'s last part)."""
    return int(pk.rsplit("#", 1)[1], 16)


def sort_key(received_ms: int, app_id: str, event_id: str) -> str:
    return f"{received_ms:013d}#{app_id}#{event_id}"


def sort_key_bound(epoch_ms: int) -> str:
    """A sort key that compares after every key of ``epoch_ms`` and before ``epoch_ms + 1``.

    ``#`` (0x23) < ``$`` (0x24), and every real key continues with ``#`` after the
    13 digits, so ``<ms>$`` sits between the keys of one millisecond and the next.
    """
    return f"{epoch_ms:013d}$"


def partitions_between(dataset: Dataset, lo_ms: int, hi_ms: int, shards: int) -> Iterator[str]:
    """Every partition key that can hold an item received in (lo_ms, hi_ms]."""
    if hi_ms <= lo_ms:
        return
    hour = (lo_ms + 1) // HOUR_MS * HOUR_MS
    while hour <= hi_ms:
        for shard in range(shards):
            yield partition_key(dataset, hour, shard)
        hour += HOUR_MS


# Apps, keys and allowed origins are few and read through a cache, so each kind lives
# in one partition that a Query lists (``apps list``) without a Scan.
APPS_PK = "apps"
KEYS_PK = "keys"


def app_key(app_id: str) -> dict[str, dict[str, str]]:
    return {PK: {"S": APPS_PK}, SK: {"S": app_id}}


def write_key_key(key_hash: str) -> dict[str, dict[str, str]]:
    return {PK: {"S": KEYS_PK}, SK: {"S": key_hash}}


def origin_key(origin: str, app_id: str) -> dict[str, dict[str, str]]:
    return {PK: {"S": f"origin#{origin}"}, SK: {"S": app_id}}


# Small items beside the events, each in a partition of its own. Every key of the table is
# spelled in this module and nowhere else (tests/unit/test_boundaries.py checks it).
Key = dict[str, dict[str, str]]

EXPORT_STATE_KEY: Key = {PK: {"S": "export#lake"}, SK: {"S": "state"}}  # checkpoint and lease
DIRTY_PARTITIONS_KEY: Key = {PK: {"S": "export#dirty"}, SK: {"S": "partitions"}}  # lake partitions to compact
COMPACTION_PK = "export#compaction"  # one intent item per partition being merged
RETENTION_DAY_KEY: Key = {PK: {"S": "export#retention"}, SK: {"S": "last-day"}}
ROLLUP_PK = "export#rollup"  # the days whose rollups to rebuild: one item per app (rollup_dirty_key)
# Before one item per app: one item for every app ("app/day" entries and a set of stale apps),
# which a set change (every day of every app) could grow past DynamoDB's 400 KB. Still read, and
# drained into the per-app items, for lakes exported by an older release.
LEGACY_ROLLUP_DIRTY_KEY: Key = {PK: {"S": ROLLUP_PK}, SK: {"S": "dirty-days"}}
ROLLUP_DIRTY_PREFIX = "dirty-days#"
SALTS_PK = "salts"  # one daily salt per UTC day (cookieless ids)
LEDGER_SECRET_KEY: Key = {PK: {"S": "privacy"}, SK: {"S": "ledger-key"}}
LEDGER_PK = "privacy#ledger"

READ_KEYS_PK = "readkeys"  # read keys (Bearer, GET /v1/live) by SHA-256; write keys stay under KEYS_PK
LIVE_PK_PREFIX = "live#"  # live#<app_id>: one summary item per settled minute of received time


def read_key_key(key_hash: str) -> Key:
    return {PK: {"S": READ_KEYS_PK}, SK: {"S": key_hash}}


def live_pk(app_id: str) -> str:
    return f"{LIVE_PK_PREFIX}{app_id}"


def minute_sk(minute_ms: int) -> str:
    return f"m#{minute_ms:013d}"


def minute_of(item: dict[str, Any]) -> int:
    """The minute (epoch ms) a live summary item is for."""
    return int(item[SK]["S"][2:])


def live_minute_key(app_id: str, minute_ms: int) -> Key:
    return {PK: {"S": live_pk(app_id)}, SK: {"S": minute_sk(minute_ms)}}


def app_of_event(item: dict[str, Any]) -> str:
    """The app of an event item, from its sort key (``<13 digits>#<app_id>#<event_id>``)."""
    return str(item[SK]["S"]).split("#", 2)[1]


# Conditions and projections that name the key attributes.
ITEM_ABSENT = f"attribute_not_exists({PK})"
KEY_PROJECTION = f"{PK}, {SK}"


def rollup_dirty_key(app_id: str) -> Key:
    return {PK: {"S": ROLLUP_PK}, SK: {"S": ROLLUP_DIRTY_PREFIX + app_id}}


def compaction_intent_key(partition_prefix: str) -> Key:
    return {PK: {"S": COMPACTION_PK}, SK: {"S": partition_prefix}}


def salt_key(day: str) -> Key:
    return {PK: {"S": SALTS_PK}, SK: {"S": day}}


def ledger_entry_key(started_at_ms: int, request_id: str) -> Key:
    return {PK: {"S": LEDGER_PK}, SK: {"S": f"{started_at_ms:013d}#{request_id[:16]}"}}


def key_of(item: dict[str, Any]) -> dict[str, Any]:
    """The key attributes of a full item, e.g. to delete it."""
    return {PK: item[PK], SK: item[SK]}


def sort_value(item: dict[str, Any]) -> str:
    return str(item[SK]["S"])


def dataset_of(item: dict[str, Any]) -> Dataset:
    """Which dataset an event or rejected-event item belongs to, from its partition key."""
    return "events" if item[PK]["S"].startswith(f"{_DATASET_PREFIX['events']}#") else "rejected_events"


def partition_query(pk: str, sk_below: str | None = None) -> dict[str, Any]:
    """Query arguments for the items of one partition (optionally with sort key < ``sk_below``)."""
    if sk_below is None:
        return {"KeyConditionExpression": f"{PK} = :pk", "ExpressionAttributeValues": {":pk": {"S": pk}}}
    return {
        "KeyConditionExpression": f"{PK} = :pk AND {SK} < :below",
        "ExpressionAttributeValues": {":pk": {"S": pk}, ":below": {"S": sk_below}},
    }


def pages(query: Callable[..., dict[str, Any]], args: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every page of a Query: ``query(**args)`` (the caller's client call, with its own error
    handling), then again from each page's LastEvaluatedKey until a page has none."""
    args = dict(args)
    while True:
        page = query(**args)
        yield page
        if "LastEvaluatedKey" not in page:
            return
        args["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def range_query(pk: str, lo: str, hi: str) -> dict[str, Any]:
    """Query arguments for the items of one partition with lo <= sort key <= hi."""
    return {
        "KeyConditionExpression": f"{PK} = :pk AND {SK} BETWEEN :lo AND :hi",
        "ExpressionAttributeValues": {":pk": {"S": pk}, ":lo": {"S": lo}, ":hi": {"S": hi}},
    }


def stored_rows_scan(needle: str) -> dict[str, Any]:
    """Scan arguments for event and rejected-event items whose ``d`` contains ``needle``."""
    e, r = _DATASET_PREFIX["events"], _DATASET_PREFIX["rejected_events"]
    return {
        "FilterExpression": f"(begins_with({PK}, :e) OR begins_with({PK}, :r)) AND contains({DATA}, :needle)",
        "ExpressionAttributeValues": {":e": {"S": f"{e}#"}, ":r": {"S": f"{r}#"}, ":needle": {"S": needle}},
        "ProjectionExpression": f"{PK}, {SK}, {DATA}",
    }
