"""Housekeeping step: keep the rollup tables (chalicelib/lake/rollup.py) equal to the events.

Which days: every events partition a run wrote (compaction's dirty set), every partition an
erasure rewrote and the first day a retention run kept change the rollups of that day, the day
before and the day after (``rollup.affected_days``). Those days go into their app's set item in
DynamoDB (``keys.rollup_dirty_key``: one item per app, so every day of many apps fits) and leave
it only after the files of every table (``WRITE_ORDER``) are written, once the day after them is
closed (``rollup.rollable``). Each file has a fixed name, so a rebuild overwrites
(a crash before the day leaves the set: the rerun writes the same bytes); one PUT is atomic.

What readers may trust: ``rollup_state`` (one tiny Parquet folder per app, not partitioned by
day). Its ``state-<tag>.parquet`` (``STATE_FILE``, tagged with the set of rollups) says ``rolled_through`` R: every day up
to R has the files of every rollup table and none of them is dirty. Readers (DuckDB, Athena, the QuickSight datasets' SQL)
take the *least* value of all files in the app's folder, none meaning nothing rolled up, and
read the rollups for days <= R, raw events after. The state's ``months_through`` (<= R) is the
same for the month rows (``rollup_visitor_months``: a month lagging behind its days holds back
only their readers; ``values_of``). Whatever is about to change an app's events
first writes a ``hold-<name>.parquet`` there, a lower R, and marks the days dirty; only a state
refresh that has seen those marks deletes the hold. So a day is never read from a stale rollup::

    a change to day X (late events: group.py; erasure; retention):
    1. PUT hold R' <= X - 2 (the day before X reads X)   <- crash: readers only go raw sooner
    2. ADD X-1, X, X+1 to the dirty set                   <- crash: the hold keeps readers off X
    3. change the events of X                             <- crash: still dirty and held
       (a group marks after 3, through compaction's dirty set, which ``rebuild_due`` notes
        before any refresh: a crash between leaves the partition there and the hold in place)
    the rebuild (``rebuild_due``):
    4. PUT the rollup files of the dirty, closed days     <- crash: held; the rerun rewrites
    5. UPDATE the app's item: DELETE day, SET ``stale``   <- one atomic write; crash: held
    6. PUT STATE_FILE: R = min(the last day all rollup tables cover, first dirty day - 1),
       and the month rows' own bound, min(R, least dirty-month entry - 1)
                                                          <- crash: the app is still stale
    7. DELETE the holds (and outdated states) listed before 6, then REMOVE ``stale``
                                                          <- crash: R was already right

A group writes a hold only for days before the day its run started (``hold_late``): the state
R was computed by a housekeeping pass before that, when ``rollable`` allowed at most the day
before yesterday, so rows of that run's "today" cannot touch a day <= R. A reader racing a
step (it listed the state, then a file changed) is the one window, as with compaction's.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Iterator, Literal, Mapping, Sequence

import pyarrow as pa
import pyarrow.parquet as pq
from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.errors import ClickstreamError, StorageUnavailable, TerminalError, TransientError
from chalicelib.export import compact, months
from chalicelib.export.ranged import RANGED_ABOVE, RangedObject
from chalicelib.lake import layout, month, rollup, spill, visitor
from chalicelib.lake.parquetio import Lake
from chalicelib.settings import Settings
from chalicelib.store import keys

log = logging.getLogger("clickstream.export")

# The sessions file last: its presence marks the day rolled up for readers.
WRITE_ORDER = (
    "rollup_visitor_days",
    "rollup_page_days",
    "rollup_event_days",
    "rollup_geo_days",
    "rollup_funnel_days",
    "rollup_funnel_sessions",
    "rollup_last_events",
    "rollup_session_totals",
    "rollup_visitor_totals",
    "rollup_page_totals",
    "rollup_event_totals",
    "rollup_geo_totals",
    "rollup_entry_totals",
    "rollup_exit_totals",
    "rollup_referrer_totals",
    "rollup_utm_totals",
    "rollup_sessions",
)
BATCH_ROWS = 100_000
# Events of the day per slice of visitors (``rollup.visitor_slices``; ``S3Days.count``: exact
# for a large file, an overestimate for small ones). A slice also holds its visitors' rows of
# the day after that continue a session across midnight. Each day is read once whatever the
# number of slices (their rows are dealt to files in /tmp: chalicelib/lake/spill.py), so
# smaller slices cost little CPU. In the Lambda emulation a rebuild in slices of 750,000 peaked
# at 1,142 MiB for a 3-million-event day and 1,197 MiB for 10 million (flat in the day:
# docs/performance-dashboard.md, *Rollup rebuild memory*), inside the 60 % of the export's
# 3,008 MB that chalicelib/export/budget.py plans.
ROWS_PER_SLICE = 750_000
# Parquet bytes per event in the lake (bench: 28-35); an estimate of a day's rows from a LIST,
# so slicing needs no extra GETs. An underestimate only makes slices larger.
BYTES_PER_ROW = 25


def _ddb(call: Callable[..., Any], **kwargs: Any) -> Any:
    try:
        return call(**kwargs)
    except (ClientError, BotoCoreError) as exc:
        raise StorageUnavailable(f"rollup state: {exc}") from exc


def _update_app(
    client: Any,
    table: str,
    app: str,
    expression: str,
    values: dict[str, Any] | None = None,
    names: dict[str, str] | None = None,
) -> None:
    """One UpdateItem of the app's dirty item (``keys.rollup_dirty_key``): atomic, whatever it sets."""
    extra: dict[str, Any] = {"ExpressionAttributeValues": values} if values else {}
    if names:
        extra["ExpressionAttributeNames"] = names
    _ddb(client.update_item, TableName=table, Key=keys.rollup_dirty_key(app), UpdateExpression=expression, **extra)


def mark(client: Any, table: str, days: Iterable[tuple[str, date]], neighbours: bool = True) -> None:
    """Add (app, day) and, by default, its neighbours (``rollup.affected_days``) to the dirty set:
    one write per app, to the app's own item (``keys.rollup_dirty_key``)."""
    per_app: dict[str, set[str]] = {}
    for app, day in days:
        per_app.setdefault(app, set()).update(d.isoformat() for d in (rollup.affected_days([day]) if neighbours else [day]))
    for app, entries in sorted(per_app.items()):
        _update_app(client, table, app, "ADD days :d", {":d": {"SS": sorted(entries)}})


Entries = tuple[set[tuple[str, date]], set[str]]  # an item's dirty (app, day)s and stale apps


def _entries(item: dict[str, Any]) -> Entries:
    """What one item of the dirty set holds: an app's item (``keys.rollup_dirty_key``: its days,
    its ``stale`` flag) or the legacy item of every app ("app/day" entries, a set of apps)."""
    sk = keys.sort_value(item)
    days, stale = item.get("days", {}).get("SS", []), item.get("stale", {})
    if sk == keys.LEGACY_ROLLUP_DIRTY_KEY[keys.SK]["S"]:
        return {(app, date.fromisoformat(d)) for app, d in (e.rsplit("/", 1) for e in days)}, set(stale.get("SS", []))
    if not sk.startswith(keys.ROLLUP_DIRTY_PREFIX):
        return set(), set()
    app = sk[len(keys.ROLLUP_DIRTY_PREFIX) :]
    return {(app, date.fromisoformat(d)) for d in days}, {app} if stale else set()


def _dirty_items(client: Any, table: str) -> Iterator[Entries]:
    """Every item of the dirty set, the legacy one included: a Query of one partition, page by page."""
    args = {"TableName": table, **keys.partition_query(keys.ROLLUP_PK), "ConsistentRead": True}
    for page in keys.pages(lambda **a: _ddb(client.query, **a), args):
        yield from (_entries(item) for item in page.get("Items", []))


def _item(client: Any, table: str, key: keys.Key) -> Entries:
    item = _ddb(client.get_item, TableName=table, Key=key, ConsistentRead=True).get("Item")
    return _entries(item) if item else (set(), set())


def dirty(client: Any, table: str) -> list[tuple[str, date]]:
    return sorted({pair for pairs, _ in _dirty_items(client, table) for pair in pairs})


def dirty_days(client: Any, table: str, app: str) -> list[date]:
    """One app's dirty days: its item's, and the legacy item's for it (an older release's writer
    may still add there until the next drain). Two reads, whatever the number of apps."""
    pairs = _item(client, table, keys.rollup_dirty_key(app))[0] | _item(client, table, keys.LEGACY_ROLLUP_DIRTY_KEY)[0]
    return sorted(day for owner, day in pairs if owner == app)


def drain_legacy(client: Any, table: str) -> int:
    """Move the legacy item's days and stale apps into the per-app items, then delete what was
    moved from it (an older release's writer may still add to it: the next pass moves that).
    A crash between: both hold them, and ``dirty`` reads their union. Returns entries moved."""
    pairs, stale = _item(client, table, keys.LEGACY_ROLLUP_DIRTY_KEY)
    if not pairs and not stale:
        return 0
    mark(client, table, sorted(pairs), neighbours=False)
    for app in sorted(stale):
        _stale(client, table, app)
    values = {}
    if pairs:
        values[":d"] = {"SS": sorted(f"{app}/{day.isoformat()}" for app, day in pairs)}
    if stale:
        values[":a"] = {"SS": sorted(stale)}
    _ddb(
        client.update_item,
        TableName=table,
        Key=keys.LEGACY_ROLLUP_DIRTY_KEY,
        UpdateExpression="DELETE " + ", ".join(f"{n} {v}" for n, v in (("days", ":d"), ("stale", ":a")) if v in values),
        ExpressionAttributeValues=values,
    )
    return len(pairs) + len(stale)


def note_exported(client: Any, table: str, partitions: Iterable[str]) -> None:
    """Mark the days of the events partitions ("events/<app>/<dt>") a run wrote."""
    days = []
    for partition in partitions:
        dataset, app, dt = partition.split("/")
        if dataset == "events":
            days.append((app, date.fromisoformat(dt)))
    mark(client, table, days)


class S3Days:
    """rollup.DaySource over the lake on S3: one object at a time (a large one by ranges),
    decoded a batch at a time, only the columns asked for."""

    def __init__(self, lake: Lake, prefix: str) -> None:
        self.lake = lake
        self.prefix = prefix
        self.requests = 0  # LIST and GET requests, for the cost figures

    def _objects(self, app_id: str, day: date) -> list[dict[str, Any]]:
        self.requests += 1
        part = layout.partition_prefix(self.prefix, "events", app_id, day.isoformat())
        return [o for o in self.lake.list(part) if o["Key"].endswith(".parquet")]

    def count(self, app_id: str, day: date) -> int:
        """The day's rows: a large object's from its footer (two ranged GETs), a small one's
        estimated from its size (an overestimate: it only makes slices smaller)."""
        rows = 0
        for obj in self._objects(app_id, day):
            size = int(obj.get("Size", 0))
            if size > RANGED_ABOVE:
                ranged = RangedObject(self.lake, obj["Key"], size)
                rows += pq.ParquetFile(ranged, pre_buffer=False).metadata.num_rows
                self.requests += ranged.gets
            else:
                rows += size // BYTES_PER_ROW
        return rows

    def batches(self, app_id: str, day: date, columns: Sequence[str]) -> Iterator[pa.RecordBatch]:
        for obj in self._objects(app_id, day):
            size = int(obj.get("Size", 0))
            if size > RANGED_ABOVE:
                ranged = RangedObject(self.lake, obj["Key"], size)
                parquet = pq.ParquetFile(ranged, pre_buffer=False)
            else:
                self.requests += 1
                parquet = pq.ParquetFile(io.BytesIO(self.lake.read_bytes(obj["Key"])))
            have = [c for c in columns if c in parquet.schema_arrow.names]
            # A row group at a time: over all of them at once pyarrow reads one range spanning
            # every chunk (the whole object), not the chunks of the columns asked for.
            groups = (
                parquet.iter_batches(batch_size=BATCH_ROWS, columns=have, row_groups=[g]) for g in range(parquet.num_row_groups)
            )
            for batch in (b for group in groups for b in group):
                missing = [c for c in columns if c not in have]
                if missing:  # an older file without a newer column: nulls, as Athena reads it
                    table = pa.Table.from_batches([batch])
                    for c in missing:
                        table = table.append_column(c, pa.nulls(batch.num_rows, pa.string()))
                    batch = table.select(list(columns)).to_batches()[0] if table.num_rows else batch
                yield batch
            if size > RANGED_ABOVE:
                self.requests += ranged.gets


def month_entries(day: date) -> list[str]:
    """Pure: the dirty-month entries a rebuilt day X adds: X itself (its month is wrong from X
    on) and the first day of each of the ``LOOKBACK_MONTHS`` months after (their ``prev`` and
    ``hist`` read X's month through the carry)."""
    first = date(day.year, day.month, 1)
    return [day.isoformat(), *(month.add_months(first, k).isoformat() for k in range(1, month.LOOKBACK_MONTHS + 1))]


def _clean(client: Any, table: str, app: str, day: date) -> None:
    """The day leaves the dirty set, the months it changes enter it (``month_entries``, each
    month's version bumped: ``_add_months``), and its app becomes ``stale``, in one write (all
    are the app's item): the app's state is refreshed before ``stale`` lets it go, and the months
    are rebuilt before their entries go, whatever crashes in between."""
    add, values, names = _add_months(month_entries(day))
    _update_app(
        client,
        table,
        app,
        f"DELETE days :d {add} SET stale = :t",
        {":d": {"SS": [day.isoformat()]}, ":t": {"BOOL": True}, **values},
        names,
    )


def mark_months(client: Any, table: str, app: str, entries: Iterable[date]) -> None:
    """Add month entries (a day: its month is wrong from that day on) to the app's item, and
    make the app ``stale`` in the same write: the pass's refresh then lowers its months_through
    before them even if the month is not finished in that pass (the callers' holds cover the
    time until then)."""
    values = sorted({d.isoformat() for d in entries})
    if values:
        add, values_, names = _add_months(values)
        _update_app(client, table, app, f"{add} SET stale = :t", {**values_, ":t": {"BOOL": True}}, names)


# A month's build may take more than one invocation (an app of a billion events a month), so it
# records the parts it has written (``_parts_name``: version, n, parts done) and the next pass
# resumes after them, but only if no entry of the month was added since (decision 0017,
# *Step 2's wiring as built*): every addition bumps the month's version (``_version_name``) in
# the same write, because a set ADD of an entry already present changes nothing, so the entries
# alone cannot say that a day was rebuilt again after the parts were written.
def _version_name(first: date) -> str:
    return f"mver_{first:%Y-%m}"


def _parts_name(first: date) -> str:
    return f"mparts_{first:%Y-%m}"


def _add_months(entries: Sequence[str]) -> tuple[str, dict[str, Any], dict[str, str]]:
    """Pure: the ADD clause (expression, values, names: as ``_update_app`` takes them) adding ``entries`` (days) to the app's
    dirty months and 1 to the version of each of their months."""
    firsts = sorted({date.fromisoformat(e).replace(day=1) for e in entries})
    names = {f"#v{i}": _version_name(first) for i, first in enumerate(firsts)}
    clause = "ADD months :m" + "".join(f", {name} :one" for name in names)
    return clause, {":m": {"SS": sorted(entries)}, ":one": {"N": "1"}}, names


def _version(item: Mapping[str, Any], first: date) -> int:
    return int(item.get(_version_name(first), {}).get("N", "0"))


def resume_of(item: Mapping[str, Any], first: date) -> months.Resume | None:
    """Pure: where the build of month ``first`` picks up, from the app's dirty item: the parts
    its record says are written, if the month's version is still the record's (no entry added
    since: the parts were built from the inputs of now); None: from part 0."""
    record = item.get(_parts_name(first), {}).get("M")
    if not record or int(record["v"]["N"]) != _version(item, first):
        return None
    return months.Resume(int(record["n"]["N"]), int(record["done"]["N"]))


def _record_parts(client: Any, table: str, app: str, first: date, version: int, n: int, done: int) -> None:
    record = {"v": {"N": str(version)}, "n": {"N": str(n)}, "done": {"N": str(done)}}
    _update_app(client, table, app, "SET #p = :r", {":r": {"M": record}}, {"#p": _parts_name(first)})


def _clean_months(client: Any, table: str, app: str, first: date, entries: Iterable[date]) -> None:
    """The entries a month rebuild read leave the set, exactly those (one added meanwhile, a day
    of the month rebuilt again, stays: the month is built again), its parts record goes, and the
    app becomes ``stale`` in the same write: its state, bounded by the entries, is refreshed even
    in a pass that rebuilt no day of it (the months a failed or late pass left)."""
    _update_app(
        client,
        table,
        app,
        "DELETE months :m REMOVE #p SET stale = :t",
        {":m": {"SS": sorted(d.isoformat() for d in entries)}, ":t": {"BOOL": True}},
        {"#p": _parts_name(first)},
    )


def _months_of(item: dict[str, Any] | None) -> set[date]:
    if not item or not keys.sort_value(item).startswith(keys.ROLLUP_DIRTY_PREFIX):
        return set()
    return {date.fromisoformat(d) for d in item.get("months", {}).get("SS", [])}


def dirty_months(client: Any, table: str, app: str | None = None) -> dict[str, set[date]]:
    """The dirty-month entries per app (one app: one read of its item; all: a Query)."""
    if app is not None:
        item = _ddb(client.get_item, TableName=table, Key=keys.rollup_dirty_key(app), ConsistentRead=True).get("Item")
        entries = _months_of(item)
        return {app: entries} if entries else {}
    return {owner: _months_of(item) for owner, item in _month_items(client, table).items()}


def _month_items(client: Any, table: str) -> dict[str, dict[str, Any]]:
    """The dirty items of the apps with dirty-month entries, whole (their versions and parts
    records too), per app: one Query."""
    out = {}
    args = {"TableName": table, **keys.partition_query(keys.ROLLUP_PK), "ConsistentRead": True}
    for page in keys.pages(lambda **a: _ddb(client.query, **a), args):
        for item in page.get("Items", []):
            if _months_of(item):
                out[keys.sort_value(item)[len(keys.ROLLUP_DIRTY_PREFIX) :]] = item
    return out


def _stale(client: Any, table: str, app: str) -> None:
    _update_app(client, table, app, "SET stale = :t", {":t": {"BOOL": True}})


def _stale_apps(client: Any, table: str) -> set[str]:
    return {app for _, stale in _dirty_items(client, table) for app in stale}


def _fresh(client: Any, table: str, app: str) -> None:
    _update_app(client, table, app, "REMOVE stale")


# -- the readers' state: rollup_state/app_id=<app>/{state,hold-*}.parquet --------------------
STATE_TABLE = "rollup_state"
# The set of rollups a state vouches for: the tables, their columns (name and type), the spec
# funnels rolled up into rollup_funnel_days and the session rule the files were built by (the
# visitor, the gap, the order of ties, the messages that are no user action: ``SESSION_RULE``). A release
# that changes any of them (a table, a column: visitor_key, decision 0015; a funnel; the gap)
# writes and trusts only states tagged with its own set: until its first refresh, readers find
# no state of theirs and read raw events (``least``); that refresh marks every day of the app
# dirty (the files were built for the old set) before it publishes, so the new set is vouched
# for only day by day as it is rebuilt.
SESSION_RULE: Mapping[str, object] = {
    "visitor": visitor.VISITOR_SQL,  # whose sessions (decision 0016): a change rebuilds every day
    "gap_ms": rollup.GAP_MS,
    "session_order": rollup.SESSION_ORDER,
    "not_actions": rollup.NOT_ACTIONS,
}


def state_tag(
    tables: Sequence[str],
    funnels: Sequence[Sequence[str]],
    schemas: Mapping[str, pa.Schema] | None,
    rule: Mapping[str, object] | None = None,
) -> str:
    """The tag of a set of rollups. Types as pyarrow names them (``int64``, ``string``,
    ``timestamp[ms, tz=UTC]``): the same text in the Lambda's layer and on a laptop. ``schemas``
    None is the tag of releases before the columns counted, ``rule`` None of releases before the
    session rule counted (tests: their states are not trusted)."""
    parts: tuple[object, ...] = (tuple(tables), tuple(funnels))
    if schemas is not None:
        parts += (tuple((name, tuple((f.name, str(f.type)) for f in schemas[name])) for name in tables),)
        if rule is not None:
            parts += (tuple(sorted((k, repr(v)) for k, v in rule.items())),)
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:10]


# The month table and its carry (decision 0017 step 2) count as tables of the set: a release
# that adds or changes them re-rolls every day, which marks every month.
MONTH_SCHEMAS: Mapping[str, pa.Schema] = {
    months.MONTH_TABLE: pa.schema(month.dimensions.table_columns()),
    months.CARRY: pa.schema(
        list({f.name: f for d in month.DIMENSIONS for f in month.carry_schema(d, date(2000, 1, 1))}.values())
    ),
}
TAGGED = (*WRITE_ORDER, *MONTH_SCHEMAS)
TAGGED_SCHEMAS: Mapping[str, pa.Schema] = {**rollup.SCHEMAS, **MONTH_SCHEMAS}
STATE_TAG = state_tag(TAGGED, rollup.FUNNELS, TAGGED_SCHEMAS, SESSION_RULE)
STATE_FILE = f"state-{STATE_TAG}.parquet"
STATE_PREFIX = "state-"
HOLD_PREFIX = "hold-"
NOTHING_ROLLED = "0001-01-01"  # before any day: readers read raw events only
# app_id is the folder (partition). vouches: STATE_TAG in a state, null in a hold. months_through:
# in a state, the last day the month rows may be read for (<= rolled_through; null in a hold and
# in the states of releases before it, which vouch for no month row).
STATE_SCHEMA = pa.schema([("rolled_through", pa.string()), ("vouches", pa.string()), ("months_through", pa.string())])
Grain = Literal["days", "months"]  # what a reader reads: the day rollups, or the month rows
Entry = tuple[str | None, str | None]  # (vouches, rolled_through) of one row of a state file


def state_folder(prefix: str, app_id: str) -> str:
    return layout.app_prefix(prefix, STATE_TABLE, app_id)


def state_table(rolled_through: str, vouches: str | None = STATE_TAG, months_through: str | None = None) -> pa.Table:
    return pa.table(
        {
            "rolled_through": pa.array([rolled_through], pa.string()),
            "vouches": pa.array([vouches], pa.string()),
            "months_through": pa.array([months_through], pa.string()),
        },
        schema=STATE_SCHEMA,
    )


def least(entries: Iterable[Entry]) -> str | None:
    """What readers take from an app's state files: None if there is no file; raw events only
    (NOTHING_ROLLED) if no state vouches for this release's set; else the least value of its
    state and the holds (a state of another set says nothing about this one: ignored)."""
    rows = list(entries)
    if not rows:
        return None
    if not any(tag == STATE_TAG for tag, _ in rows):
        return NOTHING_ROLLED
    present = [v for tag, v in rows if v is not None and tag in (STATE_TAG, None)]
    return min(present, default=NOTHING_ROLLED)


def values_of(table: pa.Table, grain: Grain = "days") -> list[Entry]:
    """The (vouches, day) rows of one state file for a reader of ``grain``, for ``least``. For
    the month rows, a state's day is its ``months_through`` (none: NOTHING_ROLLED) and a hold's
    its ``rolled_through``: a change held off the day rollups is held off the months built from
    them."""
    if "rolled_through" not in table.column_names:
        return [(None, NOTHING_ROLLED)]
    values = table.column("rolled_through").to_pylist()
    tags = table.column("vouches").to_pylist() if "vouches" in table.column_names else [None] * len(values)
    if grain == "months":
        months_ = table.column("months_through").to_pylist() if "months_through" in table.column_names else [None] * len(values)
        values = [v if tag is None else (m_ or NOTHING_ROLLED) for tag, v, m_ in zip(tags, values, months_, strict=True)]
    return list(zip(tags, values, strict=True))


def read_state(lake: Lake, prefix: str, app_id: str, grain: Grain = "days") -> str | None:
    """The app's rolled_through (``grain`` "months": its months_through) as every reader
    computes it (one LIST, a GET per file)."""
    keys_ = [o["Key"] for o in lake.list(state_folder(prefix, app_id)) if o["Key"].endswith(".parquet")]
    return least(v for k in keys_ for v in values_of(lake.read_table(k), grain))


def hold(lake: Lake, prefix: str, app_id: str, name: str, through: str) -> None:
    """Keep readers at rolled_through <= ``through`` for ``app_id`` until a refresh has seen the
    days the caller is about to mark dirty. Write it before changing any events."""
    lake.put_table(state_folder(prefix, app_id) + f"{HOLD_PREFIX}{name}.parquet", state_table(through, vouches=None))


def hold_late(lake: Lake, prefix: str, events: pa.Table, name: str, started_ms: int) -> None:
    """Before a group writes ``events`` (with their ``dt``): a hold per app whose rows fall on a
    day before the one its run started, at two days before the earliest such day."""
    if events.num_rows == 0:
        return
    started = datetime.fromtimestamp(started_ms / 1000, tz=timezone.utc).date()
    pairs = events.group_by(["app_id", "dt"]).aggregate([])
    earliest: dict[str, date] = {}
    for app, dt in zip(pairs.column("app_id").to_pylist(), pairs.column("dt").to_pylist(), strict=True):
        day = date.fromisoformat(dt)
        if day < started and (app not in earliest or day < earliest[app]):
            earliest[app] = day
    for app, day in sorted(earliest.items()):
        hold(lake, prefix, app, name, (day - timedelta(days=2)).isoformat())


def _days(lake: Lake, prefix: str, table: str, app_id: str) -> set[str]:
    base = layout.app_prefix(prefix, table, app_id)
    out = set()
    for entry in lake.list(base, delimiter="/"):
        part = entry.get("Prefix", "")
        if part.startswith(base + "dt="):
            out.add(layout.partition_of(part)[1])
    return out


def covered_through(event_days: Iterable[str], table_days: Sequence[Iterable[str]], dirty_days: Iterable[date]) -> str:
    """Pure: the rolled_through a refresh writes. Up to the last day that every rollup table has
    (and every day with events before it), and before the first dirty day."""
    have = [set(d) for d in table_days]
    rolled = set.intersection(*have) if have else set()
    return _before(rollup.rolled_through(event_days, rolled) or NOTHING_ROLLED, dirty_days)


def months_covered(rolled_through: str, dirty_months: Iterable[date]) -> str:
    """Pure: the months_through a refresh writes: at most rolled_through (the month rows are
    built from the day rollups), and before the least entry of a month to rebuild (its rows are
    wrong from that day on). A month that lags (a long build, a failure) holds back only the
    readers of month rows; the day rollups' readers keep rolled_through."""
    return _before(rolled_through, dirty_months)


def _before(last: str, dirty: Iterable[date]) -> str:
    first_dirty = min(dirty, default=None)
    if first_dirty is not None:
        last = min(last, (first_dirty - timedelta(days=1)).isoformat())
    return max(last, NOTHING_ROLLED)


def refresh_state(lake: Lake, client: Any, settings: Settings, app_id: str, crash: Callable[[str], None]) -> str:
    """Steps 6 and 7 for one app (module docstring). Returns the rolled_through written."""
    prefix = settings.lake_prefix
    folder = state_folder(prefix, app_id)
    # Holds, and states written for another set of tables.
    names = [o["Key"].rsplit("/", 1)[-1] for o in lake.list(folder)]
    holds = [folder + name for name in names if _replaced(name)]
    event_days = _days(lake, prefix, "events", app_id)
    if STATE_FILE not in names and any(name.startswith(STATE_PREFIX) for name in names):
        # Another release's state: the files were built for another set of tables or funnels.
        # Readers already read raw events (no state of this set); rebuild every day first.
        mark(client, settings.table, [(app_id, date.fromisoformat(d)) for d in event_days], neighbours=False)
        crash("rollup_after_set_change")
    through = covered_through(
        event_days, [_days(lake, prefix, name, app_id) for name in WRITE_ORDER], dirty_days(client, settings.table, app_id)
    )
    months_through = months_covered(through, dirty_months(client, settings.table, app_id).get(app_id, set()))
    lake.put_table(folder + STATE_FILE, state_table(through, months_through=months_through))
    crash("rollup_after_state")
    if holds:
        lake.delete(holds)
    _fresh(client, settings.table, app_id)
    return through


def _replaced(name: str) -> bool:
    """A file of an app's state folder that its next refresh deletes."""
    return name.startswith(HOLD_PREFIX) or (name.startswith(STATE_PREFIX) and name != STATE_FILE)


def _held_apps(lake: Lake, prefix: str) -> set[str]:
    """Apps with a hold or an outdated state (one LIST of the whole, small, rollup_state folder)."""
    base = layout.dataset_prefix(prefix, STATE_TABLE)
    return {
        o["Key"][len(base) :].split("/", 1)[0].removeprefix("app_id=")
        for o in lake.list(base)
        if _replaced(o["Key"].rsplit("/", 1)[-1]) and o["Key"][len(base) :].startswith("app_id=")
    }


# The time a pass keeps for its refreshes (a LIST, a few GETs and PUTs per stale or held app)
# and the lease's release, when the invocation's remaining time is known (``rebuild_due``).
REFRESH_RESERVE_MS = 60_000
# A conservative rebuild time per million events of the day, for a day before any in this pass
# has been timed: twice the wall time measured in the Lambda emulation (~10 s per million:
# docs/performance-dashboard.md, *Rollup rebuild memory*), for a slower Lambda core.
MS_PER_MILLION_ROWS = 20_000
Step = Literal["start", "skip", "stop"]


def next_step(left_ms: int, longest_ms: int, rows: int | None) -> Step:
    """Pure: whether a pass with ``left_ms`` before its refreshes must run starts the next day.
    "stop" once the longest day this pass has rebuilt would not fit again (no later day is
    started: any may be as long); "skip" a day whose own estimate (``rows`` events) does not fit,
    so a smaller one after it still may; ``rows`` None: not counted yet (only "stop" is decided)."""
    if left_ms < longest_ms:
        return "stop"
    if rows is not None and left_ms < rows * MS_PER_MILLION_ROWS // 1_000_000:
        return "skip"
    return "start"


class DaysNotRebuilt(ClickstreamError):
    """Some days' rollups (or some apps' states) could not be brought up to date this pass; every
    other day and app was. ``failures`` names each (app, day or None for a refresh, the error).
    Raised as the transient kind unless every failure is terminal (``raise_for``)."""

    def __init__(self, failures: Sequence[tuple[str, date | None, Exception]]) -> None:
        self.failures = list(failures)
        named = "; ".join(f"{app}/{day or 'state'}: {type(exc).__name__}: {exc}" for app, day, exc in self.failures)
        super().__init__(
            f"{len(self.failures)} rollup step(s) failed ({named}); those days stay dirty and their apps' readers "
            "read raw events for them until a later pass succeeds; every other day was rebuilt and published"
        )

    def raise_for_app(self, app: str) -> None:
        """Raise again for ``app``'s failures alone (of their kind); return if it had none."""
        raise_for([failure for failure in self.failures if failure[0] == app])


class DaysNotRebuiltTransient(DaysNotRebuilt, TransientError):
    """At least one failure may pass on a retry (storage throttled or down)."""


class DaysNotRebuiltTerminal(DaysNotRebuilt, TerminalError):
    """Every failure repeats on a retry (a day too large for the function's disk: decision 0014)."""


def raise_for(failures: Sequence[tuple[str, date | None, Exception]]) -> None:
    """Raise once for the failures of a pass, of the kind that says whether a retry may help."""
    if not failures:
        return
    terminal = all(isinstance(exc, TerminalError) for _, _, exc in failures)
    kind = DaysNotRebuiltTerminal if terminal else DaysNotRebuiltTransient
    raise kind(failures) from failures[0][2]


def _failed(failures: list[tuple[str, date | None, Exception]], app: str, day: date | None, exc: Exception) -> None:
    failures.append((app, day, exc))
    what = "rollup day not rebuilt; it stays dirty" if day else "rollup state not refreshed; its holds stay"
    log.error(
        json.dumps(
            {"msg": what, "app_id": app, "dt": day.isoformat() if day else None, "kind": type(exc).__name__, "error": str(exc)}
        )
    )


def rebuild_due(
    lake: Lake,
    client: Any,
    settings: Settings,
    now_ms: int,
    crash: Callable[[str], None],
    rows_per_slice: int = ROWS_PER_SLICE,
    remaining_ms: Callable[[], int] | None = None,
) -> int:
    """Rebuild every dirty day that is rollable now, then refresh the readers' state of every
    app that was rebuilt or held (module docstring, steps 4 to 7). Returns days written.

    ``remaining_ms`` (the Lambda invocation's ``get_remaining_time_in_millis``; None: no limit)
    bounds the rebuilds: a day is started only if it may end ``REFRESH_RESERVE_MS`` before the
    function's timeout (``next_step``). The days not started stay dirty for the next run, and
    the refreshes always run: a backlog (every day of every app after a release changed the
    state tag) is worked off run by run instead of being killed at the limit on every run,
    before any refresh, with nothing ever published.

    One day that fails (a day too large for the disk, a throttled PUT) stops neither the other
    days nor the refreshes: it is logged and stays dirty (its app's refresh publishes a state
    before it), and the pass raises ``DaysNotRebuilt`` once at its end, so the failure is seen
    (the run's error; no ExportLagSeconds that run) while every other app's readers move on."""
    # Marks of the partitions runs wrote (their groups' holds rely on them) before any refresh.
    note_exported(client, settings.table, compact.dirty_partitions(client, settings.table))
    drain_legacy(client, settings.table)
    today = datetime.fromtimestamp(now_ms / 1000, tz=timezone.utc).date()
    source = S3Days(lake, settings.lake_prefix)
    done = 0
    failures: list[tuple[str, date | None, Exception]] = []
    due = [(app, day) for app, day in dirty(client, settings.table) if rollup.rollable(day, today)]
    longest, left_over = 0, []
    for i, (app, day) in enumerate(due):
        if remaining_ms is not None:
            left = remaining_ms() - REFRESH_RESERVE_MS
            step = next_step(left, longest, None)
            if step == "start":  # one LIST more: the day's size
                step = next_step(left, longest, source.count(app, day))
            if step == "stop":
                left_over.extend(due[i:])
                break
            if step == "skip":
                left_over.append((app, day))
                continue
            started = remaining_ms()
        try:
            _rebuild_day(lake, client, settings, source, app, day, crash, rows_per_slice)
        except Exception as exc:  # noqa: BLE001  (recorded and raised after the refreshes)
            _failed(failures, app, day, exc)
            continue
        finally:
            if remaining_ms is not None:
                longest = max(longest, started - remaining_ms())
        done += 1
    # Step 5b: the months the cleaned days marked, before any refresh (normally months_through
    # does not move back).
    left_over += _rebuild_months(lake, client, settings, crash, failures, remaining_ms)
    if left_over:
        log.info(
            json.dumps(
                {
                    "msg": "rollup pass out of time; days (and months: their first day) left dirty for the next run",
                    "days": len(left_over),
                    "first": f"{left_over[0][0]}/{left_over[0][1].isoformat()}",
                    "rebuilt": done,
                    "longest_ms": longest,
                }
            )
        )
    for app in sorted(_stale_apps(client, settings.table) | _held_apps(lake, settings.lake_prefix)):
        try:
            refresh_state(lake, client, settings, app, crash)
        except Exception as exc:  # noqa: BLE001
            _failed(failures, app, None, exc)
    raise_for(failures)
    return done


class _Pace:
    """Whether the next month part may start: only while the longest part of this pass (the time
    between two calls, a month's listing included: an overestimate) would still end
    ``REFRESH_RESERVE_MS`` before the invocation's end (``next_step``); always without a limit."""

    def __init__(self, remaining_ms: Callable[[], int] | None) -> None:
        self.remaining_ms = remaining_ms
        self.longest = 0
        self.last: int | None = None

    def may_start(self) -> bool:
        if self.remaining_ms is None:
            return True
        now = self.remaining_ms()
        if self.last is not None:
            self.longest = max(self.longest, self.last - now)
        self.last = now
        return next_step(now - REFRESH_RESERVE_MS, self.longest, None) != "stop"


def _rebuild_months(
    lake: Lake,
    client: Any,
    settings: Settings,
    crash: Callable[[str], None],
    failures: list[tuple[str, date | None, Exception]],
    remaining_ms: Callable[[], int] | None,
) -> list[tuple[str, date]]:
    """Step 5b: per app, the months with entries, in ascending order (M's carry is rebuilt before
    M + 1 reads it): build each (chalicelib/export/months.py), then delete the entries read.
    A month that fails stops its app's later months (they would read its old carry); it and
    they stay dirty, so months_through stays before them. Returns the (app, month) left for lack
    of time.

    A month is built part by part while the parts fit in the invocation (``_Pace``); each part
    written is recorded (``_record_parts``), and a month left half-built is resumed by the next
    pass after its last recorded part if no entry of it was added since (``resume_of``), so a
    month longer than one invocation finishes over several."""
    pace, left_over = _Pace(remaining_ms), list[tuple[str, date]]()
    for app, item in sorted(_month_items(client, settings.table).items()):
        by_month: dict[date, set[date]] = {}
        for entry in _months_of(item):
            by_month.setdefault(date(entry.year, entry.month, 1), set()).add(entry)
        for first, read in sorted(by_month.items()):
            version = _version(item, first)

            def record(n: int, done: int, app: str = app, first: date = first, version: int = version) -> None:
                _record_parts(client, settings.table, app, first, version, n, done)

            try:
                result = months.rebuild_month(
                    lake,
                    settings.lake_prefix,
                    app,
                    first,
                    crash,
                    resume=resume_of(item, first),
                    progress=record,
                    may_start=pace.may_start,
                )
            except Exception as exc:  # noqa: BLE001  (recorded and raised after the refreshes)
                _failed(failures, app, first, exc)
                break
            if not result.finished:
                left_over.extend((app, later) for later in sorted(by_month) if later >= first)
                break
            _clean_months(client, settings.table, app, first, read)
            crash("month_after_clean")
    return left_over


def _rebuild_day(
    lake: Lake,
    client: Any,
    settings: Settings,
    source: S3Days,
    app: str,
    day: date,
    crash: Callable[[str], None],
    rows_per_slice: int,
) -> None:
    """Steps 4 and 5 for one day."""
    # The slices and the built tables go to local disk (Lambda: /tmp, EphemeralStorage in
    # deploy/resources.yaml), removed when this day is done or fails (chalicelib/lake/spill.py).
    with spill.workdir() as folder:
        files = rollup.rebuild_day_files(source, app, day, folder, rows_per_slice)
        for name in WRITE_ORDER:
            key = layout.partition_prefix(settings.lake_prefix, name, app, day.isoformat()) + rollup.FILE_NAME
            lake.put_bytes(key, files[name].read_bytes())  # one table's file in memory at a time
            crash("rollup_after_write")
    _clean(client, settings.table, app, day)
    crash("rollup_after_clean")
