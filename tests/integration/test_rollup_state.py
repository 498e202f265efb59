"""Readers never read a stale rollup: the published rollup_state against the local servers.

A lake whose closed days the export rolled up, then changes to those days (an erasure, late
events) stopped half-way by a hard kill: the dashboard's SQL (DuckDB over the S3 mirror) and
the Athena path (the value bound for :rolled_through) must give what raw events give, at every
point, and the rollups again once housekeeping has rebuilt the days.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import pandas as pd
import pyarrow.compute as pc
import pytest
from click.testing import CliRunner

from chalicelib import clients
from chalicelib.export import rollups
from chalicelib.export.run import Exporter
from chalicelib.lake import layout, rollup, visitor_key
from chalicelib.lake.parquetio import Lake, parquet_bytes
from chalicelib.settings import Settings
from chalicelib.store import keys
from chalicelib.store.apps import AppStore
from clickstream.admin.backfill import backfill
from clickstream.admin.erasure import ErasureLeaseLost, Subject, erase
from clickstream.admin.rollup_backfill import mark_existing
from clickstream.cli import main
from clickstream.lake import LocalLake, catalog, directory_lake, local_lake, query_names, run_query, translate
from clickstream.lake.params import NOTHING_ROLLED
from tests.factories import ABSENT
from tests.lake_helpers import cli_env, event, lake_files, read_lake, rollup_exporter, store

APP = "shop"
NOW = int(time.time() * 1000)
TODAY = datetime.fromtimestamp(NOW / 1000, tz=timezone.utc).date()
DAY = 86_400_000


class HardKill(BaseException):
    """The process dies mid-step."""


def at(days_ago: int, hour: float) -> int:
    start = datetime(TODAY.year, TODAY.month, TODAY.day, tzinfo=timezone.utc) - timedelta(days=days_ago)
    return int(start.timestamp() * 1000 + hour * 3_600_000)


def dies_at(point: str) -> Callable[[str], None]:
    """A crash hook: the process dies when it reaches ``point``."""

    def crash(reached: str) -> None:
        if reached == point:
            raise HardKill

    return crash


def exporter(settings: Settings, now_ms: int = NOW, crash: Callable[[str], None] = lambda _: None) -> Exporter:
    return rollup_exporter(settings, now_ms, crash)


def visit(who: str, user: str | None, start_ms: int, paths: list[str], gap_min: float = 5) -> list[dict[str, Any]]:
    return [
        event(
            None,
            start_ms + int(i * gap_min * 60_000),
            event_type="page_view",
            anonymous_id=who,
            user_id=user if user is not None else ABSENT,
            url=f"https://shop.example.com{path}",
        )
        for i, path in enumerate(paths)
    ]


def history(settings: Settings) -> None:
    """Four closed days; Alice's visits on two of them, one across midnight."""
    events = (
        visit("anon-a", "u-alice", at(5, 10), ["/", "/pricing", "/signup"])
        + visit("anon-a", "u-alice", at(4, 23.9), ["/", "/docs", "/pricing"], gap_min=6)
        + visit("anon-b", None, at(5, 11), ["/", "/docs"])
        + visit("anon-b", None, at(3, 9), ["/pricing"])
        + visit("anon-c", "u-carol", at(2, 14), ["/", "/pricing", "/signup", "/welcome"])
        + visit("anon-c", "u-carol", at(4, 8), ["/blog"])
    )
    store(settings, events, received_ms=NOW - 120_000, app_id=APP)


def prepare_names(name: str) -> set[str]:
    from clickstream.lake import catalog, translate

    return set(translate.parameter_names(catalog.resolve(name)[0]))


def panels(lake: LocalLake, settings: Settings, rolled_through: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """Every panel query whose SQL switches on :rolled_through, as the dashboard runs it (the
    engine fills the value in) or, given ``rolled_through``, with that value bound."""
    out = {}
    for name in query_names():
        names = prepare_names(name)
        if "rolled_through" not in names:
            continue
        given: dict[str, Any] = {
            "app_id": APP,
            "date_from": (TODAY - timedelta(days=6)).isoformat(),
            "date_to": TODAY.isoformat(),
        }
        if "steps" in names:
            given["steps"] = "/,/pricing"
        if rolled_through is not None:
            given["rolled_through"] = rolled_through
        out[name] = run_query(name, given, settings=settings, lake=lake, max_age_s=0).to_pylist()
    assert len(out) >= 10
    return out


@pytest.fixture
def rolled(settings: Settings, tmp_path: Path) -> tuple[Settings, LocalLake]:
    history(settings)
    report = exporter(settings).run_once()
    assert report.status == "exported" and report.rolled_up_days >= 4, report
    lake = local_lake(settings, tmp_path / "cache")
    lake.sync(0)
    assert lake.rolled_through(APP) == (TODAY - timedelta(days=2)).isoformat()
    return settings, lake


def s3_lake(settings: Settings) -> Lake:
    return Lake(clients.s3(settings), settings.bucket)


def test_an_erasure_stopped_half_way_never_leaves_a_stale_rollup_readable(rolled):
    settings, lake = rolled
    before = panels(lake, settings)
    assert before == panels(lake, settings, NOTHING_ROLLED), "rolled up and raw agree to begin with"

    # WHEN Alice's erasure dies after rewriting her first events file
    with pytest.raises(HardKill):
        erase(exporter(settings), Subject(APP, "user_id", "u-alice"), "test", crash=dies_at("erase_after_delete_input"), wait_s=5)

    # THEN the rollup files are the old ones (the mirror's listing alone would have trusted them) ...
    lake.sync(0)
    held = panels(lake, settings)
    stale = panels(lake, settings, (TODAY - timedelta(days=2)).isoformat())
    assert held != stale, "the rollups are stale now: reading them would show the erased visits"
    # ... but the published state holds readers off them: the page is what raw events say
    assert lake.rolled_through(APP) == NOTHING_ROLLED
    assert held == panels(lake, settings, NOTHING_ROLLED)
    assert held != before

    # WHEN the erasure is run again to the end
    erase(exporter(settings), Subject(APP, "user_id", "u-alice"), "test", wait_s=5)

    # THEN the days are rebuilt, the rollups readable again, and they agree with raw events
    lake.sync(0)
    assert lake.rolled_through(APP) == (TODAY - timedelta(days=2)).isoformat()
    after = panels(lake, settings)
    assert after == panels(lake, settings, NOTHING_ROLLED)
    assert after != before
    for key in lake_files(settings, "rollup_sessions"):
        assert "anon-a" not in s3_lake(settings).read_table(key).column("anonymous_id").to_pylist(), key
    for key in lake_files(settings, "rollup_sessions") + lake_files(settings, "rollup_visitor_days"):
        assert visitor_key.key("anon-a") not in s3_lake(settings).read_table(key).column("visitor_key").to_pylist(), key
    assert not [k for k in lake_files(settings, rollups.STATE_TABLE) if "/hold-" in k], "the hold is gone"


def test_an_erasure_after_a_compaction_killed_half_way_finishes_it_first_and_doubles_no_row(rolled):
    """A compaction killed after writing its output, before deleting its inputs, leaves both in
    the partition. ``Exporter.exclusive`` completes it (``compact.resume``) before the erasure
    reads the day: each row is rewritten once, and later runs find no intent left to trip on."""
    settings, lake = rolled
    day = TODAY - timedelta(days=5)
    # GIVEN late events of Alice for a closed, rolled-up day: a second file in its partition, and
    # the run's compaction of that partition dies after writing its output, before deleting inputs
    store(settings, visit("anon-a", "u-alice", at(5, 15), ["/late"]), received_ms=NOW + 30_000, app_id=APP)
    with pytest.raises(HardKill):
        exporter(settings, NOW + 60_000, crash=dies_at("compact_after_output")).run_once()
    time.sleep(2.1)  # the killed run's lease expires

    # WHEN Alice (who has events on that day) is erased
    erase(exporter(settings, NOW + 120_000), Subject(APP, "user_id", "u-alice"), "test", wait_s=5)

    # THEN the day holds each remaining event once (anon-b's two rows), the next exports run ...
    events = read_lake(settings)
    on_day = events.filter(pc.equal(events["dt"], day.isoformat()))
    statuses = [exporter(settings, NOW + k * 60_000).run_once().status for k in (3, 4)]
    assert (sorted(on_day.column("anonymous_id").to_pylist()), statuses) == (["anon-b"] * 2, ["exported", "exported"])
    # ... and the page is what raw events say
    lake.sync(0)
    assert panels(lake, settings) == panels(lake, settings, NOTHING_ROLLED)


def test_a_compaction_intent_whose_output_and_inputs_are_all_gone_is_dropped_not_fatal(rolled):
    """An intent whose output and inputs are all gone (the output was written, the inputs deleted,
    then the rows moved or removed under the lease) has nothing to merge: writing anything would
    bring rows back. ``resume`` drops it; it must not stop every later run (nothing more would be
    exported until DynamoDB's TTL removed the items)."""
    settings, _ = rolled
    partition = layout.partition_prefix(settings.lake_prefix, "events", APP, (TODAY - timedelta(days=5)).isoformat())
    intent = keys.compaction_intent_key(partition)
    ddb = clients.dynamodb(settings)
    ddb.put_item(
        TableName=settings.table,
        Item={
            **intent,
            "inputs": {"S": json.dumps([partition + "part-gone-1.parquet", partition + "part-gone-2.parquet"])},
            "output": {"S": partition + "compacted-0123456789abcdef.parquet"},
        },
    )
    before = sorted(read_lake(settings).column("event_id").to_pylist())
    store(settings, visit("anon-d", None, at(0, 0), ["/"]), received_ms=NOW + 30_000, app_id=APP)

    assert exporter(settings, NOW + 60_000).run_once().status == "exported"
    assert "Item" not in ddb.get_item(TableName=settings.table, Key=intent, ConsistentRead=True)
    assert not [k for k in lake_files(settings) if "compacted-0123456789abcdef" in k]
    assert len(read_lake(settings)) == len(before) + 1


def test_an_erasure_that_outlives_its_lease_stops_and_never_leaves_a_stale_rollup_readable(rolled):
    """An erasure reads every events file of the app: a large app's outlives the lease unless it
    is renewed. When an export takes over anyway (one step longer than the lease), rebuilds the
    days marked so far and its refresh deletes the erasure's hold, the erasure must not write on
    (later days would be rewritten with no hold while the state covers them): it stops with a
    transient error, and its rerun finishes with readers never on a stale rollup."""
    settings, lake = rolled
    agrees: list[bool] = []
    rewritten = 0

    def meanwhile(point: str) -> None:
        nonlocal rewritten
        if point != "erase_after_delete_input":
            return
        rewritten += 1
        if rewritten == 1:
            # the erasure has run past its lease (2 s in these tests; the clock says 60 s later):
            # the scheduled export takes the lease and runs its housekeeping
            assert exporter(settings, NOW + 180_000).run_once().status in ("exported", "idle")
        # after each file: what a reader sees now
        lake.sync(0)
        agrees.append(panels(lake, settings) == panels(lake, settings, NOTHING_ROLLED))

    # WHEN Alice's erasure loses its lease after her first file
    with pytest.raises(ErasureLeaseLost, match="outlived the export lease"):
        erase(exporter(settings, NOW + 120_000), Subject(APP, "user_id", "u-alice"), "test", crash=meanwhile, wait_s=5)
    # THEN it wrote nothing more, and the page is what raw events say
    assert rewritten == 1
    # WHEN it is run again
    erase(exporter(settings, NOW + 240_000), Subject(APP, "user_id", "u-alice"), "test", crash=meanwhile, wait_s=5)
    # THEN it rewrote Alice's other files; at every point a reader's page was what raw events say
    assert rewritten >= 2, "Alice has events in more than one file"
    assert all(agrees), agrees
    assert "u-alice" not in read_lake(settings).column("user_id").to_pylist()
    lake.sync(0)
    assert lake.rolled_through(APP) == (TODAY - timedelta(days=2)).isoformat()
    assert panels(lake, settings) == panels(lake, settings, NOTHING_ROLLED)


def test_late_events_hold_readers_off_the_days_they_change_until_rebuilt(rolled):
    settings, lake = rolled
    # GIVEN late events for a rolled-up day (Bob back on the day before yesterday, 23:55-00:05)
    store(settings, visit("anon-b", None, at(3, 23.95), ["/", "/docs", "/pricing"]), received_ms=NOW + 30_000, app_id=APP)

    # WHEN the run that exports them dies after its commit, before housekeeping
    with pytest.raises(HardKill):
        exporter(settings, NOW + 60_000, crash=dies_at("after_commit")).run_once()

    # THEN readers are held below the day before the late day, and agree with raw events
    lake.sync(0)
    assert lake.rolled_through(APP) <= (TODAY - timedelta(days=5)).isoformat()
    held = panels(lake, settings)
    assert held == panels(lake, settings, NOTHING_ROLLED)
    assert held != panels(lake, settings, (TODAY - timedelta(days=2)).isoformat()), "the late rows change rolled-up days"

    # WHEN the next run's housekeeping rebuilds the days
    time.sleep(2.1)  # the killed run's lease expires
    assert exporter(settings, NOW + 120_000).run_once().status in ("exported", "idle")

    # THEN the rollups are readable again and equal to raw events
    lake.sync(0)
    assert lake.rolled_through(APP) == (TODAY - timedelta(days=2)).isoformat()
    assert panels(lake, settings) == held


def test_a_backfill_holds_readers_off_the_days_it_merges_into_until_rebuilt(rolled):
    settings, lake = rolled
    before = panels(lake, settings)
    # GIVEN a rolled-up day whose events file was lost (the rollups still say what it held)
    lost = [k for k in lake_files(settings, "events") if f"/dt={TODAY - timedelta(days=4)}/" in k]
    s3_lake(settings).delete(lost)

    # WHEN the window is re-exported from the table
    backfill(exporter(settings, NOW + 10_000), NOW - 3_600_000, NOW)

    # THEN until housekeeping rebuilds the days, readers are held below them, raw and rolled agree
    lake.sync(0)
    assert lake.rolled_through(APP) <= (TODAY - timedelta(days=6)).isoformat()
    assert panels(lake, settings) == panels(lake, settings, NOTHING_ROLLED) == before
    exporter(settings, NOW + 20_000).run_once()
    lake.sync(0)
    assert lake.rolled_through(APP) == (TODAY - timedelta(days=2)).isoformat()
    assert panels(lake, settings) == before


def test_the_athena_path_binds_the_published_state(rolled):
    """run_query(engine="athena") reads the app's rollup_state on S3 and binds it as the literal
    Athena prunes by; the caller's own value wins; no state: raw events."""
    settings, _ = rolled
    sent: list[list[str]] = []

    def read_sql(**kwargs: Any) -> pd.DataFrame:
        sent.append(kwargs["params"])
        return pd.DataFrame({"visitors": [1]})

    names = translate.to_qmark(catalog.resolve("overview")[0])[1]  # the order the literals are sent in

    def bound(given: dict[str, Any], name: str = "rolled_through") -> str:
        run_query("overview", given, settings=settings, engine="athena", read_sql=read_sql)
        literals = dict(zip(names, sent[-1], strict=True))
        return literals[name].strip("'")

    given = {"app_id": APP, "date_from": (TODAY - timedelta(days=6)).isoformat(), "date_to": TODAY.isoformat()}
    assert bound(given) == (TODAY - timedelta(days=2)).isoformat()
    assert bound(given, "months_through") == (TODAY - timedelta(days=2)).isoformat()  # the month pass ran too
    assert bound({**given, "rolled_through": "2020-01-02"}) == "2020-01-02"
    rollups.hold(s3_lake(settings), settings.lake_prefix, APP, "test", NOTHING_ROLLED)
    assert bound(given) == NOTHING_ROLLED
    assert bound(given, "months_through") == NOTHING_ROLLED  # a hold holds the month rows too
    assert bound({**given, "app_id": "other"}) == NOTHING_ROLLED


def strip_rollups(settings: Settings) -> None:
    """The lake as the export left it before the rollups existed: events only, no dirty days."""
    s3 = s3_lake(settings)
    s3.delete([k for table in (*rollup.SCHEMAS, rollups.STATE_TABLE) for k in lake_files(settings, table)])
    dynamodb = clients.dynamodb(settings)
    found = dynamodb.query(TableName=settings.table, **keys.partition_query(keys.ROLLUP_PK), ConsistentRead=True)["Items"]
    for item in found:
        dynamodb.delete_item(TableName=settings.table, Key={keys.PK: item[keys.PK], keys.SK: item[keys.SK]})


def test_an_older_lake_is_rolled_up_by_etl_rollup(rolled, tmp_path: Path):
    settings, lake = rolled
    expected = panels(lake, settings)
    strip_rollups(settings)
    lake.sync(0)
    assert lake.rolled_through(APP) is None and panels(lake, settings) == expected  # raw, same answers

    # the next runs alone never build them: nothing marks the old days
    exporter(settings, NOW + 10_000).run_once()
    assert not lake_files(settings, "rollup_sessions")

    # WHEN the operator marks the existing days; THEN the next run's housekeeping builds them
    report = mark_existing(exporter(settings, NOW + 20_000))
    assert report.days == {APP: 4} and report.built == 0
    exporter(settings, NOW + 30_000).run_once()
    lake.sync(0)
    assert lake.rolled_through(APP) == (TODAY - timedelta(days=2)).isoformat()
    assert panels(lake, settings) == expected

    # and `clickstream etl rollup --now` builds them at once
    strip_rollups(settings)
    result = CliRunner().invoke(main, ["etl", "rollup", "--app", APP, "--now"], env=cli_env(settings))
    assert result.exit_code == 0, result.output
    assert f"{APP} 4" in result.output and "built" in result.output
    lake.sync(0)
    assert lake.rolled_through(APP) == (TODAY - timedelta(days=2)).isoformat()
    assert panels(lake, settings) == expected
    assert CliRunner().invoke(main, ["etl", "rollup", "--app", "Not/An/App"], env=cli_env(settings)).exit_code == 2


def test_a_release_that_changes_the_set_of_rollups_rebuilds_every_day_before_readers_trust_it(rolled):
    """A release that adds a rollup table or a spec funnel finds states written for another set:
    the days rolled up before hold nothing for the new one. Readers trust no state but their
    own set's (raw events meanwhile); the first pass marks every day dirty, publishes raw-only,
    and the days come back as they are rebuilt."""
    settings, lake = rolled
    s3 = s3_lake(settings)
    folder = rollups.state_folder(settings.lake_prefix, APP)
    expected = panels(lake, settings)
    # GIVEN the app's state as the previous release wrote it (another tag), and no state of ours
    s3.delete([folder + rollups.STATE_FILE])
    older = str(TODAY - timedelta(days=2))
    s3.put_table(folder + "state-0123456789.parquet", rollups.state_table(older, vouches="0123456789"))
    lake.sync(0)
    assert lake.rolled_through(APP) == NOTHING_ROLLED  # not trusted: raw events
    assert panels(lake, settings) == expected

    # WHEN the new release's export runs: its refresh marks every day before it publishes
    # (and a first attempt dies right after the marks: nothing trusted was written yet)
    with pytest.raises(HardKill):
        exporter(settings, NOW + 10_000, crash=dies_at("rollup_after_set_change")).run_once()
    lake.sync(0)
    assert lake.rolled_through(APP) == NOTHING_ROLLED and panels(lake, settings) == expected
    exporter(settings, NOW + 10_000 + 2 * 2_000).run_once()  # after the dead run's lease
    lake.sync(0)
    assert [k.rsplit("/", 1)[-1] for k in lake_files(settings, rollups.STATE_TABLE)] == [rollups.STATE_FILE]
    event_days = {p.rsplit("/dt=", 1)[1].split("/", 1)[0] for p in lake_files(settings, "events")}
    dirty = rollups.dirty(clients.dynamodb(settings), settings.table)
    assert event_days <= {str(d) for app, d in dirty if app == APP}  # every day with events
    assert str(lake.rolled_through(APP)) < min(event_days)  # no day with events read from a rollup
    assert panels(lake, settings) == expected

    # THEN the next pass rebuilds them and the state covers them again
    exporter(settings, NOW + 20_000).run_once()
    lake.sync(0)
    assert lake.rolled_through(APP) == older
    assert panels(lake, settings) == expected


def test_after_a_release_that_adds_a_rollup_column_the_local_page_reads_raw_events_not_an_error(rolled):
    """A release that adds a column to a rollup table (as decision 0015 added visitor_key)
    changes STATE_TAG: readers trust no state and read raw events until the days are rebuilt.
    Until then every file of the table lacks the column, which every panel's SQL names, rolled
    up or not: the local engine reads it as NULL, as Athena does, and the page is the raw
    events' (it failed with a binder error). Found by review (rv1)."""
    settings, lake = rolled
    s3 = s3_lake(settings)
    expected = panels(lake, settings, NOTHING_ROLLED)
    # GIVEN the lake as the release before wrote it: its state (another tag), its rollup files
    folder = rollups.state_folder(settings.lake_prefix, APP)
    s3.delete([folder + rollups.STATE_FILE])
    s3.put_table(folder + "state-0123456789.parquet", rollups.state_table(str(TODAY - timedelta(days=2)), "0123456789"))
    for key in lake_files(settings, "rollup_page_days"):
        s3.put_bytes(key, parquet_bytes(s3.read_table(key).drop_columns(["visitor_key"])))
    # WHEN the new release's dashboard opens the page before its export has rebuilt anything
    lake.sync(0)
    assert lake.rolled_through(APP) == NOTHING_ROLLED
    # THEN it shows what raw events say
    assert panels(lake, settings) == expected


def test_a_directory_lake_without_state_is_read_by_its_files(rolled, tmp_path: Path):
    """The benchmark's generated lake has no rollup_state folder; a lake the export keeps does."""
    settings, lake = rolled
    plain = directory_lake(lake.root)
    assert plain.rolled_through(APP) == (TODAY - timedelta(days=2)).isoformat()
    assert not (lake.root / rollups.STATE_TABLE).exists()  # the mirror's lake keeps the state in memory
    # WHEN the export published a state for it, the state decides, not the files
    state = lake.root / rollups.STATE_TABLE / f"app_id={APP}"
    state.mkdir(parents=True)
    (state / rollups.STATE_FILE).write_bytes(parquet_bytes(rollups.state_table("2020-01-01")))
    assert plain.rolled_through(APP) == "2020-01-01" and plain.rolled_through("other") is None


def test_a_large_day_file_is_read_by_ranges_and_gives_the_same_batches(settings, monkeypatch):
    """S3Days reads an object above RANGED_ABOVE through ranged GETs (footer, then the chunks
    of the columns asked for), never whole; the rows are those of a whole read."""
    import pyarrow as pa

    day = TODAY - timedelta(days=3)
    rows = 250_000
    table = pa.table(
        {
            "event_id": [f"e{i:07d}" for i in range(rows)],
            "anonymous_id": [f"{i % 977:016x}" for i in range(rows)],
            "path": ["/a", "/b"] * (rows // 2),
            "ignored": ["x" * 20] * rows,
        }
    )
    key = f"{settings.lake_prefix}/events/app_id={APP}/dt={day}/big.parquet"
    sink = __import__("io").BytesIO()
    __import__("pyarrow.parquet").parquet.write_table(table, sink, row_group_size=50_000, compression="snappy")
    s3_lake(settings).put_bytes(key, sink.getvalue())
    whole = rollups.S3Days(s3_lake(settings), settings.lake_prefix)
    expected = pa.Table.from_batches(list(whole.batches(APP, day, ["event_id", "path", "anonymous_id"])))

    estimated = whole.count(APP, day)
    monkeypatch.setattr(rollups, "RANGED_ABOVE", 0)
    ranged = rollups.S3Days(s3_lake(settings), settings.lake_prefix)
    got = pa.Table.from_batches(list(ranged.batches(APP, day, ["event_id", "path", "anonymous_id"])))

    assert got.equals(expected) and got.num_rows == rows
    assert ranged.count(APP, day) == rows  # from the footer, exact
    assert estimated == len(sink.getvalue()) // rollups.BYTES_PER_ROW  # a small object: from its size
    assert ranged.requests > 5 > whole.requests  # footer and chunks by ranges; the whole object once


def test_the_quicksight_datasets_sql_reads_the_state_by_its_subquery_and_agrees(rolled, tmp_path: Path):
    """Each dataset's custom SQL as QuickSight sends it to Athena (its parameters substituted as
    QuickSight substitutes them, the rollup_state subquery left in), run on DuckDB over the same
    lake: the page's answers, with the rollups held off (a hold) and with them in use."""
    import re

    from clickstream.dashboard import quicksight_requests as qs
    from clickstream.dashboard.spec import load
    from clickstream.lake import catalog, translate

    settings, lake = rolled
    spec = load()
    date_from, date_to = TODAY - timedelta(days=6), TODAY
    literal = {
        "appId": f"'{APP}'",
        "dateFrom": f"TIMESTAMP '{date_from} 00:00:00'",
        "dateTo": f"TIMESTAMP '{date_to} 00:00:00'",
        "includeBots": "0",
        "steps": "'/', '/pricing'",
    }
    state_dir = tmp_path / "state"

    def quicksight(dataset_name: str) -> list[dict[str, Any]]:
        # the state files as Athena would read them: a table over rollup_state/app_id=<app>/
        for key in lake_files(settings, rollups.STATE_TABLE):
            target = state_dir / key.split("/rollup_state/", 1)[1]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(s3_lake(settings).read_bytes(key))
        lake.sync(0)
        duck = lake.duck
        duck.statement("CREATE SCHEMA IF NOT EXISTS qs")
        for name in (*catalog.TABLES, *(v.name for v in catalog.view_files())):
            duck.statement(f"CREATE OR REPLACE VIEW qs.{name} AS SELECT * FROM main.{name}")
        files = sorted(state_dir.glob("app_id=*/*.parquet"))
        source = (
            f"read_parquet({[str(f) for f in files]}, hive_partitioning = true)"
            if files
            else "(SELECT CAST(NULL AS VARCHAR) AS rolled_through, CAST(NULL AS VARCHAR) AS vouches,"
            " CAST(NULL AS VARCHAR) AS months_through, CAST(NULL AS VARCHAR) AS app_id WHERE false)"
        )
        duck.statement(
            f"CREATE OR REPLACE VIEW qs.rollup_state AS SELECT rolled_through, vouches, months_through, app_id FROM {source}"
        )
        dataset = spec.datasets[dataset_name]
        sql = qs.data_set_request(spec, dataset, qs.Names("clickstream", "t"), "arn", "qs")["PhysicalTableMap"]["sql"]
        text = re.sub(r"<<\$(\w+)>>", lambda m: literal[m.group(1)], sql["CustomSql"]["SqlQuery"])
        return duck.execute(translate.to_duckdb(text)).to_pylist()

    def page(dataset_name: str) -> list[dict[str, Any]]:
        given: dict[str, Any] = {"app_id": APP, "date_from": str(date_from), "date_to": str(date_to), "include_bots": False}
        names = set(translate.parameter_names(spec.datasets[dataset_name].sql()))
        if "steps" in names:
            given["steps"] = "/,/pricing"
        return run_query(
            spec.datasets[dataset_name].sql(), {k: v for k, v in given.items() if k in names}, settings=settings, lake=lake
        ).to_pylist()

    rolled_names = [
        d.name for d in spec.used_datasets() if "rolled_through" in translate.parameter_names(d.sql()) and not d.compare
    ]
    assert len(rolled_names) >= 10
    for name in rolled_names:
        assert quicksight(name) == page(name), name

    def subquery(name: str = "rolled_through") -> str:
        text = qs.rolled_through_sql("qs", name).replace("<<$appId>>", f"'{APP}'")
        return lake.duck.execute(f"SELECT {translate.to_duckdb(text)} AS r").to_pylist()[0]["r"]

    def bound(name: str, rolled_through: str) -> list[dict[str, Any]]:
        names = translate.parameter_names(spec.datasets[name].sql())
        given = {"app_id": APP, "date_from": str(date_from), "date_to": str(date_to), "include_bots": False}
        given |= {"steps": "/,/pricing", "rolled_through": rolled_through}
        return run_query(
            spec.datasets[name].sql(), {k: v for k, v in given.items() if k in names}, settings=settings, lake=lake
        ).to_pylist()

    assert subquery() == lake.rolled_through(APP) == str(TODAY - timedelta(days=2))
    assert subquery("months_through") == lake.rolled_through(APP, "months") == str(TODAY - timedelta(days=2))
    # WHEN a rolled-up day's events change behind a hold (as an erasure does: hold, then rewrite)
    rollups.hold(s3_lake(settings), settings.lake_prefix, APP, "test", NOTHING_ROLLED)
    s3_lake(settings).delete([k for k in lake_files(settings, "events") if f"/dt={TODAY - timedelta(days=5)}/" in k])
    # THEN QuickSight's SQL reads raw events, not the stale rollups
    changed = 0
    for name in rolled_names:
        got = quicksight(name)
        assert subquery() == subquery("months_through") == NOTHING_ROLLED  # the hold bounds the month rows too
        assert got == page(name) == bound(name, NOTHING_ROLLED), name
        changed += got != bound(name, str(TODAY - timedelta(days=2)))
    assert changed >= 5, "the stale rollups would have given other answers"


def test_retention_rebuilds_the_first_day_kept_and_the_state_follows(rolled):
    settings, lake = rolled
    apps = AppStore(clients.dynamodb(settings), settings.table, cache_seconds=0)
    apps.create_app("Shop", app_id=APP)
    apps.update_app(APP, retention_days=4)
    # WHEN the next day's first run applies retention (the days before the day before yesterday go)
    report = exporter(settings, NOW + DAY).run_once()
    assert report.retention_removed >= 3, report
    # THEN no hold is left, the state covers the days kept, and the page is what raw events say
    assert not [k for k in lake_files(settings, rollups.STATE_TABLE) if "/hold-" in k]
    assert not [k for k in lake_files(settings, "rollup_sessions") if f"dt={TODAY - timedelta(days=3)}" in k]
    lake.sync(0)
    assert lake.rolled_through(APP) == (TODAY - timedelta(days=1)).isoformat()
    assert panels(lake, settings) == panels(lake, settings, NOTHING_ROLLED)


def test_a_day_that_cannot_be_rebuilt_stays_dirty_and_every_other_app_s_rollups_go_on(rolled, monkeypatch):
    """A day too large for the function's ephemeral storage raises ``spill.SpillFailed`` (terminal;
    decision 0014: the day stays dirty and its readers read raw events for it). The pass goes on:
    every other app's changed days are rebuilt, every state refreshed and its holds deleted; the
    run then raises once, as the terminal kind, naming the app and day, so the failure is seen."""
    from chalicelib.errors import TerminalError
    from chalicelib.lake import spill

    settings, lake = rolled
    real = rollup.rebuild_day_files

    def disk_too_small_for_big(source, app_id, day, folder, rows_per_slice=2_000_000):  # type: ignore[no-untyped-def]
        if app_id == "big":
            raise spill.SpillFailed(f"spilling {app_id}/{day} failed: No space left on device")
        return real(source, app_id, day, folder, rows_per_slice)

    monkeypatch.setattr(rollup, "rebuild_day_files", disk_too_small_for_big)
    # GIVEN another app ("big", sorted first) with a huge closed day, and late events for a
    # rolled-up day of this one
    big_day = TODAY - timedelta(days=4)
    store(settings, visit("anon-z", None, at(4, 12), ["/"]), received_ms=NOW + 30_000, app_id="big")
    store(settings, visit("anon-b", None, at(3, 23.95), ["/", "/docs"]), received_ms=NOW + 30_000, app_id=APP)
    # WHEN the export runs, twice: each run raises once, after its commit and its refreshes
    for k in (1, 2):
        with pytest.raises(rollups.DaysNotRebuilt) as raised:
            exporter(settings, NOW + k * 60_000).run_once()
        assert isinstance(raised.value, TerminalError)
        # the day and its neighbours (rollup.affected_days), all of "big"
        assert {(app, day) for app, day, _ in raised.value.failures} == {("big", big_day + timedelta(days=d)) for d in (-1, 0, 1)}
        assert f"big/{big_day}" in str(raised.value) and "No space left on device" in str(raised.value)
        time.sleep(0.1)
    # THEN this app's changed days are rebuilt, its hold gone and its readers back on the rollups
    lake.sync(0)
    assert lake.rolled_through(APP) == (TODAY - timedelta(days=2)).isoformat()
    assert panels(lake, settings) == panels(lake, settings, NOTHING_ROLLED)
    assert not [k for k in lake_files(settings, rollups.STATE_TABLE) if "/hold-" in k], "every hold is gone"
    # ... and "big" is published below its failed days, which stay dirty
    assert lake.rolled_through("big") < (big_day - timedelta(days=1)).isoformat()
    assert ("big", big_day) in rollups.dirty(clients.dynamodb(settings), settings.table)


def test_an_erasure_is_done_when_only_another_app_s_day_cannot_be_rebuilt(rolled, monkeypatch):
    """The erasure's rollup pass rebuilds every app's dirty days. Another app's day that always
    fails (too large for the disk) must not stop this app's erasures: the subject's rows are gone
    from its files and rollups, and the ledger records it. A failure of the subject's own app's
    days still fails the erasure (its rollups may hold the rows): run it again."""
    from chalicelib.lake import spill
    from clickstream.admin.ledger import Ledger

    settings, lake = rolled
    real = rollup.rebuild_day_files
    failing = {"big"}

    def disk_too_small(source, app_id, day, folder, rows_per_slice=2_000_000):  # type: ignore[no-untyped-def]
        if app_id in failing:
            raise spill.SpillFailed(f"spilling {app_id}/{day} failed: No space left on device")
        return real(source, app_id, day, folder, rows_per_slice)

    monkeypatch.setattr(rollup, "rebuild_day_files", disk_too_small)
    store(settings, visit("anon-z", None, at(4, 12), ["/"]), received_ms=NOW + 30_000, app_id="big")
    with pytest.raises(rollups.DaysNotRebuilt):
        exporter(settings, NOW + 60_000).run_once()  # "big"'s day is dirty for good
    ledger = Ledger(clients.dynamodb(settings), settings.table)
    # WHEN Alice of this app is erased: done, recorded, and her rows are in no rollup
    entry = erase(exporter(settings), Subject(APP, "user_id", "u-alice"), "test", wait_s=5)
    assert entry.status == "done" and entry.request_id in [e.request_id for e in ledger.entries()]
    lake.sync(0)
    for key in lake_files(settings, "rollup_sessions"):
        assert "anon-a" not in s3_lake(settings).read_table(key).column("anonymous_id").to_pylist(), key
    assert panels(lake, settings) == panels(lake, settings, NOTHING_ROLLED)
    # ... but when this app's own days cannot be rebuilt, the erasure says so
    failing.add(APP)
    with pytest.raises(rollups.DaysNotRebuilt) as raised:
        erase(exporter(settings), Subject(APP, "user_id", "u-carol"), "test", wait_s=5)
    assert {app for app, _, _ in raised.value.failures} == {APP}


@pytest.mark.parametrize("throttled_table", ["rollup_", "events"])
def test_retention_stopped_half_way_never_leaves_a_stale_rollup_readable_and_the_next_run_finishes_it(
    rolled, monkeypatch, throttled_table
):
    """S3 throttles retention's first DeleteObjects of a rollup table's partition, or of the
    events' (the run raises). Retention deletes the expired days' rollups before their events, so
    a state refreshed at that point (an erasure's rollup pass) covers no day whose events are
    gone and whose rollups are not; and it records its day only once all is removed, so the next
    run finishes it before its refresh deletes the hold."""
    from chalicelib.errors import StorageUnavailable
    from chalicelib.lake.parquetio import Lake as S3Lake

    settings, lake = rolled
    apps = AppStore(clients.dynamodb(settings), settings.table, cache_seconds=0)
    apps.create_app("Shop", app_id=APP)
    apps.update_app(APP, retention_days=4)
    real = S3Lake.delete
    throttled: list[list[str]] = []

    def slow_down_once(self, keys):  # type: ignore[no-untyped-def]
        if not throttled and any(f"/{throttled_table}" in k for k in keys):
            throttled.append(keys)
            raise StorageUnavailable("deleting objects failed: SlowDown (Please reduce your request rate)")
        return real(self, keys)

    monkeypatch.setattr(S3Lake, "delete", slow_down_once)
    # WHEN the next day's first run applies retention and S3 throttles that delete
    with pytest.raises(StorageUnavailable):
        exporter(settings, NOW + DAY).run_once()
    assert throttled
    # ... and a rollup pass refreshes the state before any export reruns (as an erasure's does)
    rollups.rebuild_due(s3_lake(settings), clients.dynamodb(settings), settings, NOW + DAY + 60_000, lambda _: None)
    # THEN the page is what raw events say
    lake.sync(0)
    assert panels(lake, settings) == panels(lake, settings, NOTHING_ROLLED)

    # WHEN the next run, five minutes later, runs to the end
    time.sleep(2.1)  # the failed run released its lease; this keeps the clocks apart anyway
    exporter(settings, NOW + DAY + 300_000).run_once()
    # THEN retention is finished, the hold gone, the state covers the days kept, and the page agrees
    kept = str(TODAY - timedelta(days=2))  # the cutoff day at NOW + DAY with 4 days kept
    assert not [k for t in ("events", "rollup_sessions") for k in lake_files(settings, t) if k.split("dt=")[1][:10] < kept]
    assert not [k for k in lake_files(settings, rollups.STATE_TABLE) if "/hold-" in k]
    lake.sync(0)
    assert lake.rolled_through(APP) == (TODAY - timedelta(days=1)).isoformat()
    assert panels(lake, settings) == panels(lake, settings, NOTHING_ROLLED)


def test_a_backlog_of_days_is_rebuilt_run_by_run_within_the_invocation_s_time_and_each_run_publishes(rolled):
    """With the invocation's remaining time (an injected clock: each day takes 100 s of it), a pass
    starts a day only if it may end before the refreshes' reserve; the days not started stay
    dirty, the state is refreshed every pass (up to the first day left) and the page agrees with
    raw events; the next passes go on where it stopped. Before: no limit, a backlog (every day
    after a state tag change) was killed at the Lambda's 15 minutes, before any refresh, every run."""
    settings, lake = rolled
    dynamodb = clients.dynamodb(settings)
    days = [TODAY - timedelta(days=k) for k in range(7, 1, -1)]  # the 6 rollable days, from a day before the first
    rollups.mark(dynamodb, settings.table, [(APP, d) for d in days], neighbours=False)
    elapsed_ms = [0]

    def a_day_takes_100_s(point: str) -> None:
        if point == "rollup_after_clean":
            elapsed_ms[0] += 100_000

    budget_ms = rollups.REFRESH_RESERVE_MS + 250_000  # time for 2 days of 100 s, not 3
    built = []
    for _ in range(3):
        start = elapsed_ms[0]

        def remaining() -> int:
            return budget_ms - (elapsed_ms[0] - start)  # noqa: B023  (this run's start)

        built.append(rollups.rebuild_due(s3_lake(settings), dynamodb, settings, NOW, a_day_takes_100_s, remaining_ms=remaining))
        assert remaining() >= rollups.REFRESH_RESERVE_MS, "no day started that could not end before the reserve"
        left = sorted(d for app, d in rollups.dirty(dynamodb, settings.table) if app == APP)
        lake.sync(0)
        assert lake.rolled_through(APP) == (min(left) - timedelta(days=1) if left else TODAY - timedelta(days=2)).isoformat()
        assert panels(lake, settings) == panels(lake, settings, NOTHING_ROLLED)
    assert built == [2, 2, 2]
    assert [d for _, d in rollups.dirty(dynamodb, settings.table) if rollup.rollable(d, TODAY)] == []
