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
visitor) pairs sorted once (``np.lexsort``), and each group's masks are a bitwise OR
(``np.bitwise_or.reduceat``: duplicate days need no dedupe) and its prev a max. Rows come out
ordered by (value code, visitor_key): within a value, by key.
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


def _geo(t: pa.Table) -> list[tuple[str, pa.ChunkedArray]]:
    # DuckDB's and Trino's round(x, 1): x * 10 rounded half away from zero, / 10.
    return [
        (cell, pc.round(t.column(src), ndigits=1, round_mode="half_towards_infinity"))
        for cell, src in (("lat_cell", "geo_lat"), ("lon_cell", "geo_lon"))
    ]


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
    Dim("utm", "rollup_sessions", _columns("utm_source", "utm_medium", "utm_campaign"), ("utm_source", "utm_medium", "utm_campaign")),
)

# The columns each source rollup is read with (besides its day).
SOURCE_COLUMNS: dict[str, list[str]] = {
    "rollup_visitor_days": ["visitor_key", "is_bot", "bot_reason", "browser", "device_type", "os", "country"],
    "rollup_page_days": ["visitor_key", "is_bot", "path"],
    "rollup_event_days": ["visitor_key", "is_bot", "event_type", "event_name"],
    "rollup_geo_days": ["visitor_key", "is_bot", "geo_lat", "geo_lon"],
    "rollup_sessions": ["visitor_key", "is_bot", "entry_path", "exit_path", "referrer_host", "utm_source", "utm_medium", "utm_campaign"],
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


def _codes(columns: list[pa.ChunkedArray], rows: int) -> np.ndarray:
    """One int64 code per row for the combination of its values, NULL a value of its own."""
    code = np.zeros(rows, dtype=np.int64)
    for column in columns:
        encoded = pc.dictionary_encode(column.combine_chunks(), null_encoding="encode")
        code = code * len(encoded.dictionary) + encoded.indices.to_numpy().astype(np.int64)
    return code


def _high_bit(masks: np.ndarray) -> np.ndarray:
    """0-based index of the highest set bit of each positive mask (exact: frexp, no log)."""
    return (np.frexp(masks.astype(np.float64))[1] - 1).astype(np.int32)


def build_dim(dim: Dim, month: date, rows: pa.Table, carry: pa.Table | None) -> tuple[pa.Table, pa.Table]:
    """One dimension's month rows and carry rows for ``month`` (see the module docstring)."""
    start = day_number(month)
    lookback = day_number(add_months(month, -LOOKBACK))
    if dim.bots_only:
        rows = rows.filter(rows.column("is_bot"))
    values = dim.values(rows)
    n_new = rows.num_rows
    keys = rows.column("visitor_key").to_numpy()
    bit = np.left_shift(np.int32(1), (_days(rows.column("day")) - start).astype(np.int32))
    people_bit = np.where(np.asarray(rows.column("is_bot").to_numpy(zero_copy_only=False), dtype=bool), np.int32(0), bit)
    last_all = np.full(n_new, NO_DAY, dtype=np.int32)
    last_people = last_all
    columns = [v for _, v in values]
    if carry is not None and carry.num_rows:
        prev_all = _days(carry.column("last_all"))
        prev_people = _days(carry.column("last_people"))
        kept = prev_all >= lookback  # older than M's lookback: not a prev of M, not carried on
        prev_all, prev_people = prev_all[kept], prev_people[kept]
        prev_people = np.where(prev_people >= lookback, prev_people, NO_DAY)
        carried = carry.filter(pa.array(kept))
        keys = np.concatenate([keys, carried.column("visitor_key").to_numpy()])
        zeros = np.zeros(carried.num_rows, dtype=np.int32)
        bit, people_bit = np.concatenate([bit, zeros]), np.concatenate([people_bit, zeros])
        last_all = np.concatenate([last_all, prev_all])
        last_people = np.concatenate([last_people, prev_people])
        columns = [pa.chunked_array(v.chunks + carried.column(n).cast(v.type).chunks, type=v.type) for n, v in values]
    total = keys.size
    code = _codes(columns, total)
    order = np.lexsort((keys, code))
    code_s, keys_s = code[order], keys[order]
    first = np.flatnonzero(np.concatenate([[True], (code_s[1:] != code_s[:-1]) | (keys_s[1:] != keys_s[:-1])])) if total else order
    mask_all = np.bitwise_or.reduceat(bit[order], first) if total else bit
    mask_people = np.bitwise_or.reduceat(people_bit[order], first) if total else bit
    prev_all = np.maximum.reduceat(last_all[order], first) if total else last_all
    prev_people = np.maximum.reduceat(last_people[order], first) if total else last_people
    taken = pa.array(order[first])
    value_columns = {n: c.take(taken) for (n, _), c in zip(values, columns)}
    group_keys = keys_s[first]

    active = mask_all != 0
    active_at = pa.array(active)
    month_rows = pa.table(
        {
            **{n: c.filter(active_at) for n, c in value_columns.items()},
            "visitor_key": pa.array(group_keys[active]),
            "mask_all": pa.array(mask_all[active], type=pa.int32()),
            "mask_people": pa.array(mask_people[active], type=pa.int32()),
            "prev_all": _dates(prev_all[active]),
            "prev_people": _dates(prev_people[active]),
        }
    )
    carry_all = np.where(active, start + _high_bit(np.maximum(mask_all, 1)), prev_all)
    carry_people = np.where(mask_people != 0, start + _high_bit(np.maximum(mask_people, 1)), prev_people)
    carry_rows = pa.table(
        {
            **value_columns,
            "visitor_key": pa.array(group_keys),
            "last_all": _dates(carry_all.astype(np.int32)),
            "last_people": _dates(carry_people.astype(np.int32)),
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
        outside = pc.sum(pc.or_(pc.less(rows.column("day"), month), pc.greater_equal(rows.column("day"), add_months(month, 1)))).as_py()
        if outside:
            raise ValueError(f"{dim.source} has {outside} rows outside {month:%Y-%m}; the month build reads only its month's days")
        months[dim.name], carried[dim.name] = build_dim(dim, month, rows, None if carry is None else carry.get(dim.name))
    return months, carried
