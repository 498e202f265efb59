"""The event contract's limits, in one place (docs/openapi.yaml states the same numbers)."""

from __future__ import annotations

MAX_EVENTS_PER_REQUEST = 500
MAX_REQUEST_BYTES = 1024 * 1024
MAX_EVENT_BYTES = 32 * 1024
MAX_REJECTED_RAW_BYTES = 8 * 1024

EVENT_TYPES = frozenset({"page_view", "click", "scroll", "form_submit", "conversion", "video_play", "custom"})
MAX_EVENT_NAME = 128
MAX_ID = 128  # anonymous_id, user_id, session_id
MAX_URL = 4096
MAX_TITLE = 1024
MAX_SHORT = 64  # locale, timezone
