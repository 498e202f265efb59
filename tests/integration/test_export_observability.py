"""Each run logs one JSON line and publishes its lag as a CloudWatch metric."""

from __future__ import annotations

import json
import logging
import time

import boto3
from moto import mock_aws

from chalicelib import clients
from chalicelib.export.handlers import _metrics
from chalicelib.export.run import Exporter
from tests.lake_helpers import event, store


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[dict] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(record.getMessage()))


def test_a_run_logs_one_json_line_and_publishes_the_lag(settings):
    now = int(time.time() * 1000)
    store(settings, [event("e1", now - 5000)], received_ms=now - 40_000)
    with mock_aws():
        cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
        exporter = Exporter(settings, clients.dynamodb(settings), clients.s3(settings), metrics=_metrics(settings, cloudwatch))
        logger, handler = logging.getLogger("clickstream.export"), Lines()
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        try:
            report = exporter.run_once()
        finally:
            logger.removeHandler(handler)
        lines = handler.lines
        assert len(lines) == 1
        line = lines[0]
        assert line["msg"] == "export run" and line["events"] == 1 and line["files"] == 1 and line["bytes"] > 0
        assert {"duration_s", "lag_s", "partitions", "rejected"} <= set(line)
        stats = cloudwatch.get_metric_statistics(
            Namespace="Clickstream",
            MetricName="ExportLagSeconds",
            StartTime=now / 1000 - 600,
            EndTime=now / 1000 + 600,
            Period=60,
            Statistics=["Maximum"],
        )["Datapoints"]
        assert stats and stats[0]["Maximum"] == report.lag_s
