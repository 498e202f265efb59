"""Validation of one event against the contract. Pure: no clock, no I/O.

``validate_event`` returns a ``ValidEvent`` or raises ``InvalidEvent`` whose message
is ``"field: reason"``, the text the client sees in ``rejected[].error``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib.collect import limits
from chalicelib.errors import TerminalError

EVENT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")  # also what Segment's translation keeps or hashes into
# Epoch milliseconds between 2000-01-01 and 2100-01-01: anything else is a unit mistake.
_MIN_MS, _MAX_MS = 946_684_800_000, 4_102_444_800_000


class InvalidEvent(TerminalError):
    def __init__(self, field: str, reason: str, code: str = "invalid") -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.code = code


@dataclass(frozen=True, slots=True)
class ValidEvent:
    event_id: str
    event_type: str
    event_name: str | None
    timestamp_ms: int
    sent_at_ms: int | None
    anonymous_id: str | None
    user_id: str | None
    session_id: str | None
    url: str | None
    referrer: str | None
    title: str | None
    properties: dict[str, Any] | None
    context: dict[str, Any] | None
    # Segment's contract only (chalicelib.collect.segment): None for /v1/events.
    traits: dict[str, Any] | None = None
    group_id: str | None = None
    previous_id: str | None = None
    campaign: dict[str, str] | None = None  # utm_* from context.campaign, for those the URL lacks


def parse_time_ms(field: str, value: Any) -> int:
    """ISO-8601 with an offset, or integer epoch milliseconds, to epoch milliseconds."""
    if isinstance(value, bool):
        raise InvalidEvent(field, "must be an ISO-8601 string with offset or epoch milliseconds, got a boolean")
    if isinstance(value, int):
        if not _MIN_MS <= value <= _MAX_MS:
            raise InvalidEvent(field, f"epoch milliseconds {value} is outside 2000..2100 (seconds sent instead of ms?)")
        return value
    if isinstance(value, str):
        if len(value) > 40:
            raise InvalidEvent(field, "is too long for an ISO-8601 time")
        text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise InvalidEvent(field, f"{value!r} is not an ISO-8601 time") from None
        if parsed.tzinfo is None:
            raise InvalidEvent(field, f"{value!r} has no UTC offset; add Z or +hh:mm")
        ms = int(parsed.timestamp() * 1000)
        if not _MIN_MS <= ms <= _MAX_MS:
            raise InvalidEvent(field, f"{value!r} is outside 2000..2100")
        return ms
    raise InvalidEvent(field, f"must be an ISO-8601 string with offset or epoch milliseconds, got {type(value).__name__}")


def _string(event: dict[str, Any], field: str, max_len: int, required: bool = False) -> str | None:
    value = event.get(field)
    if value.__class__ is str and 0 < len(value) <= max_len:  # the common case, checked first
        return value
    return text_field(field, value, max_len, required)


def text_field(field: str, value: Any, max_len: int, required: bool = False) -> str | None:
    """The rule for a text field's value: a string of at most ``max_len`` characters, empty as
    absent. Segment's translation applies it to its values directly (chalicelib.collect.segment)."""
    if value.__class__ is str and 0 < len(value) <= max_len:
        return value
    if value is None:
        if required:
            raise InvalidEvent(field, "is required", code="missing")
        return None
    if not isinstance(value, str):
        raise InvalidEvent(field, f"must be a string, got {type(value).__name__}")
    if required and not value:
        raise InvalidEvent(field, "must not be empty", code="missing")
    if len(value) > max_len:
        raise InvalidEvent(field, f"is {len(value)} characters, the limit is {max_len}", code="too_long")
    return value or None


def _number(field: str, value: Any, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise InvalidEvent(field, "must be a number")
    if not lo <= value <= hi:
        raise InvalidEvent(field, f"{value} is outside {lo}..{hi}")
    return float(value)


def _context(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidEvent("context", f"must be an object, got {type(value).__name__}")
    for field in ("locale", "timezone"):
        item = value.get(field)
        if item is not None and (not isinstance(item, str) or len(item) > limits.MAX_SHORT):
            raise InvalidEvent(f"context.{field}", f"must be a string of at most {limits.MAX_SHORT} characters")
    screen = value.get("screen")
    if screen is not None:
        if not isinstance(screen, dict):
            raise InvalidEvent("context.screen", "must be an object {width, height}")
        for side in ("width", "height"):
            if screen.get(side) is not None:
                size = screen[side]
                if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= 100_000:
                    raise InvalidEvent(f"context.screen.{side}", "must be an integer between 0 and 100000")
    geo = value.get("geo")
    if geo is not None:
        if not isinstance(geo, dict):
            raise InvalidEvent("context.geo", "must be an object {lat, lon, accuracy}")
        if "lat" not in geo or "lon" not in geo:
            raise InvalidEvent("context.geo", "needs both lat and lon")
        _number("context.geo.lat", geo["lat"], -90, 90)
        _number("context.geo.lon", geo["lon"], -180, 180)
        if geo.get("accuracy") is not None:
            _number("context.geo.accuracy", geo["accuracy"], 0, 1e7)
    return value


def validate_event(event: Any, event_types: frozenset[str] = limits.EVENT_TYPES, segment: bool = False) -> ValidEvent:
    """``event_types`` and ``segment`` widen the contract for translated Segment messages:
    their extra types, and the fields ``traits``, ``group_id``, ``previous_id``, ``campaign``."""
    if not isinstance(event, dict):
        raise InvalidEvent("event", f"must be an object, got {type(event).__name__}")
    event_id = event.get("event_id")
    if event_id is None:
        raise InvalidEvent("event_id", "is required", code="missing")
    if not isinstance(event_id, str) or not EVENT_ID.fullmatch(event_id):
        raise InvalidEvent("event_id", "must be 1 to 64 characters of A-Z a-z 0-9 _ -")
    event_type = event.get("event_type")
    if event_type is None:
        raise InvalidEvent("event_type", "is required", code="missing")
    if not isinstance(event_type, str) or event_type not in event_types:  # a list or object is unhashable
        raise InvalidEvent("event_type", f"{str(event_type)[:40]!r} is not one of {', '.join(sorted(event_types))}")
    event_name = _string(event, "event_name", limits.MAX_EVENT_NAME)
    if event_type == "custom" and not event_name:
        raise InvalidEvent("event_name", "is required for custom events", code="missing")
    if event.get("timestamp") is None:
        raise InvalidEvent("timestamp", "is required", code="missing")
    timestamp_ms = parse_time_ms("timestamp", event["timestamp"])
    sent_at = event.get("sent_at")
    sent_at_ms = None if sent_at is None else parse_time_ms("sent_at", sent_at)
    properties = event.get("properties")
    if properties is not None and not isinstance(properties, dict):
        raise InvalidEvent("properties", f"must be an object, got {type(properties).__name__}")
    extras: dict[str, Any] = {}
    if segment and ("traits" in event or "group_id" in event or "previous_id" in event or "campaign" in event):
        traits = event.get("traits")
        if traits is not None and not isinstance(traits, dict):
            raise InvalidEvent("traits", f"must be an object, got {type(traits).__name__}")
        extras = {
            "traits": traits or None,
            "group_id": _string(event, "group_id", limits.MAX_ID),
            "previous_id": _string(event, "previous_id", limits.MAX_ID),
            "campaign": event.get("campaign"),
        }
    return ValidEvent(
        event_id=event_id,
        event_type=event_type,
        event_name=event_name,
        timestamp_ms=timestamp_ms,
        sent_at_ms=sent_at_ms,
        anonymous_id=_string(event, "anonymous_id", limits.MAX_ID),  # absent: cookieless, derived by the API
        user_id=_string(event, "user_id", limits.MAX_ID),
        session_id=_string(event, "session_id", limits.MAX_ID),
        url=_string(event, "url", limits.MAX_URL),
        referrer=_string(event, "referrer", limits.MAX_URL),
        title=_string(event, "title", limits.MAX_TITLE),
        properties=properties or None,
        context=_context(event.get("context")),
        **extras,
    )
