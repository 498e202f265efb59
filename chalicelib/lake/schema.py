"""The lake's explicit Arrow schemas. Columns are only ever added, as nullable, at the end.

Times travel through DynamoDB as epoch milliseconds (int64) and become UTC timestamps here.
"""

from __future__ import annotations

import pyarrow as pa

from chalicelib.lake.columns import EVENT_COLUMNS, REJECTED_COLUMNS, Column
from chalicelib.lake.rows import EVENT_KEYS, REJECTED_KEYS

TS = pa.timestamp("ms", tz="UTC")

_ARROW = {
    "string": pa.string(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "float64": pa.float64(),
    "bool": pa.bool_(),
    "time": pa.int64(),
}


def _json(columns: tuple[Column, ...]) -> pa.Schema:
    """What the collection API writes into each item's ``d`` JSON (chalicelib.collect.enrich)."""
    return pa.schema([(c.name, _ARROW[c.kind]) for c in columns])


def _times(columns: tuple[Column, ...]) -> tuple[str, ...]:
    return tuple(c.name for c in columns if c.kind == "time")


EVENTS_JSON = _json(EVENT_COLUMNS)
REJECTED_JSON = _json(REJECTED_COLUMNS)
EVENT_TIME_COLUMNS = _times(EVENT_COLUMNS)


def _short(schema: pa.Schema, keys: dict[str, str]) -> pa.Schema:
    """The schema pyarrow's JSON reader applies to the short-keyed ``d`` documents."""
    return pa.schema([pa.field(keys[f.name], f.type) for f in schema])


def _lake(schema: pa.Schema, time_columns: tuple[str, ...]) -> pa.Schema:
    return pa.schema([pa.field(f.name, TS if f.name in time_columns else f.type) for f in schema])


# In the Parquet files: times as timestamps; app_id stays a column too (Athena reads the
# partition value; DuckDB and pyarrow read the file's column), dt only as the partition.
EVENTS = _lake(EVENTS_JSON, EVENT_TIME_COLUMNS)
REJECTED = _lake(REJECTED_JSON, _times(REJECTED_COLUMNS))

SCHEMAS = {"events": EVENTS, "rejected_events": REJECTED}
# Each column's type in an item (times as int64 ms), by long name: what the positional reader converts to.
JSON_TYPES = {
    "events": dict(zip(EVENTS_JSON.names, EVENTS_JSON.types)),
    "rejected_events": dict(zip(REJECTED_JSON.names, REJECTED_JSON.types)),
}
JSON_SCHEMAS = {"events": _short(EVENTS_JSON, EVENT_KEYS), "rejected_events": _short(REJECTED_JSON, REJECTED_KEYS)}
# The column whose UTC date is the dt partition.
PARTITION_TIME = {"events": "event_time", "rejected_events": "received_at"}
