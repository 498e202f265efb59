"""Ctrl-C on `make run` while its scheduler is mid-export releases the export lease: the next
`make run` (or `clickstream etl run`) exports at once instead of waiting 16 minutes."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from chalicelib import clients
from chalicelib.store.keys import EXPORT_STATE_KEY
from tests.devserver_helpers import DevServer, post
from tests.factories import batch, events


def lease_owner(dev: DevServer) -> str | None:
    item = clients.dynamodb(dev.settings).get_item(TableName=dev.settings.table, Key=EXPORT_STATE_KEY, ConsistentRead=True)
    return item.get("Item", {}).get("lease_owner", {}).get("S")


def test_ctrl_c_during_a_scheduled_export_releases_the_lease(tmp_path: Path) -> None:
    dev = DevServer(tmp_path / "data")
    dev.env.update({"CLICKSTREAM_EXPORT_EVERY_SECONDS": "1", "CLICKSTREAM_SETTLE_SECONDS": "0"})
    dev.start()
    s3rver = None
    try:
        assert post(dev, batch(*events(3))).status_code == 200
        # GIVEN the scheduler's export stuck on S3 while holding the lease
        s3rver = next(int(p.split()[0]) for p in _stack_pids(dev) if "s3rver" in p)
        os.kill(s3rver, signal.SIGSTOP)
        deadline = time.monotonic() + 60
        while lease_owner(dev) is None:
            assert time.monotonic() < deadline, "the scheduler never took the lease"
            time.sleep(0.2)
        # WHEN make run is stopped with Ctrl-C
        output = dev.stop(signal.SIGINT)
    finally:
        if s3rver is not None:
            try:
                os.kill(s3rver, signal.SIGCONT)
            except ProcessLookupError:
                pass
        if dev.proc is not None:
            dev.proc.kill()
    assert dev.wait_until_stack_gone() == []
    # THEN the next start finds the lease free
    dev.env["CLICKSTREAM_EXPORT_EVERY_SECONDS"] = "3600"
    dev.start()
    try:
        assert lease_owner(dev) is None, output
    finally:
        dev.stop()
        dev.wait_until_stack_gone()


def _stack_pids(dev: DevServer) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(dev.data_dir) in cmdline and "s3rver" in cmdline:
            found.append(f"{entry.name} {cmdline}")
    return found
