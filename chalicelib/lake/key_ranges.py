"""Ranges of the visitor key: which visitors a slice holds, and which rows of a key-sorted file it reads.

The visitor key is a random 64-bit hash stored as a signed BIGINT (chalicelib/lake/visitor_key.py,
decision 0015), so n equal-width ranges of the signed int64 line hold about 1/n of the visitors
each, whatever the ids look like. The day rebuild (chalicelib/lake/rollup.py) deals its visitors
to slices by these ranges (``slice_of``) and appends the slices in range order, so every keyed
day file is sorted by ``visitor_key`` (decision 0017, step 2's layout). The month build
(chalicelib/lake/month) builds a range [lo, hi) from only the day rows and carry rows whose key
is in it, and produces exactly that range's month and carry rows (a visitor's rows never depend
on another visitor's); it reads a range's rows of a day file by its row groups' min/max
statistics (``row_groups``, ``read``), not the whole file.

Pure but for ``read``, which reads the row groups ``row_groups`` chose from an open Parquet file.
A NULL key (an event with no id at all; none is accepted) sorts last, so it belongs to the last
range (``slice_of``) and to no ``KeyRange``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from chalicelib.errors import TerminalError

KEY_COLUMN = "visitor_key"
KEY_MIN = -(2**63)  # the smallest int64: the first range starts here
KEY_END = 2**63  # one past the largest int64: the last range ends here (exclusive)
MAX_RANGES = 2**16  # far above the 130-380 slices decision 0017 expects at a billion events a month


class KeyRangeError(TerminalError):
    """A range plan or a file does not fit the key space; nothing is built from it."""


@dataclass(frozen=True, order=True)
class KeyRange:
    """The visitor keys ``lo <= key < hi`` (signed int64; ``hi`` may be ``KEY_END``)."""

    lo: int
    hi: int

    def __post_init__(self) -> None:
        if not KEY_MIN <= self.lo < self.hi <= KEY_END:
            raise KeyRangeError(
                f"key range [{self.lo}, {self.hi}) is empty or outside the int64 keys [{KEY_MIN}, {KEY_END}); "
                "no slice can be built from it"
            )

    def __str__(self) -> str:
        return f"[{self.lo}, {self.hi})"

    def mask(self, keys: np.ndarray) -> np.ndarray:
        """Which of ``keys`` (int64) are in the range. A bound is compared only where it cuts:
        ``KEY_END`` does not fit an int64, and ``KEY_MIN`` excludes nothing."""
        inside = np.ones(keys.shape, dtype=bool)
        if self.lo > KEY_MIN:
            inside &= keys >= np.int64(self.lo)
        if self.hi < KEY_END:
            inside &= keys < np.int64(self.hi)
        return inside


ALL_KEYS = KeyRange(KEY_MIN, KEY_END)


def _bounds(n: int, space: KeyRange) -> list[int]:
    if not 1 <= n <= min(MAX_RANGES, space.hi - space.lo):
        raise KeyRangeError(f"cannot plan {n} key ranges in {space}: a build takes 1 to {MAX_RANGES} slices")
    return [space.lo + (i * (space.hi - space.lo)) // n for i in range(n + 1)]


def plan_ranges(n: int, within: KeyRange | None = None) -> tuple[KeyRange, ...]:
    """``within`` (the whole key space if None) in ``n`` contiguous ranges of equal width (within
    one key), in key order: they cover each of its keys once. Range i of ``plan_ranges(n)`` is
    slice i of n, in the day build and the month build; a month's part too large for memory is
    built in ``plan_ranges(m, part)``, its sub-ranges appended in order (decision 0017, *Slices
    and files*)."""
    bounds = _bounds(n, ALL_KEYS if within is None else within)
    return tuple(KeyRange(lo, hi) for lo, hi in zip(bounds, bounds[1:]))


def slice_of(keys: pa.Array | pa.ChunkedArray, n: int) -> np.ndarray:
    """The slice (0 .. n - 1) of each key: the index of its range in ``plan_ranges(n)``. NULL
    keys go to the last slice (they sort after every key)."""
    inner = np.array(_bounds(n, ALL_KEYS)[1:-1], dtype=np.int64)
    valid = pc.is_valid(keys).to_numpy(zero_copy_only=False)
    values = pc.fill_null(keys, 0).to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    which = np.searchsorted(inner, values, side="right").astype(np.int64)
    which[~valid] = n - 1
    return which


def keys_of(table: pa.Table, what: str) -> np.ndarray:
    """``table``'s visitor keys as int64, or a KeyRangeError if any is NULL (a NULL key is no
    visitor: no event without an id is accepted, so a NULL here is corrupt input)."""
    column = table.column(KEY_COLUMN)
    if column.null_count:
        raise KeyRangeError(
            f"{what} has {column.null_count} rows with a NULL {KEY_COLUMN}; a key-range slice needs a visitor per row"
        )
    return np.asarray(column.to_numpy(), dtype=np.int64)


def select(table: pa.Table, key_range: KeyRange) -> pa.Table:
    """The rows of ``table`` whose visitor key is in ``key_range``, in their order."""
    if key_range == ALL_KEYS:
        return table
    return table.filter(pa.array(key_range.mask(keys_of(table, "the table to slice"))))


def require_inside(table: pa.Table, key_range: KeyRange, what: str) -> np.ndarray:
    """``table``'s keys, or a KeyRangeError naming the first key outside ``key_range``: a slice
    fed another slice's rows would write them twice."""
    keys = keys_of(table, what)
    outside = ~key_range.mask(keys)
    if outside.any():
        raise KeyRangeError(
            f"{what} has {int(outside.sum())} rows outside the slice's key range {key_range} "
            f"(first: {int(keys[outside][0])}); select the slice's rows first (key_ranges.select)"
        )
    return keys


def row_groups(metadata: pq.FileMetaData, key_range: KeyRange) -> list[int]:
    """The row groups of a Parquet file that may hold keys of ``key_range``, by the min/max
    statistics of its ``visitor_key`` column; a group without them is always read (a file
    written before the day files were key-sorted). In a key-sorted file a range is a few
    consecutive groups."""
    at = metadata.schema.to_arrow_schema().get_field_index(KEY_COLUMN)
    if at < 0:
        raise KeyRangeError(f"the file has no {KEY_COLUMN} column; its rows cannot be sliced by key")
    wanted = []
    for group in range(metadata.num_row_groups):
        stats = metadata.row_group(group).column(at).statistics
        if stats is None or not stats.has_min_max:
            wanted.append(group)
        elif stats.max >= key_range.lo and stats.min < key_range.hi:
            wanted.append(group)
    return wanted


def read(parquet: pq.ParquetFile, key_range: KeyRange, columns: Sequence[str] | None = None) -> pa.Table:
    """The rows of ``key_range`` of an open Parquet file (``columns``, default all), in file
    order: only the row groups ``row_groups`` chose are read, then cut to the range."""
    names = None if columns is None else list(dict.fromkeys([*columns, KEY_COLUMN]))
    groups = row_groups(parquet.metadata, key_range)
    table = parquet.read_row_groups(groups, columns=names) if groups else parquet.schema_arrow.empty_table()
    if names is not None:
        table = table.select(names)
    rows = select(table, key_range)
    return rows if columns is None or KEY_COLUMN in columns else rows.drop_columns([KEY_COLUMN])
