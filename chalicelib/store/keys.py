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
from datetime import datetime, timezone
from typing import Iterator, Literal

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


def export_state_key(dataset: Dataset) -> dict[str, dict[str, str]]:
    return {PK: {"S": f"export#{dataset}"}, SK: {"S": "state"}}
