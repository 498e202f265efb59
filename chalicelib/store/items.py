"""Item shapes of the event store: the one place that lays out an event or rejected-event item.

Key design in keys.py; what ``d`` holds is the lake row (chalicelib.lake.rows).
"""

from __future__ import annotations

from typing import Any

from chalicelib.store import keys

Item = dict[str, Any]


def row_item(partition: str, received_ms: int, app_id: str, ref: str, data: str, expires_s: str) -> Item:
    """One stored row: ``partition`` from keys.partition_key, ``ref`` the event_id (or a rejection's id).

    ``expires_s`` is the TTL (epoch seconds, as DynamoDB's number string) after which
    DynamoDB may drop the item; the export has long since copied it to the lake.
    """
    return {
        keys.PK: {"S": partition},
        keys.SK: {"S": keys.sort_key(received_ms, app_id, ref)},
        keys.DATA: {"S": data},
        keys.TTL_ATTR: {"N": expires_s},
    }
