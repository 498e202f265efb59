"""What `make run` adds beyond the API: background jobs and local-only pages.

Filled in as the export (scheduler every 60 s) and the dashboard land.
"""

from __future__ import annotations

import threading
from typing import Any

from chalicelib.settings import Settings


def pages(settings: Settings) -> dict[str, Any]:
    return {}


def start_background(settings: Settings, stop: threading.Event) -> None:
    return None
