"""The visitor-month build (decision 0017, step 2): month M's rows of ``rollup_visitor_months``
and M's carry, from M's rolled-up day rows and the carry of M-1. Pure: tables in, tables out.

Each dimension is one pass over M's day rows and the carry's rows together. The (visitor, value)
pairs are sorted once (``np.lexsort``, the key first, then each value column's rank in its sorted
dictionary, NULL last), and each group's masks are one bitwise OR of an int64 holding both
(``np.bitwise_or.reduceat``: duplicate days need no dedupe; bits 0-30 all rows, 32-62 people),
its prev and last days maxima. A carry row contributes no day bits, only its last days (the prev
of M if within M's lookback) and, for ``overall``, the reduced history it remembers.

Why the carry suffices: a (value, visitor)'s prev in M is its last day in the LOOKBACK_MONTHS
before M, and M-1's carry holds its last day in the LOOKBACK_MONTHS before M-1 and M-1 itself:
the same window plus one older month, which the build drops (``last < M - LOOKBACK``). So a
chain of carries equals the definition over all days (tests/unit/test_month_build.py), and a late
day in month K changes K's carry and so every month after it within the lookback.

Rows come out ordered by visitor_key, then the values: the build of a key range
(chalicelib/lake/key_ranges.py) emits exactly that range's rows in that order, so the slices'
outputs concatenated in range order are the unsliced build's, row for row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from chalicelib.errors import TerminalError
from chalicelib.lake.key_ranges import ALL_KEYS, KeyRange, require_inside
from chalicelib.lake.month.dimensions import (
    BY_NAME,
    CARRY_DIMENSION,
    CARRY_MONTH,
    DIMENSIONS,
    HISTORY_COLUMNS,
    HISTORY_MONTHS,
    LOOKBACK_MONTHS,
    MONTH_SCHEMAS,
    SOURCE_COLUMNS,
    Dimension,
    carry_schema,
)
from chalicelib.lake.month.weeks import last_of_weeks

NO_DAY = np.iinfo(np.int32).min  # a day sentinel: no such day (below every real date32)
EPOCH = date(1970, 1, 1)
PEOPLE_SHIFT = 32  # the people mask's bits in the packed int64


class MonthInputError(TerminalError):
    """The month build's inputs contradict each other (a day outside the month, a carry of the
    wrong month, a missing column): rebuilding from the same inputs fails again, so nothing is
    written; the caller must read the right files."""


@dataclass(frozen=True)
class MonthBuild:
    """One month (or one key range of it): per dimension name, its month rows and its carry."""

    month: date
    key_range: KeyRange
    rows: dict[str, pa.Table]
    carry: dict[str, pa.Table]


def add_months(month: date, n: int) -> date:
    index = month.year * 12 + month.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def day_number(d: date) -> int:
    return (d - EPOCH).days


def _days(column: pa.ChunkedArray) -> np.ndarray:
    """date32 -> int32 days since the epoch, NULL -> NO_DAY."""
    ints = pc.fill_null(column.cast(pa.int32()), NO_DAY)
    return np.asarray(ints.to_numpy(zero_copy_only=False), dtype=np.int32)


def _first_and_last(masks: np.ndarray) -> tuple[pa.Array, pa.Array]:
    """The first and the last day (1-31) of each mask (bit d-1: day d), NULL where it is 0."""
    m = masks.astype(np.int64)
    none = m == 0
    safe = np.where(none, 1, m)
    # exact: the lowest bit is a power of two, and log2 of an int below 2**31 floors right
    first = np.log2(safe & -safe).astype(np.int8) + 1
    last = np.floor(np.log2(safe)).astype(np.int8) + 1
    return pa.array(first, pa.int8(), mask=none), pa.array(last, pa.int8(), mask=none)


def _dates(days: np.ndarray) -> pa.Array:
    return pa.array(days, type=pa.int32(), mask=days == NO_DAY).cast(pa.date32())


def _ranks(column: pa.ChunkedArray) -> np.ndarray:
    """Each row's rank in the column's sorted distinct values (NULL a value of its own, last):
    an order that does not depend on which rows a slice holds."""
    encoded = pc.dictionary_encode(column.combine_chunks(), null_encoding="encode")
    order = pc.array_sort_indices(encoded.dictionary, null_placement="at_end").to_numpy()
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return rank[encoded.indices.to_numpy(zero_copy_only=False)]


def _check_carry(dim: Dimension, month: date, carry: pa.Table) -> None:
    meta = carry.schema.metadata or {}
    expected = f"{add_months(month, -1):%Y-%m}"
    got_month = meta.get(CARRY_MONTH, b"").decode() or "no month"
    got_dim = meta.get(CARRY_DIMENSION, b"").decode() or "no dimension"
    if got_month != expected or got_dim != dim.name:
        raise MonthInputError(
            f"the carry given for {dim.name} of {month:%Y-%m} is the carry of {got_dim} for {got_month}; "
            f"the build needs {dim.name}'s carry of {expected}, and nothing is built from another"
        )
    missing = [c for c in carry_schema(dim, month).names if c not in carry.column_names]
    if missing:
        raise MonthInputError(f"the {dim.name} carry of {expected} lacks columns {missing}; it was not written by this build")
    if carry.num_rows and pc.max(carry.column("last_all")).as_py() >= month:
        raise MonthInputError(
            f"the {dim.name} carry of {expected} holds days of {month:%Y-%m} or later; it is not a carry of {expected}"
        )


def _check_days(source: str, month: date, rows: pa.Table) -> None:
    missing = [c for c in (*SOURCE_COLUMNS[source], "day") if c not in rows.column_names]
    if missing:
        raise MonthInputError(f"the {source} rows for {month:%Y-%m} lack columns {missing}; the month build reads them")
    for column in ("day", "is_bot"):
        nulls = rows.column(column).null_count
        if nulls:
            raise MonthInputError(f"{source} has {nulls} rows with a NULL {column}; every rolled-up row has one")
    if rows.num_rows:
        first, last = pc.min_max(rows.column("day")).values()
        if first.as_py() < month or last.as_py() >= add_months(month, 1):
            raise MonthInputError(
                f"{source} has rows of days {first} to {last}, outside {month:%Y-%m}; the month build reads only its month's days"
            )


def build_dimension(
    dim: Dimension, month: date, rows: pa.Table, carry: pa.Table | None, key_range: KeyRange = ALL_KEYS
) -> tuple[pa.Table, pa.Table]:
    """``dim``'s month rows and carry of ``month`` for the visitors of ``key_range``, from its
    source's day rows of ``month`` (SOURCE_COLUMNS and ``day``) and its carry of the month before
    (None: nothing before), both holding only keys of the range."""
    start = day_number(month)
    lookback = day_number(add_months(month, -LOOKBACK_MONTHS))
    if dim.bots_only:
        rows = rows.filter(rows.column("is_bot"))
    keys = require_inside(rows, key_range, f"{dim.source} ({dim.name})")
    day = _days(rows.column("day"))
    bot = np.asarray(rows.column("is_bot").to_numpy(zero_copy_only=False), dtype=bool)
    bit = np.left_shift(np.int64(1), (day - start).astype(np.int64))
    bits = bit | np.where(bot, np.int64(0), bit << PEOPLE_SHIFT)
    prev_all = np.full(keys.size, NO_DAY, dtype=np.int32)  # before M: only carry rows have one
    prev_people = prev_all
    last_all, last_people = day, np.where(bot, NO_DAY, day)
    columns = dim.value_columns(rows)
    hist = {c: np.zeros(keys.size, dtype=np.int32) for c in HISTORY_COLUMNS} if dim.history else {}
    if carry is not None:
        _check_carry(dim, month, carry)
        carried_all = _days(carry.column("last_all"))
        kept = carried_all >= lookback  # older than M's lookback: no prev of M, not carried on
        carry = carry.filter(pa.array(kept))
        carried_all = carried_all[kept]
        carried_people = _days(carry.column("last_people"))
        carried_people = np.where(carried_people >= lookback, carried_people, NO_DAY)
        keys = np.concatenate([keys, require_inside(carry, key_range, f"the {dim.name} carry")])
        bits = np.concatenate([bits, np.zeros(carry.num_rows, dtype=np.int64)])
        prev_all = np.concatenate([prev_all, carried_all])
        prev_people = np.concatenate([prev_people, carried_people])
        last_all = np.concatenate([last_all, carried_all])
        last_people = np.concatenate([last_people, carried_people])
        columns = [
            pa.chunked_array(c.chunks + carry.column(name).cast(type_).chunks, type=type_)
            for c, (name, type_, _) in zip(columns, dim.values)
        ]
        for c in hist:
            hist[c] = np.concatenate([hist[c], np.asarray(carry.column(c).to_numpy(), dtype=np.int32)])
    if keys.size == 0:
        return MONTH_SCHEMAS[dim.name].empty_table(), carry_schema(dim, month).empty_table()

    ranks = [_ranks(c) for c in columns]
    order = np.lexsort((*reversed(ranks), keys))  # by key, then the values in their order
    sorted_by = [keys[order], *(r[order] for r in ranks)]
    change = np.zeros(keys.size - 1, dtype=bool)
    for s in sorted_by:
        change |= s[1:] != s[:-1]
    first = np.flatnonzero(np.concatenate([[True], change]))
    at = pa.array(order[first])

    def reduce(ufunc: np.ufunc, x: np.ndarray) -> np.ndarray:
        return ufunc.reduceat(x[order], first)

    masks = reduce(np.bitwise_or, bits)
    mask_all = (masks & 0x7FFFFFFF).astype(np.int32)
    mask_people = (masks >> PEOPLE_SHIFT).astype(np.int32)
    values = [c.take(at) for c in columns]
    group_keys = sorted_by[0][first]
    carried_hist = {c: reduce(np.bitwise_or, h) for c, h in hist.items()}

    active = mask_all != 0
    active_at = pa.array(active)
    month_columns = [
        *(v.filter(active_at) for v in values),
        pa.array(group_keys[active]),
        pa.array(mask_all[active]),
        pa.array(mask_people[active]),
        _dates(reduce(np.maximum, prev_all)[active]),
        _dates(reduce(np.maximum, prev_people)[active]),
        *_first_and_last(mask_all[active]),
        *_first_and_last(mask_people[active]),
        *(pa.array(carried_hist[c][active]) for c in HISTORY_COLUMNS if dim.history),
    ]
    next_hist: dict[str, np.ndarray] = {}
    if dim.history:  # the next month's hist: this month reduced, then the remembered months shifted by one
        next_hist = {"hist1_all": last_of_weeks(mask_all, month), "hist1_people": last_of_weeks(mask_people, month)}
        for i in range(2, HISTORY_MONTHS + 1):
            for who in ("all", "people"):
                next_hist[f"hist{i}_{who}"] = carried_hist[f"hist{i - 1}_{who}"]
    carry_columns = [
        *values,
        pa.array(group_keys),
        _dates(reduce(np.maximum, last_all)),
        _dates(reduce(np.maximum, last_people)),
        *(pa.array(next_hist[c]) for c in HISTORY_COLUMNS if dim.history),
    ]
    return (
        pa.Table.from_arrays(month_columns, schema=MONTH_SCHEMAS[dim.name]),
        pa.Table.from_arrays(carry_columns, schema=carry_schema(dim, month)),
    )


def build_month(
    month: date,
    days: Mapping[str, pa.Table],
    carry: Mapping[str, pa.Table] | None,
    key_range: KeyRange = ALL_KEYS,
) -> MonthBuild:
    """Month ``month``'s rows and carry per dimension for the visitors of ``key_range``, from its
    day rows per source rollup (SOURCE_COLUMNS and ``day``, only days of ``month``, only keys
    of the range) and the carry of the month before, per dimension (None: nothing before
    ``month``, the lake's first month)."""
    if month.day != 1:
        raise MonthInputError(f"month {month} is not a month's first day; the masks' bit 0 is day 1")
    for source in SOURCE_COLUMNS:
        if source not in days:
            raise MonthInputError(f"no {source} rows given for {month:%Y-%m}; pass an empty table if it has none")
        _check_days(source, month, days[source])
    if carry is not None:
        unknown = sorted(set(carry) - set(BY_NAME))
        missing = [d.name for d in DIMENSIONS if d.name not in carry]
        if unknown or missing:
            raise MonthInputError(
                f"the carry for {month:%Y-%m} has dimensions {unknown} unknown and {missing} missing; "
                "a month is built from all of the carry of the month before"
            )
    rows: dict[str, pa.Table] = {}
    carried: dict[str, pa.Table] = {}
    for dim in DIMENSIONS:
        rows[dim.name], carried[dim.name] = build_dimension(
            dim, month, days[dim.source], None if carry is None else carry[dim.name], key_range
        )
    return MonthBuild(month, key_range, rows, carried)
