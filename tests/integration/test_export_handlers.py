"""The export's Lambda entry points keep terminal errors from Lambda's async retries."""

from __future__ import annotations

import json
import logging

import pytest

from chalicelib.export import handlers


def test_a_run_against_a_missing_table_fails_once_without_raising(settings, caplog: pytest.LogCaptureFixture) -> None:
    missing = settings.with_(table=f"{settings.table}-missing")

    with caplog.at_level(logging.ERROR, logger="clickstream.export"):
        result = handlers.scheduled(missing)

    assert result["status"] == "failed" and missing.table in result["error"]
    [line] = [json.loads(r.getMessage()) for r in caplog.records if r.levelno == logging.ERROR]
    assert line["kind"] == "StorageRefused" and "not retried" in line["msg"]


def test_a_worker_against_a_missing_table_fails_once_without_raising(settings) -> None:
    result = handlers.worker({"seq": 1, "group": 0}, settings.with_(table=f"{settings.table}-missing"))

    assert result == {"status": "failed", "error": result["error"], "seq": 1, "group": 0}
    assert "ResourceNotFoundException" in result["error"]


def test_the_schedule_s_lambda_context_bounds_the_run_s_rollup_pass(settings) -> None:
    """app.export_events passes Lambda's context: its remaining time bounds rollups.rebuild_due."""

    class Context:
        def get_remaining_time_in_millis(self) -> int:
            return 123_456

    assert handlers.exporter(settings, Context()).housekeeping.remaining_ms() == 123_456  # type: ignore[misc]
    assert handlers.exporter(settings).housekeeping.remaining_ms is None
