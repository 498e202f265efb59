"""The lake's explicit Arrow schemas. Columns are only ever added, as nullable, at the end.

Times travel through DynamoDB as epoch milliseconds (int64) and become UTC timestamps here.
"""

from __future__ import annotations

import pyarrow as pa

from chalicelib.lake_row import EVENT_KEYS, REJECTED_KEYS

TS = pa.timestamp("ms", tz="UTC")

# What the collection API writes into each item's ``d`` JSON (chalicelib.collect.enrich).
EVENTS_JSON = pa.schema(
    [
        ("event_id", pa.string()),
        ("app_id", pa.string()),
        ("event_type", pa.string()),
        ("event_name", pa.string()),
        ("event_time", pa.int64()),
        ("received_at", pa.int64()),
        ("client_timestamp", pa.int64()),
        ("sent_at", pa.int64()),
        ("anonymous_id", pa.string()),
        ("user_id", pa.string()),
        ("session_id", pa.string()),
        ("url", pa.string()),
        ("path", pa.string()),
        ("referrer", pa.string()),
        ("referrer_host", pa.string()),
        ("title", pa.string()),
        ("utm_source", pa.string()),
        ("utm_medium", pa.string()),
        ("utm_campaign", pa.string()),
        ("utm_term", pa.string()),
        ("utm_content", pa.string()),
        ("ip", pa.string()),
        ("user_agent", pa.string()),
        ("browser", pa.string()),
        ("browser_version", pa.string()),
        ("os", pa.string()),
        ("os_version", pa.string()),
        ("device_type", pa.string()),
        ("is_bot", pa.bool_()),
        ("bot_reason", pa.string()),
        ("country", pa.string()),
        ("locale", pa.string()),
        ("timezone", pa.string()),
        ("screen_width", pa.int32()),
        ("screen_height", pa.int32()),
        ("geo_lat", pa.float64()),
        ("geo_lon", pa.float64()),
        ("geo_accuracy", pa.float64()),
        ("properties", pa.string()),
        ("context", pa.string()),
        ("traits", pa.string()),
        ("group_id", pa.string()),
        ("previous_id", pa.string()),
    ]
)

REJECTED_JSON = pa.schema(
    [
        ("app_id", pa.string()),
        ("received_at", pa.int64()),
        ("reason", pa.string()),
        ("error", pa.string()),
        ("event_index", pa.int32()),
        ("event_id", pa.string()),
        ("raw", pa.string()),
        ("user_agent", pa.string()),
    ]
)

EVENT_TIME_COLUMNS = ("event_time", "received_at", "client_timestamp", "sent_at")


def _short(schema: pa.Schema, keys: dict[str, str]) -> pa.Schema:
    """The schema pyarrow's JSON reader applies to the short-keyed ``d`` documents."""
    return pa.schema([pa.field(keys[f.name], f.type) for f in schema])


def _lake(schema: pa.Schema, time_columns: tuple[str, ...]) -> pa.Schema:
    return pa.schema([pa.field(f.name, TS if f.name in time_columns else f.type) for f in schema])


# In the Parquet files: times as timestamps; app_id stays a column too (Athena reads the
# partition value; DuckDB and pyarrow read the file's column), dt only as the partition.
EVENTS = _lake(EVENTS_JSON, EVENT_TIME_COLUMNS)
REJECTED = _lake(REJECTED_JSON, ("received_at",))

SCHEMAS = {"events": EVENTS, "rejected_events": REJECTED}
JSON_SCHEMAS = {"events": _short(EVENTS_JSON, EVENT_KEYS), "rejected_events": _short(REJECTED_JSON, REJECTED_KEYS)}
# The column whose UTC date is the dt partition.
PARTITION_TIME = {"events": "event_time", "rejected_events": "received_at"}
