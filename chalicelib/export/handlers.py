"""The export's Lambda entry points, wired to AWS (or the local stack) from the settings.

Both are invoked asynchronously (EventBridge, the coordinator's fan-out), and Lambda retries
an async invocation that raises. That is right for a transient error and wrong for a
terminal one (a missing table, a refused write: the retry fails the same way), so a
``TerminalError`` is logged and returned instead of raised. Nothing is lost by not
retrying: the pending run stays in the checkpoint, the next scheduled run finishes it
once the fault is fixed, and the export-lag alarm fires meanwhile.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, replace
from typing import Any

from chalicelib import clients
from chalicelib.errors import TerminalError
from chalicelib.export.run import Exporter, RunReport
from chalicelib.settings import Settings, get_settings

log = logging.getLogger("clickstream.export")


def _invoker(settings: Settings) -> Any:
    """Async invoke of the worker function, or None (run every group inline) when there is none."""
    if not settings.export_worker_function:
        return None
    import boto3

    client = boto3.client("lambda", region_name=settings.region)

    def invoke(payload: dict[str, Any]) -> None:
        client.invoke(FunctionName=settings.export_worker_function, InvocationType="Event", Payload=json.dumps(payload).encode())

    return invoke


def _metrics(settings: Settings, client: Any = None) -> Any:
    """Publishes the export lag (no dimensions: the alarm treats missing data as breaching)."""
    if settings.is_local and client is None:
        return None
    if client is None:
        import boto3

        client = boto3.client("cloudwatch", region_name=settings.region)

    def put(name: str, value: float) -> None:
        client.put_metric_data(
            Namespace=settings.metrics_namespace, MetricData=[{"MetricName": name, "Value": value, "Unit": "Seconds"}]
        )

    return put


def exporter(settings: Settings | None = None, context: Any = None, **overrides: Any) -> Exporter:
    """``context``: the Lambda context; its remaining time bounds the run's rollup pass."""
    settings = settings or get_settings()
    kwargs: dict[str, Any] = {"invoke": _invoker(settings), "metrics": _metrics(settings), **overrides}
    built = Exporter(settings, clients.dynamodb(settings), clients.s3(settings), **kwargs)
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is not None:
        built.housekeeping = replace(built.housekeeping, remaining_ms=remaining)
    return built


def _failed(what: str, exc: TerminalError, **payload: Any) -> dict[str, Any]:
    line = {"msg": f"{what} failed; not retried (a terminal error)", "kind": type(exc).__name__, "error": str(exc), **payload}
    log.error(json.dumps(line))
    return {"status": "failed", "error": str(exc), **payload}


def scheduled(settings: Settings | None = None, context: Any = None) -> dict[str, Any]:
    try:
        report: RunReport = exporter(settings, context).run_once()
    except TerminalError as exc:
        return _failed("export run", exc)
    return asdict(report)


def worker(event: dict[str, Any], settings: Settings | None = None) -> dict[str, Any]:
    try:
        result = exporter(settings).run_worker(event)
    except TerminalError as exc:
        return _failed("export group", exc, **event)
    if result is None:
        return {"status": "duplicate_delivery", **event}
    return {"status": "done", "events": result.events, "files": result.files, "bytes": result.bytes, **event}
