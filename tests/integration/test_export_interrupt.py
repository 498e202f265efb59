"""Interrupting an export (Ctrl-C, SIGTERM, a storage timeout) frees the lease at once; the pending
window it began is finished by the next run, exactly once. A skipped run says who holds the lease.

The export is made to hang mid-run, after it has begun a pending window, by pointing its S3
endpoint at a socket that reads requests and never answers.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError
from click.testing import CliRunner

from chalicelib import clients
from chalicelib.errors import StorageUnavailable
from chalicelib.export.run import Exporter
from chalicelib.settings import Settings
from chalicelib.store.keys import EXPORT_STATE_KEY as STATE_KEY
from clickstream.cli import main
from tests.lake_helpers import event, read_lake, store

COMMAND = [sys.executable, "-m", "clickstream.cli"]


class SilentS3:
    """An S3 endpoint that reads requests and never answers. ``asked`` is set once a request has
    arrived: whoever sent it is now waiting on S3."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.asked = threading.Event()
        self.held: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return  # closed
            self.held.append(conn)  # kept open, never answered
            if conn.recv(65536):
                self.asked.set()

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


@pytest.fixture
def silent_s3() -> Iterator[SilentS3]:
    s3 = SilentS3()
    yield s3
    s3.close()


def env_for(settings: Settings, s3_endpoint: str) -> dict[str, str]:
    return {
        **os.environ,
        "CLICKSTREAM_DYNAMODB_ENDPOINT": settings.dynamodb_endpoint,
        "CLICKSTREAM_S3_ENDPOINT": s3_endpoint,
        "CLICKSTREAM_TABLE": settings.table,
        "CLICKSTREAM_BUCKET": settings.bucket,
        "CLICKSTREAM_SETTLE_SECONDS": "0",
        "CLICKSTREAM_WRITE_SHARDS": str(settings.write_shards),
    }


def state_item(settings: Settings) -> dict[str, Any]:
    return clients.dynamodb(settings).get_item(TableName=settings.table, Key=STATE_KEY, ConsistentRead=True).get("Item", {})


def wait_for(predicate: Any, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def stored_events(settings: Settings, n: int) -> list[str]:
    now = int(time.time() * 1000)
    ids = [f"e{i}" for i in range(n)]
    store(settings, [event(i, now - 60_000) for i in ids], received_ms=now - 30_000, app_id="shop")
    return ids


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_etl_run_releases_the_lease_and_the_next_run_finishes_its_window(
    settings: Settings, silent_s3: SilentS3, sig: signal.Signals
) -> None:
    # GIVEN `clickstream etl run` hanging on S3 after it began a pending window
    ids = stored_events(settings, 5)
    proc = subprocess.Popen(
        [*COMMAND, "etl", "run"],
        env=env_for(settings, silent_s3.url),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        # Waiting on S3, not merely past the window's start: a signal that lands while CPython
        # runs a weakref callback or a finalizer is dropped (printed as "Exception ignored"), and
        # the run's first Arrow compute call imports pandas, about a second of such callbacks.
        wait_for(lambda: silent_s3.asked.is_set() or proc.poll() is not None)
        assert proc.poll() is None, proc.communicate()[0]
        assert "p_seq" in state_item(settings)
        # WHEN it is interrupted
        proc.send_signal(sig)
        output, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    # THEN it says so, the lease is free and the promised window is still pending
    assert proc.returncode != 0
    assert "Traceback" not in output, output
    assert "lease" in output and "released" in output, output
    item = state_item(settings)
    assert "lease_owner" not in item and "lease_until" not in item
    assert "p_seq" in item
    # AND the next run (S3 reachable again) starts at once and exports every event once
    result = CliRunner().invoke(main, ["etl", "run"], env=env_for(settings, settings.s3_endpoint))
    assert result.exit_code == 0 and result.output.startswith("exported"), result.output
    assert Counter(read_lake(settings).column("event_id").to_pylist()) == Counter({i: 1 for i in ids})


def test_a_run_that_fails_on_a_storage_timeout_releases_the_lease(settings: Settings, silent_s3: SilentS3) -> None:
    stored_events(settings, 3)
    impatient = boto3.session.Session().client(
        "s3",
        region_name=settings.region,
        endpoint_url=silent_s3.url,
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(read_timeout=0.3, connect_timeout=0.3, retries={"mode": "standard", "max_attempts": 1}),
    )
    exporter = Exporter(settings, clients.dynamodb(settings), impatient)

    with pytest.raises((StorageUnavailable, BotoCoreError)):
        exporter.run_once()

    item = state_item(settings)
    assert "lease_owner" not in item and "p_seq" in item


def test_a_skipped_run_says_who_holds_the_lease_and_until_when(settings: Settings) -> None:
    holder = Exporter(settings, clients.dynamodb(settings), clients.s3(settings), owner="export-holder")
    until = holder.state.acquire(holder.owner, holder.now_ms(), 600_000) and holder.now_ms() + 600_000

    result = CliRunner().invoke(main, ["etl", "run"], env=env_for(settings, settings.s3_endpoint))

    assert result.exit_code == 0, result.output
    assert result.output.startswith("skipped"), result.output
    assert "export-holder" in result.output
    assert time.strftime("%H:%M", time.gmtime(until / 1000)) in result.output
