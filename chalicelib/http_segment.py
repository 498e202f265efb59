"""HTTP views for Segment's tracking API: the SDKs' routes on the same pipeline as /v1/events.

Answers the SDKs understand: exactly 200 with ``{"success": true}`` (plus our ``accepted`` and
``rejected`` detail) once at least one message is durably stored; 400 when the body is
malformed or every message is invalid (the SDKs drop the batch: retrying cannot help);
401 for a wrong key; 413 over the limits; 503 with Retry-After when storage is unavailable
(the SDKs retry the same messageIds, which the export deduplicates).
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import orjson
from chalice import Response

from chalicelib import clients, http, services
from chalicelib.collect import segment
from chalicelib.collect.enrich import request_facts
from chalicelib.collect.ingest import MalformedBody, PayloadTooLarge, plan_batch, rejected_item
from chalicelib.errors import ClickstreamError, TransientError, UnknownKey
from chalicelib.http import _cors_headers, _json, _lower, origin_allowed
from chalicelib.settings import get_settings
from chalicelib.store.apps import App
from chalicelib.store.events import put_items

log = logging.getLogger("clickstream.api")

# Current analytics.js (analytics-next >= 1.84) sends Authorization: Basic and X-Retry-Count on
# these paths, which makes the browser ask first.
ALLOW_HEADERS = "Content-Type, Authorization, X-Retry-Count, X-Api-Key, Content-Encoding"
ALLOW_METHODS = "POST, OPTIONS"
IMPORT_ROUTES = frozenset({"import"})


def write_key_of(headers: dict[str, str], query: dict[str, str], body_key: str | None) -> str | None:
    """In this order: HTTP Basic (the key as user name), ``writeKey`` in the body, our
    ``X-Api-Key`` header, the ``key`` query parameter."""
    return segment.basic_auth_user(headers.get("authorization")) or body_key or headers.get("x-api-key") or query.get("key")


def _answer(status: int, body: dict[str, Any], headers: dict[str, str]) -> Response:
    return _json(status, {"success": status == 200, **body}, headers)


def _refused(exc: ClickstreamError, cors: dict[str, str], retry_after_s: int | None = None) -> Response:
    """A request that stored nothing, answered by the kind of ``exc`` (chalicelib.http.refusal,
    shared with /v1/events), in Segment's shape. Faults of ours are 503 with Retry-After, never 500."""
    return _answer(*http.refusal(exc, cors, retry_after_s, noun="messages"))


def import_max_age_ms(app: App, import_days: int) -> int:
    """How old an imported message may be: the deployment's bound, and never older than the
    app's retention, which would delete it at the next retention run anyway."""
    days = import_days if app.retention_days is None else min(import_days, app.retention_days)
    return days * 86_400_000


def post(request: Any, route: str) -> Response:
    """``route``: ``batch``, ``import``, ``b`` (batches) or a message type or its letter."""
    settings = get_settings()
    headers = _lower(request.headers)
    origin = headers.get("origin")
    query = request.query_params or {}
    cors = _cors_headers(origin, True)
    path_type = segment.PATH_TYPES.get(route)
    context = request.context or {}
    request_id = str(context.get("requestId") or uuid.uuid4())
    received_ms = int(time.time() * 1000)
    try:
        body = segment.parse_body(request.raw_body, path_type)
    except PayloadTooLarge as exc:
        return _refused(exc, cors)
    except MalformedBody as exc:
        # No key can be read from a body that does not parse: nothing to attribute it to
        # unless a header names the app, in which case the record goes to its rejected events.
        return _malformed(request, headers, query, exc, received_ms, request_id, cors)
    try:
        app = services.app_store(settings).resolve(write_key_of(headers, query, body.write_key))
    except UnknownKey as exc:
        return _refused(exc, cors)
    except ClickstreamError as exc:
        return _refused(exc, {}, retry_after_s=2)
    if origin and not origin_allowed(app, origin):
        refused = f"origin {origin} is not allowed for app {app.app_id}; nothing was stored"
        return _answer(403, {"accepted": 0, "rejected": [], "error": refused}, {})
    source_ip = (context.get("identity") or {}).get("sourceIp")
    facts = request_facts(app.app_id, received_ms, source_ip, headers, app.ip_mode)  # type: ignore[arg-type]
    adapt = segment.adapter(facts, app.ip_mode)  # type: ignore[arg-type]
    max_age_ms = import_max_age_ms(app, settings.import_max_age_days) if route in IMPORT_ROUTES else None
    plan = plan_batch(body.messages, facts, settings, request_id, adapt=adapt, max_age_ms=max_age_ms)
    try:
        put_items(clients.dynamodb(settings), settings.table, plan.items, attempts=settings.storage_attempts)
    except ClickstreamError as exc:
        if isinstance(exc, TransientError):
            log.warning(orjson.dumps({"msg": "storage unavailable", "app_id": app.app_id, "error": str(exc)}).decode())
        return _refused(exc, cors)
    status = 200 if plan.accepted else 400
    answer: dict[str, Any] = {"accepted": plan.accepted, "rejected": plan.rejected}
    if not plan.accepted:
        answer["error"] = "every message was invalid; nothing was stored"
    return _answer(status, answer, cors)


def _malformed(
    request: Any,
    headers: dict[str, str],
    query: dict[str, str],
    exc: Exception,
    received_ms: int,
    request_id: str,
    cors: dict[str, str],
) -> Response:
    settings = get_settings()
    key = write_key_of(headers, query, None)
    if key:
        try:
            app = services.app_store(settings).resolve(key)
            facts = request_facts(app.app_id, received_ms, None, headers, app.ip_mode)  # type: ignore[arg-type]
            raw = request.raw_body or b""
            text = raw[:8192].decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)[:8192]
            put_items(
                clients.dynamodb(settings),
                settings.table,
                [rejected_item(facts, request_id, -1, "malformed_body", str(exc), text, settings)],
                attempts=settings.storage_attempts,
            )
        except UnknownKey as unknown:
            return _refused(unknown, cors)
        except ClickstreamError:
            pass  # the 400 stands: a retry of a malformed body cannot succeed
    return _answer(400, {"accepted": 0, "rejected": [], "error": str(exc)}, cors)


def preflight(request: Any) -> Response:
    """The CORS preflight of /v1/events (same per-app allow-list), allowing analytics.js's headers."""
    answer = http.preflight(request)
    if answer.headers.get("Access-Control-Allow-Headers"):
        answer.headers["Access-Control-Allow-Headers"] = ALLOW_HEADERS
    return answer
