"""The visitor-month build of docs/decisions/0017 (planned, not built), as a pure function in the
Lambda's toolset (pyarrow + numpy): a prototype for bench.bench_month_build, not chalicelib code.

``build_month(month, days, carry)``: month M's rows of ``rollup_visitor_months`` and M's carry
file, from M's rolled-up day rows (one table per source rollup, with a ``day`` date column) and
the carry file of M-1 (None: nothing before M).

* A month row per (dim, value, visitor) active in M: ``mask_all`` (bit d-1: a row on day d of M,
  bots included), ``mask_people`` (non-bot rows only), ``prev_all`` / ``prev_people`` (the last
  such day before M within the ``LOOKBACK`` months before it, NULL if none).
* A carry row per (dim, value, visitor) with a day in M or the ``LOOKBACK`` months before it:
  ``last_all`` / ``last_people`` (people NULL if no non-bot day in that window). The carry of M-1
  is all M needs of the past: prev is its last day if within M's lookback.

Each dimension is one pass: its value columns are dictionary-encoded over M's rows and the
carry's together (NULL is a value of its own: ``null_encoding="encode"``), the (value code,
visitor) pairs sorted once (``np.lexsort``), and each group's masks are one bitwise OR of an int64
holding both (``np.bitwise_or.reduceat``: duplicate days need no dedupe; bits 0-30 all rows,
32-62 people), its prev and last days maxima. Rows come out ordered by (value code, visitor_key):
within a value, by key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Callable, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

LOOKBACK = 4  # months before M that prev looks into (decision 0017)
NO_DAY = np.iinfo(np.int32).min  # a day sentinel: no such day
EPOCH = date(1970, 1, 1)

Values = Callable[[pa.Table], list[tuple[str, pa.ChunkedArray]]]


def _columns(*names: str) -> Values:
    return lambda t: [(n, t.column(n)) for n in names]


def geo_cell(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """The geo grid's cell as etl/queries/geo_grid.sql writes it, round(x * 10) / 10 (Athena's
    round(x, 1)): the IEEE product x * 10, rounded half away from zero on its exact value
    (|y| - floor(|y|) is exact), divided by 10. -0.0 is 0.0, as DuckDB groups them."""
    x = np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)
    y = np.abs(x * 10.0)
    whole = np.floor(y)
    rounded = np.copysign(whole + (y - whole >= 0.5), x) / 10.0
    rounded += 0.0  # -0.0 -> 0.0: DuckDB groups them as one value
    return pa.chunked_array([pa.array(rounded, mask=pc.is_null(column).to_numpy(zero_copy_only=False))])


def _geo(t: pa.Table) -> list[tuple[str, pa.ChunkedArray]]:
    # the panels' cells (etl/queries/geo_grid.sql).
    return [(cell, geo_cell(t.column(src))) for cell, src in (("lat_cell", "geo_lat"), ("lon_cell", "geo_lon"))]


@dataclass(frozen=True)
class Dim:
    name: str
    source: str  # the rollup table its rows come from
    values: Values
    value_names: tuple[str, ...]
    bots_only: bool = False


DIMS: tuple[Dim, ...] = (
    Dim("overall", "rollup_visitor_days", _columns(), ()),
    Dim("browser", "rollup_visitor_days", _columns("browser"), ("browser",)),
    Dim("country", "rollup_visitor_days", _columns("country"), ("country",)),
    Dim("device", "rollup_visitor_days", _columns("device_type"), ("device_type",)),
    Dim("os", "rollup_visitor_days", _columns("os"), ("os",)),
    Dim("bot", "rollup_visitor_days", _columns("bot_reason", "browser"), ("bot_reason", "browser"), bots_only=True),
    Dim("path", "rollup_page_days", _columns("path"), ("path",)),
    Dim("event", "rollup_event_days", _columns("event_type", "event_name"), ("event_type", "event_name")),
    Dim("geo", "rollup_geo_days", _geo, ("lat_cell", "lon_cell")),
    Dim("entry", "rollup_sessions", _columns("entry_path"), ("entry_path",)),
    Dim("exit", "rollup_sessions", _columns("exit_path"), ("exit_path",)),
    Dim("referrer", "rollup_sessions", _columns("referrer_host"), ("referrer_host",)),
    Dim(
        "utm",
        "rollup_sessions",
        _columns("utm_source", "utm_medium", "utm_campaign"),
        ("utm_source", "utm_medium", "utm_campaign"),
    ),
)

# The columns each source rollup is read with (besides its day).
SOURCE_COLUMNS: dict[str, list[str]] = {
    "rollup_visitor_days": ["visitor_key", "is_bot", "bot_reason", "browser", "device_type", "os", "country"],
    "rollup_page_days": ["visitor_key", "is_bot", "path"],
    "rollup_event_days": ["visitor_key", "is_bot", "event_type", "event_name"],
    "rollup_geo_days": ["visitor_key", "is_bot", "geo_lat", "geo_lon"],
    "rollup_sessions": [
        "visitor_key",
        "is_bot",
        "entry_path",
        "exit_path",
        "referrer_host",
        "utm_source",
        "utm_medium",
        "utm_campaign",
    ],
}


def add_months(month: date, n: int) -> date:
    index = month.year * 12 + month.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def day_number(d: date) -> int:
    return (d - EPOCH).days


def _days(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """date32 -> int32 days since the epoch, NULL -> NO_DAY."""
    return np.asarray(pc.fill_null(column.cast(pa.int32()), NO_DAY).to_numpy(zero_copy_only=False), dtype=np.int32)


def _dates(days: np.ndarray) -> pa.Array:
    return pa.array(days, type=pa.int32(), mask=days == NO_DAY).cast(pa.date32())


def _codes(columns: list[pa.ChunkedArray], rows: int) -> tuple[np.ndarray, list[tuple[np.ndarray, pa.Array]]]:
    """One integer code per row for the combination of its values (NULL a value of its own), and
    each column's (dictionary indices, dictionary)."""
    code = np.zeros(rows, dtype=np.int32)
    parts = []
    for column in columns:
        encoded = pc.dictionary_encode(column.combine_chunks(), null_encoding="encode")
        indices = encoded.indices.to_numpy()
        parts.append((indices, encoded.dictionary))
        if len(parts) == 1:
            code = indices
        else:
            code = code.astype(np.int64) * len(encoded.dictionary) + indices
    return code, parts


def build_dim(dim: Dim, month: date, rows: pa.Table, carry: pa.Table | None) -> tuple[pa.Table, pa.Table]:
    """One dimension's month rows and carry rows for ``month`` (see the module docstring)."""
    start = day_number(month)
    lookback = day_number(add_months(month, -LOOKBACK))
    if dim.bots_only:
        rows = rows.filter(rows.column("is_bot"))
    values = dim.values(rows)
    keys = rows.column("visitor_key").to_numpy()
    day = _days(rows.column("day"))
    bot = np.asarray(rows.column("is_bot").to_numpy(zero_copy_only=False), dtype=bool)
    # bits 0-30: the day's bit (all rows); bits 32-62: the same for non-bot rows. One OR does both.
    bit = np.left_shift(np.int64(1), (day - start).astype(np.int64))
    bits = bit | np.where(bot, np.int64(0), bit << 32)
    prev_all = np.full(keys.size, NO_DAY, dtype=np.int32)  # before M: only carry rows have one
    prev_people = prev_all
    last_all, last_people = day, np.where(bot, NO_DAY, day)  # through M
    columns = [v for _, v in values]
    if carry is not None and carry.num_rows:
        carried_all = _days(carry.column("last_all"))
        kept = carried_all >= lookback  # older than M's lookback: not a prev of M, not carried on
        carried = carry.filter(pa.array(kept))
        carried_all = carried_all[kept]
        carried_people = _days(carried.column("last_people"))
        carried_people = np.where(carried_people >= lookback, carried_people, NO_DAY)
        keys = np.concatenate([keys, carried.column("visitor_key").to_numpy()])
        bits = np.concatenate([bits, np.zeros(carried.num_rows, dtype=np.int64)])
        prev_all = np.concatenate([prev_all, carried_all])
        prev_people = np.concatenate([prev_people, carried_people])
        last_all = np.concatenate([last_all, carried_all])
        last_people = np.concatenate([last_people, carried_people])
        columns = [pa.chunked_array(v.chunks + carried.column(n).cast(v.type).chunks, type=v.type) for n, v in values]
    total = keys.size
    code, parts = _codes(columns, total)
    order = np.lexsort((keys, code))
    code_s, keys_s = code[order], keys[order]
    first = (
        np.flatnonzero(np.concatenate([[True], (code_s[1:] != code_s[:-1]) | (keys_s[1:] != keys_s[:-1])])) if total else order
    )
    rows_at = order[first]

    def reduce(ufunc: np.ufunc, x: np.ndarray) -> np.ndarray:
        return ufunc.reduceat(x[order], first) if total else x

    masks = reduce(np.bitwise_or, bits)
    mask_all = (masks & 0x7FFFFFFF).astype(np.int32)
    mask_people = (masks >> 32).astype(np.int32)
    group_prev_all, group_prev_people = reduce(np.maximum, prev_all), reduce(np.maximum, prev_people)
    group_last_all, group_last_people = reduce(np.maximum, last_all), reduce(np.maximum, last_people)
    value_columns = {n: dictionary.take(pa.array(indices[rows_at])) for (n, _), (indices, dictionary) in zip(values, parts)}
    group_keys = keys_s[first]

    active = mask_all != 0
    active_at = pa.array(active)
    month_rows = pa.table(
        {
            **{n: c.filter(active_at) for n, c in value_columns.items()},
            "visitor_key": pa.array(group_keys[active]),
            "mask_all": pa.array(mask_all[active]),
            "mask_people": pa.array(mask_people[active]),
            "prev_all": _dates(group_prev_all[active]),
            "prev_people": _dates(group_prev_people[active]),
        }
    )
    carry_rows = pa.table(
        {
            **value_columns,
            "visitor_key": pa.array(group_keys),
            "last_all": _dates(group_last_all),
            "last_people": _dates(group_last_people),
        }
    )
    return month_rows, carry_rows


def build_month(
    month: date, days: Mapping[str, pa.Table], carry: Mapping[str, pa.Table] | None
) -> tuple[dict[str, pa.Table], dict[str, pa.Table]]:
    """Month ``month``'s rows and carry per dimension, from its day rows per source rollup
    (columns ``SOURCE_COLUMNS`` and ``day``, only days of ``month``) and the carry of the
    month before (None: nothing before ``month``)."""
    if month.day != 1:
        raise ValueError(f"month {month} is not a month's first day; the masks' bit 0 is day 1")
    months: dict[str, pa.Table] = {}
    carried: dict[str, pa.Table] = {}
    for dim in DIMS:
        rows = days[dim.source]
        outside = pc.sum(
            pc.or_(pc.less(rows.column("day"), month), pc.greater_equal(rows.column("day"), add_months(month, 1)))
        ).as_py()
        if outside:
            raise ValueError(
                f"{dim.source} has {outside} rows outside {month:%Y-%m}; the month build reads only its month's days"
            )
        months[dim.name], carried[dim.name] = build_dim(dim, month, rows, None if carry is None else carry.get(dim.name))
    return months, carried
