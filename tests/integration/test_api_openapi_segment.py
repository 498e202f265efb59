"""docs/openapi.yaml's Segment routes against real answers of the API (as test_api_openapi.py does
for /v1/events): every response validates; a request validates when the API accepts it and does
not when the API refuses it for a reason the schema can express."""

from __future__ import annotations

import base64
import gzip
import json
import uuid
from functools import lru_cache
from typing import Any

import pytest
import yaml
from botocore.stub import Stubber
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse
from openapi_core.validation.request.exceptions import RequestValidationError

from app import SEGMENT_ROUTES
from chalicelib import clients
from chalicelib.collect import segment
from clickstream.target import ROOT
from tests.apiclient import SHOP_ORIGIN, Api, AppWithKey, reconfigure
from tests.factories import iso, now_ms

HOST = "http://127.0.0.1:8000"


@lru_cache(maxsize=1)
def spec() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text())


@lru_cache(maxsize=1)
def openapi() -> OpenAPI:
    return OpenAPI.from_dict(spec())


JSON = {"Content-Type": "application/json", "User-Agent": "analytics-node-next/3.1.0"}
BASIC = {**JSON, "Authorization": "BASIC"}


def msg(kind: str = "track", **fields: Any) -> dict[str, Any]:
    base = {
        "type": kind,
        "messageId": str(uuid.uuid4()),
        "anonymousId": "a-1",
        "userId": "u-1",
        "event": "Signed Up",
        "groupId": "g-1",
        "previousId": "p-1",
        "timestamp": iso(now_ms() - 1_000),
    }
    return {**base, **fields}


def gz(payload: Any) -> bytes:
    return gzip.compress(json.dumps(payload).encode())


# id -> (method, path, headers, body, status, request valid per the spec; None: not checked, a gzip body)
CALLS: dict[str, tuple[str, str, dict[str, str], Any, int, bool | None]] = {
    "batch-basic-200": ("POST", "/v1/batch", BASIC, lambda: {"batch": [msg(), msg("page")], "sentAt": iso(now_ms())}, 200, True),
    "batch-key-in-body-200": (
        "POST",
        "/v1/batch",
        JSON,
        lambda: {"batch": [msg("identify", traits={"plan": "pro"})], "writeKey": "KEY"},
        200,
        True,
    ),
    "import-200": ("POST", "/v1/import", BASIC, lambda: {"batch": [msg(timestamp=iso(now_ms() - 30 * 86_400_000))]}, 200, True),
    "b-text-plain-200": (
        "POST",
        "/v1/b",
        {"Content-Type": "text/plain", "Origin": SHOP_ORIGIN},
        lambda: {"batch": [msg("group")], "writeKey": "KEY"},
        200,
        True,
    ),
    "t-text-plain-200": (
        "POST",
        "/v1/t",
        {"Content-Type": "text/plain", "Origin": SHOP_ORIGIN, "Authorization": "BASIC", "X-Retry-Count": "0"},
        lambda: {**msg(), "writeKey": "KEY"},
        200,
        True,
    ),
    "alias-200": ("POST", "/v1/alias", BASIC, lambda: msg("alias"), 200, True),
    "gzip-200": ("POST", "/v1/batch", {**BASIC, "Content-Encoding": "gzip"}, lambda: gz({"batch": [msg()]}), 200, None),
    "partial-200": ("POST", "/v1/batch", BASIC, lambda: {"batch": [msg(), msg(event=None)]}, 200, False),
    "all-invalid-400": ("POST", "/v1/batch", BASIC, lambda: {"batch": [msg("hover")]}, 400, False),
    "malformed-400": ("POST", "/v1/batch", BASIC, lambda: b'{"batch": [', 400, False),
    "empty-batch-400": ("POST", "/v1/batch", BASIC, lambda: {"batch": []}, 400, False),
    "wrong-key-401": (
        "POST",
        "/v1/batch",
        {**JSON, "Authorization": "Basic " + base64.b64encode(b"cs_wrong:").decode()},
        lambda: {"batch": [msg()]},
        401,
        True,
    ),
    "other-origin-403": (
        "POST",
        "/v1/t",
        {"Content-Type": "text/plain", "Origin": "https://evil.example"},
        lambda: {**msg(), "writeKey": "KEY"},
        403,
        True,
    ),
    "too-many-413": ("POST", "/v1/batch", BASIC, lambda: {"batch": [{"type": "track"}] * (segment.MAX_MESSAGES + 1)}, 413, False),
    "xml-415": ("POST", "/v1/batch", {**BASIC, "Content-Type": "application/xml"}, lambda: b"<batch/>", 415, False),
    "preflight-204": (
        "OPTIONS",
        "/v1/t",
        {"Origin": SHOP_ORIGIN, "Access-Control-Request-Method": "POST"},
        lambda: b"",
        204,
        True,
    ),
}


def _validate(method: str, path: str, headers: dict[str, str], data: bytes, response: Any, request_valid: bool | None) -> None:
    request = MockRequest(
        HOST, method, path, headers=headers, data=data, content_type=headers.get("Content-Type", "application/json").lower()
    )
    content_type = response.headers.get("Content-Type", "application/json" if response.body else "")
    openapi().validate_response(request, MockResponse(response.body, response.status_code, response.headers, content_type))
    if request_valid:
        openapi().validate_request(request)
    elif request_valid is False:
        with pytest.raises(RequestValidationError):
            openapi().validate_request(request)


@pytest.mark.parametrize("method, path, headers, make_body, status, request_valid", CALLS.values(), ids=CALLS.keys())
def test_real_answers_match_the_spec(
    api: Api,
    shop: AppWithKey,
    method: str,
    path: str,
    headers: dict[str, str],
    make_body: Any,
    status: int,
    request_valid: bool | None,
) -> None:
    basic = "Basic " + base64.b64encode(f"{shop.key}:".encode()).decode()
    headers = {name: basic if value == "BASIC" else value for name, value in headers.items()}
    payload = make_body()
    data = payload if isinstance(payload, bytes) else json.dumps(payload).replace('"KEY"', json.dumps(shop.key)).encode()

    response = api.http.request(method, path, headers=headers, body=data)

    assert response.status_code == status, response.body[:300]
    _validate(method, path, headers, data, response, request_valid)


def test_storage_answers_match_the_spec(api: Api, shop: AppWithKey, monkeypatch: pytest.MonkeyPatch) -> None:
    headers = {**JSON, "X-Api-Key": shop.key}
    data = json.dumps({"batch": [msg()]}).encode()
    assert api.http.post("/v1/batch", headers=headers, body=data).status_code == 200  # warm: the key is cached
    # Throttled on every attempt: 503 with Retry-After.
    with Stubber(clients.dynamodb(api.settings)) as stubber:
        for _ in range(api.settings.storage_attempts):
            stubber.add_client_error("batch_write_item", "ProvisionedThroughputExceededException", http_status_code=400)
        throttled = api.http.post("/v1/batch", headers=headers, body=data)
    # A missing table: a deployment fault, 503 with a long Retry-After (chalicelib.http.STATUS, as for /v1/events).
    reconfigure(monkeypatch, CLICKSTREAM_TABLE="no-such-table")
    refused = api.http.post("/v1/batch", headers=headers, body=data)

    assert (throttled.status_code, refused.status_code) == (503, 503)
    assert (throttled.headers["Retry-After"], refused.headers["Retry-After"]) == ("2", "60")
    _validate("POST", "/v1/batch", headers, data, throttled, True)
    _validate("POST", "/v1/batch", headers, data, refused, True)


def test_every_segment_route_is_documented_and_the_limits_agree() -> None:
    paths = spec()["paths"]
    assert {f"/v1/{route}" for route in SEGMENT_ROUTES} <= set(paths)
    batch = spec()["components"]["pathItems"]["SegmentBatch"]["post"]
    assert batch["x-limits"] == {
        "max_body_bytes": segment.MAX_BODY_BYTES,
        "max_messages": segment.MAX_MESSAGES,
        "max_message_bytes": 32768,
        "import_max_age_days": 730,
    }
    assert spec()["components"]["schemas"]["SegmentBatch"]["properties"]["batch"]["maxItems"] == segment.MAX_MESSAGES
    assert set(spec()["components"]["schemas"]["SegmentMessage"]["properties"]["type"]["enum"]) == set(segment.EVENT_TYPE)
