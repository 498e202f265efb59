"""The key design: the export's range reads must cover every written item and nothing else."""

from __future__ import annotations

from datetime import datetime, timezone

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from chalicelib.store import keys

no_deadline = settings(deadline=None)  # a busy shared machine must not fail a pure property test

HOUR = keys.HOUR_MS
MS_2000, MS_2100 = 946_684_800_000, 4_102_444_800_000

epoch_ms = st.integers(MS_2000, MS_2100)
ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-", min_size=1, max_size=64)
app_ids = st.from_regex(r"[a-z0-9][a-z0-9-]{0,47}", fullmatch=True)
shard_counts = st.integers(1, 16)


@no_deadline
@given(epoch_ms, st.integers(0, 30 * HOUR), shard_counts, st.data())
def test_partitions_between_cover_every_item_in_range_and_nothing_outside(
    lo: int, span: int, shards: int, data: st.DataObject
) -> None:
    hi = lo + span
    partitions = list(keys.partitions_between("events", lo, hi, shards))
    # every (hour, shard) an item received in (lo, hi] can land in is listed, exactly once
    first_hour, last_hour = (lo + 1) // HOUR, hi // HOUR
    expected = {keys.partition_key("events", h * HOUR, s) for h in range(first_hour, last_hour + 1) for s in range(shards)}
    assert len(partitions) == len(set(partitions))
    assert set(partitions) == (expected if span else set())
    # and any concrete item in range is found, any item outside is not
    if span:
        inside = data.draw(st.integers(lo + 1, hi), label="inside")
        event_id = data.draw(ids, label="event_id")
        assert keys.partition_key("events", inside, keys.shard_of(event_id, shards)) in partitions
    outside = data.draw(st.one_of(st.integers(lo - 48 * HOUR, lo), st.integers(hi + 1, hi + 48 * HOUR)), label="outside")
    assume(outside // HOUR not in range(first_hour, last_hour + 1))
    assert keys.partition_key("events", outside, 0) not in partitions


@no_deadline
@given(epoch_ms, epoch_ms)
def test_partitions_between_an_empty_range_is_empty(lo: int, hi: int) -> None:
    assume(hi <= lo)
    assert list(keys.partitions_between("events", lo, hi, 4)) == []


@no_deadline
@given(epoch_ms, app_ids, ids, epoch_ms)
def test_sort_key_bound_splits_keys_by_millisecond(received: int, app_id: str, event_id: str, bound: int) -> None:
    key = keys.sort_key(received, app_id, event_id)

    # (lo, hi] as a sort-key range: key > bound(lo) and key <= bound(hi), whatever the app and event
    assert (key <= keys.sort_key_bound(bound)) == (received <= bound)
    assert keys.sort_key_bound(received - 1) < key < keys.sort_key_bound(received)
    # DynamoDB compares UTF-8 bytes; the order must be the same there
    assert (key.encode() <= keys.sort_key_bound(bound).encode()) == (received <= bound)


@no_deadline
@given(epoch_ms, epoch_ms)
def test_sort_key_bounds_are_ordered_like_time(a: int, b: int) -> None:
    assert (keys.sort_key_bound(a) < keys.sort_key_bound(b)) == (a < b)


@no_deadline
@given(epoch_ms)
def test_hour_bucket_is_the_utc_hour(ms: int) -> None:
    assert keys.hour_bucket(ms) == datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y%m%d%H")


@no_deadline
@given(ids, shard_counts)
def test_shard_is_stable_and_in_range(event_id: str, shards: int) -> None:
    assert 0 <= keys.shard_of(event_id, shards) < shards
    assert keys.shard_of(event_id, shards) == keys.shard_of(event_id, shards)


def test_partition_key_layout() -> None:
    assert keys.partition_key("events", 1_700_000_000_000, 10) == "e#2023111422#0a"
    assert keys.partition_key("rejected_events", 1_700_000_000_000, 0) == "r#2023111422#00"
    assert keys.sort_key(1_700_000_000_000, "shop", "e1") == "1700000000000#shop#e1"
