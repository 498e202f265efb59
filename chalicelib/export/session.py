"""What work holding the export lease may use: the lake, the reader, the table, the lease.

``Exporter.exclusive()`` hands one out to operator work on the lake (backfill, erasure), so
they need nothing of the exporter's insides and the export never imports them. While the
session lives no export run can start, so nothing writes rows behind the work's back:

    erase:  acquire lease ── resume compaction ── finish pending run (awaiting workers that
            claimed a group) ── delete rows ── rewrite files ── release
    export:        acquire lease ╳ LeaseHeld (skipped) ..................... next run ok

A session outliving ``lease_ms`` must ``renew()`` between steps, or a run may take over.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from chalicelib.export.reader import RawQuery
from chalicelib.lake.parquetio import Lake
from chalicelib.settings import Settings


@dataclass(frozen=True)
class Session:
    settings: Settings
    lake: Lake
    reader: RawQuery
    table: Any  # the DynamoDB client
    seq: int  # the last committed run; a session's own writes may borrow it for names
    crash: Callable[[str], None]
    renew: Callable[[], None]  # extend the lease by its full length
