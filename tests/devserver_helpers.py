"""`clickstream dev` as a user runs it, in a child process on free ports (the dev server tests' helper)."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from chalicelib.settings import Settings, from_env
from clickstream.localstack import free_port, wait_for_port
from clickstream.target import ROOT, local_env
from tests.factories import USER_AGENTS

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
        self._unread = ""  # output read_until took past the line it waited for

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
        self._unread = ""
        self.proc = subprocess.Popen(
            [str(COMMAND), "dev"], env=self.env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        wait_for_port(self.port, timeout_s=60, proc=self.proc)
        return self

    def read_until(self, text: str, timeout_s: float = 60) -> list[str]:
        """The server's output lines up to and including the first that holds ``text``. Read from
        the pipe itself (no buffered readline, which could keep a line that has arrived in its
        buffer while select waits for more); what came after the line goes to ``stop``'s output."""
        assert self.proc is not None and self.proc.stdout is not None
        fd, lines, pending = self.proc.stdout.fileno(), [], self._unread
        deadline = time.monotonic() + timeout_s
        while True:
            while "\n" in pending:
                line, pending = pending.split("\n", 1)
                lines.append(line + "\n")
                if text in line:
                    self._unread = pending
                    return lines
            left = deadline - time.monotonic()
            assert left > 0 and select.select([fd], [], [], left)[0], f"no line with {text!r} in {timeout_s} s: {lines}"
            chunk = os.read(fd, 65536)
            assert chunk, f"the server exited before a line with {text!r}: {lines}"
            pending += chunk.decode(errors="replace")

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> str:
        assert self.proc is not None
        self.proc.send_signal(sig)
        output, _ = self.proc.communicate(timeout=30)
        self.proc = None
        output, self._unread = self._unread + output, ""
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


def post(dev: DevServer, body: dict, **headers: str) -> requests.Response:
    sent = {"Content-Type": "application/json", "User-Agent": USER_AGENTS["safari_iphone"], "X-Api-Key": dev.key, **headers}
    return requests.post(f"{dev.url}/v1/events", data=json.dumps(body), headers=sent, timeout=30)
