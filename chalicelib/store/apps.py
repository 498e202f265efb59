"""Apps, their write keys (stored as SHA-256, never in clear) and their allowed origins."""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.errors import StorageRefused, StorageUnavailable, TerminalError, UnknownKey
from chalicelib.store import keys, retry

KEY_PREFIX = "cs_"
_APP_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,47}")
IP_MODES = ("anonymize", "drop", "keep")


@dataclass(frozen=True)
class App:
    app_id: str
    name: str
    origins: tuple[str, ...] = ()
    ip_mode: str = "anonymize"
    created_at: int = 0
    retention_days: int | None = None  # None: keep the lake's events forever
    keys: tuple[dict[str, Any], ...] = field(default=(), compare=False)


def hash_key(write_key: str) -> str:
    return hashlib.sha256(write_key.encode("utf-8")).hexdigest()


def normalize_origin(origin: str) -> str:
    origin = origin.strip().rstrip("/")
    if not re.fullmatch(r"https?://[A-Za-z0-9.-]+(:\d{1,5})?", origin):
        raise TerminalError(f"origin {origin!r} must look like https://example.com (scheme, host, optional port)")
    return origin.lower()


def slug(name: str) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "app"
    return base


def _wrap(exc: Exception, what: str) -> StorageUnavailable | StorageRefused:
    return retry.storage_error(f"DynamoDB failed while {what}: {exc}", exc)


class AppStore:
    """Apps and keys in the single table. Reads through a small TTL cache for the API."""

    def __init__(self, client: Any, table: str, cache_seconds: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._client = client
        self._table = table
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._cache: dict[tuple[str, str], tuple[float, Any]] = {}
        self._lock = threading.Lock()

    # -- cache -------------------------------------------------------------
    def _cached(self, key: tuple[str, str], load: Callable[[], Any]) -> Any:
        now = self._clock()
        with self._lock:
            hit = self._cache.get(key)
        if hit and hit[0] > now:
            return hit[1]
        value = load()
        if self._cache_seconds > 0:
            with self._lock:
                self._cache[key] = (now + self._cache_seconds, value)
        return value

    # -- reads -------------------------------------------------------------
    def _get(self, key: dict[str, Any]) -> dict[str, Any] | None:
        try:
            return self._client.get_item(TableName=self._table, Key=key, ConsistentRead=True).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise _wrap(exc, "reading an app or key") from exc

    def get_app(self, app_id: str) -> App | None:
        item = self._get(keys.app_key(app_id))
        return _app_from_item(item) if item else None

    def resolve(self, write_key: str | None) -> App:
        """The app a write key belongs to; ``UnknownKey`` if missing, unknown or revoked."""
        if not write_key:
            raise UnknownKey("missing write key: send it in the X-Api-Key header or the key query parameter")
        key_hash = hash_key(write_key)

        def load() -> App | None:
            item = self._get(keys.write_key_key(key_hash))
            if not item or "revoked_at" in item:
                return None
            return self.get_app(item["app_id"]["S"])

        app = self._cached(("key", key_hash), load)
        if app is None:
            raise UnknownKey("unknown or revoked write key; events were not stored")
        return app

    def origin_known(self, origin: str) -> bool:
        """Whether any app allows ``origin`` (answers a preflight that carries no key)."""

        def load() -> bool:
            try:
                resp = self._client.query(
                    TableName=self._table,
                    KeyConditionExpression="pk = :pk",
                    ExpressionAttributeValues={":pk": {"S": f"origin#{origin.lower()}"}},
                    Limit=1,
                )
            except (ClientError, BotoCoreError) as exc:
                raise _wrap(exc, "checking an origin") from exc
            return bool(resp.get("Items"))

        return self._cached(("origin", origin.lower()), load)

    def list_apps(self) -> list[App]:
        apps = [_app_from_item(i) for i in self._query_all(keys.APPS_PK)]
        by_app: dict[str, list[dict[str, Any]]] = {}
        for item in self._query_all(keys.KEYS_PK):
            by_app.setdefault(item["app_id"]["S"], []).append(
                {
                    "prefix": item["prefix"]["S"],
                    "created_at": int(item["created_at"]["N"]),
                    "revoked": "revoked_at" in item,
                }
            )
        return [replace(a, keys=tuple(by_app.get(a.app_id, []))) for a in apps]

    def _query_all(self, pk: str) -> list[dict[str, Any]]:
        def query(**kwargs: Any) -> dict[str, Any]:
            try:
                return self._client.query(**kwargs)
            except (ClientError, BotoCoreError) as exc:
                raise _wrap(exc, f"listing {pk}") from exc

        pages = keys.pages(query, {"TableName": self._table, **keys.partition_query(pk)})
        return [item for page in pages for item in page.get("Items", [])]

    # -- writes ------------------------------------------------------------
    def create_app(
        self, name: str, origins: list[str] | tuple[str, ...] = (), app_id: str | None = None, ip_mode: str = "anonymize"
    ) -> tuple[App, str]:
        """Create an app and its first write key; returns (app, key in clear, shown once)."""
        if not name.strip():
            raise TerminalError("app name must not be empty")
        if ip_mode not in IP_MODES:
            raise TerminalError(f"ip mode {ip_mode!r} must be one of {', '.join(IP_MODES)}")
        clean_origins = tuple(sorted({normalize_origin(o) for o in origins}))
        app_id = app_id or f"{slug(name)}-{secrets.token_hex(3)}"
        if not _APP_ID.fullmatch(app_id):
            raise TerminalError(f"app id {app_id!r} must be lower-case letters, digits and dashes (max 48)")
        now = int(time.time() * 1000)
        item: dict[str, Any] = {
            **keys.app_key(app_id),
            "app_id": {"S": app_id},
            "name": {"S": name.strip()[:200]},
            "ip_mode": {"S": ip_mode},
            "created_at": {"N": str(now)},
        }
        if clean_origins:
            item["origins"] = {"L": [{"S": o} for o in clean_origins]}
        try:
            self._client.put_item(TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(pk)")
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise TerminalError(f"app {app_id!r} already exists; choose another id") from exc
            raise _wrap(exc, "creating an app") from exc
        except BotoCoreError as exc:
            raise _wrap(exc, "creating an app") from exc
        # "*" marks an app without an allow-list, so a key-less preflight can be answered.
        for origin in clean_origins or ("*",):
            self._put({**keys.origin_key(origin, app_id)}, "recording an origin")
        write_key = self.add_key(app_id)
        return App(app_id, name.strip(), clean_origins, ip_mode, now), write_key

    def update_app(
        self, app_id: str, ip_mode: str | None = None, retention_days: int | None = None, keep_forever: bool = False
    ) -> App:
        """Change an app's IP handling or lake retention (retention_days ≥ 1, or keep forever)."""
        sets, removes, values = [], [], {}
        if ip_mode is not None:
            if ip_mode not in IP_MODES:
                raise TerminalError(f"ip mode {ip_mode!r} must be one of {', '.join(IP_MODES)}")
            sets.append("ip_mode = :ip")
            values[":ip"] = {"S": ip_mode}
        if retention_days is not None:
            if retention_days < 1:
                raise TerminalError(f"retention of {retention_days} days must be at least 1 day")
            sets.append("retention_days = :r")
            values[":r"] = {"N": str(retention_days)}
        if keep_forever:
            removes.append("retention_days")
        if not sets and not removes:
            raise TerminalError("nothing to change: give --ip-mode, --retention-days or --keep-forever")
        expression = (f"SET {', '.join(sets)} " if sets else "") + (f"REMOVE {', '.join(removes)}" if removes else "")
        try:
            kwargs = {"ExpressionAttributeValues": values} if values else {}
            resp = self._client.update_item(
                TableName=self._table,
                Key=keys.app_key(app_id),
                UpdateExpression=expression.strip(),
                ConditionExpression="attribute_exists(pk)",
                ReturnValues="ALL_NEW",
                **kwargs,
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise TerminalError(f"no app {app_id!r}; nothing was changed") from exc
            raise _wrap(exc, "updating an app") from exc
        except BotoCoreError as exc:
            raise _wrap(exc, "updating an app") from exc
        with self._lock:
            self._cache.clear()
        return _app_from_item(resp["Attributes"])

    def add_key(self, app_id: str) -> str:
        write_key = KEY_PREFIX + secrets.token_urlsafe(24)
        self._put(
            {
                **keys.write_key_key(hash_key(write_key)),
                "app_id": {"S": app_id},
                "prefix": {"S": write_key[:8]},
                "created_at": {"N": str(int(time.time() * 1000))},
            },
            "storing a write key",
        )
        return write_key

    def revoke(self, write_key: str) -> str:
        """Revoke a key (given in clear, or by its SHA-256); returns the app id it belonged to."""
        key_hash = write_key if re.fullmatch(r"[0-9a-f]{64}", write_key) else hash_key(write_key)
        try:
            resp = self._client.update_item(
                TableName=self._table,
                Key=keys.write_key_key(key_hash),
                UpdateExpression="SET revoked_at = :now",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":now": {"N": str(int(time.time() * 1000))}},
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise TerminalError("no such write key; nothing was revoked") from exc
            raise _wrap(exc, "revoking a key") from exc
        except BotoCoreError as exc:
            raise _wrap(exc, "revoking a key") from exc
        with self._lock:
            self._cache.pop(("key", key_hash), None)
        return resp["Attributes"]["app_id"]["S"]

    def _put(self, item: dict[str, Any], what: str) -> None:
        try:
            self._client.put_item(TableName=self._table, Item=item)
        except (ClientError, BotoCoreError) as exc:
            raise _wrap(exc, what) from exc


def _app_from_item(item: dict[str, Any]) -> App:
    return App(
        app_id=item["app_id"]["S"],
        name=item.get("name", {}).get("S", ""),
        origins=tuple(o["S"] for o in item.get("origins", {}).get("L", [])),
        ip_mode=item.get("ip_mode", {}).get("S", "anonymize"),
        created_at=int(item.get("created_at", {}).get("N", "0")),
        retention_days=int(item["retention_days"]["N"]) if "retention_days" in item else None,
    )
