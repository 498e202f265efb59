"""The export against the local DynamoDB and S3: what a run writes, and how it reads back."""

from __future__ import annotations

import io
from collections import Counter
from datetime import datetime, timezone

import duckdb
import pyarrow.parquet as pq
import pytest

from chalicelib import clients
from chalicelib.export import plan
from chalicelib.export.run import Exporter, Tuning
from chalicelib.lake.codecs import LAKE_CODEC
from chalicelib.lake.schema import EVENTS
from chalicelib.store import keys
from tests.lake_helpers import event, lake_files, read_lake, store

DAY = 86_400_000
NOW = int(datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc).timestamp() * 1000)


def exporter(settings, now_ms, **kw):
    return Exporter(
        settings.with_(settle_seconds=30), clients.dynamodb(settings), clients.s3(settings), clock=lambda: now_ms / 1000, **kw
    )


def test_a_run_exports_every_settled_event_once_into_hive_partitions(settings):
    # GIVEN events of two apps, one of them late (event time two days before it was received)
    store(settings, [event("e1", NOW - 60_000), event("e2", NOW - 50_000)], received_ms=NOW - 40_000, app_id="app-a")
    store(settings, [event("late", NOW - 2 * DAY)], received_ms=NOW - 35_000, app_id="app-b")
    # AND one event received inside the settle delay
    store(settings, [event("fresh", NOW - 1000)], received_ms=NOW - 1000, app_id="app-a")

    # WHEN the export runs
    report = exporter(settings, NOW).run_once()

    # THEN the settled events are in the lake, each once, in their app/day partitions
    assert report.status == "exported" and report.events == 3
    files = lake_files(settings)
    assert [f.split("/events/")[1].rsplit("/", 1)[0] for f in files] == [
        "app_id=app-a/dt=2026-11-20",
        "app_id=app-b/dt=2026-11-18",
    ]
    lake = read_lake(settings)
    assert sorted(lake.column("event_id").to_pylist()) == ["e1", "e2", "late"]
    # AND the fresh one follows on the next run, once the settle delay has passed
    report = exporter(settings, NOW + 60_000).run_once()
    assert report.events == 1
    assert Counter(read_lake(settings).column("event_id").to_pylist()) == Counter({"e1": 1, "e2": 1, "late": 1, "fresh": 1})


def test_the_files_carry_the_explicit_schema_and_every_enriched_value(settings):
    store(
        settings,
        [
            event(
                "e1",
                NOW - 60_000,
                sent_at=NOW - 59_000,
                user_id="u-9",
                context={
                    "locale": "de-DE",
                    "screen": {"width": 390, "height": 844},
                    "geo": {"lat": 52.5, "lon": 13.4, "accuracy": 20},
                },
            )
        ],
        received_ms=NOW - 40_000,
    )
    exporter(settings, NOW).run_once()
    (key,) = lake_files(settings)
    body = clients.s3(settings).get_object(Bucket=settings.bucket, Key=key)["Body"].read()
    table = pq.read_table(io.BytesIO(body))
    assert table.schema.equals(EVENTS)
    assert pq.ParquetFile(io.BytesIO(body)).metadata.row_group(0).column(0).compression == LAKE_CODEC.upper()
    row = table.to_pylist()[0]
    assert row["event_time"] == datetime.fromtimestamp((NOW - 40_000 - 1000) / 1000, tz=timezone.utc)  # skew-corrected
    assert row["client_timestamp"] == datetime.fromtimestamp((NOW - 60_000) / 1000, tz=timezone.utc)
    assert row["received_at"] == datetime.fromtimestamp((NOW - 40_000) / 1000, tz=timezone.utc)
    assert (row["ip"], row["country"], row["browser"], row["os"], row["device_type"]) == (
        "81.2.69.0",
        "DE",
        "Chrome",
        "Windows",
        "desktop",
    )
    assert (row["utm_source"], row["utm_campaign"], row["path"], row["user_id"]) == ("news", "spring", "/wood", "u-9")
    assert (row["screen_width"], row["geo_lat"], row["locale"]) == (390, 52.5, "de-DE")
    assert row["properties"] == '{"item_index":"3"}'


def test_duckdb_reads_the_lake_with_hive_partitions(settings, tmp_path):
    store(settings, [event(f"e{i}", NOW - 60_000) for i in range(5)], received_ms=NOW - 40_000, app_id="app-a")
    exporter(settings, NOW).run_once()
    (key,) = lake_files(settings)
    local = tmp_path / key
    local.parent.mkdir(parents=True)
    local.write_bytes(clients.s3(settings).get_object(Bucket=settings.bucket, Key=key)["Body"].read())
    rows = duckdb.sql(
        f"select app_id, dt, count(*) n, min(event_name) from read_parquet('{tmp_path}/**/*.parquet', hive_partitioning=true) "
        f"group by all"
    ).fetchall()
    assert rows == [("app-a", "2026-11-20", 5, "LIKE_WOOD")] or rows == [("app-a", datetime(2026, 11, 20).date(), 5, "LIKE_WOOD")]


def test_rejected_events_reach_their_own_dataset(settings):
    store(
        settings,
        [event("ok", NOW - 60_000), {"event_id": "bad", "event_type": "nope", "timestamp": NOW}],
        received_ms=NOW - 40_000,
    )
    report = exporter(settings, NOW).run_once()
    assert (report.events, report.rejected) == (1, 1)
    rejected = read_lake(settings, "rejected_events").to_pylist()
    assert len(rejected) == 1
    assert rejected[0]["reason"] == "invalid" and rejected[0]["error"].startswith("event_type:")
    assert '"bad"' in rejected[0]["raw"] and rejected[0]["dt"] == "2026-11-20"


def test_an_idle_run_writes_nothing_and_reports_lag(settings):
    report = exporter(settings, NOW).run_once()
    assert report.status == "exported" and report.events == 0 and lake_files(settings) == []
    assert report.lag_s == pytest.approx(30.0)


def test_a_backlog_within_budget_is_planned_from_its_own_read_and_read_once(settings):
    # GIVEN a first run (an 8-day window, longer than a normal cadence) over a few events
    store(settings, [event(f"b{n}", NOW - DAY - n) for n in range(5)], received_ms=NOW - DAY, app_id="app-a")
    ex = exporter(settings, NOW)
    calls = Counter()
    count_many, read = ex.reader.count_many, ex.reader.read
    ex.reader.count_many = lambda *a, **k: calls.update(["count"]) or count_many(*a, **k)  # type: ignore[method-assign]
    ex.reader.read = lambda r, *a, **k: calls.update([r]) or read(r, *a, **k)  # type: ignore[method-assign]
    ranges = plan.key_ranges("events", plan.Window(NOW - 8 * DAY, NOW - 30_000), settings.write_shards)

    # WHEN it runs THEN no COUNT pass: every events key range is read once (plus the rejected ones)
    report = ex.run_once()
    assert report.status == "exported" and report.events == 5 and report.groups == 1
    assert calls.pop("count", 0) == 0 and set(ranges) <= set(calls) and len(calls) == 2 * len(ranges)
    assert set(calls.values()) == {1}
    assert sorted(read_lake(settings).column("event_id").to_pylist()) == [f"b{n}" for n in range(5)]


def test_a_backlog_over_budget_keeps_the_shards_its_read_finished_and_counts_only_the_rest(settings):
    # GIVEN 4 shards: shard 0 holds 3 events, the others 9 between them; a budget of 4 events
    settings = settings.with_(write_shards=4)
    ids = [f"k{n}" for n in range(200)]
    first = [i for i in ids if keys.shard_of(i, 4) == 0][:3]
    others = [i for i in ids if keys.shard_of(i, 4) != 0][:9]
    store(settings, [event(i, NOW - DAY) for i in first + others], received_ms=NOW - DAY, app_id="app-a")
    ex = exporter(settings, NOW, tuning=Tuning(budget=4))
    reads, counted, begun = Counter(), Counter(), []
    count_many, read, begin = ex.reader.count_many, ex.reader.read, ex.state.begin
    ex.reader.count_many = lambda rs, *a, **k: counted.update(rs) or count_many(rs, *a, **k)  # type: ignore[method-assign]
    ex.reader.read = lambda r, *a, **k: reads.update([r]) or read(r, *a, **k)  # type: ignore[method-assign]
    ex.state.begin = lambda owner, pending: begun.append(pending) or begin(owner, pending)  # type: ignore[method-assign]

    # WHEN it runs
    report = ex.run_once()

    # THEN shard 0, read to its end within the budget, is group 0 and exported as read: its
    # ranges are read once and never counted; only ranges of the other shards are counted
    assert report.status == "exported" and report.events == 12 and report.groups > 1
    assert begun[0].groups[0] == [0]
    shard_0 = plan.key_ranges("events", plan.Window(begun[0].lo_ms, begun[0].hi_ms), 4, [0])
    assert all(reads[r] == 1 for r in shard_0) and not set(shard_0) & set(counted)
    assert counted and all(keys.shard_of_partition(r.pk) != 0 for r in counted)
    assert Counter(read_lake(settings).column("event_id").to_pylist()) == Counter({i: 1 for i in first + others})


def test_a_backlog_over_budget_stops_reading_and_counts_instead(settings):
    store(settings, [event(f"o{n}", NOW - DAY - n) for n in range(6)], received_ms=NOW - DAY, app_id="app-a")
    store(settings, [event(f"p{n}", NOW - DAY - n) for n in range(6)], received_ms=NOW - DAY + 1, app_id="app-b")
    ex = exporter(settings, NOW, tuning=Tuning(budget=4))
    counted = []
    count_many = ex.reader.count_many
    ex.reader.count_many = lambda ranges, *a, **k: counted.append(1) or count_many(ranges, *a, **k)  # type: ignore[method-assign]
    report = ex.run_once()
    assert counted and report.groups > 1 and report.events == 12
    assert Counter(read_lake(settings).column("event_id").to_pylist()) == Counter({f"{p}{n}": 1 for p in "op" for n in range(6)})
