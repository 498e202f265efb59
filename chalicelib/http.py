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
from chalicelib.errors import ClickstreamError, TerminalError, TransientError, UnknownKey
from chalicelib.settings import get_settings
from chalicelib.store.apps import App
from chalicelib.store.events import put_items

log = logging.getLogger("clickstream.api")

# The one place an error kind becomes a status code; the first class that matches wins.
# Client faults are 4xx and final. Every fault of ours is 503 with Retry-After, never 500:
# a transient one (throttling, storage down) after a short wait; a terminal one (a refused
# write, a missing table: a deployment fault we do not retry here) after REFUSED_RETRY_AFTER_S,
# so trackers and SDKs keep the events queued until the operator has fixed the deployment.
STATUS: tuple[tuple[type[ClickstreamError], int], ...] = (
    (UnknownKey, 401),
    (PayloadTooLarge, 413),
    (MalformedBody, 400),
    (TransientError, 503),
    (TerminalError, 503),
)
REFUSED_RETRY_AFTER_S = 60

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


def status_of(exc: ClickstreamError) -> int:
    return next((status for kind, status in STATUS if isinstance(exc, kind)), 503)


def refusal(
    exc: ClickstreamError, cors: dict[str, str], retry_after_s: int | None = None, noun: str = "events"
) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(status, body, headers) for a request that stored nothing, by the kind of ``exc``; both
    ingest contracts wrap it in their own answer shape."""
    status = status_of(exc)
    if status == 503:
        if isinstance(exc, TransientError):
            retry_after = retry_after_s or getattr(exc, "retry_after_s", 1)
            # "acknowledged", not "stored": a write that became durable too late (WriteTooLate) is stored
            # but not acknowledged; the retry is kept once by the export's dedup.
            error = f"storage is unavailable; nothing was acknowledged, retry the same {noun}"
        else:
            log.error(orjson.dumps({"msg": "storage refused", "error": str(exc)}).decode())
            retry_after = REFUSED_RETRY_AFTER_S
            error = f"the service cannot store {noun} now (a deployment fault, see the logs); nothing was stored, retry later"
        return 503, {"error": error, "retry_after_s": retry_after}, {**cors, "Retry-After": str(retry_after)}
    if status == 401:
        return 401, {"error": str(exc)}, cors
    return status, {"accepted": 0, "rejected": [], "error": str(exc)}, cors


def _refused(exc: ClickstreamError, cors: dict[str, str], retry_after_s: int | None = None) -> Response:
    """The answer for a request that stored nothing, by the kind of ``exc``."""
    return _json(*refusal(exc, cors, retry_after_s))


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
        return _refused(exc, _cors_headers(origin, True))
    except ClickstreamError as exc:
        # Like every 503: readable by the page (CORS, Retry-After); the cause goes to the log only.
        log.warning(orjson.dumps({"msg": "key lookup failed", "error": str(exc)}).decode())
        return _refused(exc, _cors_headers(origin, True), retry_after_s=2)
    if origin and not origin_allowed(app, origin):
        return _json(
            403,
            {"accepted": 0, "rejected": [], "error": f"origin {origin} is not allowed for app {app.app_id}; nothing was stored"},
        )
    cors = _cors_headers(origin, True)
    context = request.context or {}
    source_ip = (context.get("identity") or {}).get("sourceIp")
    facts = request_facts(app.app_id, int(time.time() * 1000), source_ip, headers, app.ip_mode)  # type: ignore[arg-type]
    request_id = str(context.get("requestId") or uuid.uuid4())

    def store(items: list[dict[str, Any]]) -> None:
        put_items(clients.dynamodb(settings), settings.table, items, attempts=settings.storage_attempts)

    try:
        result = ingest(request.raw_body, facts, settings, request_id, store, services.salt_store(settings).salt_for)
    except ClickstreamError as exc:
        if isinstance(exc, TransientError):
            log.warning(orjson.dumps({"msg": "storage unavailable", "app_id": app.app_id, "error": str(exc)}).decode())
        return _refused(exc, cors)
    return _json(result.status, result.body(), cors)


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
        except ClickstreamError:
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
        return _json(
            503,
            {"status": "unavailable", "error": f"table {settings.table} is not reachable: {exc.__class__.__name__}"},
            {"Retry-After": "5"},
        )
    return _json(200, {"status": "ok", "table": settings.table, "stage": settings.stage})
