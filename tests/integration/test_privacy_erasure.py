"""Erasure across the store and the lake: exact, crash-safe, race-free, audited without the identifier."""

from __future__ import annotations

import threading
import time

import pytest

from chalicelib import clients
from chalicelib.export.run import Exporter, Tuning
from clickstream.admin.erasure import Subject, erase, export_subject
from clickstream.admin.ledger import Ledger
from tests.lake_helpers import event, read_lake, store

NOW = int(time.time() * 1000)


class HardKill(BaseException):
    pass


def exporter(settings, now_ms=None):
    clock = (lambda: now_ms / 1000) if now_ms else time.time
    return Exporter(
        settings.with_(settle_seconds=0),
        clients.dynamodb(settings),
        clients.s3(settings),
        clock=clock,
        tuning=Tuning(lease_ms=2_000),
    )


def people_history(settings):
    """Alice (u-alice) and Bob, exported over two runs, plus Alice's events not yet exported."""
    store(
        settings,
        [event(f"a{i}", NOW - 90_000, user_id="u-alice", anonymous_id="anon-a") for i in range(3)]
        + [event(f"b{i}", NOW - 90_000, user_id="u-bob", anonymous_id="anon-b") for i in range(3)],
        received_ms=NOW - 80_000,
        app_id="shop",
    )
    store(settings, [event("other-app", NOW - 90_000, user_id="u-alice")], received_ms=NOW - 80_000, app_id="blog")
    exporter(settings, NOW - 60_000).run_once()
    store(
        settings,
        [event("a-late", NOW - 50_000, user_id="u-alice"), event("b-late", NOW - 50_000, user_id="u-bob")],
        received_ms=NOW - 40_000,
        app_id="shop",
    )
    # a rejected event each of Alice's and Bob's
    store(
        settings,
        [{"event_id": "bad", "event_type": "nope", "timestamp": NOW, "user_id": "u-alice"}],
        received_ms=NOW - 40_000,
        app_id="shop",
    )
    store(
        settings,
        [{"event_id": "bad", "event_type": "nope", "timestamp": NOW, "user_id": "u-bob"}],
        received_ms=NOW - 40_000,
        app_id="shop",
    )
    exporter(settings, NOW - 30_000).run_once()
    # and Alice's events still only in the store
    store(settings, [event("a-unexported", NOW - 15_000, user_id="u-alice")], received_ms=NOW - 10_000, app_id="shop")


def rows_by_id(settings):
    lake = read_lake(settings)
    return {(r["app_id"], r["event_id"]): r for r in lake.to_pylist()} if lake.num_rows else {}


def test_erasure_removes_the_person_everywhere_and_nothing_else(settings):
    # GIVEN Alice's and Bob's events in the lake and the store
    people_history(settings)
    before = rows_by_id(settings)
    assert sum(1 for r in before.values() if r["user_id"] == "u-alice" and r["app_id"] == "shop") == 4

    # WHEN Alice's data in app "shop" is erased
    entry = erase(exporter(settings), Subject("shop", "user_id", "u-alice"), actor="dpo@example.com")

    # THEN none of her rows remain in the lake, the store or rejected_events, of that app
    after = rows_by_id(settings)
    assert [k for k, r in after.items() if r["user_id"] == "u-alice" and k[0] == "shop"] == []
    assert (entry.lake_rows_removed, entry.store_rows_removed, entry.store_rejected_removed, entry.lake_rejected_removed) == (
        4,
        5,
        1,
        1,
    )
    rejected = read_lake(settings, "rejected_events").to_pylist()
    assert len(rejected) == 1 and "u-bob" in rejected[0]["raw"]
    # AND every other row is unchanged, value for value (Bob's, and Alice's in another app)
    assert {k: v for k, v in after.items() if k not in before or before[k] != v} == {}
    assert set(before) - set(after) == {("shop", f"a{i}") for i in range(3)} | {("shop", "a-late")}
    # AND the ledger records it without the identifier in clear
    (logged,) = Ledger(clients.dynamodb(settings), settings.table).entries()
    assert logged.status == "done" and logged.actor == "dpo@example.com" and logged.files_rewritten
    assert "u-alice" not in str(logged) and logged.request_id == entry.request_id


def test_the_store_holds_no_trace_of_the_subject_after_erasure(settings):
    people_history(settings)
    erase(exporter(settings), Subject("shop", "user_id", "u-alice"), actor="ops")
    items = clients.dynamodb(settings).scan(TableName=settings.table)["Items"]
    shop_items = [i for i in items if '"a":"shop"' in i.get("d", {}).get("S", "")]
    assert shop_items and all("u-alice" not in i["d"]["S"] for i in shop_items)


@pytest.mark.parametrize("point", ["erase_after_store", "erase_after_output", "erase_after_delete_input"])
def test_a_crash_mid_erasure_then_a_rerun_leaves_no_deleted_row_and_loses_no_other(settings, point):
    people_history(settings)
    before = rows_by_id(settings)

    def crash(p):
        if p == point:
            raise HardKill(p)

    with pytest.raises(HardKill):
        erase(exporter(settings), Subject("shop", "user_id", "u-alice"), actor="ops", crash=crash)
    time.sleep(2.1)  # the killed run's lease expires
    erase(exporter(settings), Subject("shop", "user_id", "u-alice"), actor="ops", wait_s=5)
    after = rows_by_id(settings)
    expected = {k: v for k, v in before.items() if not (k[0] == "shop" and v["user_id"] == "u-alice")}
    assert after == expected


def test_an_export_running_at_the_same_time_cannot_bring_deleted_events_back(settings):
    people_history(settings)
    stop = threading.Event()

    def export_loop():  # a scheduler firing every 0.3 s instead of every 5 minutes
        while not stop.wait(0.3):
            exporter(settings).run_once()

    thread = threading.Thread(target=export_loop)
    thread.start()
    try:
        erase(exporter(settings), Subject("shop", "user_id", "u-alice"), actor="ops", wait_s=30)
    finally:
        stop.set()
        thread.join()
    exporter(settings).run_once()
    assert [k for k, r in rows_by_id(settings).items() if r["user_id"] == "u-alice" and k[0] == "shop"] == []


def test_events_arriving_after_the_erasure_are_kept(settings):
    people_history(settings)
    erase(exporter(settings), Subject("shop", "user_id", "u-alice"), actor="ops")
    now = int(time.time() * 1000)
    store(settings, [event("a-new", now - 1000, user_id="u-alice")], received_ms=now, app_id="shop")
    exporter(settings, now + 5000).run_once()
    assert ("shop", "a-new") in rows_by_id(settings)


def test_erasing_by_anonymous_id_and_twice_is_idempotent(settings):
    people_history(settings)
    first = erase(exporter(settings), Subject("shop", "anonymous_id", "anon-b"), actor="ops")
    second = erase(exporter(settings), Subject("shop", "anonymous_id", "anon-b"), actor="ops")
    assert first.lake_rows_removed == 3 and (second.lake_rows_removed, second.store_rows_removed) == (0, 0)
    assert first.request_id == second.request_id


def test_the_subject_export_lists_everything_held(settings):
    people_history(settings)
    records = list(export_subject(settings, Subject("shop", "user_id", "u-alice")))
    sources = sorted({r["source"] for r in records})
    assert sources == ["lake/events", "lake/rejected_events", "store/events (not yet exported)", "store/rejected_events"]
    assert sorted(r["event_id"] for r in records if "rejected" not in r["source"]) == ["a-late", "a-unexported", "a0", "a1", "a2"]


def test_the_cli_deletes_exports_and_shows_the_ledger(settings, tmp_path):
    from click.testing import CliRunner

    from clickstream.cli import main
    from tests.lake_helpers import cli_env

    people_history(settings)
    runner, env = CliRunner(), cli_env(settings)
    out = tmp_path / "alice.jsonl"
    result = runner.invoke(main, ["privacy", "export", "--app", "shop", "--user-id", "u-alice", "--out", str(out)], env=env)
    assert result.exit_code == 0, result.output
    assert len(out.read_text().splitlines()) == 7  # 4 lake events, 1 lake rejected, 1 unexported, 1 rejected in the store
    result = runner.invoke(main, ["privacy", "delete", "--app", "shop", "--user-id", "u-alice", "--actor", "dpo"], env=env)
    assert result.exit_code == 0, result.output
    assert "5 events and 1 rejected from the store, 4 events and 1 rejected from the lake" in result.output
    ledger = runner.invoke(main, ["privacy", "ledger"], env=env).output
    assert '"actor": "dpo"' in ledger and "u-alice" not in ledger
    assert runner.invoke(main, ["privacy", "delete", "--app", "shop"], env=env).exit_code == 2
