"""One live snapshot: settled minutes from their summaries, the rest raw, missing summaries stored.

Cost follows time, not viewers: a settled minute is summarised once (by the first poll that
needs it) and read as one small item by every later poll; only the running minute and the
settle delay before it are read raw, and a short per-process cache shares that read among
the viewers a warm Lambda serves. Nobody watching: no reads, no writes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from chalicelib.lake.rows import decode_row
from chalicelib.live import summary
from chalicelib.settings import Settings
from chalicelib.store import live as store

CACHE_SECONDS = 5.0


def snapshot(client: Any, settings: Settings, app_id: str, now_ms: int) -> tuple[dict[str, Any], store.Usage]:
    usage = store.Usage()
    p = summary.plan(now_ms, settings.settle_seconds * 1000)
    stored: dict[int, summary.Summary] = {}
    if p.settled:
        stored = store.read_summaries(client, settings.table, app_id, p.settled[0], p.settled[-1], usage)
    missing = [m for m in p.settled if m not in stored]
    # One raw read covers the missing settled minutes (if any) and the unsettled tail.
    raw_from = min(missing[0] - 1, p.raw_from_ms) if missing else p.raw_from_ms
    stored_items = store.read_events(
        client, settings.table, app_id, raw_from, now_ms, settings.write_shards, usage, consistent=bool(missing)
    )
    rows = [decode_row(d) for d in stored_items]
    fresh = {m: summary.summarize(rs) for m, rs in summary.by_minute(rows).items()}
    new = {m: fresh.get(m) or summary.summarize([]) for m in missing}
    store.write_summaries(client, settings.table, app_id, new, usage)
    body = summary.combine(p, {**fresh, **stored})
    return body, usage


class Cache:
    """Per-process answers per app for a few seconds: many viewers, one read."""

    def __init__(self, seconds: float = CACHE_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self._seconds = seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._answers: dict[str, tuple[float, dict[str, Any]]] = {}

    def get(self, app_id: str, compute: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], bool]:
        now = self._clock()
        with self._lock:
            hit = self._answers.get(app_id)
        if hit and hit[0] > now:
            return hit[1], True
        body = compute()
        with self._lock:
            self._answers[app_id] = (now + self._seconds, body)
        return body, False


class Throttle:
    """A token bucket per read key: ``rate`` requests per second, bursts of ``burst``.

    Per process; API Gateway's stage throttling (deploy/resources.yaml) bounds the total.
    """

    def __init__(self, rate: float = 1.0, burst: float = 20.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate, self._burst, self._clock = rate, burst, clock
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}

    def allow(self, key: str) -> float:
        """0.0 if allowed now, else the seconds to wait."""
        now = self._clock()
        with self._lock:
            tokens, at = self._buckets.get(key, (self._burst, now))
            tokens = min(self._burst, tokens + (now - at) * self._rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self._rate
