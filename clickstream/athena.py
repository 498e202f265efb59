"""Athena statements from the CLI: start, wait, raise a clear error on failure."""

from __future__ import annotations

import time
from typing import Any

import boto3

from chalicelib.errors import TerminalError, TransientError
from chalicelib.settings import Settings


def run_ddl(sql: str, settings: Settings, workgroup: str, client: Any = None, poll_s: float = 0.5, timeout_s: float = 120) -> str:
    client = client or boto3.client("athena", region_name=settings.region)
    qid = client.start_query_execution(
        QueryString=sql, QueryExecutionContext={"Database": settings.glue_database}, WorkGroup=workgroup
    )["QueryExecutionId"]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = client.get_query_execution(QueryExecutionId=qid)["QueryExecution"]["Status"]
        if status["State"] == "SUCCEEDED":
            return qid
        if status["State"] in ("FAILED", "CANCELLED"):
            raise TerminalError(
                f"Athena query {qid} {status['State'].lower()}: {status.get('StateChangeReason', 'no reason given')}"
            )
        time.sleep(poll_s)
    raise TransientError(f"Athena query {qid} still running after {timeout_s}s")
