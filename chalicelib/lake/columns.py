"""The lake's one column list: each column's name, its short key in an item's ``d`` JSON, its type.

Everything else is derived from these two tuples: the row encoding (chalicelib.lake.rows),
the Arrow schemas (chalicelib.lake.schema); the enrichment's field list, etl/tables/*.sql and
the Glue columns in deploy/resources.yaml are checked against them by tests/unit/test_lake_columns.py.
Columns are only ever added, as nullable, at the end. Pure Python: the API function imports
this (through rows) and must not load pyarrow.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

# "time": epoch milliseconds (int64) in DynamoDB, a UTC timestamp in the lake.
Kind = Literal["string", "int32", "int64", "float64", "bool", "time"]


class Column(NamedTuple):
    name: str
    short: str
    kind: Kind


EVENT_COLUMNS: tuple[Column, ...] = (
    Column("event_id", "i", "string"),
    Column("app_id", "a", "string"),
    Column("event_type", "t", "string"),
    Column("event_name", "n", "string"),
    Column("event_time", "T", "time"),
    Column("received_at", "R", "time"),
    Column("client_timestamp", "C", "time"),
    Column("sent_at", "S", "time"),
    Column("anonymous_id", "u", "string"),
    Column("user_id", "U", "string"),
    Column("session_id", "s", "string"),
    Column("url", "l", "string"),
    Column("path", "p", "string"),
    Column("referrer", "r", "string"),
    Column("referrer_host", "h", "string"),
    Column("title", "ti", "string"),
    Column("utm_source", "us", "string"),
    Column("utm_medium", "um", "string"),
    Column("utm_campaign", "uc", "string"),
    Column("utm_term", "ut", "string"),
    Column("utm_content", "ux", "string"),
    Column("ip", "ip", "string"),
    Column("user_agent", "ua", "string"),
    Column("browser", "b", "string"),
    Column("browser_version", "bv", "string"),
    Column("os", "o", "string"),
    Column("os_version", "ov", "string"),
    Column("device_type", "dv", "string"),
    Column("is_bot", "bt", "bool"),
    Column("bot_reason", "br", "string"),
    Column("country", "c", "string"),
    Column("locale", "lo", "string"),
    Column("timezone", "tz", "string"),
    Column("screen_width", "sw", "int32"),
    Column("screen_height", "sh", "int32"),
    Column("geo_lat", "gy", "float64"),
    Column("geo_lon", "gx", "float64"),
    Column("geo_accuracy", "ga", "float64"),
    Column("properties", "P", "string"),
    Column("context", "X", "string"),
    # Segment's contract (chalicelib.collect.segment, docs/segment.md): identify/group traits as
    # JSON text, group's groupId, alias's previousId. Null for every other event.
    Column("traits", "tr", "string"),
    Column("group_id", "g", "string"),
    Column("previous_id", "pv", "string"),
)

REJECTED_COLUMNS: tuple[Column, ...] = (
    Column("app_id", "a", "string"),
    Column("received_at", "R", "time"),
    Column("reason", "rs", "string"),
    Column("error", "er", "string"),
    Column("event_index", "ix", "int32"),
    Column("event_id", "i", "string"),
    Column("raw", "raw", "string"),
    Column("user_agent", "ua", "string"),
)

COLUMNS: dict[str, tuple[Column, ...]] = {"events": EVENT_COLUMNS, "rejected_events": REJECTED_COLUMNS}
