"""The dedup index sharded by client-timestamp hour, against s3rver: a run loads only the
hours its rows touch, still sees the flat objects written before the sharding, keeps the
48 h window exact, and its cache follows the object's ETag."""

from __future__ import annotations

import pyarrow as pa

from chalicelib import clients
from chalicelib.export import dedup
from chalicelib.lake import layout
from chalicelib.lake.parquetio import Lake
from chalicelib.lake.schema import TS

HOUR = 3_600_000
T0 = 1_795_000_000_000 // HOUR * HOUR  # an hour boundary: 2026-11-18T...


def rows(*spec: tuple[str, str, int]) -> pa.Table:
    """(app_id, event_id, client timestamp ms) rows."""
    return pa.table(
        {
            "app_id": [s[0] for s in spec],
            "event_id": [s[1] for s in spec],
            "client_timestamp": pa.array([s[2] for s in spec], pa.int64()).cast(TS),
        }
    )


def seen_set(lake: Lake, since_ms: int, before_seq: int, hours) -> set[str]:
    return {k.replace(dedup.SEP, "/") for k in dedup.load_seen(lake, "lake", since_ms, before_seq, hours).to_pylist()}


def test_a_run_loads_only_the_hours_its_rows_touch(settings):
    lake = Lake(clients.s3(settings), settings.bucket)
    dedup._CACHE.clear()
    # GIVEN run 1 exported events of two client hours, and a rare event from 3 days back
    written = dedup.write_index(
        lake, "lake", T0, 1, 0, rows(("a", "1", T0 + 5), ("a", "2", T0 + HOUR + 5), ("b", "3", T0 - 72 * HOUR))
    )
    assert written == 3
    shards = sorted(o["Key"].split("/")[3] for o in lake.list(layout.dedup_prefix("lake")))
    assert shards == sorted(f"h={dedup.hours_of(rows(('x', 'x', t)))[0]}" for t in (T0, T0 + HOUR, T0 - 72 * HOUR))
    hour0 = dedup.hours_of(rows(("a", "1", T0 + 5)))[0]
    # WHEN run 2's rows all fall in the first hour THEN only that hour's keys are loaded
    assert seen_set(lake, T0 - 48 * HOUR, 2, {hour0}) == {"a/1"}
    assert seen_set(lake, T0 - 48 * HOUR, 2, None) == {"a/1", "a/2", "b/3"}
    # an hour with no index object costs no GET and finds nothing
    assert seen_set(lake, T0 - 48 * HOUR, 2, {"2001010100"}) == set()


def test_the_window_and_the_sequence_still_bound_what_is_seen(settings):
    lake = Lake(clients.s3(settings), settings.bucket)
    dedup._CACHE.clear()
    hour = dedup.hours_of(rows(("a", "1", T0)))[0]
    dedup.write_index(lake, "lake", T0, 1, 0, rows(("a", "old", T0)))
    dedup.write_index(lake, "lake", T0 + 49 * HOUR, 2, 0, rows(("a", "new", T0)))
    dedup.write_index(lake, "lake", T0 + 50 * HOUR, 3, 0, rows(("a", "mine", T0)))
    # a window ending 48 h before the run's start is still in; one that ended earlier is not
    assert seen_set(lake, T0, 3, {hour}) == {"a/old", "a/new"}
    assert seen_set(lake, T0 + 1, 3, {hour}) == {"a/new"}
    # the run's own (uncommitted) sequence is never read
    assert seen_set(lake, T0, 4, {hour}) == {"a/old", "a/new", "a/mine"}


def test_flat_objects_written_before_the_sharding_are_still_read(settings):
    lake = Lake(clients.s3(settings), settings.bucket)
    dedup._CACHE.clear()
    lake.put_table(layout.dedup_key("lake", T0, 1, 0), pa.table({"app_id": ["a"], "event_id": ["legacy"]}))
    dedup.write_index(lake, "lake", T0, 2, 0, rows(("a", "sharded", T0)))
    assert seen_set(lake, T0, 3, {"1999010100"}) == {"a/legacy"}
    hour = dedup.hours_of(rows(("a", "1", T0)))[0]
    assert seen_set(lake, T0, 3, {hour}) == {"a/legacy", "a/sharded"}
    # expiry sees both layouts
    assert len(dedup.expired_index_keys(lake, "lake", T0 + 1)) == 2


def test_the_cache_is_keyed_by_bucket_object_and_etag(settings):
    lake = Lake(clients.s3(settings), settings.bucket)
    dedup._CACHE.clear()
    hour = dedup.hours_of(rows(("a", "1", T0)))[0]
    dedup.write_index(lake, "lake", T0, 1, 0, rows(("a", "1", T0)))
    assert seen_set(lake, T0, 2, {hour}) == {"a/1"}
    assert [k[0] for k in dedup._CACHE] == [settings.bucket]
    # the same name rewritten (a redo of run 1 with other content) has another ETag: read again
    dedup.write_index(lake, "lake", T0, 1, 0, rows(("a", "1", T0), ("a", "2", T0)))
    assert seen_set(lake, T0, 2, {hour}) == {"a/1", "a/2"}
