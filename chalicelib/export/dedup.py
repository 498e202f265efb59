"""Exactly-once across client retries: drop an event whose (app_id, event_id) was already exported.

Mechanism (docs/decisions/0003-export-exactly-once.md): every export group writes the
(app_id, event_id) pairs it exported to a small Parquet index object named for the end
of its window, ``_state/dedup/<hi_ms>-<seq>-<group>.parquet``. A run loads the index
objects whose window ended within ``lookback`` of its own window start and drops rows
whose key is in them, then drops repeats inside its own rows (keeping the first
received). Cost per event: ~20–40 bytes of index (zstd), written once and read by each
run during the lookback; no DynamoDB write units.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from chalicelib.lake import layout
from chalicelib.lake.parquetio import Lake

SEP = "\x1f"


def keys_of(table: pa.Table) -> pa.ChunkedArray:
    return pc.binary_join_element_wise(table.column("app_id"), table.column("event_id"), SEP)


def first_per_key(table: pa.Table, keys: pa.ChunkedArray | pa.Array) -> pa.Table:
    """Keep the first row (in table order) of each distinct key, in table order."""
    if table.num_rows == 0:
        return table
    indexed = pa.table({"k": keys, "i": pa.array(range(table.num_rows), pa.int64())})
    first = indexed.group_by("k", use_threads=False).aggregate([("i", "min")]).column("i_min")
    if len(first) == table.num_rows:
        return table
    return table.take(pc.take(first, pc.sort_indices(first)))


def first_received(table: pa.Table) -> pa.Table:
    """Keep one row per (app_id, event_id): the earliest received."""
    if table.num_rows == 0 or pc.count_distinct(keys_of(table)).as_py() == table.num_rows:
        return table  # the usual case: no retry in the window, nothing to sort
    ordered = table.sort_by([("received_at", "ascending"), ("event_id", "ascending")])
    return first_per_key(ordered, keys_of(ordered)) if ordered.num_rows else ordered


# Index objects of committed runs never change: a warm Lambda keeps the ones it has read.
# (S3 key, ETag) -> that object's keys.
_CACHE: dict[tuple[str, str], pa.Array] = {}


def load_seen(lake: Lake, prefix: str, since_ms: int, before_seq: int) -> pa.Array:
    """Keys exported by committed runs whose window ended at or after ``since_ms``."""
    wanted = []
    for obj in lake.list(layout.dedup_prefix(prefix)):
        hi_ms, seq, _group = layout.parse_dedup_key(obj["Key"])
        if hi_ms >= since_ms and seq < before_seq:
            wanted.append((obj["Key"], obj.get("ETag", "")))
    for stale in set(_CACHE) - set(wanted):
        _CACHE.pop(stale, None)  # fan-out workers may share a process
    for cache_key in wanted:
        if cache_key not in _CACHE:
            _CACHE[cache_key] = keys_of(lake.read_table(cache_key[0])).combine_chunks()
    if not wanted:
        return pa.array([], pa.string())
    return pa.concat_arrays([_CACHE[k] for k in wanted])


def drop_seen(table: pa.Table, seen: pa.Array) -> tuple[pa.Table, int]:
    if table.num_rows == 0 or len(seen) == 0:
        return table, 0
    keys = keys_of(table)
    # Probe the large seen set against a hash of the small batch, not the other way round.
    hits = seen.filter(pc.is_in(seen, value_set=keys.combine_chunks()))
    if len(hits) == 0:
        return table, 0
    kept = table.filter(pc.invert(pc.is_in(keys, value_set=hits)))
    return kept, table.num_rows - kept.num_rows


def index_table(table: pa.Table) -> pa.Table:
    return table.select(["app_id", "event_id"])


def expired_index_keys(lake: Lake, prefix: str, older_than_ms: int) -> list[str]:
    return [o["Key"] for o in lake.list(layout.dedup_prefix(prefix)) if layout.parse_dedup_key(o["Key"])[0] < older_than_ms]
