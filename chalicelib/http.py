"""HTTP views for the collection API: request in, Response out, domain errors mapped to codes.

app.py routes to these functions; they hold no business logic of their own.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import orjson
from botocore.exceptions import BotoCoreError, ClientError
from chalice import Response

from chalicelib import clients, services
from chalicelib.collect.enrich import request_facts
from chalicelib.collect.ingest import MalformedBody, PayloadTooLarge, ingest
from chalicelib.errors import StorageUnavailable, UnknownKey
from chalicelib.settings import get_settings
from chalicelib.store.apps import App
from chalicelib.store.events import put_items

log = logging.getLogger("clickstream.api")

ALLOW_HEADERS = "Content-Type, X-Api-Key"
ALLOW_METHODS = "POST, OPTIONS"


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(
        body=orjson.dumps(body).decode(),
        status_code=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def _lower(headers: Any) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in dict(headers or {}).items()}


def _cors_headers(origin: str | None, allowed: bool) -> dict[str, str]:
    if not origin or not allowed:
        return {}
    # Expose Retry-After so a browser tracker can honour it on a 503.
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin", "Access-Control-Expose-Headers": "Retry-After"}


def origin_allowed(app: App, origin: str | None) -> bool:
    """An app without an allow-list accepts every origin; with one, only those listed."""
    return not app.origins or (origin or "").lower().rstrip("/") in app.origins


def post_events(request: Any) -> Response:
    settings = get_settings()
    headers = _lower(request.headers)
    origin = headers.get("origin")
    query = request.query_params or {}
    write_key = headers.get("x-api-key") or query.get("key")
    try:
        app = services.app_store(settings).resolve(write_key)
    except UnknownKey as exc:
        # CORS headers on a 401 let a browser tracker read the status and stop retrying;
        # no app is known, so nothing about any app's allow-list is revealed.
        return _json(401, {"error": str(exc)}, _cors_headers(origin, True))
    except StorageUnavailable as exc:
        # Like every 503: readable by the page (CORS, Retry-After), details in the log only.
        return _unavailable(exc, origin, None)
    if origin and not origin_allowed(app, origin):
        return _json(403, {"accepted": 0, "rejected": [], "error": f"origin {origin} is not allowed for app {app.app_id}; nothing was stored"})
    cors = _cors_headers(origin, True)
    context = request.context or {}
    source_ip = (context.get("identity") or {}).get("sourceIp")
    facts = request_facts(app.app_id, int(time.time() * 1000), source_ip, headers, app.ip_mode)  # type: ignore[arg-type]
    request_id = str(context.get("requestId") or uuid.uuid4())

    def store(items: list[dict[str, Any]]) -> None:
        put_items(clients.dynamodb(settings), settings.table, items, attempts=settings.storage_attempts)

    try:
        result = ingest(request.raw_body, facts, settings, request_id, store, services.salt_store(settings).salt_for)
    except PayloadTooLarge as exc:
        return _json(413, {"accepted": 0, "rejected": [], "error": str(exc)}, cors)
    except MalformedBody as exc:
        return _json(400, {"accepted": 0, "rejected": [], "error": str(exc)}, cors)
    except StorageUnavailable as exc:
        return _unavailable(exc, origin, app.app_id)
    return _json(result.status, result.body(), cors)


def _unavailable(exc: StorageUnavailable, origin: str | None, app_id: str | None) -> Response:
    """The one 503: the client resends the same events after Retry-After; the cause is logged, never sent."""
    log.warning(orjson.dumps({"msg": "storage unavailable", "app_id": app_id, "error": str(exc)}).decode())
    body = {"error": "storage is unavailable; nothing was acknowledged, retry the same events", "retry_after_s": exc.retry_after_s}
    return _json(503, body, {**_cors_headers(origin, True), "Retry-After": str(exc.retry_after_s)})


def preflight(request: Any) -> Response:
    """Answer a CORS preflight for an origin the key's app allows, or any app allows."""
    settings = get_settings()
    headers = _lower(request.headers)
    origin = headers.get("origin")
    allowed = False
    if origin:
        store = services.app_store(settings)
        key = (request.query_params or {}).get("key")
        try:
            if key:
                allowed = origin_allowed(store.resolve(key), origin)
            else:
                allowed = store.origin_known(origin) or store.origin_known("*")
        except (UnknownKey, StorageUnavailable):
            allowed = False
    if not allowed:
        return Response(body="", status_code=204, headers={})
    return Response(
        body="",
        status_code=204,
        headers={
            **_cors_headers(origin, True),
            "Access-Control-Allow-Methods": ALLOW_METHODS,
            "Access-Control-Allow-Headers": ALLOW_HEADERS,
            "Access-Control-Max-Age": "86400",
        },
    )


def health() -> Response:
    settings = get_settings()
    try:
        clients.dynamodb(settings).describe_table(TableName=settings.table)
    except (ClientError, BotoCoreError) as exc:
        return _json(503, {"status": "unavailable", "error": f"table {settings.table} is not reachable: {exc.__class__.__name__}"}, {"Retry-After": "5"})
    return _json(200, {"status": "ok", "table": settings.table, "stage": settings.stage})
