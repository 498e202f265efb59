"""What ``rollup_visitor_months`` holds: its dimensions, the day rollups they come from, and the
schemas of the month rows and the carry (decision 0017, step 2).

One Glue table, partitioned by ``app_id``, ``dim`` and ``month`` (in the path, not in the files):
a file per dimension holds that dimension's value columns, the visitor, and

* ``mask_all`` / ``mask_people``: bit d-1 set if the visitor had a row with the value on day d of
  the month (all rows; non-bot rows only), int32 (day 31 is bit 30);
* ``prev_all`` / ``prev_people``: its last such day in the ``LOOKBACK_MONTHS`` months before the
  month, NULL if none: a range [a, b] counts the rows with a masked day in it and prev NULL or
  before a, each visitor once;
* ``first_day_*`` / ``last_day_*``: the first and last day of the month in the
  mask (1-31), NULL if none (a people column of a row with only bot days). A range over more
  than one month needs no more of a row than one of them: whether the row has a day from ``a``
  in ``a``'s month (the last day), or up to ``b`` in ``b``'s (the first), or any day in a month
  between (the first is not NULL). A day is a tinyint dictionary-encoded in a few bits, where a
  mask takes about two bytes (clickstream/lake/month_reads.py reads them);
* the ``overall`` dimension only, for retention: ``hist{i}_all`` / ``hist{i}_people`` for i = 1..4,
  the visitor's active days of the month i months before, reduced to the last active day of
  each ISO week within that month (chalicelib/lake/month/weeks.py).

The carry (``month_carry``, the build's own state, no Glue table): per dimension, every (value,
visitor) with a day in the month or the ``LOOKBACK_MONTHS`` before it, with its last day (all;
people, NULL if no non-bot day in that window), and for ``overall`` the hist columns as the next
month's rows will hold them. Its schema metadata names its month and dimension, so a build
refuses a carry of the wrong month.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Callable

import pyarrow as pa

from chalicelib.lake.rollup import geo_cell  # the day totals' cells too: one rounding rule

TABLE = "rollup_visitor_months"  # its Glue table (etl/tables/rollup_visitor_months.sql)
LOOKBACK_MONTHS = 4  # months before M that prev looks into: exact for ranges of up to 5 calendar months
HISTORY_MONTHS = 4  # months of reduced days retention's overall rows hold
PARTITIONS = ("app_id", "dim", "month")  # in the path, not in the files
CARRY_MONTH = b"clickstream.month_carry.month"  # schema metadata: the carry's month, YYYY-MM
CARRY_DIMENSION = b"clickstream.month_carry.dim"

Values = Callable[[pa.Table], list[pa.ChunkedArray]]


@dataclass(frozen=True)
class Dimension:
    """One ``dim`` partition: its source day rollup, its value columns (name, type, and the
    source column each is computed from), and whether only bot rows count."""

    name: str
    source: str
    values: tuple[tuple[str, pa.DataType, str], ...]
    bots_only: bool = False
    history: bool = False

    @property
    def value_names(self) -> tuple[str, ...]:
        return tuple(name for name, _, _ in self.values)

    def value_columns(self, rows: pa.Table) -> list[pa.ChunkedArray]:
        """The value columns of source ``rows`` (the geo cells computed from the positions)."""
        out = []
        for name, type_, src in self.values:
            column = rows.column(src)
            if name != src:  # a computed cell
                column = pa.chunked_array([geo_cell(column)], type=type_)
            out.append(column.cast(type_))
        return out


def _strings(*names: str) -> tuple[tuple[str, pa.DataType, str], ...]:
    return tuple((n, pa.string(), n) for n in names)


DIMENSIONS: tuple[Dimension, ...] = (
    Dimension("overall", "rollup_visitor_days", (), history=True),
    Dimension("browser", "rollup_visitor_days", _strings("browser")),
    Dimension("country", "rollup_visitor_days", _strings("country")),
    Dimension("device", "rollup_visitor_days", _strings("device_type")),
    Dimension("os", "rollup_visitor_days", _strings("os")),
    Dimension("bot", "rollup_visitor_days", _strings("bot_reason", "browser"), bots_only=True),
    Dimension("path", "rollup_page_days", _strings("path")),
    Dimension("event", "rollup_event_days", _strings("event_type", "event_name")),
    Dimension("geo", "rollup_geo_days", (("lat_cell", pa.float64(), "geo_lat"), ("lon_cell", pa.float64(), "geo_lon"))),
    Dimension("entry", "rollup_sessions", _strings("entry_path")),
    Dimension("exit", "rollup_sessions", _strings("exit_path")),
    Dimension("referrer", "rollup_sessions", _strings("referrer_host")),
    Dimension("utm", "rollup_sessions", _strings("utm_source", "utm_medium", "utm_campaign")),
)
BY_NAME = {d.name: d for d in DIMENSIONS}

# The columns each source rollup is read with: the key, the bot flag and the dimensions' sources.
SOURCE_COLUMNS: dict[str, tuple[str, ...]] = {
    source: (
        "visitor_key",
        "is_bot",
        *dict.fromkeys(src for d in DIMENSIONS if d.source == source for _, _, src in d.values),
    )
    for source in dict.fromkeys(d.source for d in DIMENSIONS)
}

HISTORY_COLUMNS = tuple(f"hist{i}_{who}" for i in range(1, HISTORY_MONTHS + 1) for who in ("all", "people"))


def _values(dim: Dimension) -> list[pa.Field]:
    return [pa.field(name, type_) for name, type_, _ in dim.values]


def _history(dim: Dimension) -> list[pa.Field]:
    return [pa.field(c, pa.int32(), nullable=False) for c in HISTORY_COLUMNS] if dim.history else []


def month_schema(dim: Dimension) -> pa.Schema:
    """The columns of a month file of ``dim`` (rows ordered by visitor_key, then the values)."""
    return pa.schema(
        [
            *_values(dim),
            pa.field("visitor_key", pa.int64(), nullable=False),
            pa.field("mask_all", pa.int32(), nullable=False),
            pa.field("mask_people", pa.int32(), nullable=False),
            pa.field("prev_all", pa.date32()),
            pa.field("prev_people", pa.date32()),
            pa.field("first_day_all", pa.int8(), nullable=False),
            pa.field("last_day_all", pa.int8(), nullable=False),
            pa.field("first_day_people", pa.int8()),
            pa.field("last_day_people", pa.int8()),
            *_history(dim),
        ]
    )


def carry_schema(dim: Dimension, month: date) -> pa.Schema:
    """The columns of ``dim``'s carry of ``month``, its month and dimension in the metadata."""
    fields = [
        *_values(dim),
        pa.field("visitor_key", pa.int64(), nullable=False),
        pa.field("last_all", pa.date32(), nullable=False),
        pa.field("last_people", pa.date32()),
        *_history(dim),
    ]
    return pa.schema(fields, metadata={CARRY_MONTH: f"{month:%Y-%m}".encode(), CARRY_DIMENSION: dim.name.encode()})


MONTH_SCHEMAS: dict[str, pa.Schema] = {d.name: month_schema(d) for d in DIMENSIONS}


def table_columns() -> list[pa.Field]:
    """The Glue table's columns (besides the partitions): every dimension's, once; a file lacks
    the value and hist columns of the other dimensions, which read as NULL."""
    seen: dict[str, pa.Field] = {}
    for schema in MONTH_SCHEMAS.values():
        for f in schema:
            seen.setdefault(f.name, f)
    return list(seen.values())
