"""The modeled lake: derived tables built from one closed day's events, pure (no I/O).

Seventeen tables, partitioned like ``events`` (``app_id=<app>/dt=<day>``), one file per partition
with a fixed name, rebuilt whole (docs/lake.md has their columns):

* ``rollup_sessions``: one row per session that starts on ``dt``, by the session rule of
  etl/blocks/sessionize.sql (a gap of 30 minutes or more starts a new session; ties in
  event_time ordered as ``SESSION_ORDER`` says). Built from the day's events, the last 30 minutes
  of the day before (does the day's first event continue a session?) and the day after (sessions running
  past midnight): the rows etl/blocks/range_sessions.sql gives for the range [dt, dt].
* ``rollup_session_totals``: per bot flag, the day's sessions, bounces and summed duration (ms):
  what overview and daily_metrics need of sessions, in two rows a day.
* ``rollup_visitor_days``: per visitor and day, events and page views by the dimensions the
  panels group on (bot flag and reason, browser, device type, OS, country).
* ``rollup_page_days``: per page, visitor, day, browser and country, page views.
* ``rollup_event_days``: per event type and name, visitor, day, browser and country, events
  other than page views.
* ``rollup_geo_days``: per shared position (geo_lat, geo_lon), visitor, day, browser and
  country, events.
* ``rollup_last_events``: per visitor whose last user action of ``dt`` is in its last 30 minutes,
  that action's time: all the raw session queries need of a rolled-up day before their first raw
  day (does its first event continue a session?), so they do not read that day's events.
* ``rollup_funnel_days``: per spec funnel (``FUNNELS``), bot flag and depth, the sessions that
  start on ``dt`` and reach exactly that step (greedy in-order matching, etl/queries/funnel.sql).
* ``rollup_funnel_sessions``: the same sessions one by one, with their visitor: one row per
  session that starts on ``dt`` and reaches step 1 of a spec funnel (what a dashboard view
  filtered by visitors counts, clickstream/dashboard/scope.py).
* the keyless totals (``TOTALS``, decision 0017 step 1): ``rollup_visitor_totals``,
  ``rollup_page_totals``, ``rollup_event_totals``, ``rollup_geo_totals`` (by the geo grid's
  cell), ``rollup_entry_totals``, ``rollup_exit_totals``, ``rollup_referrer_totals``,
  ``rollup_utm_totals``: per bot flag and value, the sums of a keyed table's events, page views,
  sessions and bounces, without visitors: what the panels sum, in rows per value, not per visitor.

Only user actions count: identify, group and alias messages are no page view, no event and
no session activity (NOT_ACTIONS). Sessions are per visitor, so a day too large for memory is
built in slices of visitors (``rebuild_day_files``: the days read once, dealt to slice files on
local disk by ranges of the visitor key, ``build_day`` on each slice's rows, the tables appended
to local files, funnel counts, session totals and the keyless totals summed): a visitor's rows never span two
slices.

The keyed tables (``KEY_SORTED``) are sorted by ``visitor_key`` within a slice and the slices
are appended in key order (chalicelib/lake/key_ranges.py), so each day file is sorted by the key,
in row groups with min/max key statistics (chalicelib/lake/parquetio.py): a build of one key
range (the month build, decision 0017 step 2) reads a few row groups of a day, not all of it.

Which days to rebuild: a day's sessions read the day before (30 minutes) and the day after,
so a change to day X changes the rollups of X - 1, X and X + 1 (``affected_days``). A day is
rolled up once the day after it is closed (``rollable``): before that its sessions may still
grow.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Iterable, Iterator, Mapping, Protocol, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from chalicelib.lake import key_ranges, spill, visitor_key

GAP_MS = 30 * 60 * 1000
NOT_ACTIONS = ("identify", "group", "alias")
FILE_NAME = "rollup.parquet"  # one per partition: a rebuild overwrites it, never adds a copy

TS = pa.timestamp("ms", tz="UTC")
# A visitor's events in session order, as etl/blocks/sessionize.sql orders them (NULL last):
# ties in event_time by what the session queries read of an event, then by event_id.
SESSION_ORDER = (
    "event_time",
    "event_type",
    "event_name",
    "path",
    "referrer_host",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "event_id",
)
# The events columns a rebuild reads.
COLUMNS = (
    "event_id",
    "event_time",
    "event_type",
    "event_name",
    "anonymous_id",
    "user_id",
    "path",
    "referrer_host",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "country",
    "device_type",
    "browser",
    "os",
    "is_bot",
    "bot_reason",
    "geo_lat",
    "geo_lon",
)

SESSIONS = pa.schema(
    [
        ("app_id", pa.string()),
        ("session_id", pa.string()),
        ("anonymous_id", pa.string()),
        ("visitor_key", pa.int64()),
        ("user_id", pa.string()),
        ("session_start", TS),
        ("session_end", TS),
        ("duration_s", pa.float64()),
        ("event_count", pa.int64()),
        ("page_views", pa.int64()),
        ("is_bounce", pa.bool_()),
        ("entry_path", pa.string()),
        ("exit_path", pa.string()),
        ("referrer_host", pa.string()),
        ("utm_source", pa.string()),
        ("utm_medium", pa.string()),
        ("utm_campaign", pa.string()),
        ("country", pa.string()),
        ("device_type", pa.string()),
        ("browser", pa.string()),
        ("os", pa.string()),
        ("is_bot", pa.bool_()),
    ]
)
VISITOR_DIMENSIONS = ("is_bot", "bot_reason", "browser", "device_type", "os", "country")
# The event attributes click-to-filter keeps events by (clickstream/dashboard/scope.py ROW_KEPT):
# every per-day rollup of events groups by them, so a filtered view's rows are those with the value.
FILTER_DIMENSIONS = ("browser", "country")
_FILTERED = [(d, pa.string()) for d in FILTER_DIMENSIONS]
VISITOR_DAYS = pa.schema(
    [("app_id", pa.string()), ("visitor_key", pa.int64())]
    + [(d, pa.bool_() if d == "is_bot" else pa.string()) for d in VISITOR_DIMENSIONS]
    + [("events", pa.int64()), ("page_views", pa.int64())]
)
PAGE_DAYS = pa.schema(
    [
        ("app_id", pa.string()),
        ("path", pa.string()),
        ("visitor_key", pa.int64()),
        ("is_bot", pa.bool_()),
        *_FILTERED,
        ("page_views", pa.int64()),
    ]
)
EVENT_DAYS = pa.schema(
    [
        ("app_id", pa.string()),
        ("event_type", pa.string()),
        ("event_name", pa.string()),
        ("visitor_key", pa.int64()),
        ("is_bot", pa.bool_()),
        *_FILTERED,
        ("events", pa.int64()),
    ]
)
GEO_DAYS = pa.schema(
    [
        ("app_id", pa.string()),
        ("visitor_key", pa.int64()),
        ("is_bot", pa.bool_()),
        ("geo_lat", pa.float64()),
        ("geo_lon", pa.float64()),
        *_FILTERED,
        ("events", pa.int64()),
    ]
)
FUNNEL_DAYS = pa.schema(
    [
        ("app_id", pa.string()),
        ("funnel", pa.string()),
        ("is_bot", pa.bool_()),
        ("depth", pa.int64()),
        ("sessions", pa.int64()),
    ]
)
FUNNEL_SESSIONS = pa.schema(
    [
        ("app_id", pa.string()),
        ("visitor_key", pa.int64()),
        ("funnel", pa.string()),
        ("is_bot", pa.bool_()),
        ("depth", pa.int64()),
    ]
)
SESSION_TOTALS = pa.schema(
    [
        ("app_id", pa.string()),
        ("is_bot", pa.bool_()),
        ("sessions", pa.int64()),
        ("bounces", pa.int64()),
        ("duration_ms", pa.int64()),
    ]
)
LAST_EVENTS = pa.schema([("app_id", pa.string()), ("anonymous_id", pa.string()), ("last_event_time", TS)])


def _totals_schema(values: Sequence[tuple[str, pa.DataType]], measures: Sequence[str]) -> pa.Schema:
    return pa.schema([("app_id", pa.string()), ("is_bot", pa.bool_()), *values, *[(m, pa.int64()) for m in measures]])


# The keyless per-day totals (decision 0017, step 1): per bot flag and value, the additive measures
# a panel sums (events, page views, sessions, bounces), no visitor. Their rows per day are the
# values' combinations, not visitors; a panel sums them over the rolled-up days and keeps counting
# visitors over the keyed rollups. Each is a sum of a keyed table's rows (``TOTALS``).
_TEXT = pa.string()
VISITOR_TOTALS = _totals_schema([(d, _TEXT) for d in VISITOR_DIMENSIONS[1:]], ("events", "page_views"))
PAGE_TOTALS = _totals_schema([("path", _TEXT)], ("page_views",))
EVENT_TOTALS = _totals_schema([("event_type", _TEXT), ("event_name", _TEXT)], ("events",))
# The geo grid's cell (``geo_cell``), not the position: the panel groups by the cell.
GEO_TOTALS = _totals_schema([("lat_cell", pa.float64()), ("lon_cell", pa.float64())], ("events",))
ENTRY_TOTALS = _totals_schema([("entry_path", _TEXT)], ("sessions", "bounces"))
EXIT_TOTALS = _totals_schema([("exit_path", _TEXT)], ("sessions",))
REFERRER_TOTALS = _totals_schema([("referrer_host", _TEXT)], ("sessions", "bounces"))
UTM_TOTALS = _totals_schema([("utm_source", _TEXT), ("utm_medium", _TEXT), ("utm_campaign", _TEXT)], ("sessions", "bounces"))
# name -> (the keyed table it sums, its schema): what ``_totals`` computes per slice and
# ``_summed`` adds up over the slices (a row's events or session are in one slice: its visitor's).
TOTALS: dict[str, tuple[str, pa.Schema]] = {
    "rollup_visitor_totals": ("rollup_visitor_days", VISITOR_TOTALS),
    "rollup_page_totals": ("rollup_page_days", PAGE_TOTALS),
    "rollup_event_totals": ("rollup_event_days", EVENT_TOTALS),
    "rollup_geo_totals": ("rollup_geo_days", GEO_TOTALS),
    "rollup_entry_totals": ("rollup_sessions", ENTRY_TOTALS),
    "rollup_exit_totals": ("rollup_sessions", EXIT_TOTALS),
    "rollup_referrer_totals": ("rollup_sessions", REFERRER_TOTALS),
    "rollup_utm_totals": ("rollup_sessions", UTM_TOTALS),
}
# The tables with a visitor key, each written sorted by these columns: the key, then the table's
# other key columns (deterministic ties; rollup_sessions: the visitor, then its sessions in time).
# ``build_day`` emits them in this order; ``rebuild_day_files`` appends the slices in key order.
KEY_SORTED: dict[str, tuple[str, ...]] = {
    "rollup_sessions": (visitor_key.COLUMN, "anonymous_id", "session_start"),
    "rollup_visitor_days": (visitor_key.COLUMN, *VISITOR_DIMENSIONS),
    "rollup_page_days": (visitor_key.COLUMN, "path", "is_bot", *FILTER_DIMENSIONS),
    "rollup_event_days": (visitor_key.COLUMN, "event_type", "event_name", "is_bot", *FILTER_DIMENSIONS),
    "rollup_geo_days": (visitor_key.COLUMN, "is_bot", "geo_lat", "geo_lon", *FILTER_DIMENSIONS),
    "rollup_funnel_sessions": (visitor_key.COLUMN, "funnel", "is_bot", "depth"),
}
SCHEMAS = {
    "rollup_sessions": SESSIONS,
    "rollup_session_totals": SESSION_TOTALS,
    "rollup_visitor_days": VISITOR_DAYS,
    "rollup_page_days": PAGE_DAYS,
    "rollup_event_days": EVENT_DAYS,
    "rollup_geo_days": GEO_DAYS,
    "rollup_funnel_days": FUNNEL_DAYS,
    "rollup_funnel_sessions": FUNNEL_SESSIONS,
    "rollup_last_events": LAST_EVENTS,
    **{name: schema for name, (_, schema) in TOTALS.items()},
}

# Columns with about one row per value in their table, written without a dictionary
# (parquetio.options): a dictionary would hold every value and add an index to each row. Measured
# on bench_rollups' lake (10 M events, 30 days), snappy: rollup_visitor_days' visitor_key 13.2 ->
# 10.7 MB, rollup_sessions' keys and times 5-25 % smaller. And visitor_key in every KEY_SORTED
# file: a visitor's rows are adjacent there, so the codec compresses its repeated key, which a
# dictionary of 25,000-row groups cannot beat (8 bytes per key per group plus an index per row):
# on a day resampled to 4.4 M visitor-days, rollup_page_days' key 4.98 -> 3.97 bytes a row,
# rollup_event_days' 5.60 -> 4.51, rollup_geo_days' 7.13 -> 6.73 (docs/performance-dashboard.md,
# *Key-sorted day rollups, shipped*).
PLAIN = {
    "rollup_sessions": frozenset({"session_id", "anonymous_id", "visitor_key", "session_start", "session_end", "duration_s"}),
    "rollup_visitor_days": frozenset({"visitor_key"}),
    "rollup_page_days": frozenset({"visitor_key"}),
    "rollup_event_days": frozenset({"visitor_key"}),
    "rollup_geo_days": frozenset({"visitor_key"}),
    "rollup_funnel_sessions": frozenset({"visitor_key"}),
    "rollup_last_events": frozenset({"anonymous_id", "last_event_time"}),
}

# The dashboard spec's funnels (quicksight/dashboard.yaml, ``funnels``), rolled up per day: the
# Lambda cannot read the spec, so the list is here and a test keeps the two equal; funnel.sql's
# gates are generated from it (@spec_funnels, clickstream/lake/catalog.py). A funnel added here
# reads the rollup only for days rebuilt after it was added (rebuild the older ones: docs/lake.md,
# *Upgrading*). Up to 10 steps each.
FUNNELS: tuple[tuple[str, ...], ...] = (("/demo", "LIKE_WOOD", "CLICK_LANG"),)
FUNNEL_SEPARATOR = "\x1f"  # no step of a spec funnel contains it (tests/unit/test_rollup_funnels.py)


def funnel_key(steps: Sequence[str]) -> str:
    """The ``funnel`` column of ``rollup_funnel_days``: the steps joined, as array_join(:steps, chr(31))."""
    return FUNNEL_SEPARATOR.join(steps)


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=timezone.utc)


def read_window(day: date) -> tuple[tuple[date, datetime | None], ...]:
    """(partition day, earliest event_time wanted or None for all) that a rebuild of ``day`` reads."""
    return (
        (day - timedelta(days=1), day_start(day) - timedelta(milliseconds=GAP_MS)),
        (day, None),
        (day + timedelta(days=1), None),
    )


def affected_days(changed: Iterable[date]) -> set[date]:
    """The days whose rollups a change to ``changed`` days' events can alter."""
    return {d + timedelta(days=k) for d in changed for k in (-1, 0, 1)}


def rollable(day: date, today: date) -> bool:
    """A day is rolled up once the day after it is over (UTC): its sessions are complete."""
    return day + timedelta(days=1) < today


def _ms(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return pc.cast(pc.cast(column, TS), pa.int64()).to_numpy(zero_copy_only=False)


def _empty(schema: pa.Schema) -> pa.Table:
    return schema.empty_table()


def user_actions(events: pa.Table) -> pa.Table:
    keep = pc.invert(pc.fill_null(pc.is_in(events["event_type"], pa.array(NOT_ACTIONS)), False))
    return events.filter(keep)


def with_visitor(events: pa.Table) -> pa.Table:
    """``events`` with anonymous_id replaced by the visitor (chalicelib/lake/visitor.py: the
    anonymous_id, else ``'user:' + user_id``), what sessions, keys and slices are per; as the SQL's
    ``@visitor``. Idempotent: a visitor is its own visitor."""
    at = events.schema.get_field_index("anonymous_id")
    return events.set_column(at, "anonymous_id", visitor_key.visitors(events["anonymous_id"], events["user_id"]))


def build_day(app_id: str, day: date, events: pa.Table) -> dict[str, pa.Table]:
    """The rollup tables of ``day`` (all but rollup_session_totals, which ``combine`` sums from
    the sessions) from the events of its read window (``read_window``; extra rows outside it are
    ignored), whose anonymous_id is already the visitor (``with_visitor``), with its
    ``visitor_key`` if the caller has it (``rebuild_day_files`` deals them to slices by it).
    Deterministic: the same events give the same rows in the same order, the keyed tables in
    ``KEY_SORTED``'s."""
    lo = day_start(day) - timedelta(milliseconds=GAP_MS)
    keyed = visitor_key.COLUMN in events.column_names
    events = user_actions(events.select([*COLUMNS, visitor_key.COLUMN] if keyed else list(COLUMNS)))
    t = _ms(events["event_time"])
    keep = (t >= int(lo.timestamp() * 1000)) & (t < int((day_start(day) + timedelta(days=2)).timestamp() * 1000))
    events = events.filter(pa.array(keep))
    if not keyed:  # one MD5 per visitor of the window (chalicelib/lake/visitor_key.py): what the distinct counts count
        events = events.append_column(visitor_key.COLUMN, visitor_key.keys(events["anonymous_id"]))
    # By key first, so that sessions come out in KEY_SORTED's order; a visitor's rows stay adjacent.
    order = (visitor_key.COLUMN, "anonymous_id", *SESSION_ORDER)
    events = events.sort_by([(name, "ascending") for name in order])  # NULL at the end
    numbered = _number(events, day)
    on_day = _on_day(events, day)
    funnel_sessions = _funnel_sessions(app_id, events, numbered)
    return {
        "rollup_sessions": _sessions(app_id, events, numbered),
        "rollup_visitor_days": _visitor_days(app_id, on_day),
        "rollup_page_days": _page_days(app_id, on_day),
        "rollup_event_days": _event_days(app_id, on_day),
        "rollup_geo_days": _geo_days(app_id, on_day),
        "rollup_funnel_days": _funnel_days(app_id, funnel_sessions),
        "rollup_funnel_sessions": funnel_sessions.sort_by([(k, "ascending") for k in KEY_SORTED["rollup_funnel_sessions"]]),
        "rollup_last_events": _last_events(app_id, day, on_day),
    }


class _Numbered:
    """The session rule over events sorted by visitor and ``SESSION_ORDER``: rows of a session are adjacent."""

    def __init__(self, t: np.ndarray, session: np.ndarray, starts: np.ndarray, wanted: np.ndarray, bots: np.ndarray) -> None:
        self.t = t  # event_time in ms, per row
        self.session = session  # session number per row (0, 1, ... in row order)
        self.starts = starts  # first row of each session
        self.ends = np.append(starts[1:], len(t)) - 1  # last row of each session
        self.wanted = wanted  # per session: it starts on the day being built
        self.bots = bots  # per session: any event from a bot


def _number(events: pa.Table, day: date) -> _Numbered:
    n = events.num_rows
    t = _ms(events["event_time"]) if n else np.zeros(0, dtype=np.int64)
    visitor = events["anonymous_id"].to_numpy(zero_copy_only=False)
    start = np.ones(n, dtype=bool)
    if n:
        start[1:] = (visitor[1:] != visitor[:-1]) | ((t[1:] - t[:-1]) >= GAP_MS)
    session = np.cumsum(start) - 1
    starts = np.flatnonzero(start)
    day_lo = int(day_start(day).timestamp() * 1000)
    wanted = (t[starts] >= day_lo) & (t[starts] < day_lo + 86_400_000)
    is_bot = pc.fill_null(events["is_bot"], False).to_numpy(zero_copy_only=False).astype(bool)
    bots = np.bincount(session, weights=is_bot, minlength=len(starts)) > 0
    return _Numbered(t, session, starts, wanted, bots)


def _on_day(events: pa.Table, day: date) -> pa.Table:
    t = _ms(events["event_time"])
    start = int(day_start(day).timestamp() * 1000)
    return events.filter(pa.array((t >= start) & (t < start + 86_400_000)))


def _sessions(app_id: str, events: pa.Table, numbered: _Numbered) -> pa.Table:
    n = events.num_rows
    if n == 0:
        return _empty(SESSIONS)
    t, session, starts, ends = numbered.t, numbered.session, numbered.starts, numbered.ends
    is_page = pc.fill_null(pc.equal(events["event_type"], "page_view"), False).to_numpy(zero_copy_only=False)
    has_path = pc.is_valid(events["path"]).to_numpy(zero_copy_only=False)
    counts = np.bincount(session, minlength=len(starts))
    page_views = np.bincount(session, weights=is_page, minlength=len(starts)).astype(np.int64)
    # Entry and exit: the first and last page view with a path (min_by / max_by over seq).
    candidates = np.flatnonzero(is_page & has_path)
    entry = np.full(len(starts), n)
    exit_ = np.full(len(starts), -1)
    np.minimum.at(entry, session[candidates], candidates)
    np.maximum.at(exit_, session[candidates], candidates)
    entry[entry == n] = -1
    # user_id: the session's greatest, as the sessions view's max(user_id).
    users = pa.table({"s": pa.array(session), "u": events["user_id"]}).group_by("s", use_threads=False).aggregate([("u", "max")])
    user = pa.nulls(len(starts), pa.string()).to_pylist()
    for s, u in zip(users["s"].to_pylist(), users["u_max"].to_pylist(), strict=True):
        user[s] = u

    keep = np.flatnonzero(numbered.wanted)
    first = pa.array(starts[keep])

    def at(rows: np.ndarray, column: str) -> pa.Array:
        values = events[column].take(pa.array(np.where(rows < 0, 0, rows))).combine_chunks()
        return pc.if_else(pa.array(rows >= 0), values, pa.nulls(len(rows), values.type))

    columns: dict[str, pa.Array | pa.ChunkedArray] = {
        "app_id": pa.array([app_id] * len(keep), pa.string()),
        "session_id": events["event_id"].take(first),
        "anonymous_id": events["anonymous_id"].take(first),
        "visitor_key": events[visitor_key.COLUMN].take(first),
        "user_id": pa.array([user[s] for s in keep], pa.string()),
        "session_start": pa.array(t[starts[keep]], pa.int64()).cast(TS),
        "session_end": pa.array(t[ends[keep]], pa.int64()).cast(TS),
        "duration_s": pa.array((t[ends[keep]] - t[starts[keep]]) / 1000.0, pa.float64()),
        "event_count": pa.array(counts[keep], pa.int64()),
        "page_views": pa.array(page_views[keep], pa.int64()),
        "is_bounce": pa.array(counts[keep] == 1),
        "entry_path": at(entry[keep], "path"),
        "exit_path": at(exit_[keep], "path"),
        "is_bot": pa.array(numbered.bots[keep]),
    }
    for column in ("referrer_host", "utm_source", "utm_medium", "utm_campaign", "country", "device_type", "browser", "os"):
        columns[column] = events[column].take(first)
    return pa.table([columns[f.name] for f in SESSIONS], schema=SESSIONS)


def _last_events(app_id: str, day: date, rows: pa.Table) -> pa.Table:
    """Each visitor's last user action of the day, where it is at or after 23:30 (the margin the
    raw session queries read of the day before their first day: etl/blocks/tail_sessions.sql)."""
    if rows.num_rows == 0:
        return _empty(LAST_EVENTS)
    last = rows.group_by("anonymous_id", use_threads=False).aggregate([("event_time", "max")])
    margin = day_start(day) + timedelta(days=1, milliseconds=-GAP_MS)
    last = last.filter(pc.greater_equal(last["event_time_max"], pa.scalar(margin, TS)))
    last = last.append_column("app_id", pa.array([app_id] * last.num_rows, pa.string()))
    last = last.rename_columns([{"event_time_max": "last_event_time"}.get(c, c) for c in last.column_names])
    return last.select(LAST_EVENTS.names).cast(LAST_EVENTS).sort_by([("anonymous_id", "ascending")])


def _session_totals(sessions: pa.Table) -> pa.Table:
    out: dict[str, list] = {name: [] for name in SESSION_TOTALS.names}
    if sessions.num_rows == 0:
        return pa.table(out, schema=SESSION_TOTALS)
    is_bot = sessions["is_bot"].to_numpy(zero_copy_only=False).astype(bool)
    bounce = sessions["is_bounce"].to_numpy(zero_copy_only=False).astype(bool)
    ms = _ms(sessions["session_end"]) - _ms(sessions["session_start"])
    for flag in (False, True):
        mine = is_bot == flag
        if mine.any():
            row = (sessions["app_id"][0].as_py(), flag, int(mine.sum()), int(bounce[mine].sum()), int(ms[mine].sum()))
            for name, value in zip(SESSION_TOTALS.names, row, strict=True):
                out[name].append(value)
    return pa.table(out, schema=SESSION_TOTALS)


def _visitor_days(app_id: str, rows: pa.Table) -> pa.Table:
    if rows.num_rows == 0:
        return _empty(VISITOR_DAYS)
    rows = rows.set_column(rows.schema.get_field_index("is_bot"), "is_bot", pc.fill_null(rows["is_bot"], False))
    rows = rows.append_column("page_view", pc.cast(pc.fill_null(pc.equal(rows["event_type"], "page_view"), False), pa.int64()))
    keys = list(KEY_SORTED["rollup_visitor_days"])
    grouped = rows.group_by(keys, use_threads=False).aggregate([("event_id", "count"), ("page_view", "sum")])
    grouped = grouped.rename_columns(
        [{"event_id_count": "events", "page_view_sum": "page_views"}.get(c, c) for c in grouped.column_names]
    )
    grouped = grouped.append_column("app_id", pa.array([app_id] * grouped.num_rows, pa.string()))
    return grouped.select(VISITOR_DAYS.names).cast(VISITOR_DAYS).sort_by([(k, "ascending") for k in keys])


def _counted(app_id: str, rows: pa.Table, keys: list[str], schema: pa.Schema, count: str, of: str = "event_id") -> pa.Table:
    """``rows`` grouped by ``keys`` (is_bot as the raw queries' coalesce(is_bot, false)), with
    their number in ``count`` (the rows whose column ``of`` is set), in ``schema``'s column
    order, sorted by the keys."""
    if rows.num_rows == 0:
        return _empty(schema)
    rows = rows.set_column(rows.schema.get_field_index("is_bot"), "is_bot", pc.fill_null(rows["is_bot"], False))
    grouped = rows.group_by(keys, use_threads=False).aggregate([(of, "count")])
    grouped = grouped.rename_columns([{f"{of}_count": count}.get(c, c) for c in grouped.column_names])
    grouped = grouped.append_column("app_id", pa.array([app_id] * grouped.num_rows, pa.string()))
    return grouped.select(schema.names).cast(schema).sort_by([(k, "ascending") for k in keys])


def _page_days(app_id: str, rows: pa.Table) -> pa.Table:
    rows = rows.filter(pc.fill_null(pc.equal(rows["event_type"], "page_view"), False))
    return _counted(app_id, rows, list(KEY_SORTED["rollup_page_days"]), PAGE_DAYS, "page_views")


def _event_days(app_id: str, rows: pa.Table) -> pa.Table:
    """Events but page views (etl/queries/custom_events.sql: event_type <> 'page_view', so not NULL)."""
    rows = rows.filter(pc.fill_null(pc.not_equal(rows["event_type"], "page_view"), False))
    return _counted(app_id, rows, list(KEY_SORTED["rollup_event_days"]), EVENT_DAYS, "events")


def _geo_days(app_id: str, rows: pa.Table) -> pa.Table:
    """Events with a position, by the exact position: the query rounds it to its cell, so both
    paths round the same doubles with the same function (etl/queries/geo_grid.sql)."""
    rows = rows.filter(pc.and_(pc.is_valid(rows["geo_lat"]), pc.is_valid(rows["geo_lon"])))
    return _counted(app_id, rows, list(KEY_SORTED["rollup_geo_days"]), GEO_DAYS, "events")


def funnel_depths(keys: pa.Array | pa.ChunkedArray, numbered: _Numbered, steps: Sequence[str]) -> np.ndarray:
    """Per session, how many of ``steps`` it reached in order: walking its events by time, the
    next step is reached by the first event after the previous match whose key equals it (one
    event counts for one step at most). etl/queries/funnel.sql's reduce over the matches does
    the same; here one vectorised pass per step finds each session's next match."""
    depth = np.zeros(len(numbered.starts), dtype=np.int64)
    last = numbered.starts - 1  # the row of the last step matched, per session
    alive = np.arange(len(numbered.starts))
    for k, step in enumerate(steps, 1):
        rows = np.flatnonzero(pc.fill_null(pc.equal(keys, step), False).to_numpy(zero_copy_only=False))
        if len(rows) == 0 or len(alive) == 0:
            break
        j = np.searchsorted(rows, last[alive], side="right")
        found = j < len(rows)
        nxt = rows[np.minimum(j, len(rows) - 1)]
        found &= numbered.session[nxt] == alive  # the next match is still in the session
        alive = alive[found]
        last[alive] = nxt[found]
        depth[alive] = k
    return depth


def _funnel_sessions(app_id: str, events: pa.Table, numbered: _Numbered) -> pa.Table:
    """Per spec funnel, the sessions starting on the day that reach its step 1: their visitor,
    bot flag and depth, in the order of the funnels and then of the sessions."""
    if events.num_rows == 0:
        return _empty(FUNNEL_SESSIONS)
    is_page = pc.fill_null(pc.equal(events["event_type"], "page_view"), False)
    keys = pc.if_else(is_page, events["path"], events["event_name"])  # CASE WHEN ... THEN path ELSE event_name END
    wanted = np.flatnonzero(numbered.wanted)
    visitors = events[visitor_key.COLUMN].to_numpy(zero_copy_only=False)[numbered.starts[wanted]]
    parts = []
    for steps in FUNNELS:
        depth = funnel_depths(keys, numbered, steps)[wanted]
        entered = depth > 0
        n = int(entered.sum())
        parts.append(
            pa.table(
                {
                    "app_id": pa.array([app_id] * n, pa.string()),
                    "visitor_key": pa.array(visitors[entered], pa.int64()),
                    "funnel": pa.array([funnel_key(steps)] * n, pa.string()),
                    "is_bot": pa.array(numbered.bots[wanted][entered], pa.bool_()),
                    "depth": pa.array(depth[entered], pa.int64()),
                },
                schema=FUNNEL_SESSIONS,
            )
        )
    return pa.concat_tables(parts) if parts else _empty(FUNNEL_SESSIONS)


def _funnel_days(app_id: str, sessions: pa.Table) -> pa.Table:
    """``rollup_funnel_days`` from ``rollup_funnel_sessions``: the sessions counted per funnel,
    bot flag and depth."""
    return _counted(app_id, sessions.drop_columns(["app_id"]), ["funnel", "is_bot", "depth"], FUNNEL_DAYS, "sessions", "depth")


def visitor_slices(count: int, rows_per_slice: int = 2_000_000) -> int:
    """How many slices of visitors a day of ``count`` rows is built in: about ``rows_per_slice``
    of the day's events each (``key_ranges.slice_of`` deals visitors to them by the range of
    their key, an MD5 of the id: they spread whatever the ids look like)."""
    return max(1, min(4096, -(-count // max(1, rows_per_slice))))


def rolled_through(event_days: Iterable[str], rolled_days: Iterable[str]) -> str | None:
    """The last day D (YYYY-MM-DD) such that every day up to D with events is rolled up, or None.
    Panels read the rollups up to D and raw events after it (the :rolled_through parameter)."""
    rolled = set(rolled_days)
    last = None
    for day in sorted(set(event_days) | rolled):
        if day not in rolled:
            break
        last = day
    return last


class DaySource(Protocol):
    """Where a rebuild reads events from: the lake on S3 (the export) or a directory (tests)."""

    def count(self, app_id: str, day: date) -> int:
        """Rows in the day's events partition (Parquet metadata; no data read)."""
        ...

    def batches(self, app_id: str, day: date, columns: Sequence[str]) -> Iterator[pa.RecordBatch]:
        """The day's events, a bounded batch at a time, only ``columns``."""
        ...


def rebuild_day(source: DaySource, app_id: str, day: date, rows_per_slice: int = 2_000_000) -> dict[str, pa.Table]:
    """The rollup tables of ``day`` in memory (tests, the CLI's small lakes): ``rebuild_day_files``
    in a temporary folder, read back."""
    with spill.workdir() as folder:
        files = rebuild_day_files(source, app_id, day, folder, rows_per_slice)
        return {name: pq.read_table(path) for name, path in files.items()}


def rebuild_day_files(
    source: DaySource, app_id: str, day: date, folder: Path, rows_per_slice: int = 2_000_000
) -> dict[str, Path]:
    """The rollup tables of ``day`` as Parquet files in ``folder`` (one per table, the lake's
    writer settings), built one slice of visitors at a time: at most about ``rows_per_slice``
    events of the day, their visitors' rows of the day after that continue a session across
    midnight, and a buffer are in memory at once.

    Each of the three days is read once (``read_window``): the day first, every row dealt to
    its visitor's slice file (``spill.Spill``; slice i holds the visitor keys of
    ``key_ranges.plan_ranges(slices)[i]``), noting the visitors active in its last 30
    minutes; then the last 30 minutes of the day before; then of the day after only those
    visitors' rows (a session that starts on ``day`` reaches the day after only through an
    event of the day at or after 23:30; other rows of the day after start sessions of their
    own day, which ``build_day`` drops). Then each slice is built from its file and appended
    to the tables' files in slice order: a visitor's rows are all in one slice, so the slices'
    rows are those of one unsliced build, the keyed tables in the same order (``KEY_SORTED``:
    the key first, and the slices are ranges of it), and the funnel counts and session totals, over all
    visitors, are summed at the end (``_summed``)."""
    slices = visitor_slices(source.count(app_id, day), rows_per_slice)
    events = spill.Spill(folder / "events", _SPILLED, slices, lambda rows: key_ranges.slice_of(rows[visitor_key.COLUMN], slices))
    (before, since), (_, _), (after, _) = read_window(day)
    since_ms = int(since.timestamp() * 1000) if since is not None else 0
    margin = int((day_start(day) + timedelta(days=1, milliseconds=-GAP_MS)).timestamp() * 1000)
    midnight = int(day_start(after).timestamp() * 1000)
    late = []
    for batch in source.batches(app_id, day, COLUMNS):
        rows = with_visitor(pa.Table.from_batches([batch]))
        late.append(pc.unique(rows["anonymous_id"].filter(pa.array(_ms(rows["event_time"]) >= margin))).cast(pa.string()))
        events.add(_keyed(rows))
    continuing = pc.unique(pa.chunked_array(late, pa.string())) if late else pa.array([], pa.string())
    for batch in source.batches(app_id, before, COLUMNS):
        rows = with_visitor(pa.Table.from_batches([batch]))
        events.add(_keyed(rows.filter(pa.array(_ms(rows["event_time"]) >= since_ms))))
    for batch in source.batches(app_id, after, COLUMNS):
        rows = with_visitor(pa.Table.from_batches([batch]))
        keep = pc.or_(
            pc.fill_null(pc.is_in(rows["anonymous_id"], value_set=continuing, skip_nulls=False), False),
            pa.array(_ms(rows["event_time"]) < midnight),  # not the day after's: never dropped
        )
        events.add(_keyed(rows.filter(keep)))
    events.close()
    files = spill.TableFiles(folder, SCHEMAS, PLAIN, KEY_SORTED)
    funnels, totals, keyless = [], [], []
    for i in range(slices):
        tables = build_day(app_id, day, events.read(i))
        events.paths[i].unlink()  # the disk holds the events once, then the tables
        funnels.append(tables.pop("rollup_funnel_days"))
        totals.append(_session_totals(tables["rollup_sessions"]))
        keyless.append(_totals(tables))  # a few thousand rows a slice: summed in memory
        files.append(tables)
    files.append(_summed(funnels, totals, keyless))
    return files.close()


def geo_cell(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """The geo grid's cell as etl/queries/geo_grid.sql writes it, round(x * 10) / 10 (Athena's
    round(x, 1), tests/unit/test_geo_cells.py): the IEEE product x * 10, rounded half away from
    zero on its exact value (|y| - floor(|y|) is exact), divided by 10. -0.0 is 0.0, as DuckDB
    and Athena group them as one value."""
    x = np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)
    y = np.abs(x * 10.0)
    whole = np.floor(y)
    rounded = np.copysign(whole + (y - whole >= 0.5), x) / 10.0
    rounded += 0.0
    nulls = pc.is_null(column)
    return pa.array(rounded, pa.float64(), mask=np.asarray(nulls.to_numpy(zero_copy_only=False), dtype=bool))


def _totals(tables: Mapping[str, pa.Table]) -> dict[str, pa.Table]:
    """One slice's keyless totals (``TOTALS``) from its keyed tables: each keyed row's measures
    summed per bot flag and value; a session is one session, a bounce one of one event."""
    out = {}
    for name, (source, schema) in TOTALS.items():
        rows = tables[source]
        if source == "rollup_geo_days":
            rows = rows.append_column("lat_cell", geo_cell(rows["geo_lat"])).append_column("lon_cell", geo_cell(rows["geo_lon"]))
        if source == "rollup_sessions":
            rows = rows.append_column("sessions", pa.array(np.ones(rows.num_rows, dtype=np.int64)))
            rows = rows.append_column("bounces", pc.cast(rows["is_bounce"], pa.int64()))
        measures = _measures(schema)
        out[name] = _sum_by(rows, [n for n in schema.names if n not in measures], measures, schema)
    return out


def _measures(schema: pa.Schema) -> list[str]:
    """A keyless total's measures: its integer columns (every other column is a key)."""
    return [f.name for f in schema if f.type == pa.int64()]


def _sum_by(rows: pa.Table, keys: list[str], measures: list[str], schema: pa.Schema) -> pa.Table:
    """``rows`` summed per ``keys``, in ``schema``, sorted by the keys (NULL last)."""
    if rows.num_rows == 0:
        return _empty(schema)
    table = rows.group_by(keys, use_threads=False).aggregate([(c, "sum") for c in measures])
    table = table.rename_columns([c.removesuffix("_sum") for c in table.column_names])
    return table.select(schema.names).cast(schema).sort_by([(k, "ascending") for k in keys])


def _summed(funnels: list[pa.Table], totals: list[pa.Table], keyless: list[dict[str, pa.Table]]) -> dict[str, pa.Table]:
    """The tables over all visitors, from each slice's: funnel sessions, session totals and the
    keyless totals (``TOTALS``) per key, summed (a session is in one slice: its visitor's; so is
    an event)."""
    parts = {"rollup_funnel_days": funnels, "rollup_session_totals": totals}
    for name in TOTALS:
        parts[name] = [one[name] for one in keyless]
    sums = {"rollup_funnel_days": ["sessions"], "rollup_session_totals": ["sessions", "bounces", "duration_ms"]}
    out = {}
    for name, tables in parts.items():
        schema = SCHEMAS[name]
        measures = sums.get(name) or _measures(schema)
        keys = [n for n in schema.names if n not in measures]
        out[name] = _sum_by(pa.concat_tables(tables), keys, measures, schema) if tables else _empty(schema)
    return out


def _keyed(events: pa.Table) -> pa.Table:
    """``events`` (``with_visitor``'s) with each row's visitor key: what the slices are ranges of,
    spilled with the row so that ``build_day`` does not hash the visitor again. Only rows kept
    are hashed (of the day before, its last 30 minutes)."""
    return events.append_column(visitor_key.COLUMN, visitor_key.keys(events["anonymous_id"]))


_TYPES = {"event_time": TS, "is_bot": pa.bool_(), "geo_lat": pa.float64(), "geo_lon": pa.float64()}
_SPILLED = pa.schema([(c, _TYPES.get(c, pa.string())) for c in COLUMNS] + [(visitor_key.COLUMN, pa.int64())])
