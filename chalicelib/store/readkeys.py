"""Read keys: per-app Bearer tokens for the read endpoints (GET /v1/live), never the write key.

A write key sits in every page's HTML, so anything it unlocked would be public. A read key is
a separate secret (prefix ``csr_``), stored only as its SHA-256 under its own partition, with
scopes (today only ``live``), an optional expiry and a revocation time. A dashboard share
link is a read key with an expiry. The write keys live under another partition
(chalicelib.store.apps), so a write key can never resolve here.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.errors import StorageUnavailable, TerminalError, UnknownKey
from chalicelib.store import keys
from chalicelib.store.keys import READ_KEYS_PK, SK, read_key_key

READ_KEY_PREFIX = "csr_"
SCOPES = ("live",)


def hash_read_key(read_key: str) -> str:
    return hashlib.sha256(read_key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ReadKey:
    key_hash: str
    app_id: str
    prefix: str
    scopes: tuple[str, ...]
    created_at: int  # epoch ms
    expires_at: int | None = None  # epoch ms; None: until revoked
    revoked_at: int | None = None
    label: str = ""

    def usable(self, scope: str, now_ms: int) -> bool:
        return self.revoked_at is None and scope in self.scopes and (self.expires_at is None or now_ms < self.expires_at)


class KeyRefused(UnknownKey):
    """A read key that exists but may not do this (expired, revoked, other scope, other app)."""


def _wrap(exc: Exception, what: str) -> StorageUnavailable:
    return StorageUnavailable(f"DynamoDB failed while {what}: {exc}")


def _from_item(item: dict[str, Any]) -> ReadKey:
    return ReadKey(
        key_hash=item[SK]["S"],
        app_id=item["app_id"]["S"],
        prefix=item["prefix"]["S"],
        scopes=tuple(s["S"] for s in item.get("scopes", {}).get("L", [])),
        created_at=int(item["created_at"]["N"]),
        expires_at=int(item["key_expires_at"]["N"]) if "key_expires_at" in item else None,
        revoked_at=int(item["revoked_at"]["N"]) if "revoked_at" in item else None,
        label=item.get("label", {}).get("S", ""),
    )


class ReadKeyStore:
    """Create, list, revoke and resolve read keys; resolving reads through a short cache."""

    def __init__(self, client: Any, table: str, cache_seconds: float = 60.0, clock: Callable[[], float] = time.time) -> None:
        self._client = client
        self._table = table
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._cache: dict[str, tuple[float, ReadKey | None]] = {}
        self._lock = threading.Lock()

    def create(
        self, app_id: str, scopes: tuple[str, ...] = SCOPES, expires_in_s: int | None = None, label: str = ""
    ) -> tuple[ReadKey, str]:
        """A new key for ``app_id``; returns (record, key in clear: shown once, stored hashed)."""
        bad = [s for s in scopes if s not in SCOPES]
        if bad or not scopes:
            raise TerminalError(f"scopes {list(scopes)} must be a non-empty subset of {list(SCOPES)}; no key was created")
        if expires_in_s is not None and expires_in_s <= 0:
            raise TerminalError(f"expiry of {expires_in_s} s must be positive; no key was created")
        now = int(self._clock() * 1000)
        clear = READ_KEY_PREFIX + secrets.token_urlsafe(24)
        key = ReadKey(
            hash_read_key(clear),
            app_id,
            clear[:9],
            tuple(scopes),
            now,
            now + expires_in_s * 1000 if expires_in_s else None,
            None,
            label.strip()[:200],
        )
        item: dict[str, Any] = {
            **read_key_key(key.key_hash),
            "app_id": {"S": app_id},
            "prefix": {"S": key.prefix},
            "scopes": {"L": [{"S": s} for s in key.scopes]},
            "created_at": {"N": str(now)},
        }
        if key.expires_at is not None:
            item["key_expires_at"] = {"N": str(key.expires_at)}
        if key.label:
            item["label"] = {"S": key.label}
        try:
            self._client.put_item(TableName=self._table, Item=item, ConditionExpression=keys.ITEM_ABSENT)
        except (ClientError, BotoCoreError) as exc:
            raise _wrap(exc, "storing a read key") from exc
        return key, clear

    def list(self, app_id: str | None = None) -> list[ReadKey]:
        def query(**kwargs: Any) -> dict[str, Any]:
            try:
                return self._client.query(**kwargs)
            except (ClientError, BotoCoreError) as exc:
                raise _wrap(exc, "listing read keys") from exc

        pages = keys.pages(query, {"TableName": self._table, **keys.partition_query(READ_KEYS_PK)})
        found = [_from_item(i) for page in pages for i in page.get("Items", [])]
        return sorted((k for k in found if app_id is None or k.app_id == app_id), key=lambda k: (k.app_id, k.created_at))

    def revoke(self, key_or_prefix: str) -> ReadKey:
        """Revoke a key given in clear, by its SHA-256, or by its unique shown prefix."""
        if key_or_prefix.startswith(READ_KEY_PREFIX) and len(key_or_prefix) > 12:
            key_hash = hash_read_key(key_or_prefix)
        elif re.fullmatch(r"[0-9a-f]{64}", key_or_prefix):
            key_hash = key_or_prefix
        else:
            matches = [k for k in self.list() if k.prefix == key_or_prefix]
            if len(matches) != 1:
                raise TerminalError(
                    f"{key_or_prefix!r} matches {len(matches)} read keys; give the key, its hash or a unique prefix"
                )
            key_hash = matches[0].key_hash
        try:
            resp = self._client.update_item(
                TableName=self._table,
                Key=read_key_key(key_hash),
                UpdateExpression="SET revoked_at = :now",
                ConditionExpression=f"attribute_exists({keys.PK})",
                ReturnValues="ALL_NEW",
                ExpressionAttributeValues={":now": {"N": str(int(self._clock() * 1000))}},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise TerminalError("no such read key; nothing was revoked") from exc
            raise _wrap(exc, "revoking a read key") from exc
        except BotoCoreError as exc:
            raise _wrap(exc, "revoking a read key") from exc
        with self._lock:
            self._cache.pop(key_hash, None)
        return _from_item(resp["Attributes"])

    def resolve(self, bearer: str | None, scope: str, app_id: str | None = None) -> ReadKey:
        """The key behind ``Authorization: Bearer <key>``, if it may read ``scope`` of ``app_id``.

        Raises ``UnknownKey`` (missing or unknown: the caller answers 401) or ``KeyRefused``
        (expired, revoked, wrong scope or another app's key: 403). Expiry is checked on
        every call; a revocation is seen within the cache time (``cache_seconds``).
        """
        if not bearer:
            raise UnknownKey("missing read key: send it as Authorization: Bearer csr_...")
        if not bearer.startswith(READ_KEY_PREFIX):
            # Also what a write key (cs_...) gets: read endpoints never accept one.
            raise UnknownKey("not a read key: read endpoints take a read key (csr_...), never a write key")
        key_hash = hash_read_key(bearer)
        now = self._clock()
        with self._lock:
            hit = self._cache.get(key_hash)
        if hit and hit[0] > now:
            key = hit[1]
        else:
            try:
                item = self._client.get_item(TableName=self._table, Key=read_key_key(key_hash), ConsistentRead=True).get("Item")
            except (ClientError, BotoCoreError) as exc:
                raise _wrap(exc, "reading a read key") from exc
            key = _from_item(item) if item else None
            if self._cache_seconds > 0:
                with self._lock:
                    self._cache[key_hash] = (now + self._cache_seconds, key)
        if key is None:
            raise UnknownKey("unknown read key")
        now_ms = int(now * 1000)
        if key.revoked_at is not None:
            raise KeyRefused(f"read key {key.prefix}… was revoked")
        if key.expires_at is not None and now_ms >= key.expires_at:
            raise KeyRefused(f"read key {key.prefix}… expired")
        if scope not in key.scopes:
            raise KeyRefused(f"read key {key.prefix}… may not read {scope!r} (scopes: {', '.join(key.scopes)})")
        if app_id is not None and app_id != key.app_id:
            raise KeyRefused(f"read key {key.prefix}… belongs to another app than {app_id!r}")
        return key
