"""Starts and stops the local stand-ins: dynalite (DynamoDB) and s3rver (S3), from node_modules.

Both persist under a data directory, so stored events survive a restart. Used by
``make run`` (through ``clickstream dev``) and by the integration tests.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "node_modules" / ".bin"


def _die_with_parent() -> None:
    """Linux: the child gets SIGTERM when `clickstream dev` dies, even by SIGKILL."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something listens on (or holds) ``port``; TIME_WAIT leftovers do not count."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def wait_for_port(port: int, timeout_s: float = 20.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process {proc.args!r} exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listened on 127.0.0.1:{port} within {timeout_s}s")


@dataclass
class LocalStack:
    data_dir: Path
    dynamodb_port: int = 8001
    s3_port: int = 8002
    quiet: bool = True
    procs: list[subprocess.Popen] = field(default_factory=list)

    @property
    def dynamodb_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.dynamodb_port}"

    @property
    def s3_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    def env(self) -> dict[str, str]:
        return {
            "CLICKSTREAM_DYNAMODB_ENDPOINT": self.dynamodb_endpoint,
            "CLICKSTREAM_S3_ENDPOINT": self.s3_endpoint,
        }

    def start(self) -> "LocalStack":
        for tool in ("dynalite", "s3rver"):
            if not (BIN / tool).exists():
                raise RuntimeError(f"{BIN / tool} is missing; run `npm ci` (make does it for you)")
        dyn_dir = self.data_dir / "dynamodb"
        s3_dir = self.data_dir / "s3"
        dyn_dir.mkdir(parents=True, exist_ok=True)
        s3_dir.mkdir(parents=True, exist_ok=True)
        out = subprocess.DEVNULL if self.quiet else None
        node = shutil.which("node") or "node"
        dynalite = subprocess.Popen(
            [
                node,
                str(BIN / "dynalite"),
                "--port",
                str(self.dynamodb_port),
                "--path",
                str(dyn_dir),
                "--createTableMs",
                "0",
                "--deleteTableMs",
                "0",
                "--updateTableMs",
                "0",
            ],
            stdout=out,
            stderr=out,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        self.procs.append(dynalite)
        s3rver = subprocess.Popen(
            [
                node,
                str(BIN / "s3rver"),
                "--address",
                "127.0.0.1",
                "--port",
                str(self.s3_port),
                "--directory",
                str(s3_dir),
                "--silent",
                "--allow-mismatched-signatures",
                "--no-vhost-buckets",
            ],
            stdout=out,
            stderr=out,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        self.procs.append(s3rver)
        try:
            wait_for_port(self.dynamodb_port, proc=dynalite)
            wait_for_port(self.s3_port, proc=s3rver)
        except Exception:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for proc in self.procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        self.procs.clear()

    def __enter__(self) -> "LocalStack":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
