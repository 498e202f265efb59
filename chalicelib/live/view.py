"""GET /v1/live: the live view as JSON, for a read key (Authorization: Bearer csr_...) only.

No write key is ever accepted (it is public). CORS only for an origin the app allows, never
``*``; every answer says ``Cache-Control: no-store``; each key is throttled (429).
"""

from __future__ import annotations

import logging
import time
from functools import lru_cache
from typing import Any

import orjson
from chalice import Response

from chalicelib import clients, services
from chalicelib.errors import StorageUnavailable, UnknownKey
from chalicelib.live.service import Cache, Throttle, snapshot
from chalicelib.settings import Settings, get_settings
from chalicelib.store.readkeys import KeyRefused, ReadKeyStore

log = logging.getLogger("clickstream.live")
ALLOW_HEADERS = "Authorization"


@lru_cache(maxsize=4)
def read_keys(settings: Settings) -> ReadKeyStore:
    return ReadKeyStore(clients.dynamodb(settings), settings.table, cache_seconds=settings.key_cache_seconds)


@lru_cache(maxsize=4)
def _cache(seconds: int) -> Cache:
    return Cache(seconds)


@lru_cache(maxsize=1)
def _throttle() -> Throttle:
    return Throttle()


def _answer(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(
        body=orjson.dumps(body).decode(),
        status_code=status,
        headers={"Content-Type": "application/json", "Cache-Control": "no-store", **(headers or {})},
    )


def _cors(settings: Settings, app_id: str, origin: str | None) -> dict[str, str]:
    """Reflect the origin only when the app lists it; an app without a list gets no CORS."""
    if not origin:
        return {}
    try:
        app = services.app_store(settings).get_app(app_id)
    except StorageUnavailable:
        return {}
    if app is None or origin.lower().rstrip("/") not in app.origins:
        return {}
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin", "Access-Control-Expose-Headers": "Retry-After"}


def _bearer(headers: dict[str, str]) -> str | None:
    auth = headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def get_live(request: Any) -> Response:
    settings = get_settings()
    headers = {str(k).lower(): str(v) for k, v in dict(request.headers or {}).items()}
    query = request.query_params or {}
    if "key" in query:
        return _answer(
            400, {"error": "send the read key as Authorization: Bearer csr_..., never in the URL (it would end up in logs)"}
        )
    wanted = query.get("app_id")
    try:
        key = read_keys(settings).resolve(_bearer(headers), "live", wanted)
    except KeyRefused as exc:
        return _answer(403, {"error": f"{exc}; nothing was read"})
    except UnknownKey as exc:
        return _answer(401, {"error": f"{exc}; nothing was read"}, {"WWW-Authenticate": 'Bearer realm="clickstream"'})
    except StorageUnavailable as exc:
        return _answer(503, {"error": str(exc)}, {"Retry-After": "5"})
    cors = _cors(settings, key.app_id, headers.get("origin"))
    wait = _throttle().allow(key.key_hash)
    if wait:
        return _answer(
            429,
            {"error": f"too many requests for read key {key.prefix}…; retry in {wait:.0f} s"},
            {**cors, "Retry-After": str(max(1, round(wait)))},
        )
    now_ms = int(time.time() * 1000)
    try:

        def compute() -> dict[str, Any]:
            body, usage = snapshot(clients.dynamodb(settings), settings, key.app_id, now_ms)
            log.info(orjson.dumps({"msg": "live snapshot", "app_id": key.app_id, **usage.as_dict()}).decode())
            return {**body, "app_id": key.app_id, "cost": usage.as_dict()}

        body, cached = _cache(settings.live_cache_seconds).get(key.app_id, compute)
    except StorageUnavailable as exc:
        return _answer(503, {"error": f"{exc}; try again shortly"}, {**cors, "Retry-After": str(exc.retry_after_s)})
    return _answer(200, {**body, "cached": cached}, cors)


def preflight(request: Any) -> Response:
    """A cross-origin dashboard sends Authorization, so the browser asks first; only listed origins pass."""
    settings = get_settings()
    origin = {str(k).lower(): str(v) for k, v in dict(request.headers or {}).items()}.get("origin")
    allowed = False
    if origin:
        try:
            allowed = services.app_store(settings).origin_known(origin.lower().rstrip("/"))
        except StorageUnavailable:
            allowed = False
    if not allowed or origin is None:
        return Response(body="", status_code=204, headers={"Cache-Control": "no-store"})
    return Response(
        body="",
        status_code=204,
        headers={
            "Access-Control-Allow-Origin": origin,
            "Vary": "Origin",
            "Access-Control-Allow-Methods": "GET, OPTIONS",
            "Access-Control-Allow-Headers": ALLOW_HEADERS,
            "Access-Control-Max-Age": "600",
            "Cache-Control": "no-store",
        },
    )
