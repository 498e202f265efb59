"""`clickstream dev` as a user runs it: real HTTP in, dynalite on disk, no processes left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest
import requests

from chalicelib.settings import Settings, from_env
from clickstream.localstack import free_port, wait_for_port
from clickstream.target import ROOT, local_env
from tests.factories import USER_AGENTS, batch, event, events
from tests.readback import rows_by_id

COMMAND = Path(sys.executable).parent / "clickstream"


class DevServer:
    """One `clickstream dev` process on free ports, with its data under ``data_dir``."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port, dynamodb_port, s3_port = free_port(), free_port(), free_port()
        self.env = {
            **os.environ,
            "CLICKSTREAM_PORT": str(self.port),
            "CLICKSTREAM_DYNAMODB_PORT": str(dynamodb_port),
            "CLICKSTREAM_S3_PORT": str(s3_port),
            "CLICKSTREAM_DATA_DIR": str(data_dir),
        }
        for name in ("CLICKSTREAM_DYNAMODB_ENDPOINT", "CLICKSTREAM_S3_ENDPOINT", "CLICKSTREAM_TABLE", "CLICKSTREAM_BUCKET"):
            self.env.pop(name, None)
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def settings(self) -> Settings:
        """What the server itself uses: the local stack's endpoints and the default table."""
        return from_env(local_env(self.env))

    @property
    def key(self) -> str:
        return json.loads((self.data_dir / "demo-app.json").read_text())["write_key"]

    def start(self) -> "DevServer":
        self.proc = subprocess.Popen(
            [str(COMMAND), "dev"], env=self.env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        wait_for_port(self.port, timeout_s=60, proc=self.proc)
        return self

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> str:
        assert self.proc is not None
        self.proc.send_signal(sig)
        output, _ = self.proc.communicate(timeout=30)
        self.proc = None
        return output

    def stack_processes(self) -> list[str]:
        """Command lines of live processes serving this data dir (dynalite --path, s3rver --directory)."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if str(self.data_dir) in cmdline and ("dynalite" in cmdline or "s3rver" in cmdline):
                found.append(cmdline)
        return found

    def wait_until_stack_gone(self, timeout_s: float = 10) -> list[str]:
        deadline = time.monotonic() + timeout_s
        while (left := self.stack_processes()) and time.monotonic() < deadline:
            time.sleep(0.1)
        return left


@pytest.fixture
def server(tmp_path: Path) -> Iterator[DevServer]:
    dev = DevServer(tmp_path / "data")
    yield dev
    if dev.proc is not None:  # a failed test must not leave a server running
        dev.proc.kill()
        dev.proc.wait(timeout=10)
        dev.wait_until_stack_gone()


def post(dev: DevServer, body: dict, **headers: str) -> requests.Response:
    sent = {"Content-Type": "application/json", "User-Agent": USER_AGENTS["safari_iphone"], "X-Api-Key": dev.key, **headers}
    return requests.post(f"{dev.url}/v1/events", data=json.dumps(body), headers=sent, timeout=30)


def test_events_sent_over_http_are_stored_and_survive_a_restart(server: DevServer) -> None:
    # GIVEN the dev server, started as `make run` starts it
    server.start()
    assert server.stack_processes(), "dynalite and s3rver should run while the server does"

    # WHEN the tracker sends a batch with fetch, and the rest with sendBeacon when the page hides
    fetched, beaconed = events(3), event(event_type="scroll")
    first = post(server, batch(*fetched), Origin=server.url)
    second = requests.post(
        f"{server.url}/v1/events?key={server.key}",
        data=json.dumps(batch(beaconed)),
        headers={"Content-Type": "text/plain;charset=UTF-8", "Origin": server.url, "User-Agent": USER_AGENTS["safari_iphone"]},
        timeout=30,
    )

    # THEN both are acknowledged to the page and stored, enriched, in dynalite
    assert (first.status_code, first.json()) == (200, {"accepted": 3, "rejected": []})
    assert first.headers["Access-Control-Allow-Origin"] == server.url
    assert second.status_code == 200
    stored = rows_by_id(server.settings)
    assert set(stored) == {e["event_id"] for e in fetched} | {beaconed["event_id"]}
    assert {(r["app_id"], r["device_type"], r["ip"]) for r in stored.values()} == {("demo", "mobile", "127.0.0.0")}

    # WHEN the server is stopped THEN it takes dynalite and s3rver with it
    output = server.stop(signal.SIGTERM)
    assert "stopping" in output
    assert server.wait_until_stack_gone() == []

    # WHEN it is started again on the same data dir THEN the events and the demo key are still there
    server.start()
    assert set(rows_by_id(server.settings)) == set(stored)
    assert post(server, batch(event())).status_code == 200
    assert requests.get(f"{server.url}/v1/health", timeout=30).json()["status"] == "ok"

    # AND Ctrl-C stops it cleanly too
    server.stop(signal.SIGINT)
    assert server.wait_until_stack_gone() == []


def test_killed_server_leaves_no_local_stack_behind(server: DevServer) -> None:
    server.start()
    assert len(server.stack_processes()) == 2

    server.stop(signal.SIGKILL)  # no cleanup code runs: the children follow their parent (PR_SET_PDEATHSIG)

    assert server.wait_until_stack_gone() == []


def test_api_answers_over_http(server: DevServer) -> None:
    server.start()
    try:
        preflight = requests.options(
            f"{server.url}/v1/events?key={server.key}",
            headers={
                "Origin": server.url,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
            timeout=30,
        )
        denied = post(server, batch(event()), Origin="https://evil.example")
        unknown = post(server, batch(event()), **{"X-Api-Key": "cs_unknown"})
        too_big = post(server, batch(*events(40, properties={"p": "x" * 30_000})))
        xml = requests.post(
            f"{server.url}/v1/events",
            data=b"<e/>",
            headers={"Content-Type": "application/xml", "X-Api-Key": server.key},
            timeout=30,
        )
        partial = post(server, batch(event(), event(timestamp="not a time")))
    finally:
        server.stop()

    assert (preflight.status_code, preflight.headers["Access-Control-Allow-Origin"]) == (204, server.url)
    assert (denied.status_code, "Access-Control-Allow-Origin" in denied.headers) == (403, False)
    assert unknown.status_code == 401
    assert too_big.status_code == 413
    assert xml.status_code == 415
    assert (partial.status_code, [r["index"] for r in partial.json()["rejected"]]) == (200, [1])
