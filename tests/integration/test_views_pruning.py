"""Partition pruning and the local mirror, on a lake the real export wrote to the local S3.

DuckDB's profile names the files each table scan read after Hive partition pruning; the
billing estimate prices the same pruning from the Athena SQL and the Parquet metadata.
"""

from __future__ import annotations

import itertools
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pytest

from chalicelib import clients
from chalicelib.export.run import Exporter
from chalicelib.lake import month
from chalicelib.lake.parquetio import parquet_bytes
from chalicelib.lake.schema import EVENTS
from chalicelib.lake.transform import conform
from chalicelib.settings import Settings, from_env
from clickstream.admin.tables import ensure_bucket, ensure_table
from clickstream.lake import LocalLake, billing, mirrored_lake, prepare
from clickstream.lake.mirror import Mirror
from tests.lake_helpers import event, store

NOW = int(datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc).timestamp() * 1000)
DAY = 86_400_000
DAYS = [(datetime(2026, 11, 20, tzinfo=timezone.utc) - timedelta(days=k)).strftime("%Y-%m-%d") for k in range(5, 0, -1)]


def export(settings, now_ms: int) -> None:
    Exporter(
        settings.with_(settle_seconds=30), clients.dynamodb(settings), clients.s3(settings), clock=lambda: now_ms / 1000
    ).run_once()


_ticks = itertools.count(1)


def arrive_and_export(settings, app_id: str, events: list) -> None:
    """Events received after everything so far, then exported: tests may run in any order."""
    received = NOW + next(_ticks) * 120_000
    store(settings, events, received_ms=received, app_id=app_id)
    export(settings, received + 60_000)


@pytest.fixture(scope="module")
def settings(local_stack) -> Settings:
    """One exported lake for the module; tests that change it use apps of their own."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    env = {
        **local_stack.env(),
        "CLICKSTREAM_TABLE": name,
        "CLICKSTREAM_BUCKET": name,
        "CLICKSTREAM_WRITE_SHARDS": "2",
        "CLICKSTREAM_EVENT_TTL_DAYS": "5",
    }
    settings = from_env(env)
    ensure_table(clients.dynamodb(settings), settings.table)
    ensure_bucket(clients.s3(settings), settings.bucket)
    # GIVEN five days of page views for two apps, exported: one file per app and day
    for k, day in enumerate(range(5, 0, -1)):
        at = NOW - day * DAY + 3_600_000 * (k + 1)
        for app in ("app-a", "app-b"):
            store(
                settings,
                [
                    event(f"{app}-{k}-{i}", at + i * 60_000, event_type="page_view", url=f"https://shop.example/p{i % 3}")
                    for i in range(6)
                ],
                received_ms=at + 400_000,
                app_id=app,
            )
    export(settings, NOW)
    return settings


@pytest.fixture
def lake(settings: Settings, tmp_path: Path) -> LocalLake:
    """A fresh local copy: nothing mirrored yet."""
    return mirrored_lake(Mirror(clients.s3(settings), settings.bucket, settings.lake_prefix, tmp_path))


def partitions(files: set[str]) -> set[str]:
    return {f.split("/events/")[1].rsplit("/", 1)[0] for f in files}


def test_a_one_day_query_reads_only_that_days_files(lake):
    day = DAYS[2]
    sql, values = prepare("top_pages", {"app_id": "app-a", "date_from": day, "date_to": day})
    rows, profile = lake.profile(sql, values)
    assert sorted((r["path"], r["page_views"]) for r in rows.to_pylist()) == [("/p0", 2), ("/p1", 2), ("/p2", 2)]
    assert partitions(profile.files) == {f"app_id=app-a/dt={day}"}
    assert len(profile.files) == 1 and len(list(lake.root.glob("events/app_id=app-a/*/*.parquet"))) == 5


def test_a_one_day_session_query_reads_that_day_and_its_neighbours_only(lake):
    day = DAYS[2]
    sql, values = prepare("overview", {"app_id": "app-a", "date_from": day, "date_to": day})
    rows, profile = lake.profile(sql, values)
    assert rows.to_pylist()[0]["page_views"] == 6
    neighbours = {f"app_id=app-a/dt={d}" for d in DAYS[1:4]}
    assert f"app_id=app-a/dt={day}" in partitions(profile.files) <= neighbours


def test_bytes_scanned_as_athena_bills_them(lake):
    lake.sync()
    one = billing.estimate(lake.root, *prepare("top_pages", {"app_id": "app-a", "date_from": DAYS[2], "date_to": DAYS[2]}))
    week = billing.estimate(lake.root, *prepare("top_pages", {"app_id": "app-a", "date_from": DAYS[0], "date_to": DAYS[-1]}))
    assert (one.files, week.files) == (1, 5)
    assert 0 < one.scanned_bytes < week.scanned_bytes
    assert one.billed_bytes == billing.MIN_BILLED  # Athena's 10 MB minimum per query
    # only the columns the query needs: far less than the whole file
    (path,) = lake.root.glob(f"events/app_id=app-a/dt={DAYS[2]}/*.parquet")
    assert one.scanned_bytes < path.stat().st_size / 2


def test_the_mirror_fetches_only_what_changed(settings, lake):
    first = lake.sync()
    assert first is not None and first.downloaded >= 10 and first.deleted == 0
    again = lake.sync()
    assert (again.downloaded, again.deleted, again.kept) == (0, 0, first.downloaded)
    # WHEN events of a new app arrive in two exports, the second late into a closed day
    closed_day = NOW - 3 * DAY + 7_200_000
    arrive_and_export(settings, "app-m", [event(f"m-{i}", closed_day + i, event_type="page_view") for i in range(3)])
    # (the closed day's events file, the rollups the export wrote for it and its neighbours, and
    # the month rows built from them: one part of each dimension)
    downloaded = lake.sync().downloaded
    rollups_ = list(lake.root.glob("rollup_*/app_id=app-m/dt=*/*.parquet"))
    month_rows = list(lake.root.glob("rollup_visitor_months/app_id=app-m/dim=*/month=*/*.parquet"))
    assert len(month_rows) == len(month.DIMENSIONS)
    assert downloaded == 1 + len(rollups_) + len(month_rows)
    arrive_and_export(settings, "app-m", [event("m-late", closed_day + 99, event_type="page_view")])
    # THEN that export compacted the day's two files into one: the copy fetched the merged
    # file (and the rebuilt rollups) and dropped the one it had (the second never reached it)
    report = lake.sync()
    assert report.deleted == 1 and report.downloaded >= 1
    assert [p.name.split("-")[0] for p in lake.root.glob("events/app_id=app-m/*/*.parquet")] == ["compacted"]
    rows = lake.query("SELECT count(*) AS n, count(DISTINCT event_id) AS ids FROM events WHERE app_id = 'app-m'", {})
    assert rows.to_pylist() == [{"n": 4, "ids": 4}]


def test_a_session_query_after_a_change_reads_the_new_files_without_materialising(settings, lake):
    day = DAYS[1]
    lake.query(*prepare("overview", {"app_id": "app-a", "date_from": day, "date_to": day}))
    arrive_and_export(
        settings, "app-s", [event(f"s-{i}", NOW - 4 * DAY + 3_600_000 + i * 60_000, event_type="page_view") for i in range(2)]
    )
    lake.sync()
    (row,) = lake.query(*prepare("overview", {"app_id": "app-s", "date_from": day, "date_to": day})).to_pylist()
    assert (row["sessions"], row["events"], row["avg_session_duration_s"]) == (1, 2, 60.0)
    assert not hasattr(lake, "sessions"), "nothing is materialised on the query side"


def test_files_another_process_fetched_into_the_same_copy_are_read_at_once(settings, tmp_path):
    # GIVEN two processes on one copy (the dashboard and a `clickstream query`) of a lake with
    # no events yet: the first one's events view is an empty relation
    prefix = f"{settings.lake_prefix}-{uuid.uuid4().hex[:8]}"
    mine, theirs = (mirrored_lake(Mirror(clients.s3(settings), settings.bucket, prefix, tmp_path)) for _ in range(2))
    count = "SELECT count(*) AS n FROM events WHERE app_id = :app_id"
    assert mine.query(count, {"app_id": "app-g"}, max_age_s=0).to_pylist() == [{"n": 0}]
    # WHEN the first events file lands and the other process's sync fetches it
    table = conform(
        pa.table(
            {
                "event_id": ["g-1", "g-2"],
                "app_id": ["app-g", "app-g"],
                "event_type": ["page_view", "page_view"],
                "event_time": pa.array([datetime.fromisoformat(f"{DAYS[0]}T10:00:00+00:00")] * 2, pa.timestamp("ms", tz="UTC")),
            }
        ),
        EVENTS,
    )
    key = f"{prefix}/events/app_id=app-g/dt={DAYS[0]}/part-1.parquet"
    clients.s3(settings).put_object(Bucket=settings.bucket, Key=key, Body=parquet_bytes(table))
    assert theirs.sync().downloaded == 1
    # THEN the first one's next query reads it, though its own sync finds nothing left to fetch
    assert mine.query(count, {"app_id": "app-g"}, max_age_s=0).to_pylist() == [{"n": 2}]


def test_an_object_rewritten_in_place_is_fetched_again(settings, lake):
    def put(event_id: str) -> None:
        table = conform(
            pa.table(
                {
                    "event_id": [event_id],
                    "app_id": ["app-w"],
                    "event_type": ["page_view"],
                    "event_time": pa.array([datetime.fromisoformat(f"{DAYS[0]}T10:00:00+00:00")], pa.timestamp("ms", tz="UTC")),
                }
            ),
            EVENTS,
        )
        key = f"{settings.lake_prefix}/events/app_id=app-w/dt={DAYS[0]}/part-1.parquet"
        clients.s3(settings).put_object(Bucket=settings.bucket, Key=key, Body=parquet_bytes(table))

    put("first")
    lake.sync()
    put("second")  # same key, new content, new ETag
    assert lake.sync().downloaded == 1
    assert lake.query("SELECT event_id FROM events WHERE app_id = 'app-w'", {}).to_pylist() == [{"event_id": "second"}]


def test_a_file_rewritten_in_the_second_duckdb_read_it_is_read_anew(settings, lake):
    # GIVEN a copy whose clock stands still, so that every write below is in one whole second:
    # DuckDB keeps the footers (mirrored_lake) and trusts one while the file's device, inode, size
    # and modification second are the same; a deleted file's inode number can be reused by the
    # next file created, so only a later second tells a file put back at its path from it
    second = int(time.time()) - 60
    lake.mirror.clock = lambda: second + 0.25
    key = f"{settings.lake_prefix}/events/app_id=app-f/dt={DAYS[0]}/part-1.parquet"
    local = lake.root / "events" / "app_id=app-f" / f"dt={DAYS[0]}" / "part-1.parquet"
    count = "SELECT count(*) AS n, min(event_id) AS first FROM events WHERE app_id = 'app-f'"

    def put(*ids: str) -> None:
        at = datetime.fromisoformat(f"{DAYS[0]}T10:00:00+00:00")
        columns = {"event_id": list(ids), "app_id": ["app-f"] * len(ids), "event_type": ["page_view"] * len(ids)}
        table = conform(pa.table({**columns, "event_time": pa.array([at] * len(ids), pa.timestamp("ms", tz="UTC"))}), EVENTS)
        clients.s3(settings).put_object(Bucket=settings.bucket, Key=key, Body=parquet_bytes(table))

    put("f-1")
    lake.sync()
    assert lake.query(count, {}, max_age_s=60).to_pylist() == [{"n": 1, "first": "f-1"}]  # its footer is kept now
    # WHEN the export rewrites the file (three rows: another footer) and the copy fetches it in
    # that same second of its clock
    put("f-2", "f-3", "f-4")
    lake.sync()
    # THEN the new file is in a later whole second, so DuckDB reads its footer, not the kept one
    assert int(local.stat().st_mtime) == second + 1
    assert lake.query(count, {}, max_age_s=60).to_pylist() == [{"n": 3, "first": "f-2"}]
    # AND a file deleted and put back at the same path is later still than the deleted one
    clients.s3(settings).delete_object(Bucket=settings.bucket, Key=key)
    assert lake.sync().deleted == 1
    assert lake.query(count, {}, max_age_s=60).to_pylist() == [{"n": 0, "first": None}]
    put("f-5", "f-6")
    lake.sync()
    assert int(local.stat().st_mtime) == second + 2
    assert lake.query(count, {}, max_age_s=60).to_pylist() == [{"n": 2, "first": "f-5"}]
