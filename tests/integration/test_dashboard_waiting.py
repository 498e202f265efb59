"""Before the first export the dashboard says how many of the app's events are waiting for it."""

from __future__ import annotations

import time

from chalicelib import clients
from chalicelib.export.run import Exporter
from chalicelib.settings import Settings
from clickstream.dashboard.pages import lake_coverage
from tests.lake_helpers import event, store


def test_coverage_counts_the_apps_events_waiting_for_the_export_until_they_are_exported(settings: Settings, tmp_path) -> None:
    now = int(time.time() * 1000)
    store(settings, [event(f"s{i}", now - 5000) for i in range(7)], received_ms=now - 2000, app_id="shop")
    store(settings, [event(f"o{i}", now - 5000) for i in range(3)], received_ms=now - 2000, app_id="other")
    coverage = lake_coverage(settings, tmp_path / "cache")

    before = coverage("shop")
    assert before["first_day"] is None
    assert before["waiting_events"] == 7
    assert before["settle_s"] == settings.settle_seconds and before["export_every_s"] > 0

    Exporter(
        settings.with_(settle_seconds=0), clients.dynamodb(settings), clients.s3(settings), clock=lambda: now / 1000 + 1
    ).run_once()

    after = coverage("shop")
    assert after["waiting_events"] == 0 and after["first_day"] is not None
