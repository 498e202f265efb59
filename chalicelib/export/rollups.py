"""Housekeeping step: keep the rollup tables (chalicelib/lake/rollup.py) equal to the events.

Which days: every events partition a run wrote (compaction's dirty set), every partition an
erasure rewrote and the first day a retention run kept change the rollups of that day, the day
before and the day after (``rollup.affected_days``). Those days go into a set item in DynamoDB
and leave it only after their three files are written, once the day after them is closed
(``rollup.rollable``). Each file has a fixed name, so a rebuild overwrites; one PUT is atomic.

A crash at any point is safe::

    1. ADD days to the dirty set          <- crash: the next run adds them again (a set: no change)
    2. PUT visitor days, page days, then sessions (fixed keys)
                                          <- crash: the day is still dirty; the next run writes
                                             the same files again from the same events
    3. DELETE the day from the dirty set  <- crash before: as above; after: done

Readers take a day as rolled up when its rollup_sessions file exists (written last), and read
raw events for the first day that is not, and after it.
"""

from __future__ import annotations

import io
from datetime import date, datetime, timezone
from typing import Any, Callable, Iterable, Iterator, Sequence

import pyarrow as pa
import pyarrow.parquet as pq
from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.errors import StorageUnavailable
from chalicelib.lake import layout, rollup
from chalicelib.lake.parquetio import Lake
from chalicelib.settings import Settings
from chalicelib.store import keys

# The sessions file last: its presence marks the day rolled up for readers.
WRITE_ORDER = (
    "rollup_visitor_days",
    "rollup_page_days",
    "rollup_event_days",
    "rollup_geo_days",
    "rollup_funnel_days",
    "rollup_last_events",
    "rollup_session_totals",
    "rollup_sessions",
)
BATCH_ROWS = 100_000
# Parquet bytes per event in the lake (bench: 28-35); an estimate of a day's rows from a LIST,
# so slicing needs no extra GETs. An underestimate only makes slices larger.
BYTES_PER_ROW = 25


def _ddb(call: Callable[..., Any], **kwargs: Any) -> Any:
    try:
        return call(**kwargs)
    except (ClientError, BotoCoreError) as exc:
        raise StorageUnavailable(f"rollup state: {exc}") from exc


def mark(client: Any, table: str, days: Iterable[tuple[str, date]], neighbours: bool = True) -> None:
    """Add (app, day) and, by default, its neighbours (``rollup.affected_days``) to the dirty set."""
    entries = sorted(
        {f"{app}/{d.isoformat()}" for app, day in days for d in (rollup.affected_days([day]) if neighbours else [day])}
    )
    if entries:
        _ddb(
            client.update_item,
            TableName=table,
            Key=keys.ROLLUP_DIRTY_KEY,
            UpdateExpression="ADD days :d",
            ExpressionAttributeValues={":d": {"SS": entries}},
        )


def dirty(client: Any, table: str) -> list[tuple[str, date]]:
    item = _ddb(client.get_item, TableName=table, Key=keys.ROLLUP_DIRTY_KEY, ConsistentRead=True).get("Item", {})
    out = []
    for entry in item.get("days", {}).get("SS", []):
        app, day = entry.rsplit("/", 1)
        out.append((app, date.fromisoformat(day)))
    return sorted(out)


def _clean(client: Any, table: str, app: str, day: date) -> None:
    _ddb(
        client.update_item,
        TableName=table,
        Key=keys.ROLLUP_DIRTY_KEY,
        UpdateExpression="DELETE days :d",
        ExpressionAttributeValues={":d": {"SS": [f"{app}/{day.isoformat()}"]}},
    )


def note_exported(client: Any, table: str, partitions: Iterable[str]) -> None:
    """Mark the days of the events partitions ("events/<app>/<dt>") a run wrote."""
    days = []
    for partition in partitions:
        dataset, app, dt = partition.split("/")
        if dataset == "events":
            days.append((app, date.fromisoformat(dt)))
    mark(client, table, days)


class S3Days:
    """rollup.DaySource over the lake on S3: one object in memory at a time, decoded by batches."""

    def __init__(self, lake: Lake, prefix: str) -> None:
        self.lake = lake
        self.prefix = prefix
        self.requests = 0  # LIST and GET requests, for the cost figures

    def _objects(self, app_id: str, day: date) -> list[dict[str, Any]]:
        self.requests += 1
        part = layout.partition_prefix(self.prefix, "events", app_id, day.isoformat())
        return [o for o in self.lake.list(part) if o["Key"].endswith(".parquet")]

    def count(self, app_id: str, day: date) -> int:
        return sum(int(o.get("Size", 0)) for o in self._objects(app_id, day)) // BYTES_PER_ROW

    def batches(self, app_id: str, day: date, columns: Sequence[str]) -> Iterator[pa.RecordBatch]:
        for obj in self._objects(app_id, day):
            self.requests += 1
            body = self.lake.read_bytes(obj["Key"])
            parquet = pq.ParquetFile(io.BytesIO(body))
            have = [c for c in columns if c in parquet.schema_arrow.names]
            for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=have):
                missing = [c for c in columns if c not in have]
                if missing:  # an older file without a newer column: nulls, as Athena reads it
                    table = pa.Table.from_batches([batch])
                    for c in missing:
                        table = table.append_column(c, pa.nulls(batch.num_rows, pa.string()))
                    batch = table.select(list(columns)).to_batches()[0] if table.num_rows else batch
                yield batch


def rebuild_due(
    lake: Lake, client: Any, settings: Settings, now_ms: int, crash: Callable[[str], None], rows_per_slice: int = 2_000_000
) -> int:
    """Rebuild every dirty day that is rollable now. Returns how many days were written."""
    today = datetime.fromtimestamp(now_ms / 1000, tz=timezone.utc).date()
    source = S3Days(lake, settings.lake_prefix)
    done = 0
    for app, day in dirty(client, settings.table):
        if not rollup.rollable(day, today):
            continue
        tables = rollup.rebuild_day(source, app, day, rows_per_slice)
        for name in WRITE_ORDER:
            key = layout.partition_prefix(settings.lake_prefix, name, app, day.isoformat()) + rollup.FILE_NAME
            lake.put_table(key, tables[name])
            crash("rollup_after_write")
        _clean(client, settings.table, app, day)
        crash("rollup_after_clean")
        done += 1
    return done
