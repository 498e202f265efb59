"""A month grain for distinct visitors, prototyped for the whole dashboard page (issue 14).

    .venv/bin/python -m bench.bench_month_grain [--repeat 5] [--lake PATH] [--no-time] [--synthetic-seeds 7 11]

A prototype, not the shipped path: it measures what the redesign of
docs/performance-dashboard.md ("Why 15 panels stay over the 90-day cutoff") would give the
16-panel page before the ETL builds anything. Over the modeled lake of bench.bench_rollups (read
only; events 2026-10-22..2026-11-20, rollups through 2026-11-19) it builds, with DuckDB from the
rollup tables (setup; its time is printed, not a figure to optimise), into
bench/results/month-grain/ (one Parquet file per app and month or day partition, as the lake):

* keyless per-day aggregates (``mg_day_*``): every additive measure per day, value and is_bot,
  without the visitor key, so sums over days are exact;
* visitor-month tables (``mg_month_*``), one row per month, visitor and value: ``mask_all`` (bit
  d-1: the visitor had a row with that value on day d, bots included), ``mask_people`` (non-bot
  rows only), ``prev_all`` / ``prev_people`` (its last such day before the month, NULL if none);
  the overall table also holds, for retention, ``hist1_*``..``hist4_*``: the visitor's days of
  each of the four months before, reduced to the last active day of each ISO week within that
  month (``with_history``).

The visitors of [a, b] with a value are the rows of the months overlapping [a, b] with a day of
the range in the mask and ``prev IS NULL OR prev < a``: no key read. Days after rolled_through
(the raw tail) come from ``events`` as today's SQL reads them; a tail visitor counts only if no
month row with its value has a day in [a, rolled_through] (an anti-join on the key, only when
the range has a tail). daily_metrics: DAU/WAU/MAU per day from the overall masks, each window
with the same prev rule. retention: weekly cohorts from the overall rows alone (``RETENTION``:
the cohort week from the hist columns, the active weeks from the mask). funnel stays today's
SQL. Each prototype panel has one text per include_bots value (``one_flavour``: the mask, prev
and hist columns it picks), so that Athena reads one flavour of each.

Then, in order: (1) equality: for every panel, several ranges and both include_bots values, the
prototype page's answer must equal today's batched page row for row (a mismatch stops the run,
before anything is timed), and retention's month form equals today's retention on synthetic
lakes of eight months for ranges of 1 to 92 days (``check_retention_synthetic``); (2) Athena
bytes per panel (clickstream.lake.billing over the prototype's tables, split into the raw tail,
the day tables and the month tables) and the
90-day estimate at 1 billion events a month (32.9 M a day): the day tables per event of the
rolled-up days times 90 days of events, the month tables per event of the rolled-up days times
120 days of events (a 90-day range reads whole month files, up to 4 of them: at most about 120
days of events; their rows grow with the visitors of a month, taken linear in events, and a
partial month of the bench lake has more rows per event than a full one, so an upper bound),
the raw tail (events and rollup_last_events) per event of the last day times one day; (3) timing: today's
batched 16-panel statement and the prototype page alternating on one DuckDB connection, median
of --repeat, for 30 days with a tail and 30 days ended; a DuckDB JSON profile split of the
prototype page.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Callable, Iterator
from unittest import mock

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from bench.bench_dashboard_queries import APP, LAST_DAY, ROOT, machine
from bench.bench_rollups import EVENTS_PER_DAY_AT_1B, cutoff_bytes, profile_parts
from bench.bench_rollups import params as today_params
from chalicelib.lake import parquetio
from clickstream.lake import batch, billing, catalog, prepare, query_names, translate
from clickstream.lake.duck import table_sql
from clickstream.lake.translate import parameter_names

LAKE = ROOT / "results" / "modeled-10000000-30d"  # bench.bench_rollups' lake, read only
OUT = ROOT / "results" / "month-grain"
ROLLED = date(2026, 11, 19)
CUTOFF_DAYS = 90
# A 90-day range reads whole month files: at most 4 of them, the first from its month's first
# day, so up to 119 days of events' month rows (31 + 30 + 31 + 27 days, say).
MONTH_FILE_DAYS = 120
NOT_USER = "('identify', 'group', 'alias')"

# --- the prototype's tables, built from the rollups -------------------------------------------

# name -> (source rows: day, visitor_key, is_bot and the values, over the lake's views; values)
MONTH_DIMS: dict[str, tuple[str, tuple[str, ...]]] = {
    "overall": ("SELECT CAST(dt AS DATE) AS day, visitor_key, is_bot FROM rollup_visitor_days", ()),
    "browser": ("SELECT CAST(dt AS DATE) AS day, visitor_key, is_bot, browser FROM rollup_visitor_days", ("browser",)),
    "country": ("SELECT CAST(dt AS DATE) AS day, visitor_key, is_bot, country FROM rollup_visitor_days", ("country",)),
    "device": ("SELECT CAST(dt AS DATE) AS day, visitor_key, is_bot, device_type FROM rollup_visitor_days", ("device_type",)),
    "os": ("SELECT CAST(dt AS DATE) AS day, visitor_key, is_bot, os FROM rollup_visitor_days", ("os",)),
    "bot": (
        "SELECT CAST(dt AS DATE) AS day, visitor_key, is_bot, bot_reason, browser FROM rollup_visitor_days WHERE is_bot",
        ("bot_reason", "browser"),
    ),
    "path": ("SELECT CAST(dt AS DATE) AS day, visitor_key, is_bot, path FROM rollup_page_days", ("path",)),
    "event": (
        "SELECT CAST(dt AS DATE) AS day, visitor_key, is_bot, event_type, event_name FROM rollup_event_days",
        ("event_type", "event_name"),
    ),
    "geo": (
        "SELECT CAST(dt AS DATE) AS day, visitor_key, is_bot, "
        "CAST(round(geo_lat * 10) AS double) / 10 AS lat_cell, CAST(round(geo_lon * 10) AS double) / 10 AS lon_cell "
        "FROM rollup_geo_days",
        ("lat_cell", "lon_cell"),
    ),
    "entry": ("SELECT CAST(dt AS DATE) AS day, visitor_key, is_bot, entry_path FROM rollup_sessions", ("entry_path",)),
    "exit": ("SELECT CAST(dt AS DATE) AS day, visitor_key, is_bot, exit_path FROM rollup_sessions", ("exit_path",)),
    "referrer": ("SELECT CAST(dt AS DATE) AS day, visitor_key, is_bot, referrer_host FROM rollup_sessions", ("referrer_host",)),
    "utm": (
        "SELECT CAST(dt AS DATE) AS day, visitor_key, is_bot, utm_source, utm_medium, utm_campaign FROM rollup_sessions",
        ("utm_source", "utm_medium", "utm_campaign"),
    ),
}

# name -> SELECT over the lake's views with a column dt (the day): the keyless per-day sums.
DAY_TABLES: dict[str, str] = {
    "visitor": "SELECT dt, is_bot, bot_reason, browser, device_type, os, country, CAST(sum(events) AS BIGINT) AS events, "
    "CAST(sum(page_views) AS BIGINT) AS page_views FROM rollup_visitor_days GROUP BY ALL",
    "path": "SELECT dt, is_bot, path, CAST(sum(page_views) AS BIGINT) AS page_views FROM rollup_page_days GROUP BY ALL",
    "event": "SELECT dt, is_bot, event_type, event_name, CAST(sum(events) AS BIGINT) AS events "
    "FROM rollup_event_days GROUP BY ALL",
    "geo": "SELECT dt, is_bot, CAST(round(geo_lat * 10) AS double) / 10 AS lat_cell, "
    "CAST(round(geo_lon * 10) AS double) / 10 AS lon_cell, "
    "CAST(sum(events) AS BIGINT) AS events FROM rollup_geo_days GROUP BY ALL",
    "entry": "SELECT dt, is_bot, entry_path, count(*) AS sessions, count_if(is_bounce) AS bounces "
    "FROM rollup_sessions GROUP BY ALL",
    "exit": "SELECT dt, is_bot, exit_path, count(*) AS sessions FROM rollup_sessions GROUP BY ALL",
    "referrer": "SELECT dt, is_bot, referrer_host, count(*) AS sessions, count_if(is_bounce) AS bounces "
    "FROM rollup_sessions GROUP BY ALL",
    "utm": "SELECT dt, is_bot, utm_source, utm_medium, utm_campaign, count(*) AS sessions, count_if(is_bounce) AS bounces "
    "FROM rollup_sessions GROUP BY ALL",
}


def month_sql(source: str, values: tuple[str, ...]) -> str:
    """The visitor-month rows of one dimension (DuckDB), with a column ``month``."""
    cols = "".join(f"{v}, " for v in values)
    return f"""
WITH src AS ({source}),
d AS (SELECT visitor_key, {cols}day, bool_or(NOT is_bot) AS people FROM src GROUP BY ALL),
m AS (
  SELECT CAST(date_trunc('month', day) AS DATE) AS month, visitor_key, {cols}
         CAST(bit_or(CAST(1 AS INTEGER) << (day(day) - 1)) AS INTEGER) AS mask_all,
         CAST(bit_or(CASE WHEN people THEN CAST(1 AS INTEGER) << (day(day) - 1) ELSE 0 END) AS INTEGER) AS mask_people,
         max(day) AS last_all, max(day) FILTER (WHERE people) AS last_people
  FROM d GROUP BY ALL
)
SELECT month, visitor_key, {cols}mask_all, mask_people,
       max(last_all) OVER w AS prev_all, max(last_people) OVER w AS prev_people
FROM m
WINDOW w AS (PARTITION BY visitor_key{"".join(f", {v}" for v in values)} ORDER BY month
             ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
"""


# retention's history (the overall dimension only): for i = 1..4, ``hist{i}_all`` and
# ``hist{i}_people`` hold the visitor's days of the month i months before the row's month, but
# only the last active day of each (ISO week x month) fragment: the bits that retention needs.
HISTORY_MONTHS = 4


def history_sql(source: str) -> str:
    """Per month and visitor, ``red_all`` / ``red_people``: its active days (all rows; people
    rows) that are the last of their ISO week within their month (DuckDB)."""

    def last(next_day: str) -> str:
        return (
            f"{next_day} IS NULL OR date_trunc('week', {next_day}) <> date_trunc('week', day) "
            f"OR date_trunc('month', {next_day}) <> date_trunc('month', day)"
        )

    bit = "CAST(1 AS INTEGER) << (day(day) - 1)"
    return f"""
WITH src AS ({source}),
d AS (SELECT visitor_key, day, bool_or(NOT is_bot) AS people FROM src GROUP BY ALL),
n AS (
  SELECT visitor_key, day, people, lead(day) OVER (PARTITION BY visitor_key ORDER BY day) AS next_all,
         lead(day) OVER (PARTITION BY visitor_key, people ORDER BY day) AS next_people
  FROM d
)
SELECT CAST(date_trunc('month', day) AS DATE) AS month, visitor_key,
       CAST(bit_or(CASE WHEN {last("next_all")} THEN {bit} ELSE 0 END) AS INTEGER) AS red_all,
       CAST(bit_or(CASE WHEN people AND ({last("next_people")}) THEN {bit} ELSE 0 END) AS INTEGER) AS red_people
FROM n
GROUP BY ALL
"""


def with_history(month_rows: str, source: str) -> str:
    """``month_rows`` (month_sql's) with retention's hist columns (DuckDB)."""
    joins = "".join(
        f"\nLEFT JOIN h h{i} ON h{i}.visitor_key = m.visitor_key AND h{i}.month = CAST(m.month - INTERVAL {i} MONTH AS DATE)"
        for i in range(1, HISTORY_MONTHS + 1)
    )
    cols = "".join(
        f", coalesce(h{i}.red_all, 0) AS hist{i}_all, coalesce(h{i}.red_people, 0) AS hist{i}_people"
        for i in range(1, HISTORY_MONTHS + 1)
    )
    return f"""
WITH m AS ({month_rows}), h AS ({history_sql(source)})
SELECT m.*{cols}
FROM m{joins}
"""


def lake_connection(lake: Path, out: Path | None = None) -> duckdb.DuckDBPyConnection:
    """A connection with the lake's tables as clickstream.lake.duck makes them, and the
    prototype's tables in ``out``."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    for table in catalog.TABLES:
        con.execute(table_sql(lake, table))
    if out is not None:
        for folder in sorted(out.glob("mg_*")):
            glob = str(folder / "app_id=*" / "dt=*" / "*.parquet")
            con.execute(
                f"CREATE OR REPLACE VIEW {folder.name} AS SELECT * FROM read_parquet('{glob}', hive_partitioning = true, "
                "hive_types = {'app_id': 'VARCHAR', 'dt': 'VARCHAR'})"
            )
    return con


def write_partitions(table: pa.Table, folder: Path, key: str, plain: frozenset[str]) -> int:
    """One Parquet file per value of ``key`` (a dt string), in the lake's writer settings."""
    written = 0
    for dt in sorted(set(table.column(key).to_pylist())):
        part = table.filter(pa.compute.equal(table.column(key), dt)).drop_columns([key])
        path = folder / f"app_id={APP}" / f"dt={dt}" / "part.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        body = parquetio.parquet_bytes(part, plain)
        path.write_bytes(body)
        written += len(body)
    return written


def build(lake: Path, out: Path) -> dict[str, Any]:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    con = lake_connection(lake)
    started, cpu = time.perf_counter(), time.process_time()
    rows: dict[str, int] = {}
    written = 0
    for name, select in DAY_TABLES.items():
        table = con.sql(f"SELECT * FROM ({select}) ORDER BY ALL").to_arrow_table()
        rows[f"mg_day_{name}"] = table.num_rows
        written += write_partitions(table, out / f"mg_day_{name}", "dt", frozenset())
    for name, (source, values) in MONTH_DIMS.items():
        source = f"{source} WHERE app_id = '{APP}'" if "WHERE" not in source else f"{source} AND app_id = '{APP}'"
        sql = month_sql(source, values)
        if name == "overall":
            sql = with_history(sql, source)
        order = ", ".join([*values, "mask_people", "prev_people", "mask_all", "prev_all", "visitor_key"])
        table = con.sql(
            f"SELECT strftime(month, '%Y-%m-%d') AS dt, * EXCLUDE (month) FROM ({sql}) ORDER BY dt, {order}"
        ).to_arrow_table()
        rows[f"mg_month_{name}"] = table.num_rows
        written += write_partitions(table, out / f"mg_month_{name}", "dt", frozenset({"visitor_key"}))
    con.close()
    return {"wall_s": time.perf_counter() - started, "cpu_s": time.process_time() - cpu, "rows": rows, "bytes": written}


# --- the prototype's panels (Athena SQL, expanded by clickstream.lake.catalog) ---------------

BOTS = "(:include_bots OR NOT is_bot)"
FROM_DAY = "CAST(:date_from AS date)"
ROLLED_DAYS = "app_id = :app_id AND dt BETWEEN :date_from AND :date_to AND dt <= :rolled_through"


def _months(alias: str = "", since: str = FROM_DAY, guard: bool = True) -> str:
    """The month partitions overlapping [since, min(date_to, rolled_through)]; with ``guard``,
    none when the range starts after rolled_through."""
    p = f"{alias}." if alias else ""
    return (
        f"{p}app_id = :app_id AND {p}dt >= date_format(date_trunc('month', {since}), '%Y-%m-%d') "
        f"AND {p}dt <= :date_to AND {p}dt <= :rolled_through" + (" AND :date_from <= :rolled_through" if guard else "")
    )


def _mask(alias: str = "", bots: bool = True) -> str:
    p = f"{alias}." if alias else ""
    return f"CASE WHEN :include_bots THEN {p}mask_all ELSE {p}mask_people END" if bots else f"{p}mask_all"


def _prev(bots: bool = True) -> str:
    return "CASE WHEN :include_bots THEN prev_all ELSE prev_people END" if bots else "prev_all"


def _has_day(mask: str, month: str, since: str, upto: str) -> str:
    """The mask (bit j: day j + 1 of ``month``) has a day in [since, upto] (dates)."""
    hi = f"least(30, date_diff('day', {month}, {upto}))"
    lo = f"greatest(0, date_diff('day', {month}, {since}))"
    return f"bitwise_and({mask}, CAST(power(2, {hi} + 1) - power(2, {lo}) AS bigint)) <> 0"


UPTO = "least(CAST(:date_to AS date), CAST(:rolled_through AS date))"

TAIL_VISITOR_ROWS = f"""tail_visitor_rows AS (
  SELECT dt, @visitor_key AS visitor_key, coalesce(is_bot, false) AS is_bot, bot_reason,
         browser, device_type, os, country,
         count(*) AS events, count_if(event_type = 'page_view') AS page_views
  FROM events
  WHERE app_id = :app_id AND dt BETWEEN :date_from AND :date_to AND dt > :rolled_through
    AND event_type NOT IN {NOT_USER}
  GROUP BY dt, @visitor, coalesce(is_bot, false), bot_reason, browser, device_type, os, country
)"""
TAIL_PAGE_ROWS = """tail_page_rows AS (
  SELECT path, @visitor_key AS visitor_key, coalesce(is_bot, false) AS is_bot, count(*) AS page_views
  FROM events
  WHERE app_id = :app_id AND dt BETWEEN :date_from AND :date_to AND dt > :rolled_through AND event_type = 'page_view'
  GROUP BY path, @visitor, coalesce(is_bot, false)
)"""
TAIL_EVENT_ROWS = f"""tail_event_rows AS (
  SELECT event_type, event_name, @visitor_key AS visitor_key, coalesce(is_bot, false) AS is_bot, count(*) AS events
  FROM events
  WHERE app_id = :app_id AND dt BETWEEN :date_from AND :date_to AND dt > :rolled_through
    AND event_type <> 'page_view' AND event_type NOT IN {NOT_USER}
  GROUP BY event_type, event_name, @visitor, coalesce(is_bot, false)
)"""
TAIL_GEO_ROWS = f"""tail_geo_rows AS (
  SELECT CAST(round(geo_lat * 10) AS double) / 10 AS lat_cell, CAST(round(geo_lon * 10) AS double) / 10 AS lon_cell,
         @visitor_key AS visitor_key,
         coalesce(is_bot, false) AS is_bot, count(*) AS events
  FROM events
  WHERE app_id = :app_id AND dt BETWEEN :date_from AND :date_to AND dt > :rolled_through
    AND geo_lat IS NOT NULL AND geo_lon IS NOT NULL AND event_type NOT IN {NOT_USER}
  GROUP BY CAST(round(geo_lat * 10) AS double) / 10, CAST(round(geo_lon * 10) AS double) / 10, @visitor,
    coalesce(is_bot, false)
)"""
TAIL_SESSION_ROWS = """-- @include tail_sessions
,
-- @include visits
,
tail_session_rows AS (
  SELECT @session_visitor_key AS visitor_key, is_bot, is_bounce, entry_path, exit_path, referrer_host,
         utm_source, utm_medium, utm_campaign
  FROM visits
  WHERE starts_in_range
)"""


def visitors_ctes(
    dim: str, values: tuple[str, ...], tail: str, where: str = "true", tail_where: str | None = None, bots: bool = True
) -> str:
    """CTEs ``rolled`` and ``tail_new``: visitors per value from the month rows, and the tail's
    visitors per value that the rolled-up part of the range does not hold."""
    vals = ", ".join(values)
    select = f"{vals}, " if values else ""
    group = f" GROUP BY {vals}" if values else ""
    keep = f"({_prev(bots)} IS NULL OR {_prev(bots)} < {FROM_DAY})"
    same = "".join(f" AND m.{v} IS NOT DISTINCT FROM t.{v}" for v in values)
    tail_where = f"{tail_where or where} AND {BOTS}" if bots else (tail_where or where)
    return f"""rolled AS (
  SELECT {select}count(*) AS visitors
  FROM mg_month_{dim}
  WHERE {_months()} AND {where} AND {_has_day(_mask("", bots), "CAST(dt AS date)", FROM_DAY, UPTO)} AND {keep}{group}
),
tail_new AS (
  SELECT {select}count(DISTINCT t.visitor_key) AS visitors
  FROM {tail} t
  WHERE {tail_where} AND NOT EXISTS (
    SELECT 1 FROM mg_month_{dim} m
    WHERE {_months("m")} AND :date_to > :rolled_through AND m.visitor_key = t.visitor_key{same}
      AND {_has_day(_mask("m", bots), "CAST(m.dt AS date)", FROM_DAY, UPTO)}
  ){group}
)"""


def dimension_panel(dim: str, column: str, order: str, limit: int = 100) -> str:
    """browsers, countries, devices, operating_systems."""
    return f"""WITH
{TAIL_VISITOR_ROWS},
{visitors_ctes(dim, (column,), "tail_visitor_rows")},
parts AS (
  SELECT {column}, CAST(NULL AS bigint) AS visitors, page_views, events FROM mg_day_visitor WHERE {ROLLED_DAYS} AND {BOTS}
  UNION ALL
  SELECT {column}, CAST(NULL AS bigint), page_views, events FROM tail_visitor_rows WHERE {BOTS}
  UNION ALL
  SELECT {column}, visitors, CAST(NULL AS bigint), CAST(NULL AS bigint) FROM rolled
  UNION ALL
  SELECT {column}, visitors, CAST(NULL AS bigint), CAST(NULL AS bigint) FROM tail_new
)
SELECT {column}, CAST(sum(visitors) AS bigint) AS visitors, CAST(sum(page_views) AS bigint) AS page_views,
       CAST(sum(events) AS bigint) AS events
FROM parts
GROUP BY {column}
ORDER BY {order}
LIMIT {limit}"""


OVERVIEW = f"""WITH
-- @include session_totals
,
{TAIL_VISITOR_ROWS},
{visitors_ctes("overall", (), "tail_visitor_rows")},
sums AS (
  SELECT sum(page_views) AS page_views, sum(events) AS events FROM (
    SELECT page_views, events FROM mg_day_visitor WHERE {ROLLED_DAYS} AND {BOTS}
    UNION ALL
    SELECT page_views, events FROM tail_visitor_rows WHERE {BOTS}
  ) s
),
activity AS (
  SELECT
    (SELECT visitors FROM rolled) + (SELECT visitors FROM tail_new) AS visitors,
    CAST(coalesce(page_views, 0) AS bigint) AS page_views,
    CAST(coalesce(events, 0) AS bigint) AS events
  FROM sums
),
started AS (
  SELECT
    CAST(coalesce(sum(sessions), 0) AS bigint) AS sessions,
    CAST(sum(bounces) AS double) / nullif(sum(sessions), 0) AS bounce_rate,
    CAST(sum(duration_ms) AS double) / (1000 * nullif(sum(sessions), 0)) AS avg_session_duration_s
  FROM session_totals
  WHERE :include_bots OR NOT is_bot
)
SELECT CAST(a.visitors AS bigint) AS visitors, s.sessions, a.page_views, a.events, s.bounce_rate, s.avg_session_duration_s
FROM activity a
CROSS JOIN started s"""

BOT_TRAFFIC = f"""WITH
{TAIL_VISITOR_ROWS},
{visitors_ctes("bot", ("bot_reason", "browser"), "tail_visitor_rows", tail_where="is_bot", bots=False)},
parts AS (
  SELECT bot_reason, browser, CAST(NULL AS bigint) AS visitors, page_views, events
  FROM mg_day_visitor WHERE {ROLLED_DAYS} AND is_bot
  UNION ALL
  SELECT bot_reason, browser, CAST(NULL AS bigint), page_views, events FROM tail_visitor_rows WHERE is_bot
  UNION ALL
  SELECT bot_reason, browser, visitors, CAST(NULL AS bigint), CAST(NULL AS bigint) FROM rolled
  UNION ALL
  SELECT bot_reason, browser, visitors, CAST(NULL AS bigint), CAST(NULL AS bigint) FROM tail_new
)
SELECT bot_reason, browser, CAST(sum(events) AS bigint) AS events, CAST(sum(page_views) AS bigint) AS page_views,
       CAST(sum(visitors) AS bigint) AS visitors
FROM parts
GROUP BY bot_reason, browser
ORDER BY events DESC, bot_reason, browser
LIMIT 100"""


def session_panel(dim: str, values: tuple[str, ...], where: str, select: str, order: str, bounces: bool) -> str:
    """entry_pages, exit_pages, referrers, utm_campaigns: sessions (and bounces) per value by
    the day the session starts, visitors per value."""
    vals = ", ".join(values)
    b_day = "bounces" if bounces else "CAST(NULL AS bigint)"
    b_tail = "CASE WHEN is_bounce THEN 1 ELSE 0 END" if bounces else "CAST(NULL AS bigint)"
    return f"""WITH
{TAIL_SESSION_ROWS},
{visitors_ctes(dim, values, "tail_session_rows", where=where)},
parts AS (
  SELECT {vals}, CAST(NULL AS bigint) AS visitors, sessions, {b_day} AS bounces
  FROM mg_day_{dim} WHERE {ROLLED_DAYS} AND {where} AND {BOTS}
  UNION ALL
  SELECT {vals}, CAST(NULL AS bigint), 1, {b_tail} FROM tail_session_rows WHERE {where} AND {BOTS}
  UNION ALL
  SELECT {vals}, visitors, CAST(NULL AS bigint), CAST(NULL AS bigint) FROM rolled
  UNION ALL
  SELECT {vals}, visitors, CAST(NULL AS bigint), CAST(NULL AS bigint) FROM tail_new
)
SELECT {select}
FROM parts
GROUP BY {vals}
ORDER BY {order}
LIMIT 100"""


def keyed_panel(
    dim: str, values: tuple[str, ...], measure: str, tail: str, tail_cte: str, select: str, order: str, limit: int
) -> str:
    """top_pages, custom_events, geo_grid: one summed measure and visitors per value."""
    vals = ", ".join(values)
    return f"""WITH
{tail_cte},
{visitors_ctes(dim, values, tail)},
parts AS (
  SELECT {vals}, CAST(NULL AS bigint) AS visitors, {measure} FROM mg_day_{dim} WHERE {ROLLED_DAYS} AND {BOTS}
  UNION ALL
  SELECT {vals}, CAST(NULL AS bigint), {measure} FROM {tail} WHERE {BOTS}
  UNION ALL
  SELECT {vals}, visitors, CAST(NULL AS bigint) FROM rolled
  UNION ALL
  SELECT {vals}, visitors, CAST(NULL AS bigint) FROM tail_new
)
SELECT {select}
FROM parts
GROUP BY {vals}
ORDER BY {order}
LIMIT {limit}"""


_LOOKBACK = "date_add('day', -29, CAST(:date_from AS date))"

DAILY_METRICS = f"""WITH
-- @include session_totals
,
tail_days AS (
  SELECT CAST(dt AS date) AS day, @visitor_key AS visitor_key, count_if(event_type = 'page_view') AS page_views
  FROM events
  WHERE app_id = :app_id
    AND dt BETWEEN date_format(date_add('day', -29, CAST(:date_from AS date)), '%Y-%m-%d') AND :date_to
    AND dt > :rolled_through
    AND (:include_bots OR NOT coalesce(is_bot, false))
    AND event_type NOT IN {NOT_USER}
  GROUP BY CAST(dt AS date), @visitor
),
viewed AS (
  SELECT CAST(dt AS date) AS day, sum(page_views) AS page_views
  FROM mg_day_visitor
  WHERE {ROLLED_DAYS} AND {BOTS}
  GROUP BY CAST(dt AS date)
  UNION ALL
  SELECT day, sum(page_views) AS page_views
  FROM tail_days
  WHERE day >= CAST(:date_from AS date)
  GROUP BY day
),
patterns AS (
  -- The overall rows as (month, mask, prev) with how many visitors share them; days as integers
  -- (days after date_from) from here on.
  SELECT date_diff('day', CAST(:date_from AS date), month) AS mo,
         date_diff('day', CAST(:date_from AS date), prev) AS pv, mask, count(*) AS n
  FROM (
    SELECT CAST(dt AS date) AS month, {_mask()} AS mask, {_prev()} AS prev
    FROM mg_month_overall
    WHERE {_months("", _LOOKBACK, guard=False)}
  ) o
  WHERE mask <> 0
  GROUP BY month, mask, prev
),
windows AS (
  SELECT v.day, w.width, date_diff('day', CAST(:date_from AS date), v.day) AS k,
         date_add('day', 1 - w.width, v.day) AS since, least(v.day, CAST(:rolled_through AS date)) AS upto
  FROM viewed v
  CROSS JOIN UNNEST(ARRAY[1, 7, 30]) AS w(width)
),
pieces AS (
  -- Each pattern's active days x (its set bits j) and the next one in the same row, from the
  -- bits above j: the lowest set bit of floor(mask / 2^(j + 1)).
  SELECT n, pv, mo + j AS x,
         CASE WHEN rest = 0 THEN NULL ELSE mo + j + 1 + CAST(round(log2(bitwise_and(rest, -rest))) AS integer) END AS next_x
  FROM (
    SELECT p.n, p.pv, p.mo, b.j, CAST(floor(p.mask / power(2, b.j + 1)) AS bigint) AS rest
    FROM patterns p
    CROSS JOIN UNNEST(sequence(0, 30)) AS b(j)
    WHERE bitwise_and(p.mask, CAST(power(2, b.j) AS bigint)) <> 0
  ) b
),
spans AS (
  -- A row counts in the window of width w ending on day d when an active day x is in
  -- [d - w + 1, d] and prev < d - w + 1: the days [x, x + w - 1] (up to the next active day,
  -- which takes over) from prev + w on.
  SELECT w.width, n,
         greatest(x, coalesce(pv + w.width, x)) AS first_day,
         least(x + w.width - 1, coalesce(next_x - 1, x + w.width - 1)) AS last_day
  FROM pieces
  CROSS JOIN UNNEST(ARRAY[1, 7, 30]) AS w(width)
),
deltas AS (
  -- +n on a span's first day, -n on the day after its last; a day's count is their running sum.
  SELECT width, CASE WHEN side = 0 THEN first_day ELSE last_day + 1 END AS day,
         sum(CASE WHEN side = 0 THEN n ELSE -n END) AS delta
  FROM spans
  CROSS JOIN UNNEST(ARRAY[0, 1]) AS e(side)
  WHERE first_day <= last_day
  GROUP BY width, CASE WHEN side = 0 THEN first_day ELSE last_day + 1 END
),
rolled AS (
  SELECT x.day, x.width, sum(dl.delta) AS visitors
  FROM windows x
  JOIN deltas dl ON dl.width = x.width AND dl.day <= x.k
  WHERE x.since <= x.upto
  GROUP BY x.day, x.width
),
last_rolled AS (
  SELECT m.visitor_key, max(date_add('day', CAST(floor(log2({_mask("m")})) AS integer), CAST(m.dt AS date))) AS last_day
  FROM mg_month_overall m
  WHERE {_months("m", _LOOKBACK, guard=False)} AND :date_to > :rolled_through
    AND {_mask("m")} <> 0 AND m.visitor_key IN (SELECT visitor_key FROM tail_days)
  GROUP BY m.visitor_key
),
tail_windows AS (
  SELECT x.day, x.width, count(DISTINCT t.visitor_key) AS visitors
  FROM windows x
  JOIN tail_days t ON t.day BETWEEN x.since AND x.day
  LEFT JOIN last_rolled l ON l.visitor_key = t.visitor_key
  WHERE x.day > CAST(:rolled_through AS date) AND (l.last_day IS NULL OR l.last_day < x.since)
  GROUP BY x.day, x.width
),
counts AS (
  SELECT day, sum(CASE WHEN width = 1 THEN visitors END) AS dau, sum(CASE WHEN width = 7 THEN visitors END) AS wau,
         sum(CASE WHEN width = 30 THEN visitors END) AS mau
  FROM (SELECT * FROM rolled UNION ALL SELECT * FROM tail_windows) c
  GROUP BY day
),
day_sessions AS (
  SELECT day, CAST(sum(sessions) AS bigint) AS sessions, CAST(sum(bounces) AS bigint) AS bounces,
         CAST(sum(duration_ms) AS double) / (1000 * sum(sessions)) AS avg_duration_s
  FROM session_totals
  WHERE :include_bots OR NOT is_bot
  GROUP BY day
)
SELECT
  v.day,
  CAST(c.dau AS bigint) AS dau,
  CAST(c.wau AS bigint) AS wau,
  CAST(c.mau AS bigint) AS mau,
  coalesce(s.sessions, 0) AS sessions,
  CAST(v.page_views AS bigint) AS page_views,
  CAST(s.bounces AS double) / s.sessions AS bounce_rate,
  s.avg_duration_s AS avg_session_duration_s
FROM viewed v
JOIN counts c ON c.day = v.day
LEFT JOIN day_sessions s ON s.day = v.day
WHERE v.day BETWEEN CAST(:date_from AS date) AND CAST(:date_to AS date) AND c.dau > 0
ORDER BY v.day"""


def _bits(month: str, since: str, upto: str) -> str:
    """The bits (bit j: day j + 1 of ``month``) of the days in [since, upto] (dates); 0 when
    none, whatever the dates (a bigint). No greatest/least: sqlglot writes each of those for
    DuckDB as a CASE repeating its arguments, which nested grows the text manyfold."""
    lo = f"date_diff('day', {month}, {since})"
    hi = f"date_diff('day', {month}, {upto})"
    from_lo = f"CASE WHEN {lo} <= 0 THEN 2147483647 WHEN {lo} > 30 THEN 0 ELSE 2147483648 - CAST(power(2, {lo}) AS bigint) END"
    upto_hi = f"CASE WHEN {hi} < 0 THEN 0 WHEN {hi} >= 30 THEN 2147483647 ELSE CAST(power(2, {hi} + 1) AS bigint) - 1 END"
    return f"bitwise_and(CAST({from_lo} AS bigint), CAST({upto_hi} AS bigint))"


def _low_day(bits: str, month: str) -> str:
    """The day of the lowest set bit of ``bits`` (non-zero, below 2^31) in ``month``."""
    return f"date_add('day', CAST(round(log2(bitwise_and({bits}, -{bits}))) AS integer), {month})"


def _hist(i: int, alias: str = "") -> str:
    p = f"{alias}." if alias else ""
    return f"CASE WHEN :include_bots THEN {p}hist{i}_all ELSE {p}hist{i}_people END"


_WEEK = "CAST(date_trunc('week', {}) AS date)"
_COHORT_DAY = "date_add('day', CAST(round(log2(p.low)) AS integer), date_add('month', -p.src, p.month))"


def _retention_constants() -> str:
    """CTEs ``rdays`` and ``rbits``: one row of what the month scans need from the parameters,
    computed once: m0..m4 (the range's months from its first), ``from_a`` (the bits from
    date_from's day on), ``up{k}`` (month k's bits up to min(date_to, rolled_through)), ``w0_{k}``
    (days of month k's first ISO week before the month) and ``before{k}`` (those days' bits in
    month k - 1). Written into each scan instead, they made a text of 80-130 thousand
    characters that took DuckDB longer to plan than to run."""
    months = ", ".join(
        f"CAST(date_add('month', {k}, date_trunc('month', {FROM_DAY})) AS date) AS m{k}" for k in range(HISTORY_MONTHS + 1)
    )
    cols = ["2147483648 - CAST(power(2, day(a) - 1) AS bigint) AS from_a"]
    for k in range(HISTORY_MONTHS + 1):
        d = f"date_diff('day', m{k}, u)"
        cols.append(
            f"CASE WHEN {d} < 0 THEN 0 WHEN {d} >= 30 THEN 2147483647 ELSE CAST(power(2, {d} + 1) AS bigint) - 1 END AS up{k}"
        )
        w0 = f"date_diff('day', {_WEEK.format(f'm{k}')}, m{k})"
        cols.append(f"{w0} AS w0_{k}")
        if k:
            n = f"date_diff('day', m{k - 1}, m{k})"
            cols.append(f"CAST(power(2, {n}) - power(2, {n} - {w0}) AS bigint) AS before{k}")
    names = ", ".join(f"m{k}" for k in range(HISTORY_MONTHS + 1))
    listed = ",\n         ".join(cols)
    return f"""rdays AS (
  SELECT {FROM_DAY} AS a, {UPTO} AS u, {months}
),
rbits AS (
  SELECT {names},
         {listed}
  FROM rdays
)"""


def _month_patterns() -> str:
    """The overall rows active in the range as patterns with their counts, one scan per month
    of the range: (month, src, low, weeks, n). The k-th month reads hist1..hist{k} only (the
    first month reads none), so that Athena reads each hist column only in the month files that
    need it. ``src`` is the month (i months back, 0: the row's own) holding the visitor's first
    active day from date_from, ``low`` that day's bit; bit j of ``weeks``: the row counts week
    j of its month (the ISO week of its first day, + j). Month k - i for i < k lies wholly after
    date_from's month, so only hist{k} (date_from's month) is cut to the days from date_from."""
    scans = []
    for k in range(HISTORY_MONTHS + 1):
        month = f"date_add('month', {k}, date_trunc('month', {FROM_DAY}))"
        hist = "".join(f", {_hist(i)} AS hist{i}" for i in range(1, k + 1))
        h = "".join(
            f", bitwise_and(CAST(o.hist{i} AS bigint), c.from_a) AS h{i}" if i == k else f", CAST(o.hist{i} AS bigint) AS h{i}"
            for i in range(1, k + 1)
        )
        src = "CASE " + "".join(f"WHEN h{i} <> 0 THEN {i} " for i in range(k, 0, -1)) + "ELSE 0 END" if k else "0"
        low = "bitwise_and(live, -live)"
        if k:
            low = "CASE " + "".join(f"WHEN h{i} <> 0 THEN bitwise_and(h{i}, -h{i}) " for i in range(k, 0, -1)) + f"ELSE {low} END"
        terms = []
        for j in range(6):  # week j: the month's days 7j - w0 .. 7j - w0 + 6
            term = f"CASE WHEN bitwise_and(live, CAST(floor({127 * 2 ** (7 * j)} / power(2, w0)) AS bigint)) <> 0"
            if j == 0 and k:  # the week began in the month before and hist1 has a day of it: that row counts it
                term += " AND bitwise_and(h1, before) = 0"
            terms.append(f"{term} THEN {2**j} ELSE 0 END")
        live = "bitwise_and(c.up0, c.from_a)" if k == 0 else f"c.up{k}"
        before = f", c.before{k} AS before" if k else ""
        scans.append(f"""  SELECT m{k} AS month, {src} AS src, {low} AS low, {" + ".join(terms)} AS weeks, count(*) AS n
  FROM (
    SELECT c.m{k}, c.w0_{k} AS w0, bitwise_and(CAST(o.mask AS bigint), {live}) AS live{h}{before}
    FROM (
      SELECT {_mask()} AS mask{hist}
      FROM mg_month_overall
      WHERE app_id = :app_id AND dt = date_format({month}, '%Y-%m-%d') AND dt <= :date_to AND dt <= :rolled_through
        AND :date_from <= :rolled_through
    ) o
    CROSS JOIN rbits c
  ) r{k}
  WHERE live <> 0
  GROUP BY 1, 2, 3, 4""")
    return "\n  UNION ALL\n".join(scans)


# retention: weekly cohorts from the overall month rows. A row of month M active in [a, b] (a =
# date_from, its days up to min(date_to, rolled_through): ``live``) tells, with no key, (1) the
# visitor's first active day from a: the first bit from a of hist4..hist1 (the months before M;
# they hold the last day of each week-in-month fragment, so the first such bit from a is in the
# first active week from a: the cohort week), else the first bit of ``live``; (2) its active
# weeks within M: the weeks of ``live``'s bits, except M's first week when it began in M-1 and
# hist1 has a day of it from a (the row of M-1 counts that week). A range of 92 days or less
# starts at most four months before any month it overlaps, so the k-th month of the range needs
# hist1..hist{k} only: one scan per month (``_month_patterns``), so that the first month's file is
# read without hist columns, the second's with hist1, and so on (a 90-day range: 0+1+2+3 hist
# column-files, not 4 x 4). Longer ranges would need the visitor-day path. The raw tail (days after
# rolled_through) reads keys, as the other panels' tails do: a tail visitor's cohort is its first
# rolled-up active day of the range if any, else its first tail week; a tail week counts unless it
# is the week of the visitor's last rolled-up active day (then the month rows counted it).
RETENTION = f"""WITH
tail_weeks AS (
  SELECT @visitor_key AS visitor_key, {_WEEK.format("CAST(dt AS date)")} AS week
  FROM events
  WHERE app_id = :app_id AND dt BETWEEN :date_from AND :date_to AND dt > :rolled_through
    AND event_type NOT IN {NOT_USER} AND (:include_bots OR NOT coalesce(is_bot, false))
  GROUP BY @visitor, {_WEEK.format("CAST(dt AS date)")}
),
{_retention_constants()},
patterns AS (
{_month_patterns()}
),
month_weeks AS (
  SELECT {_WEEK.format(_COHORT_DAY)} AS cohort_week,
         CAST(date_add('day', 7 * w.j, {_WEEK.format("p.month")}) AS date) AS week, p.n
  FROM patterns p
  CROSS JOIN UNNEST(sequence(0, 5)) AS w(j)
  WHERE bitwise_and(p.weeks, CAST(power(2, w.j) AS bigint)) <> 0
),
tail_rolled AS (
  SELECT visitor_key, min({_low_day("live", "month")}) AS first_day,
         max(date_add('day', CAST(floor(log2(live)) AS integer), month)) AS last_day
  FROM (
    SELECT m.visitor_key, CAST(m.dt AS date) AS month,
           bitwise_and(CAST({_mask("m")} AS bigint), {_bits("CAST(m.dt AS date)", FROM_DAY, UPTO)}) AS live
    FROM mg_month_overall m
    WHERE {_months("m")} AND :date_to > :rolled_through AND m.visitor_key IN (SELECT visitor_key FROM tail_weeks)
  ) r
  WHERE live <> 0
  GROUP BY visitor_key
),
tail_new AS (
  SELECT coalesce({_WEEK.format("r.first_day")}, min(t.week) OVER (PARTITION BY t.visitor_key)) AS cohort_week, t.week
  FROM tail_weeks t
  LEFT JOIN tail_rolled r ON r.visitor_key = t.visitor_key
  WHERE r.last_day IS NULL OR t.week > {_WEEK.format("r.last_day")}
),
counts AS (
  SELECT cohort_week, week, CAST(sum(n) AS bigint) AS active_users
  FROM (SELECT cohort_week, week, n FROM month_weeks UNION ALL SELECT cohort_week, week, 1 FROM tail_new) a
  GROUP BY cohort_week, week
),
sized AS (
  SELECT
    cohort_week,
    week,
    active_users,
    max(CASE WHEN week = cohort_week THEN active_users END) OVER (PARTITION BY cohort_week) AS cohort_users
  FROM counts
)
SELECT
  cohort_week,
  date_diff('week', cohort_week, week) AS week_offset,
  cohort_users,
  active_users,
  CAST(active_users AS double) / cohort_users AS retention
FROM sized
ORDER BY cohort_week, week_offset"""


def _visitor_panel(column: str, dim: str) -> str:
    return dimension_panel(dim, column, f"visitors DESC, events DESC, {column}")


_BOUNCE = "CAST(sum(bounces) AS double) / sum(sessions)"
PROTOTYPE: dict[str, str] = {
    "overview": OVERVIEW,
    "browsers": _visitor_panel("browser", "browser"),
    "countries": _visitor_panel("country", "country"),
    "devices": _visitor_panel("device_type", "device"),
    "operating_systems": _visitor_panel("os", "os"),
    "bot_traffic": BOT_TRAFFIC,
    "entry_pages": session_panel(
        "entry",
        ("entry_path",),
        "entry_path IS NOT NULL",
        "entry_path AS path, CAST(sum(sessions) AS bigint) AS entries, CAST(sum(visitors) AS bigint) AS visitors, "
        f"CAST(sum(bounces) AS bigint) AS bounces, {_BOUNCE} AS bounce_rate",
        "entries DESC, path",
        bounces=True,
    ),
    "exit_pages": session_panel(
        "exit",
        ("exit_path",),
        "exit_path IS NOT NULL",
        "exit_path AS path, CAST(sum(sessions) AS bigint) AS exits, CAST(sum(visitors) AS bigint) AS visitors",
        "exits DESC, path",
        bounces=False,
    ),
    "referrers": session_panel(
        "referrer",
        ("referrer_host",),
        "true",
        "referrer_host, CAST(sum(sessions) AS bigint) AS sessions, CAST(sum(visitors) AS bigint) AS visitors, "
        f"{_BOUNCE} AS bounce_rate",
        "sessions DESC, referrer_host",
        bounces=True,
    ),
    "utm_campaigns": session_panel(
        "utm",
        ("utm_source", "utm_medium", "utm_campaign"),
        "(utm_source IS NOT NULL OR utm_campaign IS NOT NULL)",
        "utm_source, utm_medium, utm_campaign, CAST(sum(sessions) AS bigint) AS sessions, "
        f"CAST(sum(visitors) AS bigint) AS visitors, {_BOUNCE} AS bounce_rate",
        "sessions DESC, utm_source, utm_medium, utm_campaign",
        bounces=True,
    ),
    "top_pages": keyed_panel(
        "path",
        ("path",),
        "page_views",
        "tail_page_rows",
        TAIL_PAGE_ROWS,
        "path, CAST(sum(page_views) AS bigint) AS page_views, CAST(sum(visitors) AS bigint) AS visitors",
        "page_views DESC, path",
        100,
    ),
    "custom_events": keyed_panel(
        "event",
        ("event_type", "event_name"),
        "events",
        "tail_event_rows",
        TAIL_EVENT_ROWS,
        "event_type, event_name, CAST(sum(events) AS bigint) AS events, CAST(sum(visitors) AS bigint) AS visitors",
        "events DESC, event_type, event_name",
        100,
    ),
    "geo_grid": keyed_panel(
        "geo",
        ("lat_cell", "lon_cell"),
        "events",
        "tail_geo_rows",
        TAIL_GEO_ROWS,
        "lat_cell, lon_cell, CAST(sum(events) AS bigint) AS events, CAST(sum(visitors) AS bigint) AS visitors",
        "events DESC, lat_cell, lon_cell",
        1000,
    ),
    "daily_metrics": DAILY_METRICS,
    "retention": RETENTION,
}
UNCONVERTED = ("funnel",)  # today's SQL in the prototype page


_FLAVOUR = re.compile(r"CASE WHEN :include_bots THEN ((?:\w+\.)?)(mask|prev|hist\d)_all ELSE (?:\w+\.)?\2_people END")


def one_flavour(sql: str, include_bots: bool) -> str:
    """The text for one include_bots value: each ``CASE WHEN :include_bots THEN mask_all ELSE
    mask_people END`` (and prev_) replaced by the column it picks, so that Athena reads one mask
    and one prev column, not both (the engine would pick the text by the parameter)."""
    return _FLAVOUR.sub(lambda m: f"{m.group(1)}{m.group(2)}_{'all' if include_bots else 'people'}", sql)


def panel_query(
    name: str, lo: date, hi: date, include_bots: bool, prototype: bool, rolled: date = ROLLED
) -> tuple[str, dict[str, Any]]:
    """(Athena SQL, bound values) of one panel: today's (etl/queries) or the prototype's."""
    given = today_params(name, lo, hi, rolled.isoformat())
    given["rolled_through"] = rolled.isoformat()
    given["include_bots"] = include_bots
    sql = (
        catalog.expand(one_flavour(PROTOTYPE[name], include_bots), origin=f"prototype {name}")
        if prototype and name in PROTOTYPE
        else name
    )
    text, _ = catalog.resolve(sql)
    names = set(parameter_names(text))
    return prepare(sql, {k: v for k, v in given.items() if k in names})


def page(lo: date, hi: date, include_bots: bool, prototype: bool) -> tuple[list[str], batch.Batch]:
    names = query_names()
    return names, batch.compose([panel_query(n, lo, hi, include_bots, prototype) for n in names])


def run_page(con: duckdb.DuckDBPyConnection, composed: batch.Batch) -> tuple[float, list[pa.Table]]:
    started = time.perf_counter()
    answer = con.sql(composed.sql, params=composed.params).to_arrow_table()
    return time.perf_counter() - started, composed.split(answer)


# --- checks and figures -----------------------------------------------------------------------

RANGES = {
    "30 d with tail": (LAST_DAY - timedelta(days=29), LAST_DAY),
    "30 d ended": (ROLLED - timedelta(days=29), ROLLED),
    "7 d with tail": (LAST_DAY - timedelta(days=6), LAST_DAY),
    "Oct/Nov, ended": (date(2026, 10, 28), date(2026, 11, 5)),
    "Oct/Nov, with tail": (date(2026, 10, 25), LAST_DAY),
    "from Nov 1, with tail": (date(2026, 11, 1), LAST_DAY),
    "the tail alone": (LAST_DAY, LAST_DAY),
}


def require_equal(today: pa.Table, proto: pa.Table, what: str) -> None:
    """Stop the benchmark unless the prototype's answer is today's, column for column and row for
    row, naming the case and the first differences."""
    if today.column_names != proto.column_names or today.to_pylist() != proto.to_pylist():
        diff = [(x, y) for x, y in zip(today.to_pylist(), proto.to_pylist()) if x != y][:3]
        raise SystemExit(
            f"MISMATCH: {what}: today {today.num_rows} rows {today.column_names}, prototype {proto.num_rows} rows "
            f"{proto.column_names}; first differences {diff}"
        )


def check_equal(con: duckdb.DuckDBPyConnection) -> int:
    """Every panel of the prototype page equals today's, row for row; raises on the first
    difference. Returns how many panel answers were compared."""
    compared = 0
    for label, (lo, hi) in RANGES.items():
        for bots in (False, True):
            names, today = page(lo, hi, bots, prototype=False)
            _, proto = page(lo, hi, bots, prototype=True)
            t_s, t_tables = run_page(con, today)
            p_s, p_tables = run_page(con, proto)
            for name, a, b in zip(names, t_tables, p_tables):
                require_equal(a, b, f"{name}, {label} ({lo}..{hi}), include_bots={bots}")
                compared += 1
            print(
                f"equal: {label} {lo}..{hi} include_bots={bots}: {len(names)} panels (today {t_s:.2f} s, prototype {p_s:.2f} s)"
            )
    return compared


def synthetic_ranges(days: list[date], seed: int) -> list[tuple[date, date]]:
    """Ranges of 1 to 92 days over a synthetic lake's span: starting on every month's first and
    last two days and on random days, ending on month ends and on random days."""
    rng = random.Random(seed)
    first, last = days[0], days[-1]
    span = (last - first).days
    starts = {d for d in (first + timedelta(days=i) for i in range(span + 1)) if d.day <= 2 or (d + timedelta(days=2)).day <= 2}
    starts |= {first + timedelta(days=rng.randrange(span + 1)) for _ in range(30)}
    out = set()
    for lo in sorted(starts):
        for length in (1, 8, 31, 61, 89, 91, 92, rng.randrange(1, 93)):
            hi = lo + timedelta(days=length - 1)
            if hi <= last:
                out.add((lo, hi))
    return sorted(out)


def check_retention_synthetic(seeds: tuple[int, ...] = (7, 11)) -> int:
    """The month form of retention equals today's retention on small synthetic lakes of eight
    months (bench.bench_month_build's: visitors that come back after gaps of up to seven months,
    bots, a visitor both bot and person on a day), for ranges of 1 to 92 days starting and ending
    anywhere, so that hist2..hist4 are exercised (the benchmark lake has two months). All rolled
    up, no tail. Raises on the first difference, or when most answers are empty (a range of a
    day or a week may hold no activity); returns how many answers were compared."""
    from bench.bench_month_build import synthetic_lake

    compared = empty = 0
    for seed in seeds:
        with tempfile.TemporaryDirectory(prefix="monthgrain-retention-") as tmp:
            lake, out = Path(tmp) / "lake", Path(tmp) / "out"
            days = synthetic_lake(lake, seed)
            con = lake_connection(lake)
            source = f"{MONTH_DIMS['overall'][0]} WHERE app_id = '{APP}'"
            table = con.sql(
                f"SELECT strftime(month, '%Y-%m-%d') AS dt, * EXCLUDE (month) "
                f"FROM ({with_history(month_sql(source, ()), source)}) ORDER BY ALL"
            ).to_arrow_table()
            write_partitions(table, out / "mg_month_overall", "dt", frozenset({"visitor_key"}))
            con.close()
            con = lake_connection(lake, out)
            for view in ("rollup_visitor_days", "mg_month_overall"):  # in memory: hundreds of small queries follow
                con.execute(f"CREATE TABLE mem_{view} AS SELECT * FROM {view}")
                con.execute(f"CREATE OR REPLACE VIEW {view} AS SELECT * FROM mem_{view}")
            ranges = synthetic_ranges(days, seed)
            for bots in (False, True):
                for lo, hi in ranges:
                    # today's and the month form as one batch of two: the same shape every time, so
                    # batch.compose's plan is cached and the texts are translated once
                    queries = [panel_query("retention", lo, hi, bots, proto, rolled=days[-1]) for proto in (False, True)]
                    _, (a, b) = run_page(con, batch.compose(queries))
                    require_equal(a, b, f"retention on the synthetic lake (seed {seed}), {lo}..{hi}, include_bots={bots}")
                    compared += 1
                    empty += a.num_rows == 0
            con.close()
    if empty * 2 > compared:
        raise SystemExit(f"synthetic retention check: {empty} of {compared} answers empty, too few to tell anything")
    return compared


@contextmanager
def billing_roots(lake: Path, out: Path) -> Iterator[dict[str, Path]]:
    """Directories of symlinks that split a scan by what it reads: the raw events, the keyless
    day tables with the lake's rollups, the month tables; billing knows the prototype's tables."""
    schemas = {
        d.name: pq.read_schema(next(d.glob("*/*/*.parquet"))).append(pa.field("app_id", pa.string()))
        for d in sorted(out.glob("mg_*"))
    }
    with tempfile.TemporaryDirectory(prefix="monthgrain-") as tmp:
        roots = {k: Path(tmp) / k for k in ("all", "tail", "days", "months")}
        for folder in [*(lake / t for t in catalog.TABLES), *(out / t for t in schemas)]:
            if not folder.exists():
                continue
            kind = (
                "tail"
                if folder.name in ("events", "rollup_last_events")
                else "months"
                if folder.name.startswith("mg_month_")
                else "days"
            )
            for root in (roots["all"], roots[kind]):
                root.mkdir(exist_ok=True)
                (root / folder.name).symlink_to(folder)
        for root in roots.values():
            root.mkdir(exist_ok=True)
        with mock.patch.dict(billing.SCHEMAS, schemas):
            yield roots


# A full month's days, against the days of the month whose reduced masks stand in for a
# populated hist column (populated_hist_bytes): its bytes taken proportional to days.
FULL_MONTH_DAYS = 31

# Bytes a row of a dense visitor id (sorted, DELTA_BINARY_PACKED) for 3 billion ids ever: the
# largest of bench/bench_key_bytes.py's figures, measured on a day's rows at production scale.
# Used only for an arithmetic "what if" of the tail's anti-join, not measured on month rows.
DENSE_KEY_BYTES = 1.54


def key_reads(root: Path, sql: str, params: dict[str, Any]) -> tuple[int, int]:
    """(bytes of visitor_key chunks, rows) that the scans of month tables reading the key read
    in the partitions they keep: the tail's anti-join (billing.estimate's partition rule)."""
    return column_reads(root, sql, params, lambda column: column == "visitor_key")


def column_reads(root: Path, sql: str, params: dict[str, Any], wanted: Callable[[str], bool]) -> tuple[int, int]:
    """(bytes of the ``wanted`` columns' chunks, their rows summed over those columns) that the
    scans of month tables read in the partitions they keep (billing.estimate's partition rule)."""
    found = rows = 0
    con = duckdb.connect()
    for spec in billing.scans(sql):
        if not spec.table.startswith("mg_month_") or not any(wanted(c) for c in spec.columns):
            continue
        where = spec.partition_filter or "true"
        dts = sorted(p.name[3:] for p in (root / spec.table / f"app_id={APP}").iterdir())
        kept = con.sql(
            translate.to_duckdb(f"SELECT dt FROM (SELECT '{APP}' AS app_id, unnest($dts) AS dt) p WHERE {where}"),
            params={"dts": dts, **{n: params[n] for n in parameter_names(where)}},
        ).fetchall()
        for (dt,) in kept:
            for path in (root / spec.table / f"app_id={APP}" / f"dt={dt}").glob("*.parquet"):
                rows += pq.ParquetFile(path).metadata.num_rows * sum(wanted(c) for c in spec.columns)
                found += sum(size for column, size in billing.column_sizes(path).items() if wanted(column))
    con.close()
    return found, rows


def events_of(lake: Path, days: list[date]) -> int:
    return sum(pq.ParquetFile(f).metadata.num_rows for d in days for f in lake.glob(f"events/app_id={APP}/dt={d}/*.parquet"))


def profile_page(
    con: duckdb.DuckDBPyConnection, names: list[str], composed: batch.Batch
) -> tuple[float, float, list[tuple[str, float]]]:
    """The page once with DuckDB's JSON profile: (wall s, operator s summed over threads,
    operator s per CTE definition and per panel's own SELECT), as bench_rollups.profile_batched."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "profile.json"
        con.execute("PRAGMA enable_profiling = 'json'")
        con.execute(f"PRAGMA profiling_output = '{out}'")
        wall, tables = run_page(con, composed)
        con.execute("PRAGMA disable_profiling")
        tree = json.loads(out.read_text())
    total, parts = profile_parts(tree, names, tables)
    return wall, total, parts


def populated_hist_bytes(lake: Path, month: date = date(2026, 11, 1)) -> tuple[float, int]:
    """(compressed bytes a row, rows) of a hist column as it would be where every row's visitor
    was active the month before: ``month``'s own reduced people masks (what hist1 of the month
    after holds), non-zero only, in a random row order (a later month's rows are sorted by its
    own mask, not this one's). The benchmark lake has two months, so hist2..hist4 are zero there
    and hist1 holds a 10-day October: this is the measured stand-in for a populated column."""
    con = lake_connection(lake)
    source = f"{MONTH_DIMS['overall'][0]} WHERE app_id = '{APP}'"
    values = (
        con.sql(f"SELECT red_people FROM ({history_sql(source)}) WHERE month = DATE '{month}' AND red_people <> 0")
        .to_arrow_table()
        .column(0)
        .to_pylist()
    )
    con.close()
    random.Random(14).shuffle(values)
    body = parquetio.parquet_bytes(pa.table({"hist1_people": pa.array(values, pa.int32())}), frozenset())
    return billing.column_sizes(pa.BufferReader(body))["hist1_people"] / len(values), len(values)


def mib(n: float) -> str:
    return f"{n / 2**20:,.2f}"


def gib(n: float) -> str:
    return f"{n / 2**30:,.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lake", type=Path, default=LAKE, help="the modeled lake (read only)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each page (median)")
    parser.add_argument("--no-time", action="store_true", help="build, check and bill only")
    parser.add_argument(
        "--synthetic-seeds",
        type=int,
        nargs="*",
        default=[7],
        help="seeds of the synthetic lakes that retention's month form is checked on (ranges up to 92 days)",
    )
    args = parser.parse_args(argv)
    print(f"machine: {machine()}\n{os.popen('uptime').read().strip()}")
    lake: Path = args.lake
    if not (lake / "rollup_visitor_days" / f"app_id={APP}").is_dir():
        print(f"no modeled lake at {lake}: build it with bench.bench_rollups, or pass --lake", file=sys.stderr)
        return 2
    built = build(lake, OUT)
    print(
        f"built the prototype's tables in {built['wall_s']:.1f} s ({built['cpu_s']:.1f} CPU s in this process), "
        f"{built['bytes'] / 2**20:.1f} MiB: " + ", ".join(f"{k} {v:,} rows" for k, v in built["rows"].items())
    )
    con = lake_connection(lake, OUT)
    compared = check_equal(con)
    print(f"equality: {compared} panel answers equal to today's, row for row")
    started = time.perf_counter()
    synthetic = check_retention_synthetic(tuple(args.synthetic_seeds))
    print(
        f"equality, retention on synthetic lakes of eight months (seeds {args.synthetic_seeds}): {synthetic} answers "
        f"equal to today's, row for row ({time.perf_counter() - started:.0f} s)"
    )

    # Athena bytes per panel, split by what is read; the 90-day scaling (module docstring).
    lake_days = sorted(date.fromisoformat(p.name[3:]) for p in (lake / "events" / f"app_id={APP}").iterdir())
    rolled_days = [d for d in lake_days if d <= ROLLED]
    tail_events, rolled_events = events_of(lake, [LAST_DAY]), events_of(lake, rolled_days)
    cutoff = cutoff_bytes()
    per_day = EVENTS_PER_DAY_AT_1B
    bills: dict[str, dict[str, dict[str, float]]] = {}
    hist_row_bytes, hist_sample = populated_hist_bytes(lake)
    hist_days = ROLLED.day  # November's days in the stand-in; a full month has up to 31
    month_rows_per_event = built["rows"]["mg_month_overall"] / rolled_events  # partial months: an upper bound
    print(
        f"retention's hist column, populated stand-in: {hist_row_bytes:.3f} bytes a row ({hist_sample:,} rows of "
        f"November's {hist_days} days, random order); taken x {FULL_MONTH_DAYS}/{hist_days} for a full month, for "
        f"every row of the 0+1+2+3 hist column-files a 90-day range reads ({month_rows_per_event:.4f} month rows an event)"
    )
    with billing_roots(lake, OUT) as roots:
        for label in ("30 d with tail", "30 d ended"):
            lo, hi = RANGES[label]
            for name in query_names():
                row = bills.setdefault(name, {})
                t_sql, t_v = panel_query(name, lo, hi, False, prototype=False)
                p_sql, p_v = panel_query(name, lo, hi, False, prototype=True)
                t = {k: billing.estimate(roots[k], t_sql, t_v).scanned_bytes for k in ("all", "tail")}
                p = {k: billing.estimate(roots[k], p_sql, p_v).scanned_bytes for k in ("all", "tail", "days", "months")}
                assert p["tail"] + p["days"] + p["months"] == p["all"], (name, p)
                # Today's modeled path as bench_rollups scales it; the prototype: day tables per
                # event x 90 days, month files per event x MONTH_FILE_DAYS, the tail x 1 day.
                row[label] = {
                    "today": t["all"],
                    "proto": p["all"],
                    "proto_tail": p["tail"],
                    "proto_months": p["months"],
                    "today90": (t["all"] - t["tail"]) / rolled_events * per_day * CUTOFF_DAYS + t["tail"] / tail_events * per_day,
                    "proto90": p["days"] / rolled_events * per_day * CUTOFF_DAYS
                    + p["months"] / rolled_events * per_day * MONTH_FILE_DAYS
                    + p["tail"] / tail_events * per_day,
                }
                keys, key_rows = key_reads(roots["months"], p_sql, p_v)
                row[label]["proto90_dense"] = (
                    row[label]["proto90"] - (keys - key_rows * DENSE_KEY_BYTES) / rolled_events * per_day * MONTH_FILE_DAYS
                )
                # retention: the hist chunks as measured, and at 90 days with every hist column as
                # populated as a full month's would be (arithmetic from the measured stand-in): a
                # 90-day range reads 4 month files, the k-th with hist1..hist{k}: 0+1+2+3 column-files
                hist, hist_rows = column_reads(roots["months"], p_sql, p_v, lambda c: c.startswith("hist"))
                hist90 = (
                    sum(range(MONTH_FILE_DAYS // 30))
                    * month_rows_per_event
                    * per_day
                    * (MONTH_FILE_DAYS / (MONTH_FILE_DAYS // 30))
                    * hist_row_bytes
                    * FULL_MONTH_DAYS
                    / hist_days
                )
                row[label]["hist"], row[label]["hist_rows"] = hist, hist_rows
                measured90 = hist / rolled_events * per_day * MONTH_FILE_DAYS
                row[label]["proto90_populated"] = row[label]["proto90"] - measured90 + hist90
    print(f"90-day scaling: {per_day / 1e6:.1f} M events a day; cutoff {cutoff:,} bytes")
    for label in ("30 d with tail", "30 d ended"):
        for key, who in (
            ("today90", "today's modeled path"),
            ("proto90", "prototype"),
            ("proto90_dense", "prototype, dense key"),
        ):
            over = sorted(n for n, row in bills.items() if row[label][key] >= cutoff)
            print(f"90 days like {label}, {who}: {len(over)} of {len(bills)} panels reach the cutoff: {', '.join(over)}")
    for label in ("30 d with tail", "30 d ended"):
        r = bills["retention"][label]
        print(
            f"retention, {label}: hist chunks read {mib(r['hist'])} MiB ({r['hist_rows']:,.0f} column-rows); 90 d "
            f"{gib(r['proto90'])} GiB as measured, {gib(r['proto90_populated'])} GiB with the hist columns populated "
            f"({gib(r['proto90_populated'] - r['proto90'] + r['proto90_dense'])} with that and a dense key; "
            f"arithmetic; today {gib(r['today90'])})"
        )
    for name, row in bills.items():
        print(
            f"bytes {name}: "
            + "; ".join(
                f"{lab}: today {mib(r['today'])} MiB, prototype {mib(r['proto'])} MiB (tail {mib(r['proto_tail'])}, "
                f"months {mib(r['proto_months'])}); 90 d {gib(r['today90'])} -> {gib(r['proto90'])} GiB "
                f"({gib(r['proto90_dense'])} with a dense key of {DENSE_KEY_BYTES} bytes a row, arithmetic)"
                for lab, r in row.items()
            )
        )
    if args.no_time:
        return 0

    # Timing: the two pages alternating on one connection.
    print(os.popen("uptime").read().strip())
    times: dict[tuple[str, str], list[float]] = {}
    panels: dict[tuple[str, str], dict[str, list[float]]] = {}
    for _ in range(args.repeat):
        for label in ("30 d with tail", "30 d ended"):
            lo, hi = RANGES[label]
            for kind in ("today", "prototype"):
                names, composed = page(lo, hi, False, prototype=kind == "prototype")
                seconds, _ = run_page(con, composed)
                times.setdefault((label, kind), []).append(seconds)
                for name in names:  # each panel alone, as its own batch of one
                    one = batch.compose([panel_query(name, lo, hi, False, prototype=kind == "prototype")])
                    s, _ = run_page(con, one)
                    panels.setdefault((label, kind), {}).setdefault(name, []).append(s)
        print("pages so far: " + ", ".join(f"{k[0]} {k[1]} {' '.join(f'{x:.2f}' for x in v)}" for k, v in times.items()))
    print(os.popen("uptime").read().strip())
    for key, values in times.items():
        print(f"page {key[0]}, {key[1]}: median {statistics.median(values):.2f} s of {len(values)}")
    for label in ("30 d with tail", "30 d ended"):
        names, composed = page(*RANGES[label], False, prototype=True)
        wall, operators, parts = profile_page(con, names, composed)
        print(
            f"prototype page profile ({label}): {wall:.2f} s wall, {operators:.2f} operator s: "
            + ", ".join(f"{n} {s:.2f}" for n, s in parts[:14])
        )
    print(
        "| Panel | today ms, tail | prototype ms, tail | today ms, ended | prototype ms, ended | today MiB, tail "
        "| prototype MiB, tail | today MiB, ended | prototype MiB, ended | 90 d GiB today: ended / tail "
        "| 90 d GiB prototype: ended / tail |\n" + "| --- " + "| ---: " * 10 + "|"
    )
    for name in query_names():
        tail, ended = bills[name]["30 d with tail"], bills[name]["30 d ended"]
        ms = [
            statistics.median(panels[(lab, k)][name]) * 1000
            for lab in ("30 d with tail", "30 d ended")
            for k in ("today", "prototype")
        ]
        print(
            f"| `{name}` | {ms[0]:,.0f} | {ms[1]:,.0f} | {ms[2]:,.0f} | {ms[3]:,.0f} "
            f"| {mib(tail['today'])} | {mib(tail['proto'])} "
            f"| {mib(ended['today'])} | {mib(ended['proto'])} | {gib(ended['today90'])} / {gib(tail['today90'])} "
            f"| {gib(ended['proto90'])} / {gib(tail['proto90'])} |"
        )
    con.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
