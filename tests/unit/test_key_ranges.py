"""Ranges of the visitor key (chalicelib/lake/key_ranges.py): the plan covers every int64 once,
in order; a key's slice is the range holding it; a reader choosing row groups by key statistics
gets exactly a range's rows of a key-sorted file."""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.lake import key_ranges
from chalicelib.lake.key_ranges import ALL_KEYS, KEY_END, KEY_MIN, KeyRange, KeyRangeError

INT64 = st.integers(KEY_MIN, KEY_END - 1)


@given(n=st.integers(1, key_ranges.MAX_RANGES))
def test_the_ranges_cover_the_key_space_in_order_without_overlap(n: int):
    ranges = key_ranges.plan_ranges(n)
    assert len(ranges) == n
    assert ranges[0].lo == KEY_MIN and ranges[-1].hi == KEY_END
    assert all(a.hi == b.lo for a, b in zip(ranges, ranges[1:]))  # contiguous: no gap, no overlap
    assert list(ranges) == sorted(ranges)
    widths = {r.hi - r.lo for r in ranges}
    assert max(widths) - min(widths) <= 1  # equal within one key


@given(n=st.integers(1, 400), keys=st.lists(INT64, min_size=1, max_size=50))
def test_a_keys_slice_is_the_one_range_holding_it_and_monotone_in_the_key(n: int, keys: list[int]):
    ranges = key_ranges.plan_ranges(n)
    which = key_ranges.slice_of(pa.array(keys, pa.int64()), n)
    for key, i in zip(keys, which.tolist()):
        assert [j for j, r in enumerate(ranges) if r.mask(np.array([key], dtype=np.int64))[0]] == [i]
    ordered = sorted(zip(keys, which.tolist()))
    assert [i for _, i in ordered] == sorted(i for _, i in ordered)  # a larger key never gets an earlier slice


def test_the_edges_of_the_key_space_and_null_keys():
    keys = pa.array([KEY_MIN, -1, 0, KEY_END - 1, None], pa.int64())
    assert key_ranges.slice_of(keys, 2).tolist() == [0, 0, 1, 1, 1]  # NULL sorts last: the last slice
    assert key_ranges.slice_of(keys, 1).tolist() == [0] * 5
    assert key_ranges.slice_of(pa.chunked_array([keys[:2], keys[2:]]), 2).tolist() == [0, 0, 1, 1, 1]
    assert ALL_KEYS.mask(np.array([KEY_MIN, KEY_END - 1], dtype=np.int64)).all()


@pytest.mark.parametrize("n", [0, key_ranges.MAX_RANGES + 1])
def test_a_plan_outside_the_limits_is_refused(n: int):
    with pytest.raises(KeyRangeError, match=f"cannot plan {n} key ranges"):
        key_ranges.plan_ranges(n)


@pytest.mark.parametrize(("lo", "hi"), [(5, 5), (KEY_MIN - 1, 0), (0, KEY_END + 1)])
def test_an_empty_or_outside_range_is_refused(lo: int, hi: int):
    with pytest.raises(KeyRangeError, match="empty or outside"):
        KeyRange(lo, hi)


def _sorted_file(keys: list[int], group_rows: int, statistics: bool = True) -> pq.ParquetFile:
    table = pa.table({"visitor_key": pa.array(sorted(keys), pa.int64()), "n": pa.array(range(len(keys)), pa.int64())})
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=group_rows, write_statistics=["visitor_key"] if statistics else False)
    return pq.ParquetFile(io.BytesIO(sink.getvalue()))


@settings(max_examples=60, deadline=None)
@given(
    keys=st.lists(st.one_of(INT64, st.integers(-5, 5)), min_size=0, max_size=120),
    group_rows=st.integers(1, 30),
    n=st.integers(1, 9),
)
def test_a_reader_choosing_row_groups_by_key_statistics_gets_exactly_a_ranges_rows(keys: list[int], group_rows: int, n: int):
    parquet = _sorted_file(keys, group_rows)
    whole = parquet.read()
    for key_range in key_ranges.plan_ranges(n):
        got = key_ranges.read(parquet, key_range)
        assert got.equals(key_ranges.select(whole, key_range)), key_range
        assert key_ranges.read(parquet, key_range, ["n"]).column_names == ["n"]
        groups = key_ranges.row_groups(parquet.metadata, key_range)
        assert groups == list(range(groups[0], groups[-1] + 1)) if groups else got.num_rows == 0  # consecutive
    # every row is read by exactly one range of the plan
    assert sum(key_ranges.read(parquet, r).num_rows for r in key_ranges.plan_ranges(n)) == len(keys)


def test_a_range_reads_only_the_groups_it_overlaps_and_every_group_of_a_file_without_statistics():
    keys = [KEY_MIN + i * 2**64 // 100 + 1 for i in range(100)]  # spread over the key space, 25 a quarter
    parquet = _sorted_file(keys, 10)
    quarter = key_ranges.plan_ranges(4)[1]
    assert key_ranges.row_groups(parquet.metadata, quarter) == [2, 3, 4]  # keys 25-49 of 100: groups 2-4
    assert key_ranges.read(parquet, quarter).num_rows == 25
    bare = _sorted_file(keys, 10, statistics=False)
    assert key_ranges.row_groups(bare.metadata, quarter) == list(range(10))
    assert key_ranges.read(bare, quarter).equals(key_ranges.read(parquet, quarter))


def test_a_file_without_keys_or_with_null_keys_is_refused():
    sink = io.BytesIO()
    pq.write_table(pa.table({"x": [1]}), sink)
    with pytest.raises(KeyRangeError, match="no visitor_key column"):
        key_ranges.row_groups(pq.ParquetFile(io.BytesIO(sink.getvalue())).metadata, ALL_KEYS)
    with pytest.raises(KeyRangeError, match="1 rows with a NULL visitor_key"):
        key_ranges.select(pa.table({"visitor_key": pa.array([1, None], pa.int64())}), KeyRange(0, 10))
