"""What `make run` adds beyond the API: the export scheduler (every 60 s) and local-only pages."""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from chalicelib.settings import Settings

log = logging.getLogger("clickstream.dev")
EVERY_S = float(os.environ.get("CLICKSTREAM_EXPORT_EVERY_SECONDS", "60"))


def pages(settings: Settings) -> dict[str, Any]:
    """/dashboard: the spec's panels over the local lake (clickstream/dashboard)."""
    from clickstream.dashboard import pages as dashboard_pages

    return dashboard_pages(settings)


def start_background(settings: Settings, stop: threading.Event) -> threading.Thread:
    """The local stand-in for the EventBridge schedule: one export pass a minute."""
    from chalicelib.export.handlers import exporter

    def loop() -> None:
        export = exporter(settings, invoke=None)
        while not stop.wait(EVERY_S):
            try:
                report = export.run_once()
                if report.events or report.rejected or report.compacted_partitions:
                    print(
                        f"export: {report.events} events, {report.rejected} rejected, {report.files} files, lag {report.lag_s} s",
                        flush=True,
                    )
            except Exception as exc:  # keep the scheduler alive, like the next EventBridge tick would
                print(f"export failed (the next run retries): {exc}", flush=True)

    thread = threading.Thread(target=loop, name="export-scheduler", daemon=True)
    thread.start()
    return thread
