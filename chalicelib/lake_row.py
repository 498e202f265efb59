"""How a lake row is stored in a DynamoDB item's ``d`` attribute: compact JSON.

Short keys and no nulls keep a typical event under 1 KB (one write unit) and halve what
the export has to parse. This mapping is the one contract between the writer
(chalicelib.collect) and the reader (chalicelib.export.schema); columns are only added.
"""

from __future__ import annotations

from typing import Any

import orjson

# long column name -> short key in ``d``
EVENT_KEYS: dict[str, str] = {
    "event_id": "i", "app_id": "a", "event_type": "t", "event_name": "n",
    "event_time": "T", "received_at": "R", "client_timestamp": "C", "sent_at": "S",
    "anonymous_id": "u", "user_id": "U", "session_id": "s",
    "url": "l", "path": "p", "referrer": "r", "referrer_host": "h", "title": "ti",
    "utm_source": "us", "utm_medium": "um", "utm_campaign": "uc", "utm_term": "ut", "utm_content": "ux",
    "ip": "ip", "user_agent": "ua", "browser": "b", "browser_version": "bv", "os": "o", "os_version": "ov",
    "device_type": "dv", "is_bot": "bt", "bot_reason": "br", "country": "c", "locale": "lo", "timezone": "tz",
    "screen_width": "sw", "screen_height": "sh", "geo_lat": "gy", "geo_lon": "gx", "geo_accuracy": "ga",
    "properties": "P", "context": "X",
    "traits": "tr", "group_id": "g", "previous_id": "pv",
}
REJECTED_KEYS: dict[str, str] = {
    "app_id": "a", "received_at": "R", "reason": "rs", "error": "er", "event_index": "ix",
    "event_id": "i", "raw": "raw", "user_agent": "ua",
}
KEYS = {"events": EVENT_KEYS, "rejected_events": REJECTED_KEYS}
_LONG = {dataset: {v: k for k, v in keys.items()} for dataset, keys in KEYS.items()}


def encode_row(row: dict[str, Any], dataset: str = "events") -> str:
    keys = KEYS[dataset]
    return orjson.dumps({keys[k]: v for k, v in row.items() if v is not None}).decode()


def decode_row(text: str | bytes, dataset: str = "events") -> dict[str, Any]:
    """The row with long names and every column (absent ones as None)."""
    short = orjson.loads(text)
    long = _LONG[dataset]
    row = {name: None for name in KEYS[dataset]}
    row.update({long[k]: v for k, v in short.items() if k in long})
    return row
