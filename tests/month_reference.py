"""The visitor-month grain straight from its definition (decision 0017 step 2), in DuckDB SQL over
all the rolled-up days: what chalicelib/lake/month/build.py's chain of carries must equal, row for
row (tests/unit/test_month_build.py; bench/bench_month_build.py over the benchmark lake).

The day rollups are tables (or views) named as the sources, each with a ``day`` DATE column and
the source's columns (chalicelib.lake.month.SOURCE_COLUMNS). Nothing here reads a carry: each
month's rows come from every day of the lake, so a carry that forgets or keeps too much shows.
"""

from __future__ import annotations

from datetime import date

import duckdb
import pyarrow as pa

from chalicelib.lake.month import HISTORY_MONTHS, LOOKBACK_MONTHS, Dimension, add_months

# How each value column is computed from its source (the geo cells as etl/queries/geo_grid.sql).
CELL = {"lat_cell": "CAST(round(geo_lat * 10) AS double) / 10", "lon_cell": "CAST(round(geo_lon * 10) AS double) / 10"}


def _source(dim: Dimension) -> str:
    values = "".join(f"{CELL.get(v, v)} AS {v}, " for v in dim.value_names)
    where = "WHERE is_bot" if dim.bots_only else ""
    return f"SELECT day, {values}visitor_key, is_bot FROM {dim.source} {where}"


def _order(dim: Dimension, alias: str = "") -> str:
    return ", ".join([f"{alias}visitor_key", *(f"{alias}{v} NULLS LAST" for v in dim.value_names)])


def _history(dim: Dimension) -> str:
    """Per month and visitor, its active days (all; people) that are the last of their ISO week
    within their month, as bitmasks (bit d-1: day d): retention's reduction, by its definition."""

    def last(next_day: str) -> str:
        return (
            f"{next_day} IS NULL OR date_trunc('week', {next_day}) <> date_trunc('week', day) "
            f"OR date_trunc('month', {next_day}) <> date_trunc('month', day)"
        )

    bit = "CAST(1 AS INTEGER) << (day(day) - 1)"
    return f"""
SELECT CAST(date_trunc('month', day) AS DATE) AS month, visitor_key,
       CAST(bit_or(CASE WHEN {last("next_all")} THEN {bit} ELSE 0 END) AS INTEGER) AS red_all,
       CAST(bit_or(CASE WHEN people AND ({last("next_people")}) THEN {bit} ELSE 0 END) AS INTEGER) AS red_people
FROM (
  SELECT visitor_key, day, people, lead(day) OVER (PARTITION BY visitor_key ORDER BY day) AS next_all,
         lead(day) OVER (PARTITION BY visitor_key, people ORDER BY day) AS next_people
  FROM (SELECT visitor_key, day, bool_or(NOT is_bot) AS people FROM ({_source(dim)}) GROUP BY ALL)
)
GROUP BY ALL
"""


def _with_history(dim: Dimension, rows: str, first_back: int) -> str:
    """``rows`` (with a ``visitor_key``) and hist1..hist4, the reduced days of the months
    ``first_back`` .. ``first_back + 3`` months before ``month`` (a column of ``rows``)."""
    if not dim.history:
        return f"SELECT * EXCLUDE (month) FROM ({rows}) r"
    joins = "".join(
        f"\nLEFT JOIN h h{i} ON h{i}.visitor_key = r.visitor_key "
        f"AND h{i}.month = CAST(r.month - INTERVAL {i - 1 + first_back} MONTH AS DATE)"
        for i in range(1, HISTORY_MONTHS + 1)
    )
    cols = "".join(
        f", coalesce(h{i}.red_all, 0) AS hist{i}_all, coalesce(h{i}.red_people, 0) AS hist{i}_people"
        for i in range(1, HISTORY_MONTHS + 1)
    )
    return f"WITH h AS ({_history(dim)}) SELECT r.* EXCLUDE (month){cols} FROM ({rows}) r{joins}"


def month_rows_sql(dim: Dimension, month: date) -> str:
    """``dim``'s month rows of ``month``: each day's value and visitor (people: any non-bot row
    that day), masks over the month's days and their first and last days, prev the last such
    day in the LOOKBACK_MONTHS months before it; for ``overall`` the four months before reduced to each ISO week's last day."""
    vals = "".join(f"{v}, " for v in dim.value_names)
    on = "".join(f" AND m.{v} IS NOT DISTINCT FROM p.{v}" for v in dim.value_names)
    start, end = month.isoformat(), add_months(month, 1).isoformat()
    back = add_months(month, -LOOKBACK_MONTHS).isoformat()
    rows = f"""
WITH d AS (SELECT {vals}visitor_key, day, bool_or(NOT is_bot) AS people FROM ({_source(dim)}) GROUP BY ALL),
m AS (
  SELECT {vals}visitor_key,
         CAST(bit_or(CAST(1 AS INTEGER) << (day(day) - 1)) AS INTEGER) AS mask_all,
         CAST(bit_or(CASE WHEN people THEN CAST(1 AS INTEGER) << (day(day) - 1) ELSE 0 END) AS INTEGER) AS mask_people,
         min(day(day)) AS first_day_all, max(day(day)) AS last_day_all,
         min(day(day)) FILTER (WHERE people) AS first_day_people, max(day(day)) FILTER (WHERE people) AS last_day_people
  FROM d WHERE day >= DATE '{start}' AND day < DATE '{end}' GROUP BY ALL
),
p AS (
  SELECT {vals}visitor_key, max(day) AS prev_all, max(day) FILTER (WHERE people) AS prev_people
  FROM d WHERE day >= DATE '{back}' AND day < DATE '{start}' GROUP BY ALL
)
SELECT DATE '{start}' AS month, {"".join(f"m.{v}, " for v in dim.value_names)}m.visitor_key, m.mask_all, m.mask_people,
       p.prev_all, p.prev_people, m.first_day_all, m.last_day_all, m.first_day_people, m.last_day_people
FROM m LEFT JOIN p ON m.visitor_key = p.visitor_key{on}
"""
    return f"SELECT * FROM ({_with_history(dim, rows, 1)}) ORDER BY {_order(dim)}"


def carry_sql(dim: Dimension, month: date) -> str:
    """``dim``'s carry of ``month``: every (value, visitor) with a day in it or the
    LOOKBACK_MONTHS months before it, its last day (all; people), and for ``overall`` the hist
    columns as the next month's rows hold them (months ``month`` .. ``month`` - 3 reduced)."""
    vals = "".join(f"{v}, " for v in dim.value_names)
    back, end = add_months(month, -LOOKBACK_MONTHS).isoformat(), add_months(month, 1).isoformat()
    rows = f"""
SELECT DATE '{month.isoformat()}' AS month, {vals}visitor_key, max(day) AS last_all,
       max(day) FILTER (WHERE NOT is_bot) AS last_people
FROM ({_source(dim)}) WHERE day >= DATE '{back}' AND day < DATE '{end}' GROUP BY ALL
"""
    return f"SELECT * FROM ({_with_history(dim, rows, 0)}) ORDER BY {_order(dim)}"


def reference(con: duckdb.DuckDBPyConnection, sql: str, schema: pa.Schema) -> pa.Table:
    """The rows of ``sql`` in ``schema``'s columns and types (the build's), in the SQL's order."""
    table = con.sql(sql).to_arrow_table()
    return pa.Table.from_arrays([table.column(f.name).cast(f.type) for f in schema], schema=schema.remove_metadata())


def connect(days: dict[str, pa.Table]) -> duckdb.DuckDBPyConnection:
    """A connection with each source's day rows as a table of its name."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for name, table in days.items():
        con.register(f"{name}_arrow", table)
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM {name}_arrow")
        con.unregister(f"{name}_arrow")
    return con
