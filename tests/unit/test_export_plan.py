"""The export's pure planning (chalicelib/export/plan.py): windows, key ranges, groups."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from chalicelib.export import plan
from chalicelib.export.reader import KeyRange
from chalicelib.store import keys

HOUR = 3_600_000
T0 = 1_764_547_200_000  # 2025-12-01T00:00Z

counts_st = st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=64)


# -- next_window ---------------------------------------------------------------------------
def test_first_window_looks_back_and_stays_settle_behind_now() -> None:
    assert plan.next_window(None, T0, 30_000, 8 * 86_400_000) == plan.Window(T0 - 8 * 86_400_000, T0 - 30_000)


def test_window_starts_at_the_watermark_and_is_none_when_nothing_settled() -> None:
    assert plan.next_window(T0 - 60_000, T0, 30_000, HOUR) == plan.Window(T0 - 60_000, T0 - 30_000)
    assert plan.next_window(T0 - 30_000, T0, 30_000, HOUR) is None


@given(st.integers(0, 10**13), st.integers(0, 10**13), st.integers(0, 10**7))
def test_a_window_is_never_empty_and_never_reaches_the_settle_time(watermark: int, now: int, settle: int) -> None:
    window = plan.next_window(watermark, now, settle, HOUR)
    if window is not None:
        assert window.lo_ms == watermark < window.hi_ms == now - settle


# -- key_ranges ----------------------------------------------------------------------------
def test_key_ranges_cover_every_hour_and_shard_of_the_window() -> None:
    window = plan.Window(T0 + 10, T0 + HOUR + 5)  # (lo, hi] touches two hours
    ranges = plan.key_ranges("events", window, 4)
    assert len(ranges) == 8
    assert {r.pk for r in ranges} == {keys.partition_key("events", t, s) for t in (T0, T0 + HOUR) for s in range(4)}
    assert all((r.sk_from, r.sk_to) == (keys.sort_key_bound(T0 + 10), keys.sort_key_bound(T0 + HOUR + 5)) for r in ranges)


@given(st.sets(st.integers(0, 15)), st.integers(1, 5 * HOUR))
def test_key_ranges_of_some_shards_are_those_shards_ranges(only: set[int], width: int) -> None:
    window = plan.Window(T0, T0 + width)
    every = plan.key_ranges("rejected_events", window, 16)
    some = plan.key_ranges("rejected_events", window, 16, sorted(only))
    assert some == [r for r in every if keys.shard_of_partition(r.pk) in only]


# -- groups --------------------------------------------------------------------------------
@given(counts_st, st.integers(1, 50_000), st.integers(1, 64))
def test_groups_partition_the_shards(counts: list[int], budget: int, max_groups: int) -> None:
    groups = plan.assign_groups(counts, budget, max_groups)
    assert sorted(s for g in groups for s in g) == list(range(len(counts)))
    assert all(g == sorted(g) and g for g in groups)
    assert 1 <= len(groups) <= max_groups


@given(counts_st, st.integers(1, 50_000), st.integers(1, 64))
def test_groups_are_balanced_within_one_shard(counts: list[int], budget: int, max_groups: int) -> None:
    """LPT: no group exceeds the mean load by more than the largest shard."""
    groups = plan.assign_groups(counts, budget, max_groups)
    loads = [sum(counts[s] for s in g) for g in groups]
    assert max(loads) <= sum(counts) / len(groups) + max(counts)


def test_groups_needed_follow_the_budget() -> None:
    assert plan.assign_groups([10] * 8, 1000, 64) == [list(range(8))]
    assert len(plan.assign_groups([10] * 8, 20, 64)) == 4
    assert len(plan.assign_groups([10] * 8, 1, 3)) == 3


def test_shard_counts_sum_the_hours_per_shard() -> None:
    ranges = plan.key_ranges("events", plan.Window(T0, T0 + HOUR + 1), 2)  # 2 hours x 2 shards
    by_pk = {r.pk: n for r, n in zip(ranges, [1, 2, 3, 4])}
    counts = plan.shard_counts(ranges, [by_pk[r.pk] for r in ranges], 2)
    assert counts == [
        sum(n for pk, n in by_pk.items() if keys.shard_of_partition(pk) == 0),
        sum(n for pk, n in by_pk.items() if keys.shard_of_partition(pk) == 1),
    ]
    assert sum(counts) == 10
    assert plan.shard_counts([KeyRange(keys.partition_key("events", T0, 3), "a", "b")], [7], 4) == [0, 0, 0, 7]


@given(counts_st, st.integers(1, 20_000), st.integers(1, 64), st.integers(2, 10 * HOUR))
def test_plan_groups_splits_or_halves(counts: list[int], budget: int, max_groups: int, width: int) -> None:
    window = plan.Window(T0, T0 + width)
    step = plan.plan_groups(window, counts, budget, max_groups)
    if max(counts) <= budget:
        assert step == plan.GroupPlan(window, plan.assign_groups(counts, budget, max_groups))
    else:  # one shard alone is over budget: count a window half as long, from the same start
        assert step == plan.Window(T0, T0 + width // 2)


def test_a_one_millisecond_window_is_exported_however_full() -> None:
    window = plan.Window(T0, T0 + 1)
    assert plan.plan_groups(window, [10**9, 1], 100, 8) == plan.GroupPlan(window, plan.assign_groups([10**9, 1], 100, 8))


# -- a planning read stopped at the budget -------------------------------------------------
@given(st.integers(1, 16), st.integers(1, 6 * HOUR))
def test_shard_major_is_the_same_ranges_shard_after_shard_hours_in_order(shards: int, width: int) -> None:
    ranges = plan.key_ranges("events", plan.Window(T0, T0 + width), shards)
    ordered = plan.shard_major(ranges)
    assert sorted(ordered, key=repr) == sorted(ranges, key=repr)
    assert [keys.shard_of_partition(r.pk) for r in ordered] == sorted(keys.shard_of_partition(r.pk) for r in ranges)
    for s in range(shards):
        assert [r for r in ordered if keys.shard_of_partition(r.pk) == s] == plan.key_ranges(
            "events", plan.Window(T0, T0 + width), shards, [s]
        )


@given(st.integers(1, 16), st.integers(1, 4 * HOUR), st.data())
def test_finished_shards_are_those_with_every_range_read(shards: int, width: int, data: st.DataObject) -> None:
    ranges = plan.shard_major(plan.key_ranges("events", plan.Window(T0, T0 + width), shards))
    finished = data.draw(st.lists(st.booleans(), min_size=len(ranges), max_size=len(ranges)))
    done = plan.finished_shards(ranges, finished, shards)
    for s in range(shards):
        mine = [f for r, f in zip(ranges, finished) if keys.shard_of_partition(r.pk) == s]
        assert (s in done) == all(mine)


@given(st.data(), st.integers(1, 20_000), st.integers(1, 64))
def test_groups_after_a_stopped_read_keep_what_was_read_as_group_0(data: st.DataObject, budget: int, max_groups: int) -> None:
    counts = data.draw(counts_st)
    read = data.draw(st.sets(st.sampled_from(range(len(counts)))))
    groups = plan.groups_after_read(sorted(read), counts, budget, max_groups)
    rest = [s for s in range(len(counts)) if s not in read]
    if not read or not rest or max_groups < 2 or max(counts[s] for s in rest) > budget:
        assert groups is None  # nothing kept: count and halve the window as before
        return
    assert groups is not None
    # every shard in exactly one group, group 0 exactly the shards read, the others split by counts
    assert sorted(s for g in groups for s in g) == list(range(len(counts)))
    assert groups[0] == sorted(read)
    assert all(g == sorted(g) and g for g in groups)
    assert 2 <= len(groups) <= max_groups
    others = plan.assign_groups([counts[s] for s in rest], budget, max_groups - 1)
    assert groups[1:] == [[rest[i] for i in g] for g in others]


def test_groups_after_read_examples() -> None:
    assert plan.groups_after_read([0, 1], [5, 5, 7, 3], 10, 8) == [[0, 1], [2, 3]]
    assert plan.groups_after_read([0], [5, 9, 9, 3], 10, 8) == [[0], [1], [2], [3]]
    assert plan.groups_after_read([0], [5, 9, 9, 3], 10, 2) == [[0], [1, 2, 3]]  # max_groups caps as before
    assert plan.groups_after_read([0], [5, 11, 1, 1], 10, 8) is None  # shard 1 alone is over the budget
    assert plan.groups_after_read([], [5, 5], 10, 8) is None
    assert plan.groups_after_read([0, 1], [5, 5], 10, 8) is None  # everything read: one group, not this path
