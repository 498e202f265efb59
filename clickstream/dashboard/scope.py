"""Narrow any panel query without editing it: filters (click-to-filter) and a time cut-off.

Every panel query reads the ``events`` table; this rewrites each read of it into

    (SELECT * FROM events WHERE <filters> AND event_time < CAST(:until AS timestamp)) AS events

so the SQL files stay the single source of each panel's logic, and a filter applies to every
panel the same way. The filters (docs/dashboards.md):

* ``country``, ``browser``: events with that value (a visitor attribute, so: those visitors);
* ``page``: events of visitors who viewed that page in the range (by their page views);
* ``source``: events of visitors who started a session from that referrer host in the range:
  the host of the session's first user action, the sessions Top sources counts for it
  (etl/blocks/source_starts.sql: rollup_sessions for the rolled-up days, the raw tail after
  them; identify, group and alias messages start none, as in every panel);

``(none)`` stands for a missing value (NULL). ``until`` cuts an ongoing period at "now", and the
previous period at the same elapsed time.

``page`` and ``source`` pick whole visitors: a view filtered by them is the unfiltered view of
those visitors' events, whose sessions are the unfiltered sessions of those visitors. So their
rows of the rollups are the filtered view's rows too: such a view narrows each read of a rollup
table to the picked visitors (``_ROLLUP_NARROWED``) and keeps reading the rollups for the
rolled-up days. The rollups without visitors (session totals, funnel counts) are summed from the
narrowed rows of the ones with them (``_DERIVED``).

``country`` and ``browser`` keep events, not visitors. The per-day rollups of events group them
by both (``ROW_KEPT``: a row's events share one country and one browser), so the kept events'
rows are the rows with that value, and a query reading only those tables keeps reading the
rollups, each read narrowed to the rows with the value. A session of the kept events may be part
of a rolled-up session that no rollup splits (a visitor whose country changes mid-session), so a
query reading the session rollups (``SESSION_SPLIT``) is split by visitor, exactly: with W the
days a rolled-up session of the range reaches (from the day before the range to the day after
its last rolled-up day), a visitor whose user actions in W all have the value, or all lack it,
has under the filter the sessions the rollups hold for it, or none; only the *mixed* ones, with
both, have their kept events sessionized raw. So the session rollups are read for the visitors
that are not mixed, the per-day rollups less the mixed visitors' rows of the days read raw for
them, and the raw side of the query (its reads of ``events`` bounded by ``:rolled_through``)
reads every day: the kept events after the last rolled-up day and one CTE of the mixed
visitors' kept events (``_split_ctes``, ``_split_rows``, ``_split_read``). A query of a shape the
split does not know (``_splittable``) reads raw events for every day when filtered by them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any

import sqlglot
from sqlglot import exp

from chalicelib.lake.month.dimensions import TABLE as MONTH_TABLE
from chalicelib.lake.rollup import FILTER_DIMENSIONS
from chalicelib.lake.visitor import VISITOR_SQL
from chalicelib.lake.visitor_key import COLUMN as KEY
from chalicelib.lake.visitor_key import key_sql
from clickstream.lake import catalog
from clickstream.lake.exceptions import QueryError
from clickstream.lake.params import NOTHING_ROLLED, athena_literal

FILTERS = ("page", "source", "country", "browser")
NONE = "(none)"
_COLUMN = {"country": "country", "browser": "browser", "page": "path", "source": "referrer_host"}
STARTS = "source_starts"  # the CTE of etl/blocks/source_starts.sql that the source filter reads
VIEWERS = "page_viewers"  # the CTE of the page filter's visitors (``_page_viewers``)
VISITOR_FILTERS = frozenset({"page", "source"})  # filters that pick whole visitors
# How a view filtered by visitors reads each rollup table: narrowed to the picked visitors by the
# column that holds them (their key, or the visitor string, named anonymous_id in the rollups,
# chalicelib/lake/visitor.py), or derived from a narrowed one (``_DERIVED``). A query reading a
# rollup table named in neither reads raw events for every day when filtered.
_ROLLUP_NARROWED = {
    "rollup_visitor_days": KEY,
    "rollup_page_days": KEY,
    "rollup_event_days": KEY,
    "rollup_geo_days": KEY,
    "rollup_sessions": KEY,
    "rollup_funnel_sessions": KEY,
    "rollup_last_events": "anonymous_id",
}
# The filters that keep events (``country``, ``browser``), and the rollup tables that group their
# events by them: the rows such a filter keeps are the rows with its value. Not rollup_sessions:
# a session's country and browser are its first event's.
EVENT_FILTERS = frozenset(FILTER_DIMENSIONS)
_ROW_KEPT_KEYED = frozenset({"rollup_visitor_days", "rollup_page_days", "rollup_event_days", "rollup_geo_days"})
# The rollups without visitors, as sums of the narrowed rows of one with them (the table they are
# summed from, the SELECT): the same sessions, the same sums (chalicelib/lake/rollup.py:
# _session_totals, _funnel_days, _totals).
_SESSIONS_BY = {
    "rollup_entry_totals": ("entry_path", True),
    "rollup_exit_totals": ("exit_path", False),
    "rollup_referrer_totals": ("referrer_host", True),
    "rollup_utm_totals": ("utm_source, utm_medium, utm_campaign", True),
}
_SUMMED_BY = {
    "rollup_visitor_totals": ("rollup_visitor_days", "bot_reason, browser, device_type, os, country", "events, page_views"),
    "rollup_page_totals": ("rollup_page_days", "path", "page_views"),
    "rollup_event_totals": ("rollup_event_days", "event_type, event_name", "events"),
    "rollup_geo_totals": (
        "rollup_geo_days",
        "CAST(round(geo_lat * 10) AS double) / 10 AS lat_cell, CAST(round(geo_lon * 10) AS double) / 10 AS lon_cell",
        "events",
    ),
}


def _summed_select(base: str, values: str, measures: str) -> str:
    sums = ", ".join(f"CAST(sum({m}) AS bigint) AS {m}" for m in measures.split(", "))
    count = 3 + len(values.split(", "))  # app_id, dt, is_bot and the values (no value's expression holds ", ")
    groups = ", ".join(str(i) for i in range(1, count + 1))
    return f"SELECT app_id, dt, is_bot, {values}, {sums} FROM {base} WHERE {{where}} GROUP BY {groups}"


def _sessions_select(values: str, bounces: bool) -> str:
    counted = "count(*) AS sessions" + (", count_if(is_bounce) AS bounces" if bounces else "")
    group = f"app_id, dt, is_bot, {values}"
    return f"SELECT {group}, {counted} FROM rollup_sessions WHERE {{where}} GROUP BY {group}"


_DERIVED = {
    "rollup_session_totals": (
        "rollup_sessions",
        "SELECT app_id, dt, is_bot, count(*) AS sessions, count_if(is_bounce) AS bounces, "
        "CAST(sum(date_diff('millisecond', session_start, session_end)) AS bigint) AS duration_ms "
        "FROM rollup_sessions WHERE {where} GROUP BY app_id, dt, is_bot",
    ),
    "rollup_funnel_days": (
        "rollup_funnel_sessions",
        "SELECT app_id, dt, funnel, is_bot, depth, count(*) AS sessions "
        "FROM rollup_funnel_sessions WHERE {where} GROUP BY app_id, dt, funnel, is_bot, depth",
    ),
    **{name: (base, _summed_select(base, values, measures)) for name, (base, values, measures) in _SUMMED_BY.items()},
    **{name: ("rollup_sessions", _sessions_select(values, bounces)) for name, (values, bounces) in _SESSIONS_BY.items()},
}
# A keyless total of a per-day rollup of events is kept by a filter of events as its base is: the
# sums of the base's rows with the value.
ROW_KEPT = _ROW_KEPT_KEYED | frozenset(_SUMMED_BY)
# The session rollups, and the tables read with them, that a view filtered by events reads through
# the exact split (``_split_rows``): the pure visitors' rows, the mixed visitors' kept events raw.
SESSION_SPLIT = frozenset(
    {"rollup_sessions", "rollup_funnel_sessions", "rollup_last_events", *(n for n in _DERIVED if n not in ROW_KEPT)}
)


def clean_filters(query: Mapping[str, str]) -> dict[str, str]:
    """The filters present in a query string, trimmed; unknown names are ignored."""
    return {name: str(query[name]).strip()[:512] for name in FILTERS if str(query.get(name) or "").strip()}


def _condition(name: str, value: str, cuts: Sequence[str] = (), column: str = VISITOR_SQL, key: bool = False) -> str:
    """The filter ``name = value`` as a condition on a row of ``events`` (or, for the filters
    that pick visitors, on any row whose visitor is ``column``; ``key``: its visitor key). ``page``
    picks visitors by their page views in the range; ``source`` by the sessions they started in it
    whose first user action came from that host, as Top sources counts them (``STARTS``). Both up
    to the same cuts as every other read of events: what the comparison leaves out decides no
    one's place (a session's start depends only on what came before it, so the starts before a
    cut are those of the events before it)."""
    picked = key_sql("visitor") if key else "visitor"
    if name == "page":
        return f"{column} IN (SELECT {picked} FROM {VIEWERS})"
    if name == "source":
        cut = "".join(f" AND session_start < {c}" for c in cuts)
        return f"{column} IN (SELECT {picked} FROM {STARTS} WHERE {_test(name, value)}{cut})"
    return _test(name, value)


def _test(name: str, value: str) -> str:
    """``name = value`` on its column; ``(none)``: the column is NULL."""
    column = _COLUMN[name]
    return f"{column} IS NULL" if value == NONE else f"{column} = :f_{name}"


def scoped_sql(sql: str, filters: Mapping[str, str], until: bool = False, until_sql: str | None = None) -> str:
    """``sql`` (Athena) with every read of ``events`` narrowed; unchanged when nothing narrows it.
    A function of its arguments alone, kept for the last 256 (``_scoped``): rewriting a panel's
    tree takes sqlglot about 0.1 s, and a running period's page narrows four statements at every
    request (bench.bench_footers, *Binding the page*).

    ``until`` cuts at the bound ``:until``; ``until_sql`` at an SQL expression instead. A cut
    also caps ``:rolled_through`` (``rolled_cap``): the rollups hold whole days, so they are read
    only for the days the cut leaves whole. Filters that pick visitors (``page``, ``source``)
    narrow the query's reads of the rollups to those visitors too (``_ROLLUP_NARROWED``); those
    that keep events (``country``, ``browser``) narrow them to the rows with their value, where
    every table the query reads groups by it (``ROW_KEPT``), and split a query reading the
    session rollups (``SESSION_SPLIT``) by visitor: the pure visitors' rollup rows, the mixed
    visitors' kept events raw (``_split``). Any other case (a filter that picks visitors on a
    query reading a rollup that holds no visitors, a query the split does not know the shape of,
    ``_splittable``) pins the query's reads of the rollups off (``rolled_through`` becomes the
    literal NOTHING_ROLLED): the filtered query reads raw events for every day then.
    The filters' own CTEs (``STARTS`` and ``VIEWERS``, added ahead of the query's own) keep
    ``:rolled_through``, which the engine fills in as for any query: they pick from the
    unfiltered sessions and page views.
    """
    return _scoped(sql, tuple(filters.items()), until, until_sql)


def clear_narrowed() -> None:
    """Forget the statements ``scoped_sql`` keeps (bench.bench_footers' baselines narrow anew at
    every request, as the releases before did)."""
    _scoped.cache_clear()


@lru_cache(maxsize=256)
def _scoped(sql: str, filter_items: tuple[tuple[str, str], ...], until: bool, until_sql: str | None) -> str:
    filters = dict(filter_items)
    cuts = []
    if until:
        cuts.append("CAST(:until AS timestamp)")
    if until_sql:
        cuts.append(until_sql)
    conditions = [_condition(n, v, cuts) for n, v in filters.items()]
    conditions += [f"event_time < {cut}" for cut in cuts]
    if not conditions:
        return sql
    tree = sqlglot.parse_one(sql, read="athena")
    ctes = {cte.alias for cte in tree.find_all(exp.CTE)}
    shares_tail = set(filters) == {"source"} and not cuts and _reads_the_tail(tree)
    where = " AND ".join(f"({c})" for c in conditions)
    reads = [t for t in tree.find_all(exp.Table) if not t.db and t.name not in ctes]
    rollups = {t.name for t in reads if t.name.startswith("rollup_") and t.name != MONTH_TABLE}
    pinned = not all(_rollup_kept(name, filters) for name in rollups)
    split = not pinned and bool(set(filters) & EVENT_FILTERS) and bool(rollups - ROW_KEPT)
    if split and not _splittable(tree, reads):
        pinned, split = True, False
    raw_side = [t for t in reads if t.name == "events" and _rolled_in_select(t)] if split else []
    # the raw side reads every day: its SELECTs' own :rolled_through becomes the literal for
    # nothing, before _split_read brings in the one that bounds the kept events after R
    for found in {id(p): p for t in raw_side for p in _rolled_in_select(t)}.values():
        found.replace(sqlglot.parse_one(athena_literal(NOTHING_ROLLED), read="athena"))
    split_reads = {id(t) for t in raw_side}  # by identity: every read of events is equal as a tree
    for table in reads:
        if table.name == "events":
            _replace(table, _split_read(where) if id(table) in split_reads else f"SELECT * FROM events WHERE {where}")
    if filters and not pinned:
        for table in reads:
            if table.name in _DERIVED or table.name in _ROLLUP_NARROWED or table.name in ROW_KEPT:
                _replace(table, _rollup_read(table.name, filters, cuts, split))
    if split:
        _prepend_ctes(tree, _split_ctes(filters, where))
    for cap in [athena_literal(NOTHING_ROLLED)] if pinned else [rolled_cap(":rolled_through", c) for c in cuts]:
        for found in list(tree.find_all(exp.Placeholder)):
            if found.name == "rolled_through":
                found.replace(sqlglot.parse_one(cap, read="athena"))
    # A filtered view reads no month row (a month row of one value cannot be narrowed by another):
    # :months_through pinned to nothing empties the month arm, and the panel counts its visitors
    # from the visitor-day rows, narrowed as above (clickstream/lake/month_reads.py).
    if filters:
        for found in list(tree.find_all(exp.Placeholder)):
            if found.name == "months_through":
                found.replace(sqlglot.parse_one(athena_literal(NOTHING_ROLLED), read="athena"))
    # The visitors a filter picks, once per statement (a batch shares them between panels), not
    # once per read of events; added after the reads were narrowed, so they read all events.
    if "source" in filters:
        _prepend_ctes(tree, _source_starts())
        if shares_tail and not pinned:
            _share_source_tail(tree, filters["source"])
    if "page" in filters:
        _prepend_ctes(tree, [_page_viewers(filters["page"], cuts)])
    return tree.sql(dialect="athena", comments=False)


def _rollup_read(table: str, filters: Mapping[str, str], cuts: Sequence[str], split: bool) -> str:
    """The SELECT that replaces a read of the rollup ``table`` in a view with ``filters`` that
    reads it (``_rollup_kept``): its rows of the visitors the filters that pick visitors pick (by
    the table's visitor column, ``_ROLLUP_NARROWED``), and of the events those that keep events
    keep (by the rows' value; under the split, ``_split_rows``). A table without visitors is
    summed from the narrowed rows of the one it is derived from (``_DERIVED``)."""
    base, select = _DERIVED.get(table, (table, f"SELECT * FROM {table} WHERE {{where}}"))
    conditions = []
    visitors = {n: v for n, v in filters.items() if n in VISITOR_FILTERS}
    if visitors:
        conditions.append(_picked(visitors, cuts, _ROLLUP_NARROWED[base]))
    if set(filters) - VISITOR_FILTERS:
        conditions.append(_split_rows(base, filters) if split else _kept(filters))
    return select.format(where=" AND ".join(conditions))  # each a conjunction of parenthesized tests


def _kept(filters: Mapping[str, str]) -> str:
    """The filters that keep events, on a row with their columns (an event, a per-day rollup's row,
    a session's first user action in rollup_sessions)."""
    return " AND ".join(f"({_test(n, v)})" for n, v in filters.items() if n in EVENT_FILTERS)


# The raw tail's sessions (etl/blocks/tail_sessions.sql + visits.sql), as a query includes them.
_TAIL = "-- @include tail_sessions\n,\n-- @include visits"
_SHARED = ("numbered", "visits")  # what the source filter's own copy of the tail gives a query


def _reads_the_tail(tree: exp.Expression) -> bool:
    """Whether the query's CTEs named as the tail's are the tail's, as written (before narrowing)."""
    own = {cte.alias: cte.this.sql(dialect="athena") for cte in tree.find_all(exp.CTE)}
    return all(own.get(cte.alias) == cte.this.sql(dialect="athena") for cte in _parsed_tail())


@lru_cache(maxsize=1)
def _parsed_tail() -> tuple[exp.CTE, ...]:
    return tuple(_ctes(catalog.expand(_TAIL, origin="clickstream/dashboard/scope.py")))


def _share_source_tail(tree: exp.Expression, value: str) -> None:
    """The source filter's starts sessionize the raw tail of every visitor (``STARTS``, under the
    prefix ``source_``); the query's own tail, narrowed to the visitors the filter picks, is the
    same sessions of those visitors: a visitor's sessions are cut from its own events alone. So
    its numbered events and visits become those rows of the starts' copy, and the raw tail is
    sessionized once per statement. Only for the source filter alone and no cut: any other
    filter, or a cut, narrows the query's events differently from the starts' read of them."""
    picked = _condition("source", value, column="anonymous_id")  # the tail's visitor string column
    for cte in list(tree.find_all(exp.CTE)):
        if cte.alias in _SHARED:
            cte.set("this", sqlglot.parse_one(f"SELECT * FROM source_{cte.alias} WHERE {picked}", read="athena"))
    # the tail's own CTEs before those, read by nothing now, go (last first: each reads the one before)
    for dead in reversed([c.alias for c in _parsed_tail() if c.alias not in _SHARED]):
        if not any(t.name == dead for t in tree.find_all(exp.Table)):
            next(c for c in tree.find_all(exp.CTE) if c.alias == dead).pop()


def _rollup_kept(table: str, filters: Mapping[str, str]) -> bool:
    """Whether a view with ``filters`` can read ``table``'s rows for the rolled-up days: the
    filters that pick visitors narrow it by its visitors (or derive it from a table that has
    them), those that keep events by its rows' values (``ROW_KEPT``) or, for the session
    rollups, by the split's pure visitors (``SESSION_SPLIT``, ``_split_rows``)."""
    by_visitors, by_events = set(filters) & VISITOR_FILTERS, set(filters) - VISITOR_FILTERS
    if by_events and not (by_events <= EVENT_FILTERS and (table in ROW_KEPT or table in SESSION_SPLIT)):
        return False
    return not by_visitors or table in _ROLLUP_NARROWED or table in _DERIVED


# The exact split. A view filtered by events (country, browser) over the rolled-up days, R the
# last one the query reads (``:rolled_through``, capped by a cut) and W the days from the day
# before the range to the day after its last rolled-up day, [date_from - 1, min(date_to, R) + 1]:
#
#     day:       date_from - 1 | date_from ...              R | R + 1 ...     date_to | + 1
#     sessions:  margin        | starting here: rollup_sessions | the raw tail (events)
#     W:         <------------------------------------------------->  (R + 1 read raw)
#
# A session starting on a rolled-up day d of the range is cut from its visitor's user actions of
# [d - 30 min, d + 2) (etl/blocks/sessionize.sql: the gap, in_session_cut), all in W. A visitor
# whose user actions in W are all kept (*pure*) has, under the filter, the very sessions
# rollup_sessions holds for it; one whose actions in W are all other has no kept session there;
# only a visitor with both (*mixed*: a traveller, a browser switch under one id) has kept sessions
# no rollup holds. So the split reads the session rollups for the visitors that are not mixed
# (their rows with the value), and the mixed visitors' kept events raw for every day the query's
# raw side reads; the per-day rollups lose the mixed visitors' rows of those days, so no event is
# counted twice. Identify, group and alias messages are no session activity and in no rollup:
# they make no one mixed.
SPLIT_WINDOW, SPLIT_VISITORS, SPLIT_EVENTS = "split_window", "split_visitors", "split_events"
# the day before the range, also the previous period's last day (PREV_TO)
DAY_BEFORE = "date_format(date_add('day', -1, CAST(:date_from AS date)), '%Y-%m-%d')"
_W_FIRST = DAY_BEFORE
_W_LAST = "date_format(date_add('day', 1, least(CAST(:date_to AS date), CAST(:rolled_through AS date))), '%Y-%m-%d')"
_RAW_LAST = "date_format(date_add('day', 1, CAST(:date_to AS date)), '%Y-%m-%d')"  # the raw tail's last day
_MIXED = f"SELECT visitor_key FROM {SPLIT_VISITORS} WHERE kept AND other"
_PURE = f"SELECT visitor_key FROM {SPLIT_VISITORS} WHERE kept AND NOT other"
# The session tables whose reads must be of the range's days for the split to be exact (W covers
# the sessions starting in the range); rollup_last_events is read for the day R only.
_RANGE_READ = SESSION_SPLIT - {"rollup_last_events"}


def _split_ctes(filters: Mapping[str, str], where: str) -> list[exp.CTE]:
    """The split's visitors and the mixed visitors' kept events, once per statement (a batch
    shares them between panels). ``split_window``: every visitor's user actions of W by their
    value, from rollup_visitor_days (a row's actions share a browser and a country) for the
    rolled-up days and from raw events for the day after R (W ends there at the latest, so it is
    one raw day; and when R is before the range's day before, nothing the split reads depends on
    W). ``split_visitors``: per visitor key, whether it has kept actions in W and other ones.
    ``split_events``: the mixed visitors' events the view keeps (``where``: every filter and
    cut), of the rolled-up days from the day before the range to the day after it, every day a
    raw read of the query reaches there (``_split_read`` reads the days after R itself). Matched
    by visitor key: the per-day rollups hold no visitor string. Parameters in WHERE clauses only
    (Athena)."""
    kept = _kept(filters)
    window = (
        f"{SPLIT_WINDOW} AS (SELECT visitor_key, browser, country FROM rollup_visitor_days "
        f"WHERE app_id = :app_id AND dt BETWEEN {_W_FIRST} AND {_W_LAST} AND dt <= :rolled_through "
        f"UNION ALL SELECT {key_sql(VISITOR_SQL)} AS visitor_key, browser, country FROM events "
        f"WHERE app_id = :app_id AND dt BETWEEN {_W_FIRST} AND {_W_LAST} AND dt > :rolled_through "
        "AND event_type NOT IN ('identify', 'group', 'alias'))"
    )
    visitors = (
        f"{SPLIT_VISITORS} AS (SELECT visitor_key, bool_or(kept) AS kept, bool_or(NOT kept) AS other "
        f"FROM (SELECT visitor_key, true AS kept FROM {SPLIT_WINDOW} WHERE {kept} "
        f"UNION ALL SELECT visitor_key, false AS kept FROM {SPLIT_WINDOW} WHERE NOT coalesce({kept}, false)) AS flagged "
        "WHERE visitor_key IS NOT NULL GROUP BY visitor_key)"
    )
    events = (
        f"{SPLIT_EVENTS} AS (SELECT * FROM events WHERE app_id = :app_id AND dt BETWEEN {_W_FIRST} AND {_RAW_LAST} "
        f"AND dt <= :rolled_through AND {where} AND {key_sql(VISITOR_SQL)} IN ({_MIXED}))"
    )
    return _ctes(f"{window}, {visitors}, {events}")


def _split_rows(table: str, filters: Mapping[str, str]) -> str:
    """A row of ``table``, read for the rolled-up days under the split, is the filtered view's:

    * a per-day rollup's (``ROW_KEPT``): a row with the value, but not a mixed visitor's in the
      days ``split_events`` holds, whose kept events the raw side reads instead;
    * a session's (rollup_sessions): its first user action has the value and its visitor is not
      mixed. A session starting on a rolled-up day of the range starts with an action in W, so
      for a visitor that is not mixed its value is every action's there: the visitor is pure;
    * a spec funnel's session (rollup_funnel_sessions, no value of its own): its visitor is pure;
    * the last user action of day R (rollup_last_events, the raw tail's margin): its visitor is
      not mixed (a mixed visitor's margin is among its kept events, read raw). A pure visitor's
      is kept (R is in W when the tail reads it); a visitor with only other actions in W has
      none on R + 1 (in W), so its margin is more than 30 minutes before any kept event after R
      and starts nothing, as its unfiltered sessions' starts do not count in the tail."""
    if table in ROW_KEPT:
        return f"{_kept(filters)} AND NOT (dt BETWEEN {_W_FIRST} AND {_RAW_LAST} AND visitor_key IN ({_MIXED}))"
    if table == "rollup_sessions":
        return f"{_kept(filters)} AND visitor_key NOT IN ({_MIXED})"
    if table == "rollup_funnel_sessions":
        return f"visitor_key IN ({_PURE})"
    if table == "rollup_last_events":
        return f"{key_sql('anonymous_id')} NOT IN ({_MIXED})"
    raise QueryError(f"the exact split has no rows of {table} (scope.SESSION_SPLIT and scope._split_rows disagree)")


def _rolled_in_select(table: exp.Table) -> list[exp.Placeholder]:
    """The ``:rolled_through`` placeholders of the SELECT that reads ``table`` (a read of events),
    not of a SELECT nested in it. A read whose SELECT has one is on the raw side of the query,
    which the split reads for every day (``_split_read``). Any other read of events (an ad-hoc
    funnel's, which reads raw events for the range whatever is rolled up) keeps reading the kept
    events of its days."""
    select = table.find_ancestor(exp.Select)
    return [p for p in _own(select, exp.Placeholder) if p.name == "rolled_through"] if select else []


def _split_read(where: str) -> str:
    """The SELECT that replaces a read of events on the raw side under the split: the kept events
    after R and ``split_events``. The pure visitors' sessions of the rolled-up days stay the
    rollups'; the mixed visitors' are cut from their kept events, as over the filtered events alone."""
    return f"SELECT * FROM events WHERE {where} AND dt > :rolled_through UNION ALL SELECT * FROM {SPLIT_EVENTS}"


def _splittable(tree: exp.Expression, reads: Sequence[exp.Table]) -> bool:
    """Whether the split knows the query's shape: it binds the app and the range, no SELECT reads
    both raw events and a rollup (the split tells them apart by SELECT), the session rollups are
    read for days of the range (``dt BETWEEN :date_from AND :date_to``: W covers the sessions
    starting there) and rollup_last_events for the day R (``dt = :rolled_through``)."""
    if not {"app_id", "date_from", "date_to"} <= {p.name for p in tree.find_all(exp.Placeholder)}:
        return False
    for table in reads:
        select = table.find_ancestor(exp.Select)
        if select is None:
            return False
        if table.name == "events" and any(t.name.startswith("rollup_") for t in _own(select, exp.Table)):
            return False
        if table.name in _RANGE_READ and not _bounds(select, exp.Between, "date_from", "date_to"):
            return False
        if table.name == "rollup_last_events" and not _bounds(select, exp.EQ, "rolled_through"):
            return False
    return True


def _bounds(select: exp.Select, kind: type[exp.Expression], *names: str) -> bool:
    """Whether ``select``'s WHERE says ``dt BETWEEN :<names>`` (``exp.Between``) or ``dt = :<name>``
    (``exp.EQ``) as one of its conjuncts."""
    where = select.args.get("where")
    if where is None:
        return False
    for test in where.this.flatten() if isinstance(where.this, exp.And) else [where.this]:
        if isinstance(test, kind) and isinstance(test.this, exp.Column) and test.this.name == "dt":
            bounds = [test.args.get("low"), test.args.get("high")] if kind is exp.Between else [test.expression]
            if [b.name if isinstance(b, exp.Placeholder) else None for b in bounds] == list(names):
                return True
    return False


def _own(select: exp.Select, kind: type[exp.Expression]) -> list[Any]:
    """The nodes of ``kind`` in ``select`` that belong to it, not to a SELECT nested in it."""
    return [node for node in select.find_all(kind) if node.find_ancestor(exp.Select) is select]


def _picked(filters: Mapping[str, str], cuts: Sequence[str], column: str) -> str:
    """A rollup row's visitor, in ``column`` (``_ROLLUP_NARROWED``), is one every filter picks."""
    return " AND ".join(f"({_condition(n, v, cuts, column, column == KEY)})" for n, v in filters.items())


def _replace(table: exp.Table, select: str) -> None:
    """``table`` (a read in a FROM or JOIN) becomes ``(select) AS <its alias>``."""
    alias = table.alias or table.name
    table.replace(sqlglot.parse_one(f"({select}) AS {alias}", read="athena"))


def _page_viewers(value: str, cuts: Sequence[str]) -> exp.CTE:
    """The visitors who viewed the page in the range, up to the cuts."""
    cut = "".join(f" AND event_time < {c}" for c in cuts)
    body = (
        f"SELECT DISTINCT {VISITOR_SQL} AS visitor FROM events WHERE app_id = :app_id "
        f"AND dt BETWEEN :date_from AND :date_to AND event_type = 'page_view' AND {_test('page', value)}{cut}"
    )
    return _ctes(f"{VIEWERS} AS ({body})")[0]


def _source_starts() -> list[exp.CTE]:
    """The CTEs of etl/blocks/source_starts.sql, expanded: copies of one parse (about 40 ms,
    and a filtered page narrows every dataset of both periods)."""
    return [cte.copy() for cte in _parsed_source_starts()]


@lru_cache(maxsize=1)
def _parsed_source_starts() -> tuple[exp.CTE, ...]:
    return tuple(_ctes(catalog.expand(f"-- @include {STARTS}", origin="clickstream/dashboard/scope.py")))


def _ctes(block: str) -> list[exp.CTE]:
    """The CTEs of ``block``, a comma-separated list of them (an etl/blocks file's form)."""
    return list(sqlglot.parse_one(f"WITH {block.rstrip().rstrip(',')} SELECT 1", read="athena").args["with_"].expressions)


def _prepend_ctes(tree: exp.Expression, ctes: list[exp.CTE]) -> None:
    taken = {cte.alias for cte in tree.find_all(exp.CTE)} & {cte.alias for cte in ctes}
    if taken:
        raise QueryError(f"the query defines {', '.join(sorted(taken))}, which the source filter's CTEs need")
    with_ = tree.args.get("with_")
    if with_ is None:
        tree.set("with_", exp.With(expressions=ctes))
    else:
        with_.set("expressions", ctes + list(with_.expressions))


def rolled_cap(rolled_through_sql: str, cut_sql: str) -> str:
    """The last rolled-up day a query cut at ``cut_sql`` (a timestamp) may read: two days
    before the cut's day at most. A day's rollups hold its whole events and, for its sessions,
    the next day's (etl/blocks/range_sessions.sql: a session belongs to the day it starts on),
    so day d is whole under the cut only if the end of d + 1, midnight of d + 2, is not after
    it. Days after the cap come from raw events, which the cut narrows; the answer is what raw
    events cut at the same instant give (tests/unit/test_rollup_filters.py). 'YYYY-MM-DD'
    strings order as the days do."""
    cap = f"date_format(date_add('day', -2, CAST({cut_sql} AS date)), '%Y-%m-%d')"
    return f"least({rolled_through_sql}, {cap})"


# The previous period in SQL, from the shown one's :date_from and :date_to (inclusive YYYY-MM-DD).
_DAYS = "(date_diff('day', CAST(:date_from AS date), CAST(:date_to AS date)) + 1)"
PREV_FROM = f"date_format(date_add('day', -{_DAYS}, CAST(:date_from AS date)), '%Y-%m-%d')"
PREV_TO = DAY_BEFORE
NOW_SQL = "current_timestamp"  # what QuickSight runs; the local page binds its own now instead
LOCAL_NOW_SQL = "CAST(:now AS timestamp)"


def _running(now_sql: str) -> str:
    return f"CAST(:date_to AS date) >= CAST({now_sql} AS date)"


def compare_sql(base_sql: str, columns: list[str], now_sql: str = NOW_SQL) -> str:
    """One row: the base query's columns for the shown period, then ``prev_<column>`` for the
    previous period of equal length; a running period (ending today or later) is cut at now and
    the previous one at the same elapsed time (now minus the period's length). For QuickSight's
    KPI visuals, which take a value and a target from one dataset."""
    from clickstream.dashboard.spec import placeholder_spans

    shifted = base_sql
    for start, end, name in reversed(placeholder_spans(base_sql)):
        if name in ("date_from", "date_to"):
            shifted = shifted[:start] + f"({PREV_FROM if name == 'date_from' else PREV_TO})" + shifted[end + 1 :]
    far = "TIMESTAMP '9999-12-31 00:00:00'"
    cur_cut = f"(CASE WHEN {_running(now_sql)} THEN {now_sql} ELSE {far} END)"
    prev_cut = f"(CASE WHEN {_running(now_sql)} THEN date_add('day', -{_DAYS}, {now_sql}) ELSE {far} END)"
    cur = scoped_sql(base_sql, {}, until_sql=cur_cut)
    prev = scoped_sql(shifted, {}, until_sql=prev_cut)
    return f"SELECT {compare_select(columns)}\nFROM ({cur}) AS cur\nCROSS JOIN ({prev}) AS prev"


def compare_select(columns: list[str]) -> str:
    """The select list over ``cur`` and ``prev`` (one row each) that makes a comparison row."""
    derived = [(name, expr) for name, expr in DERIVED.items() if all(c in columns for c in _uses(expr))]
    return ", ".join(
        [f"cur.{c}" for c in columns]
        + [expr.format(t="cur") + f" AS {n}" for n, expr in derived]
        + [f"prev.{c} AS prev_{c}" for c in columns]
        + [expr.format(t="prev") + f" AS prev_{n}" for n, expr in derived]
    )


# Ratios of the base's columns, added to a comparison when the base has what they divide.
DERIVED = {"views_per_session": "CAST({t}.page_views AS double) / nullif({t}.sessions, 0)"}


def _uses(expr: str) -> list[str]:
    import re

    return re.findall(r"\{t\}\.(\w+)", expr)


def bound(filters: Mapping[str, str], until: datetime | None) -> dict[str, Any]:
    """The extra parameter values ``scoped_sql`` needs."""
    values: dict[str, Any] = {f"f_{n}": v for n, v in filters.items() if v != NONE}
    if until is not None:
        values["until"] = until.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    return values


@dataclass(frozen=True)
class Periods:
    """The shown period and the one before it, of equal length and equal elapsed time."""

    date_from: date
    date_to: date
    prev_from: date
    prev_to: date
    until: datetime | None  # set when the period is still running: compare up to now
    prev_until: datetime | None

    @property
    def days(self) -> int:
        return (self.date_to - self.date_from).days + 1


def periods(date_from: date, date_to: date, now: datetime) -> Periods:
    """Previous period = the same number of days just before; a running one is cut at now.

    A period is running when it ends today or later (UTC). Then both are compared up to the
    same elapsed time: the current up to ``now``, the previous up to ``now - length``.
    """
    days = (date_to - date_from).days + 1
    shift = timedelta(days=days)
    running = date_to >= now.date()
    return Periods(
        date_from, date_to, date_from - shift, date_to - shift, now if running else None, now - shift if running else None
    )
