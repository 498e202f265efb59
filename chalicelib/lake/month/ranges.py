"""Key-range slices of the visitor-month build: which visitors a slice builds, and which rows it reads.

The visitor key is a random 64-bit hash stored as a signed BIGINT (chalicelib/lake/visitor_key.py,
decision 0015), so equal-width ranges of the signed int64 line hold about equal shares of the
visitors, and every table keyed by visitor sorts in that same signed order (the day rollups sort
by ``visitor_key`` ascending). A month build of the range [lo, hi) needs only the day rows and
carry rows whose key is in it, and produces exactly the month rows and carry rows of that range:
a visitor's rows never depend on another visitor's. The slices' outputs, concatenated in range
order, are the whole month (chalicelib/lake/month/build.py orders rows by key first).

Pure: the planner and the selections read nothing but their arguments; ``row_groups`` reads a
Parquet footer's statistics so that a reader fetches only the row groups a range can hold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from chalicelib.errors import TerminalError

KEY_MIN = -(2**63)  # the smallest int64: the first range starts here
KEY_END = 2**63  # one past the largest int64: the last range ends here (exclusive)
KEY_COLUMN = "visitor_key"
MAX_RANGES = 2**16  # far above the 130-380 slices decision 0017 expects at a billion events a month


class KeyRangeError(TerminalError):
    """A range plan or a slice's input does not fit the key space; the build stops before writing."""


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
        """Which of ``keys`` (int64) are in the range. The bounds are compared only where they
        cut: ``KEY_END`` does not fit an int64, and ``KEY_MIN`` excludes nothing."""
        inside = np.ones(keys.shape, dtype=bool)
        if self.lo > KEY_MIN:
            inside &= keys >= np.int64(self.lo)
        if self.hi < KEY_END:
            inside &= keys < np.int64(self.hi)
        return inside


ALL_KEYS = KeyRange(KEY_MIN, KEY_END)


def plan_ranges(n: int, within: KeyRange | None = None) -> tuple[KeyRange, ...]:
    """``within`` (the whole key space if None) in ``n`` contiguous ranges of equal width (within
    one key), in key order: they cover each of its keys once. Random keys give each about 1/n of
    the visitors. The month's parts are ``plan_ranges(n)``; a part too large for memory is built
    in ``plan_ranges(m, part)``, its sub-ranges appended in order (decision 0017, *Slices and
    files*)."""
    space = ALL_KEYS if within is None else within
    if not 1 <= n <= min(MAX_RANGES, space.hi - space.lo):
        raise KeyRangeError(f"cannot plan {n} key ranges in {space}: the month build takes 1 to {MAX_RANGES} slices")
    bounds = [space.lo + (i * (space.hi - space.lo)) // n for i in range(n + 1)]
    return tuple(KeyRange(lo, hi) for lo, hi in zip(bounds, bounds[1:]))


def keys_of(table: pa.Table, what: str) -> np.ndarray:
    """``table``'s visitor keys as int64, or a KeyRangeError if any is NULL (a NULL key is no
    visitor: no event without an id is accepted, so a NULL here is corrupt input)."""
    column = table.column(KEY_COLUMN)
    if column.null_count:
        raise KeyRangeError(
            f"{what} has {column.null_count} rows with a NULL {KEY_COLUMN}; the month build needs a visitor per row"
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
            f"(first: {int(keys[outside][0])}); select the slice's rows first (month.ranges.select)"
        )
    return keys


def row_groups(metadata: pq.FileMetaData, key_range: KeyRange) -> list[int]:
    """The row groups of a Parquet file that may hold keys of ``key_range``, by the min/max
    statistics of its ``visitor_key`` column (a group without statistics is always read). With
    files sorted by key, a range is a few consecutive groups."""
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
