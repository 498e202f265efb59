"""Factories for events, batches and user agents, so tests say only what matters to them.

``event()`` is a realistic page view that passes validation; a test overrides the fields
it is about (``event(event_type="click")``) or removes one (``event(anonymous_id=ABSENT)``).
"""

from __future__ import annotations

import itertools
import json
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

ABSENT = object()  # pass as an override to leave a field out of the event

_counter = itertools.count()

USER_AGENTS: dict[str, str] = {
    "chrome_windows": (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
    ),
    "safari_iphone": (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/"
        "17.1 Mobile/15E148 Safari/604.1"
    ),
    "safari_ipad": (
        "Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/"
        "15E148 Safari/604.1"
    ),
    "safari_mac": (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15"
    ),
    "firefox_android_phone": "Mozilla/5.0 (Android 13; Mobile; rv:120.0) Gecko/120.0 Firefox/120.0",
    "firefox_android_tablet": "Mozilla/5.0 (Android 13; Tablet; rv:120.0) Gecko/120.0 Firefox/120.0",
    "chrome_android_tablet": (
        "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
    ),
    "chrome_android_cubot": (
        "Mozilla/5.0 (Linux; Android 10; CUBOT X30) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36"
    ),
    "edge_windows": (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/"
        "537.36 Edg/120.0.2210.91"
    ),
    "googlebot": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "googlebot_smartphone": (
        "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.6099.216 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
    ),
    "bingbot": "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "curl": "curl/8.4.0",
    "python_requests": "python-requests/2.31.0",
    "headless_chrome": (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36"
    ),
}


def now_ms() -> int:
    return int(time.time() * 1000)


def iso(epoch_ms: int, offset: str = "Z") -> str:
    """ISO-8601 text of ``epoch_ms`` written in the zone ``offset`` ("Z", "+05:30", "-08:00")."""
    if offset == "Z":
        zone = timezone.utc
    else:
        sign = -1 if offset[0] == "-" else 1
        hours, minutes = offset[1:].split(":")
        zone = timezone(sign * timedelta(hours=int(hours), minutes=int(minutes)))
    text = datetime.fromtimestamp(epoch_ms / 1000, tz=zone).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z") if offset == "Z" else text


def event_id() -> str:
    return f"ev-{next(_counter)}-{uuid.uuid4().hex[:12]}"


def event(**overrides: Any) -> dict[str, Any]:
    """A valid page view sent a moment ago; ``overrides`` replace (or, with ABSENT, remove) fields."""
    sent = now_ms() - 50
    base: dict[str, Any] = {
        "event_id": event_id(),
        "event_type": "page_view",
        "timestamp": sent - 1_000,
        "sent_at": sent,
        "anonymous_id": "anon-7f3c2a",
        "session_id": "sess-42",
        "url": "https://shop.example/products/espresso?utm_source=newsletter&utm_medium=email&utm_campaign=spring",
        "referrer": "https://www.google.com/search?q=espresso",
        "title": "Espresso machine",
        "properties": {"price": 349.5, "sku": "ESP-1"},
        "context": {
            "locale": "de-DE",
            "timezone": "Europe/Berlin",
            "screen": {"width": 1920, "height": 1080},
        },
    }
    for name, value in overrides.items():
        if value is ABSENT:
            base.pop(name, None)
        else:
            base[name] = value
    return base


def clicked(event_id: str | None = None, ts_ms: int | None = None, **overrides: Any) -> dict[str, Any]:
    """The export tests' event: a click with a given id and client time, no sent_at (so the
    event time is ``ts_ms`` exactly) and only the fields the lake tests read back."""
    preset: dict[str, Any] = {
        "event_id": event_id or uuid.uuid4().hex,
        "event_type": "click",
        "event_name": "LIKE_WOOD",
        "timestamp": ts_ms if ts_ms is not None else now_ms(),
        "sent_at": ABSENT,
        "anonymous_id": "anon-1",
        "session_id": "s-1",
        "url": "https://shop.example.com/wood?utm_source=news&utm_campaign=spring",
        "referrer": ABSENT,
        "title": ABSENT,
        "properties": {"item_index": "3"},
        "context": ABSENT,
    }
    return event(**{**preset, **overrides})


def events(n: int, **overrides: Any) -> list[dict[str, Any]]:
    return [event(**overrides) for _ in range(n)]


def batch(*evs: dict[str, Any]) -> dict[str, Any]:
    return {"events": list(evs)}


def body(payload: Any) -> bytes:
    return json.dumps(payload).encode()
