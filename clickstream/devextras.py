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
    """The local stand-in for the EventBridge schedule: one export pass a minute.

    The thread dies with the process; ``release_lease(thread)`` on the way out frees the
    export lease a run of it may hold (its window is pending, so the next run finishes it).
    """
    from chalicelib.export.handlers import exporter

    export = exporter(settings, invoke=None)

    def loop() -> None:
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
    thread.exporter = export  # type: ignore[attr-defined]
    thread.start()
    return thread


def release_lease(thread: threading.Thread | None) -> None:
    """Free the lease if the scheduler holds it (a conditional write on its own owner id: a no-op otherwise)."""
    export = getattr(thread, "exporter", None)
    if export is None:
        return
    try:
        export.state.release(export.owner)
    except Exception as exc:  # storage already gone: the lease expires on its own
        log.warning("export lease not released: %s", exc)
