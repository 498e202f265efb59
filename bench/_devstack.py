"""`clickstream dev` in a child process on free loopback ports, for the HTTP benchmarks and the fault run.

Knows the processes it started (the dev server, and the dynalite/s3rver it spawned for this
data dir) by pid, so it measures their CPU time and signals only them.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from clickstream.localstack import free_port, wait_for_port
from clickstream.target import ROOT

COMMAND = Path(sys.executable).parent / "clickstream"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """user + system CPU seconds of one process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


class DevStack:
    def __init__(self, data_dir: Path | None = None, extra_env: dict[str, str] | None = None) -> None:
        self._tmp = None if data_dir else tempfile.TemporaryDirectory(prefix="clickstream-bench-")
        self.data_dir = data_dir or Path(self._tmp.name)  # type: ignore[union-attr]
        self.port, self.dynamodb_port, self.s3_port = free_port(), free_port(), free_port()
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("CLICKSTREAM_")},
            "CLICKSTREAM_PORT": str(self.port),
            "CLICKSTREAM_DYNAMODB_PORT": str(self.dynamodb_port),
            "CLICKSTREAM_S3_PORT": str(self.s3_port),
            "CLICKSTREAM_DATA_DIR": str(self.data_dir),
            "CLICKSTREAM_EXPORT_EVERY_SECONDS": "100000",  # exports only when the caller runs them
            **(extra_env or {}),
        }
        self.proc: subprocess.Popen | None = None
        self.log = self.data_dir / "dev.log"

    def start(self) -> DevStack:
        self.proc = subprocess.Popen(
            [str(COMMAND), "dev"], env=self.env, cwd=ROOT, stdout=self.log.open("ab"), stderr=subprocess.STDOUT
        )
        wait_for_port(self.port, timeout_s=90, proc=self.proc)
        return self

    @property
    def key(self) -> str:
        return str(json.loads((self.data_dir / "demo-app.json").read_text())["write_key"])

    @property
    def app_id(self) -> str:
        return str(json.loads((self.data_dir / "demo-app.json").read_text())["app_id"])

    def cli_env(self) -> dict[str, str]:
        """What `clickstream …` needs to talk to this stack."""
        return {k: v for k, v in self.env.items() if k != "CLICKSTREAM_EXPORT_EVERY_SECONDS"}

    def child_pid(self, tool: str) -> int:
        """The pid of the dynalite or s3rver serving this data dir (a child of our dev server)."""
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if tool in cmdline and str(self.data_dir) in cmdline and self.proc is not None and ppid == self.proc.pid:
                return int(entry.name)
        raise LookupError(f"no {tool} of ours for {self.data_dir}")

    def cpu(self) -> dict[str, float]:
        assert self.proc is not None
        out = {"api": cpu_seconds(self.proc.pid)}
        for tool in ("dynalite", "s3rver"):
            try:
                out[tool] = cpu_seconds(self.child_pid(tool))
            except (LookupError, OSError):
                out[tool] = 0.0
        return out

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, dict(resp.getheaders()), resp.read()
        finally:
            conn.close()

    def stop(self) -> str:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        if self._tmp is not None:
            self._tmp.cleanup()
        return text

    def __enter__(self) -> DevStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
