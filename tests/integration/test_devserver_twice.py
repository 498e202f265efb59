"""`make run` twice: the second says in one line which port (or data dir) is taken and what to do,
starts nothing and stops nothing; the first keeps serving."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from clickstream.localstack import free_port
from clickstream.target import ROOT
from tests.devserver_helpers import COMMAND, DevServer


@pytest.fixture
def first(tmp_path: Path) -> Iterator[DevServer]:
    dev = DevServer(tmp_path / "data").start()
    yield dev
    if dev.proc is not None:
        dev.stop()
    dev.wait_until_stack_gone()


def run_second(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(COMMAND), "dev"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, result.stdout + result.stderr
    return lines[0]


def test_a_second_make_run_on_the_same_ports_says_which_port_and_leaves_the_first_alone(first: DevServer, tmp_path: Path) -> None:
    # a different data dir, the same ports
    result = run_second({**first.env, "CLICKSTREAM_DATA_DIR": str(tmp_path / "other")})

    assert result.returncode != 0
    line = one_line(result)
    assert f"port {first.port}" in line and "CLICKSTREAM_PORT" in line and "in use" in line
    assert requests.get(f"{first.url}/v1/health", timeout=30).json()["status"] == "ok"
    assert len(first.stack_processes()) == 2


def test_a_second_make_run_on_the_same_data_dir_says_so(first: DevServer) -> None:
    other_ports = {
        "CLICKSTREAM_PORT": str(free_port()),
        "CLICKSTREAM_DYNAMODB_PORT": str(free_port()),
        "CLICKSTREAM_S3_PORT": str(free_port()),
    }
    result = run_second({**first.env, **other_ports})

    assert result.returncode != 0
    line = one_line(result)
    assert str(first.data_dir) in line and "CLICKSTREAM_DATA_DIR" in line
    assert requests.get(f"{first.url}/v1/health", timeout=30).json()["status"] == "ok"
    assert len(first.stack_processes()) == 2


def test_a_port_taken_by_another_program_is_named_and_that_program_is_untouched(tmp_path: Path) -> None:
    dev = DevServer(tmp_path / "data")
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", int(dev.env["CLICKSTREAM_S3_PORT"])))
        squatter.listen(1)
        result = run_second(dev.env)
        assert result.returncode != 0
        line = one_line(result)
        assert f"port {dev.env['CLICKSTREAM_S3_PORT']}" in line and "CLICKSTREAM_S3_PORT" in line
        assert dev.stack_processes() == []  # nothing was started
        squatter.getsockname()  # still ours, still open
