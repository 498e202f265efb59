"""Exactly-once across client retries: drop an event whose (app_id, event_id) was already exported.

Mechanism (docs/decisions/0003-export-exactly-once.md, sharding in 0012): every export group
writes the (app_id, event_id) pairs it exported to small Parquet index objects, one per hour
of the events' client timestamps, named for the end of its window:
``_state/dedup/h=<YYYYMMDDHH>/<hi_ms>-<seq>-<group>.parquet``. A client retry resends the
same event with the same ``timestamp``, so its key can only be in the objects of that hour.
A run lists the hours its own rows touch, loads (in parallel) their index objects whose
window ended within ``lookback`` of its window start, and drops rows whose key is in them;
then it drops repeats inside its own rows (keeping the first received). The window stays
exactly the 48 h it was: only objects that cannot hold a row's key are skipped.

Objects written before the sharding sit flat in ``_state/dedup/`` and are loaded whole,
as before, until they expire (96 h). Cost per event: docs/decisions/0012.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any, Iterable

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
    # Distinct event_ids make distinct (app_id, event_id) keys: the usual case (no retry in the
    # window) is settled without building the keys, at about half the CPU.
    if table.num_rows == 0 or pc.count_distinct(table.column("event_id")).as_py() == table.num_rows:
        return table
    ordered = table.sort_by([("received_at", "ascending"), ("event_id", "ascending")])
    return first_per_key(ordered, keys_of(ordered)) if ordered.num_rows else ordered


# Index objects of committed runs never change: a warm Lambda keeps the ones it has read.
# (bucket, S3 key, ETag) -> that object's keys.
_CACHE: dict[tuple[str, str, str], pa.Array] = {}
HOUR_MS = 3_600_000
NO_HOUR = "none"  # rows without a client timestamp (none since validation requires one)
LOAD_THREADS = 8


def _hour_numbers(table: pa.Table) -> pa.ChunkedArray:
    """Hours since the epoch of each row's client timestamp (null where it is null)."""
    ms = table.column("client_timestamp").cast(pa.int64()).cast(pa.float64())
    return pc.floor(pc.divide(ms, float(HOUR_MS))).cast(pa.int64())


def hour_name(hour: int | None) -> str:
    """YYYYMMDDHH (UTC) of an hour number, as in the index's folder names."""
    if hour is None:
        return NO_HOUR
    return datetime.fromtimestamp(hour * 3600, tz=timezone.utc).strftime("%Y%m%d%H")


def hours_of(table: pa.Table) -> list[str]:
    """The client-timestamp hours (YYYYMMDDHH, or ``none``) the rows touch, each once."""
    if table.num_rows == 0:
        return []
    return sorted(hour_name(h) for h in pc.unique(_hour_numbers(table)).to_pylist())


def _wanted(objects: Iterable[dict[str, Any]], since_ms: int, before_seq: int) -> list[tuple[str, str]]:
    wanted = []
    for obj in objects:
        hi_ms, seq, _group = layout.parse_dedup_key(obj["Key"])
        if hi_ms >= since_ms and seq < before_seq:
            wanted.append((obj["Key"], obj.get("ETag", "")))
    return wanted


def load_seen(lake: Lake, prefix: str, since_ms: int, before_seq: int, hours: Iterable[str] | None = None) -> pa.Array:
    """Keys exported by committed runs whose window ended at or after ``since_ms``.

    ``hours``: only the index shards of these client-timestamp hours (None: every shard).
    One LIST of the index root (flat objects of the old layout, and which hour shards
    exist), then one LIST and the GETs per wanted hour, in parallel threads.
    """
    top = list(lake.list(layout.dedup_prefix(prefix), delimiter="/"))
    existing = {p["Prefix"] for p in top if "Prefix" in p}
    folders = sorted(existing) if hours is None else sorted(existing & {layout.dedup_hour_prefix(prefix, h) for h in hours})
    wanted = _wanted((o for o in top if "Key" in o), since_ms, before_seq)
    with ThreadPoolExecutor(max_workers=LOAD_THREADS) as pool:
        for found in pool.map(lambda folder: _wanted(lake.list(folder), since_ms, before_seq), folders):
            wanted.extend(found)
        cache_keys = [(lake.bucket, key, etag) for key, etag in wanted]
        missing = [k for k in cache_keys if k not in _CACHE]
        for k, keys in zip(missing, pool.map(lambda k: keys_of(lake.read_table(k[1])).combine_chunks(), missing)):
            _CACHE[k] = keys
    # Drop what no run can want again (windows move forward); fan-out workers may share a process.
    for stale in [k for k in _CACHE if k[0] == lake.bucket and layout.parse_dedup_key(k[1])[0] < since_ms]:
        _CACHE.pop(stale, None)
    if not cache_keys:
        return pa.array([], pa.string())
    return pa.concat_arrays([_CACHE[k] for k in cache_keys])


def write_index(lake: Lake, prefix: str, hi_ms: int, seq: int, group: int, table: pa.Table) -> int:
    """Write ``table``'s keys as one index object per client-timestamp hour; returns objects written.

    Names are deterministic: a redo of the same window writes the same objects again.
    """
    if table.num_rows == 0:
        return 0
    keys = table.select(["app_id", "event_id"])
    numbers = _hour_numbers(table)
    parts = [
        (hour_name(h), keys.filter(pc.is_null(numbers) if h is None else pc.equal(numbers, h)))
        for h in pc.unique(numbers).to_pylist()
    ]
    with ThreadPoolExecutor(max_workers=LOAD_THREADS) as pool:
        list(pool.map(lambda p: lake.put_table(layout.dedup_key(prefix, hi_ms, seq, group, p[0]), p[1]), parts))
    return len(parts)


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


def expired_index_keys(lake: Lake, prefix: str, older_than_ms: int) -> list[str]:
    return [o["Key"] for o in lake.list(layout.dedup_prefix(prefix)) if layout.parse_dedup_key(o["Key"])[0] < older_than_ms]
