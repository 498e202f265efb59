"""Cookieless visitor ids: a keyed hash of (app_id, client IP, user agent) under a random daily salt.

* Salts are 32 random bytes, one per UTC day, created on first use with a conditional put
  (concurrent API functions agree on one), kept in DynamoDB with ``expires_at`` = end of the
  next day, and deleted by this code too — the design never relies on TTL to forget them.
* An event's salt is that of its (skew-corrected) UTC day, so a visitor keeps one id within
  a day and gets a new one the next. Yesterday's salt stays readable for 48 h: events
  timestamped before midnight but delivered after (a beacon at 00:02 closing a 23:50
  session) still get yesterday's id. Older events get the oldest live salt.
* Salts are never logged and never derived from the date or a static secret: once a salt is
  gone, nothing stored (the id, the anonymised IP, the user agent) lets anyone recompute it.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.store import keys, random_secret, retry

PREFIX = "ck-"
KEEP_DAYS = 2


def utc_day(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=timezone.utc).date().isoformat()


def derive(salt: bytes, app_id: str, ip: str | None, user_agent: str | None) -> str:
    digest = hmac.new(salt, f"{app_id}\x1f{ip or ''}\x1f{user_agent or ''}".encode(), hashlib.sha256).hexdigest()
    return PREFIX + digest[:32]


class SaltStore:
    def __init__(self, client: Any, table: str, clock: Callable[[], float] = time.time) -> None:
        self._client = client
        self._table = table
        self._clock = clock
        self._cache: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def salt_for(self, event_ms: int) -> bytes:
        """The salt of the event's UTC day, clamped to the live ones (yesterday, today)."""
        today = utc_day(self._now_ms())
        yesterday = (datetime.fromisoformat(today) - timedelta(days=1)).date().isoformat()
        day = utc_day(event_ms)
        day = today if day > today else yesterday if day < yesterday else day
        with self._lock:
            cached = self._cache.get(day)
        if cached is not None:
            return cached
        salt = self._load_or_create(day)
        with self._lock:
            self._cache = {d: s for d, s in self._cache.items() if d >= yesterday}
            self._cache[day] = salt
        return salt

    def _load_or_create(self, day: str) -> bytes:
        key = keys.salt_key(day)
        expires = int((datetime.fromisoformat(day).replace(tzinfo=timezone.utc) + timedelta(days=KEEP_DAYS)).timestamp())
        try:
            salt, created = random_secret.get_or_create(
                self._client, self._table, key, "salt", {"expires_at": {"N": str(expires)}}
            )
            if created:
                self._forget_old()
            return salt
        except (ClientError, BotoCoreError) as exc:
            raise retry.storage_error(f"daily salt unavailable: {exc.__class__.__name__}", exc) from exc

    def _forget_old(self) -> None:
        """Delete salts older than yesterday (TTL would too, within ~48 h; this is immediate)."""
        today = utc_day(self._now_ms())
        oldest_live = (datetime.fromisoformat(today) - timedelta(days=KEEP_DAYS - 1)).date().isoformat()
        resp = self._client.query(
            TableName=self._table,
            **keys.partition_query(keys.SALTS_PK, sk_below=oldest_live),
            ProjectionExpression=keys.KEY_PROJECTION,
        )
        for item in resp.get("Items", []):
            self._client.delete_item(TableName=self._table, Key=keys.key_of(item))
