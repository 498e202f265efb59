"""`clickstream dev` as a user runs it: real HTTP in, dynalite on disk, no processes left behind."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Iterator

import pytest
import requests

from tests.devserver_helpers import DevServer, post
from tests.factories import USER_AGENTS, batch, event, events
from tests.readback import rows_by_id


@pytest.fixture
def server(tmp_path: Path) -> Iterator[DevServer]:
    dev = DevServer(tmp_path / "data")
    yield dev
    if dev.proc is not None:  # a failed test must not leave a server running
        dev.proc.kill()
        dev.proc.wait(timeout=10)
        dev.wait_until_stack_gone()


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


def test_the_dashboard_is_warmed_up_as_the_server_starts(server: DevServer) -> None:
    # GIVEN `make run` started on a fresh data dir
    server.start()
    try:
        # WHEN it has started THEN it answers the dashboard's default view once by itself...
        said = server.read_until("dashboard warm")
        assert said[-1].startswith("dashboard warmed up in "), said
        # ...and the page's own first load is answered
        answer = requests.get(f"{server.url}/dashboard/api/panels", timeout=60)
        assert answer.status_code == 200 and answer.json()["params"]["app_id"] == "demo"
    finally:
        server.stop()
