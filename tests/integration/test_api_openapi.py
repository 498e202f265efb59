"""docs/openapi.yaml against real answers of the API, and against the limits in the code.

Every call below is made through chalice.test.Client; its response must validate against
the spec. Its request must validate too when the API accepts it, and must not when the
API refuses it for a reason the schema can express (so the spec is not looser than the code).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import boto3
import pytest
import yaml
from openapi_core import OpenAPI
from openapi_core.exceptions import OpenAPIError
from openapi_core.testing import MockRequest, MockResponse
from openapi_core.validation.request.exceptions import RequestValidationError

from chalicelib import clients
from chalicelib.collect import limits
from chalicelib.collect.validate import InvalidEvent, validate_event
from chalicelib.settings import ENV_VARS, get_settings
from clickstream.target import ROOT
from tests.apiclient import SHOP_ORIGIN, Api, AppWithKey, reconfigure
from tests.factories import USER_AGENTS, batch, body, event, events, iso, now_ms
from tests.faults import THROTTLE, FlakyBatchWrites, inject

SPEC_PATH = ROOT / "docs" / "openapi.yaml"
HOST = "http://127.0.0.1:8000"


@lru_cache(maxsize=1)
def spec() -> dict[str, Any]:
    return yaml.safe_load(SPEC_PATH.read_text())


@lru_cache(maxsize=1)
def openapi() -> OpenAPI:
    return OpenAPI.from_dict(spec())  # also checks the document is valid OpenAPI 3.1


def validate(method: str, target: str, headers: dict[str, str], data: bytes, response: Any, request_valid: bool) -> None:
    parts = urlsplit(target)
    request = MockRequest(
        HOST,
        method,
        parts.path,
        args=dict(parse_qsl(parts.query)),
        headers=headers,
        data=data,
        content_type=headers.get("Content-Type", "application/json").lower(),
    )
    # API Gateway answers a Lambda proxy response without a Content-Type as application/json.
    content_type = response.headers.get("Content-Type", "application/json" if response.body else "")
    reply = MockResponse(response.body, response.status_code, response.headers, content_type)
    openapi().validate_response(request, reply)
    if request_valid:
        openapi().validate_request(request)
    else:
        with pytest.raises(RequestValidationError):
            openapi().validate_request(request)


JSON = {"Content-Type": "application/json", "User-Agent": USER_AGENTS["safari_iphone"]}
KEY = {**JSON, "X-Api-Key": "KEY"}

# id -> (method, path, headers, body, status, request valid per the spec)
CALLS: dict[str, tuple[str, str, dict[str, str], Any, int, bool]] = {
    "batch-200": ("POST", "/v1/events", KEY, lambda: batch(*events(3)), 200, True),
    "single-event-200": ("POST", "/v1/events", KEY, lambda: event(event_type="custom", event_name="signup"), 200, True),
    "iso-and-nulls-200": (
        "POST",
        "/v1/events",
        KEY,
        lambda: batch(event(timestamp=iso(now_ms() - 5_000, "+05:30"), sent_at=None, user_id=None, context=None)),
        200,
        True,
    ),
    "allowed-origin-200": ("POST", "/v1/events", {**KEY, "Origin": SHOP_ORIGIN}, lambda: batch(event()), 200, True),
    "beacon-200": (
        "POST",
        "/v1/events?key=KEY",
        {"Content-Type": "text/plain;charset=UTF-8", "Origin": SHOP_ORIGIN},
        lambda: batch(event()),
        200,
        True,
    ),
    "partial-200": ("POST", "/v1/events", KEY, lambda: batch(event(), event(event_type="hover")), 200, False),
    "all-rejected-400": ("POST", "/v1/events", KEY, lambda: batch(event(event_type="hover"), event(timestamp=1)), 400, False),
    "custom-without-name-400": ("POST", "/v1/events", KEY, lambda: event(event_type="custom"), 400, False),
    "malformed-400": ("POST", "/v1/events", KEY, lambda: b'{"events": [', 400, False),
    "empty-events-400": ("POST", "/v1/events", KEY, lambda: {"events": []}, 400, False),
    "missing-key-401": ("POST", "/v1/events", JSON, lambda: batch(event()), 401, False),
    "unknown-key-from-a-page-401": (
        "POST",
        "/v1/events",
        {**JSON, "X-Api-Key": "cs_unknown", "Origin": SHOP_ORIGIN},
        lambda: batch(event()),
        401,
        True,
    ),
    "unknown-key-401": ("POST", "/v1/events", {**JSON, "X-Api-Key": "cs_unknown"}, lambda: batch(event()), 401, True),
    "other-origin-403": ("POST", "/v1/events", {**KEY, "Origin": "https://evil.example"}, lambda: batch(event()), 403, True),
    "501-events-413": ("POST", "/v1/events", KEY, lambda: batch(*events(501)), 413, False),
    "over-1-MiB-413": ("POST", "/v1/events", KEY, lambda: batch(*events(40, properties={"p": "x" * 30_000})), 413, True),
    "xml-415": ("POST", "/v1/events", {**KEY, "Content-Type": "application/xml"}, lambda: b"<events/>", 415, False),
    "preflight-allowed-204": (
        "OPTIONS",
        "/v1/events?key=KEY",
        {"Origin": SHOP_ORIGIN, "Access-Control-Request-Method": "POST"},
        lambda: b"",
        204,
        True,
    ),
    "preflight-denied-204": (
        "OPTIONS",
        "/v1/events",
        {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        lambda: b"",
        204,
        True,
    ),
    "health-200": ("GET", "/v1/health", {}, lambda: b"", 200, True),
    "live-200": ("GET", "/v1/live", {"Authorization": "Bearer READKEY", "Origin": SHOP_ORIGIN}, lambda: b"", 200, True),
    "live-key-in-url-400": ("GET", "/v1/live?key=READKEY", {}, lambda: b"", 400, False),
    "live-write-key-401": ("GET", "/v1/live", {"Authorization": "Bearer KEY"}, lambda: b"", 401, True),
    "live-missing-key-401": ("GET", "/v1/live", {}, lambda: b"", 401, False),
    "live-other-app-403": ("GET", "/v1/live?app_id=someone-else", {"Authorization": "Bearer READKEY"}, lambda: b"", 403, True),
    "live-preflight-204": (
        "OPTIONS",
        "/v1/live",
        {"Origin": SHOP_ORIGIN, "Access-Control-Request-Method": "GET"},
        lambda: b"",
        204,
        True,
    ),
}


@pytest.mark.parametrize("method, path, headers, make_body, status, request_valid", CALLS.values(), ids=CALLS.keys())
def test_real_answers_match_the_spec(
    api: Api, shop: AppWithKey, method: str, path: str, headers: dict[str, str], make_body: Any, status: int, request_valid: bool
) -> None:
    if any("READKEY" in v for v in [path, *headers.values()]):
        from chalicelib import clients
        from chalicelib.store.readkeys import ReadKeyStore

        _, read_key = ReadKeyStore(clients.dynamodb(api.settings), api.settings.table).create(shop.app_id)
        headers = {name: value.replace("READKEY", read_key) for name, value in headers.items()}
        path = path.replace("READKEY", read_key)
    headers = {name: value.replace("KEY", shop.key) for name, value in headers.items()}
    path = path.replace("KEY", shop.key)
    payload = make_body()
    data = payload if isinstance(payload, bytes) else body(payload)

    response = api.http.request(method, path, headers=headers, body=data)

    assert response.status_code == status, response.body[:300]
    validate(method, path, headers, data, response, request_valid)


def test_storage_unavailable_answers_match_the_spec(api: Api, shop: AppWithKey, monkeypatch: pytest.MonkeyPatch) -> None:
    """Throttled on every attempt: a 503 with Retry-After, as documented."""
    reconfigure(monkeypatch, CLICKSTREAM_STORAGE_ATTEMPTS="2")
    data = body(batch(event()))
    headers = {**KEY, "X-Api-Key": shop.key, "Origin": SHOP_ORIGIN}
    flaky = FlakyBatchWrites(
        boto3.session.Session().client(
            "dynamodb",
            region_name=api.settings.region,
            endpoint_url=api.settings.dynamodb_endpoint,
            aws_access_key_id="x",
            aws_secret_access_key="x",
        ),
        [THROTTLE] * 2,
    )

    with inject(clients.dynamodb(get_settings()), flaky):
        post = api.http.post("/v1/events", headers=headers, body=data)

    assert post.status_code == 503 and post.headers["Retry-After"]
    validate("POST", "/v1/events", headers, data, post, request_valid=True)


def test_storage_refused_answers_match_the_spec(api: Api, shop: AppWithKey, monkeypatch: pytest.MonkeyPatch) -> None:
    reconfigure(monkeypatch, CLICKSTREAM_TABLE="no-such-table")
    data = body(batch(event()))
    headers = {**KEY, "X-Api-Key": shop.key}

    post = api.http.post("/v1/events", headers=headers, body=data)
    health = api.http.get("/v1/health")

    assert (post.status_code, health.status_code) == (503, 503)  # a missing table: refused, resend later; health: not ready
    validate("POST", "/v1/events", headers, data, post, request_valid=True)
    validate("GET", "/v1/health", {}, b"", health, request_valid=True)


@pytest.mark.parametrize(
    "status, headers, answer",
    [
        (200, {"Content-Type": "application/json"}, b'{"accepted": 0, "rejected": []}'),
        (200, {"Content-Type": "application/json"}, b'{"accepted": 1, "rejected": [], "extra": 1}'),
        (400, {"Content-Type": "application/json"}, b'{"accepted": 0, "rejected": [{"index": 0, "error": "no field prefix"}]}'),
        (503, {"Content-Type": "application/json"}, b'{"error": "down"}'),  # no Retry-After
        (500, {"Content-Type": "application/json"}, b'{"Code": "InternalServerError"}'),
    ],
    ids=["200-with-nothing-accepted", "unknown-member", "error-without-field", "503-without-retry-after", "undocumented-500"],
)
def test_the_spec_would_catch_a_drifted_answer(status: int, headers: dict[str, str], answer: bytes) -> None:
    request = MockRequest(HOST, "POST", "/v1/events", headers={"X-Api-Key": "k"}, data=b"{}")

    with pytest.raises(OpenAPIError):
        openapi().validate_response(request, MockResponse(answer, status, headers))


# -- drift: the spec states the numbers the code enforces ------------------------------------------


def schemas() -> dict[str, Any]:
    return spec()["components"]["schemas"]


def test_spec_limits_equal_the_constants_in_limits_py() -> None:
    post = spec()["paths"]["/v1/events"]["post"]
    event_props = schemas()["Event"]["properties"]
    context_props = schemas()["Context"]["properties"]

    assert post["x-limits"] == {
        "max_events_per_request": limits.MAX_EVENTS_PER_REQUEST,
        "max_request_bytes": limits.MAX_REQUEST_BYTES,
        "max_event_bytes": limits.MAX_EVENT_BYTES,
        "max_rejected_raw_bytes": limits.MAX_REJECTED_RAW_BYTES,
        "max_future_hours": int(ENV_VARS["max_future_hours"][1]),
        "max_event_age_days": int(ENV_VARS["max_event_age_days"][1]),
    }
    assert schemas()["Batch"]["properties"]["events"]["maxItems"] == limits.MAX_EVENTS_PER_REQUEST
    assert set(event_props["event_type"]["enum"]) == limits.EVENT_TYPES
    assert event_props["event_name"]["maxLength"] == limits.MAX_EVENT_NAME
    assert {event_props[f]["maxLength"] for f in ("anonymous_id", "user_id", "session_id")} == {limits.MAX_ID}
    assert {event_props[f]["maxLength"] for f in ("url", "referrer")} == {limits.MAX_URL}
    assert event_props["title"]["maxLength"] == limits.MAX_TITLE
    assert {context_props[f]["maxLength"] for f in ("locale", "timezone")} == {limits.MAX_SHORT}
    assert schemas()["Accepted"]["properties"]["rejected"]["maxItems"] == limits.MAX_EVENTS_PER_REQUEST - 1


def _accepts(**overrides: Any) -> bool:
    try:
        validate_event(
            {"event_id": "e1", "event_type": "page_view", "timestamp": 1_700_000_000_000, "anonymous_id": "a", **overrides}
        )
        return True
    except InvalidEvent:
        return False


def test_spec_bounds_are_the_bounds_validation_enforces() -> None:
    """Bounds kept in validate.py rather than limits.py: the spec's edge is accepted, one past it is not."""
    event_id = schemas()["Event"]["properties"]["event_id"]
    assert _accepts(event_id="e" * event_id["maxLength"]) and not _accepts(event_id="e" * (event_id["maxLength"] + 1))
    [_, epoch] = schemas()["Time"]["oneOf"]
    assert _accepts(timestamp=epoch["minimum"]) and not _accepts(timestamp=epoch["minimum"] - 1)
    assert _accepts(timestamp=epoch["maximum"]) and not _accepts(timestamp=epoch["maximum"] + 1)
    screen = schemas()["Context"]["properties"]["screen"]["properties"]["width"]
    assert _accepts(context={"screen": {"width": screen["maximum"]}}) and not _accepts(
        context={"screen": {"width": screen["maximum"] + 1}}
    )
    assert not _accepts(context={"screen": {"width": screen["minimum"] - 1}})
    geo = schemas()["Context"]["properties"]["geo"]["properties"]
    for name, other in (("lat", "lon"), ("lon", "lat")):
        for edge, step in ((geo[name]["minimum"], -1), (geo[name]["maximum"], 1)):
            assert _accepts(context={"geo": {name: edge, other: 0}})
            assert not _accepts(context={"geo": {name: edge + step, other: 0}})
    accuracy = geo["accuracy"]
    assert _accepts(context={"geo": {"lat": 0, "lon": 0, "accuracy": accuracy["maximum"]}})
    assert not _accepts(context={"geo": {"lat": 0, "lon": 0, "accuracy": accuracy["maximum"] + 1}})
