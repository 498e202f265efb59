"""Erasure (right to be forgotten) across the store and the lake, and the subject's data export.

``erase`` holds the export lease for its whole duration, so no export can run meanwhile and
bring deleted rows back: it renews the lease after the store, after every file it reads and
every rollup day it rebuilds, and stops (``ErasureLeaseLost``, transient: run it again) if
another run took it. A pending export run (and a compaction left half done) is finished first, then:

1. every raw item in DynamoDB that belongs to the subject (exported or not, events and
   rejected events) is deleted;
2. every lake file of the app that holds a subject row is rewritten without those rows, to
   a name derived from (input, request), then the input is deleted.

A crash anywhere, then a rerun: step 1 finds nothing left or the rest; step 2 finds the input
files that still hold subject rows (a crash after writing an output but before deleting its
input is repaired by rewriting the same output again and deleting the input). No other row is
lost: outputs are written before inputs are deleted. Events for the subject that arrive after
the erasure are kept (they are not deleted retroactively).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from datetime import date
from typing import Any, Callable, Iterator, Literal

import orjson
import pyarrow as pa
import pyarrow.compute as pc
from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import clients
from chalicelib.errors import TransientError
from chalicelib.export import rollups
from chalicelib.export.run import Exporter
from chalicelib.export.session import Session
from chalicelib.export.state import LeaseLost
from chalicelib.lake import layout
from chalicelib.lake.parquetio import Lake
from chalicelib.lake.rows import decode_row
from chalicelib.settings import Settings
from chalicelib.store import keys, retry
from chalicelib.store.events import delete_keys
from clickstream.admin.ledger import Ledger, LedgerEntry, now_ms

log = logging.getLogger(__name__)

Kind = Literal["user_id", "anonymous_id"]


@dataclass(frozen=True)
class Subject:
    app_id: str
    kind: Kind
    value: str

    def matches_event(self, row: dict[str, Any]) -> bool:
        return row.get("app_id") == self.app_id and row.get(self.kind) == self.value

    def matches_rejected(self, row: dict[str, Any]) -> bool:
        if row.get("app_id") != self.app_id or self.value not in (row.get("raw") or ""):
            return False
        try:
            raw = json.loads(row["raw"])
        except (TypeError, ValueError):
            return False  # truncated raw text: match on the whole JSON only
        events = raw.get("events", [raw]) if isinstance(raw, dict) else raw if isinstance(raw, list) else []
        return any(isinstance(e, dict) and e.get(self.kind) == self.value for e in events) or (
            isinstance(raw, dict) and raw.get(self.kind) == self.value
        )


# -- the store ---------------------------------------------------------------------------
def _scan_items(client: Any, table: str, needle: str, segments: int = 4) -> Iterator[dict[str, Any]]:
    """Raw event/rejected items whose ``d`` contains ``needle`` (exact checks follow)."""
    for segment in range(segments):
        kwargs: dict[str, Any] = {
            "TableName": table,
            "Segment": segment,
            "TotalSegments": segments,
            **keys.stored_rows_scan(needle),
            "ConsistentRead": True,
        }
        while True:
            try:
                page = client.scan(**kwargs)
            except (ClientError, BotoCoreError) as exc:
                raise retry.storage_error(f"scanning {table} for erasure failed: {exc}", exc) from exc
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def erase_store(client: Any, table: str, subject: Subject) -> tuple[int, int]:
    """Delete the subject's raw items. Returns (events, rejected) removed."""
    needle = json.dumps(subject.value)[1:-1]  # the value as it appears inside JSON text
    events, rejected, doomed = 0, 0, []
    for item in _scan_items(client, table, needle):
        dataset = keys.dataset_of(item)
        row = decode_row(item[keys.DATA]["S"], dataset)
        if dataset == "events" and subject.matches_event(row):
            events += 1
        elif dataset == "rejected_events" and subject.matches_rejected(row):
            rejected += 1
        else:
            continue
        doomed.append(keys.key_of(item))
    delete_keys(client, table, doomed)
    return events, rejected


# -- the lake ----------------------------------------------------------------------------
def _mask(dataset: str, table: pa.Table, subject: Subject) -> pa.Array:
    if dataset == "events":
        return pc.fill_null(pc.equal(table.column(subject.kind), subject.value), False)
    rows = table.select(["app_id", "raw"]).to_pylist()
    return pa.array([subject.matches_rejected(r) for r in rows], pa.bool_())


_ERASURE_TAG = re.compile(r"-e[0-9a-f]{10}$")


def _rewritten_key(key: str, request_id: str) -> str:
    """Deterministic per (input, request), so a rerun overwrites instead of copying; a file
    rewritten by an earlier erasure swaps its tag rather than growing its name."""
    tag = hashlib.sha256(f"{key}\x1f{request_id}".encode()).hexdigest()[:10]
    return f"{_ERASURE_TAG.sub('', key.removesuffix('.parquet'))}-e{tag}.parquet"


def erase_lake(session: Session, subject: Subject, request_id: str, crash: Callable[[str], None]) -> tuple[int, int, list[str]]:
    """Rewrite the app's files that hold subject rows. Returns (events, rejected, files rewritten)."""
    lake, prefix = session.lake, session.settings.lake_prefix
    removed = {"events": 0, "rejected_events": 0}
    rewritten: list[str] = []
    for dataset in layout.DATASETS:
        app_prefix = layout.app_prefix(prefix, dataset, subject.app_id)
        for obj in list(lake.list(app_prefix)):
            key = obj["Key"]
            if not key.endswith(".parquet"):
                continue
            table = lake.read_table(key)
            # Renewed after every read, so the writes below start under a lease with its full
            # length ahead (or not at all: an export took over, see _renew).
            _renew(session, f"before rewriting {key}", len(rewritten))
            mask = _mask(dataset, table, subject)
            hits = pc.sum(mask).as_py() or 0
            if not hits:
                continue
            if dataset == "events":
                # Before the rewrite: readers held off the rollups (they hold the subject's ids too)
                # and the day marked, so a crash from here on still rebuilds it (rollups.py). The
                # hold is written again before every file: it is this file's guard, not only the
                # first one's (a refresh that saw the earlier marks may have deleted it).
                rollups.hold(lake, prefix, subject.app_id, f"erasure-{request_id}", rollups.NOTHING_ROLLED)
                day = date.fromisoformat(layout.partition_of(key)[1])
                rollups.mark(session.table, session.settings.table, [(subject.app_id, day)])
            kept = table.filter(pc.invert(mask))
            if kept.num_rows:
                out = _rewritten_key(key, request_id)
                lake.put_table(out, kept)
                crash("erase_after_output")
            lake.delete([key])
            crash("erase_after_delete_input")
            removed[dataset] += hits
            rewritten.append(key)
    return removed["events"], removed["rejected_events"], rewritten


def erase_rollups(session: Session, app_id: str, crash: Callable[[str], None]) -> int:
    """Rebuild the rollups of the days whose events files were rewritten (erase_lake marked them
    before each rewrite; they hold anonymous_id and user_id too), now, under the same lease, and
    let readers back onto them. Returns the days rebuilt.

    The pass rebuilds every app's dirty days. A day of another app that fails (too large for the
    disk, decision 0014) does not make this erasure fail: the subject's rows are gone from its
    app's files and rollups. A failed day or state of the subject's app does: its rollups may
    still hold the rows (readers are held off them), and the erasure must be run again."""
    rebuilt = 0

    def renew_after_each_day(point: str) -> None:
        nonlocal rebuilt
        crash(point)
        if point == "rollup_after_clean":
            rebuilt += 1
            _renew(session, "rebuilding the rollups", rebuilt, "days rebuilt")
        elif point == "month_after_clean":  # the month pass after the days (rollups.py, step 5b)
            _renew(session, "rebuilding the rollup months", rebuilt, "days rebuilt")

    _renew(session, "before rebuilding the rollups", 0, "days rebuilt")
    try:
        return rollups.rebuild_due(session.lake, session.table, session.settings, now_ms(), renew_after_each_day)
    except rollups.DaysNotRebuilt as failed:
        failed.raise_for_app(app_id)  # the subject's app: raise
        log.warning(json.dumps({"msg": "erasure done; other apps' rollup days failed", "error": str(failed)}))
        return rebuilt


class ErasureLeaseLost(TransientError):
    """An erasure ran past its export lease and another run took it: the erasure stopped."""


def _renew(session: Session, where: str, done: int, unit: str = "files rewritten") -> None:
    """Extend the export lease, or stop: an erasure that outlived it (a large app: it reads every
    file) must not write on while an export that took over rebuilds, refreshes and drops holds::

        erasure:  hold, mark X, rewrite X ──── (lease expires) ──── renew ╳ LeaseLost: stop
        export:                      acquire ─ rebuild X ─ refresh (drops the hold) ─ release

    Without the stop, the erasure would rewrite day Y after the refresh, with no hold left while
    the published state covers Y: readers would trust Y's rollups, built from the old rows."""
    try:
        session.renew()
    except LeaseLost as exc:
        raise ErasureLeaseLost(
            f"erasure stopped {where} ({done} {unit}): it outlived the export lease and another run took it; "
            "nothing more was written. Run the erasure again: it rewrites only the files that still hold the subject's rows"
        ) from exc


def erase(
    exporter: Exporter, subject: Subject, actor: str, crash: Callable[[str], None] = lambda p: None, wait_s: float = 900.0
) -> LedgerEntry:
    ledger = Ledger(clients.dynamodb(exporter.settings), exporter.settings.table)
    entry = LedgerEntry(
        ledger.request_id(subject.app_id, subject.kind, subject.value), subject.app_id, subject.kind, actor, now_ms()
    )
    with exporter.exclusive(wait_s=wait_s) as session:
        entry.store_rows_removed, entry.store_rejected_removed = erase_store(session.table, session.settings.table, subject)
        crash("erase_after_store")
        _renew(session, "after the store", 0)
        entry.lake_rows_removed, entry.lake_rejected_removed, entry.files_rewritten = erase_lake(
            session, subject, entry.request_id, crash
        )
        erase_rollups(session, subject.app_id, crash)
    entry.finished_at, entry.status = now_ms(), "done"
    ledger.record(entry)
    return entry


# -- the subject's data export ---------------------------------------------------------
def export_subject(settings: Settings, subject: Subject) -> Iterator[dict[str, Any]]:
    """Everything held about the subject: lake rows, raw items not yet exported, rejected events.

    A read: it takes no lease, so an export running meanwhile may add rows it does not see.
    """
    lake, prefix = Lake(clients.s3(settings), settings.bucket), settings.lake_prefix
    seen: set[str] = set()
    for dataset in layout.DATASETS:
        app_prefix = layout.app_prefix(prefix, dataset, subject.app_id)
        for obj in lake.list(app_prefix):
            if not obj["Key"].endswith(".parquet"):
                continue
            table = lake.read_table(obj["Key"])
            for row in table.filter(_mask(dataset, table, subject)).to_pylist():
                if dataset == "events":
                    seen.add(row["event_id"])
                yield {"source": f"lake/{dataset}", **{k: _plain(v) for k, v in row.items()}}
    needle = json.dumps(subject.value)[1:-1]
    for item in _scan_items(clients.dynamodb(settings), settings.table, needle):
        dataset = keys.dataset_of(item)
        row = decode_row(item[keys.DATA]["S"], dataset)
        if dataset == "events" and subject.matches_event(row) and row["event_id"] not in seen:
            yield {"source": "store/events (not yet exported)", **row}
        elif dataset == "rejected_events" and subject.matches_rejected(row):
            yield {"source": "store/rejected_events", **row}


def _plain(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def dumps(record: dict[str, Any]) -> str:
    return orjson.dumps(record, default=str).decode()
