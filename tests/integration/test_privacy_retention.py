"""Per-app retention and IP handling."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone

from chalice.test import Client
from click.testing import CliRunner

from chalicelib import clients
from chalicelib.export.run import Exporter
from chalicelib.lake.rows import decode_row
from chalicelib.store.apps import AppStore
from clickstream.cli import main
from tests.lake_helpers import cli_env, event, lake_files, store

DAY = 86_400_000
NOW = int(datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc).timestamp() * 1000)


def run(settings, now_ms):
    return Exporter(
        settings.with_(settle_seconds=0), clients.dynamodb(settings), clients.s3(settings), clock=lambda: now_ms / 1000
    ).run_once()


def test_retention_removes_only_old_partitions_of_the_app_that_asked_once_a_day(settings):
    # GIVEN two apps with events on four consecutive days
    apps = AppStore(clients.dynamodb(settings), settings.table, cache_seconds=0)
    apps.create_app("Short", app_id="short")
    apps.create_app("Long", app_id="long")
    for app_id in ("short", "long"):
        store(settings, [event(f"{app_id}-{d}", NOW - d * DAY) for d in range(4)], received_ms=NOW - 1000, app_id=app_id)
    run(settings, NOW)
    assert len(lake_files(settings)) == 8
    # WHEN "short" keeps 2 days and the next day's first run applies retention
    result = CliRunner().invoke(main, ["apps", "set", "short", "--retention-days", "2"], env=cli_env(settings))
    assert result.exit_code == 0 and "lake retention 2 days" in result.output
    report = run(settings, NOW + DAY)
    # THEN only short's partitions before yesterday are gone; long keeps everything
    days = sorted(f.split("/events/")[1].rsplit("/", 1)[0] for f in lake_files(settings))
    assert [d for d in days if d.startswith("app_id=short")] == ["app_id=short/dt=2026-11-20"]
    assert len([d for d in days if d.startswith("app_id=long")]) == 4
    assert report.retention_removed == 3
    # AND a second run the same day does not apply it again
    assert run(settings, NOW + DAY + 60_000).retention_removed == 0


def test_ip_modes_drop_keep_and_anonymize(use_settings):
    import app as app_module

    apps = AppStore(clients.dynamodb(use_settings), use_settings.table, cache_seconds=0)
    stored = {}
    for mode in ("anonymize", "drop", "keep"):
        _, key = apps.create_app(f"ip {mode}", app_id=f"ip-{mode}")
        apps.update_app(f"ip-{mode}", ip_mode=mode)
        with Client(app_module.app) as client:
            body = json.dumps(event(uuid.uuid4().hex))
            r = client.http.post(
                "/v1/events",
                headers={"Content-Type": "application/json", "X-Api-Key": key, "User-Agent": "Mozilla/5.0 Firefox/120.0"},
                body=body,
            )
            assert r.status_code == 200, r.body
    items = clients.dynamodb(use_settings).scan(TableName=use_settings.table)["Items"]
    for item in items:
        if item["pk"]["S"].startswith("e#"):
            row = decode_row(item["d"]["S"])
            stored[row["app_id"]] = row["ip"]
    # chalice's local gateway reports 127.0.0.1 as the source address
    assert stored == {"ip-anonymize": "127.0.0.0", "ip-drop": None, "ip-keep": "127.0.0.1"}


def test_apps_set_refuses_nonsense(settings):
    runner = CliRunner()
    env = cli_env(settings)
    AppStore(clients.dynamodb(settings), settings.table).create_app("A", app_id="a-app")
    assert runner.invoke(main, ["apps", "set", "a-app"], env=env).exit_code == 2
    assert runner.invoke(main, ["apps", "set", "a-app", "--retention-days", "0"], env=env).exit_code == 2
    assert runner.invoke(main, ["apps", "set", "nope", "--ip-mode", "drop"], env=env).exit_code == 2
