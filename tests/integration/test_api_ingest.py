"""POST /v1/events through chalice.test.Client, reading back what landed in dynalite."""

from __future__ import annotations

import base64 as b64
import json

import pytest
from chalice.local import LambdaContext

from app import app as chalice_app
from tests.apiclient import Api, AppWithKey
from tests.factories import USER_AGENTS, batch, event, events, now_ms
from tests.readback import rows, rows_by_id, stored


def test_accepted_event_is_stored_with_every_enrichment_column(api: Api, shop: AppWithKey) -> None:
    # GIVEN a page view whose client clock runs 1 s behind the moment it was sent
    sent = event(
        user_id="user-9",
        event_name="product viewed",
        context={
            "locale": "de-DE",
            "timezone": "Europe/Berlin",
            "screen": {"width": 1920, "height": 1080},
            "geo": {"lat": 52.52, "lon": 13.405, "accuracy": 25},
        },
    )
    before = now_ms()

    # WHEN a browser in Germany sends it
    response = api.post_events(batch(sent), key=shop.key, headers={"CloudFront-Viewer-Country": "de"})
    after = now_ms()

    # THEN it is acknowledged, and stored with every column the lake gets
    assert response.status_code == 200, response.body
    assert response.json_body == {"accepted": 1, "rejected": []}
    [item] = stored(api.settings)
    row = item.row
    assert before <= row["received_at"] <= after
    assert row == {
        "event_id": sent["event_id"],
        "app_id": shop.app_id,
        "event_type": "page_view",
        "event_name": "product viewed",
        "event_time": row["received_at"] - (sent["sent_at"] - sent["timestamp"]),
        "received_at": row["received_at"],
        "client_timestamp": sent["timestamp"],
        "sent_at": sent["sent_at"],
        "anonymous_id": "anon-7f3c2a",
        "user_id": "user-9",
        "session_id": "sess-42",
        "url": sent["url"],
        "path": "/products/espresso",
        "referrer": sent["referrer"],
        "referrer_host": "www.google.com",
        "title": "Espresso machine",
        "utm_source": "newsletter",
        "utm_medium": "email",
        "utm_campaign": "spring",
        "utm_term": None,
        "utm_content": None,
        "ip": "127.0.0.0",  # the local gateway's 127.0.0.1, last octet zeroed
        "user_agent": USER_AGENTS["chrome_windows"],
        "browser": "Chrome",
        "browser_version": "120.0",
        "os": "Windows",
        "os_version": "10",
        "device_type": "desktop",
        "is_bot": False,
        "bot_reason": None,
        "country": "DE",
        "locale": "de-DE",
        "timezone": "Europe/Berlin",
        "screen_width": 1920,
        "screen_height": 1080,
        "geo_lat": 52.52,
        "geo_lon": 13.405,
        "geo_accuracy": 25,
        "properties": json.dumps(sent["properties"], separators=(",", ":")),
        "context": None,  # locale, timezone, screen and geo all have columns of their own
        "traits": None,  # the Segment contract's columns (identify, group, alias)
        "group_id": None,
        "previous_id": None,
    }
    assert item.expires_at == row["received_at"] // 1000 + api.settings.event_ttl_days * 86400
    assert item.sk.endswith(f"#{shop.app_id}#{sent['event_id']}")


def test_single_event_object_is_accepted_as_a_body(api: Api, shop: AppWithKey) -> None:
    sent = event()

    response = api.post_events(sent, key=shop.key)

    assert response.status_code == 200
    assert response.json_body == {"accepted": 1, "rejected": []}
    assert list(rows_by_id(api.settings)) == [sent["event_id"]]


def test_partial_batch_answers_200_with_the_rejected_indices(api: Api, shop: AppWithKey) -> None:
    # GIVEN a batch whose events 1 and 3 break the contract
    good = events(3)
    sent = [good[0], event(event_type="hover"), good[1], event(timestamp="yesterday"), good[2]]

    response = api.post_events(batch(*sent), key=shop.key)

    # THEN the valid ones are stored, the client learns which were not and why
    assert response.status_code == 200
    assert response.json_body["accepted"] == 3
    assert [r["index"] for r in response.json_body["rejected"]] == [1, 3]
    assert response.json_body["rejected"][0]["error"].startswith("event_type: 'hover' is not one of")
    assert response.json_body["rejected"][1]["error"] == "timestamp: 'yesterday' is not an ISO-8601 time"
    assert set(rows_by_id(api.settings)) == {e["event_id"] for e in good}
    # AND each rejected event is kept as an r# item with its reason, app and time
    rejected = sorted(rows(api.settings, "rejected_events"), key=lambda r: r["event_index"])
    assert [(r["event_index"], r["reason"], r["event_id"]) for r in rejected] == [
        (1, "invalid", sent[1]["event_id"]),
        (3, "invalid", sent[3]["event_id"]),
    ]
    assert all(r["app_id"] == shop.app_id and r["received_at"] > 0 for r in rejected)
    assert json.loads(rejected[0]["raw"]) == sent[1]


def test_batch_with_every_event_rejected_answers_400_and_keeps_them(api: Api, shop: AppWithKey) -> None:
    sent = [event(timestamp="yesterday"), event(event_id="has space")]

    response = api.post_events(batch(*sent), key=shop.key)

    assert response.status_code == 400
    assert response.json_body["accepted"] == 0
    assert [r["index"] for r in response.json_body["rejected"]] == [0, 1]
    assert rows(api.settings) == []
    assert len(rows(api.settings, "rejected_events")) == 2


@pytest.mark.parametrize(
    "raw, error",
    [
        (b'{"events": []}', "events: must hold at least one event"),
        (b'{"events": [', "body: is not valid JSON"),
        (b"", "body: is empty"),
        (b"[]", "body: must be an object, got list"),
        (b"null", "body: must be an object, got NoneType"),
        (b'{"events": {"event_id": "e1"}}', "events: must be an array, got dict"),
        (b"\xff\xfe{}", "body: is not valid JSON"),
    ],
    ids=["empty-events", "truncated-json", "empty-body", "array-body", "null-body", "events-object", "not-utf8"],
)
def test_malformed_body_answers_400_and_is_kept(api: Api, shop: AppWithKey, raw: bytes, error: str) -> None:
    response = api.post_events(raw=raw, key=shop.key)

    assert response.status_code == 400
    assert response.json_body["accepted"] == 0 and response.json_body["rejected"] == []
    assert response.json_body["error"].startswith(error)
    [kept] = rows(api.settings, "rejected_events")
    assert kept["reason"] == "malformed_body" and kept["event_index"] == -1
    assert kept["raw"] == raw.decode("utf-8", "replace")


def test_client_sent_app_id_is_ignored(api: Api, shop: AppWithKey) -> None:
    sent = event(app_id="someone-elses-app")

    response = api.post_events(batch(sent), key=shop.key)

    assert response.status_code == 200
    assert rows_by_id(api.settings)[sent["event_id"]]["app_id"] == shop.app_id


def test_duplicate_event_id_in_one_request_is_rejected(api: Api, shop: AppWithKey) -> None:
    first = event()

    response = api.post_events(batch(first, dict(first)), key=shop.key)

    assert response.status_code == 200
    assert response.json_body == {
        "accepted": 1,
        "rejected": [{"index": 1, "error": "event_id: duplicates the event at index 0 of this request"}],
    }


def test_event_over_32_kib_is_rejected_and_kept_truncated_to_8_kib(api: Api, shop: AppWithKey) -> None:
    big = event(properties={"blob": "é" * 17_000})  # 34 000 bytes of UTF-8
    small = event()

    response = api.post_events(batch(big, small), key=shop.key)

    assert response.status_code == 200
    [rejected] = response.json_body["rejected"]
    assert rejected["index"] == 0 and rejected["error"].startswith("event: is ") and "the limit is 32768" in rejected["error"]
    [kept] = rows(api.settings, "rejected_events")
    assert kept["reason"] == "too_large"
    assert 8_000 < len(kept["raw"].encode()) <= 8 * 1024
    assert kept["raw"].startswith('{"event_id": "' + big["event_id"])


def test_500_events_is_the_largest_batch_accepted(api: Api, shop: AppWithKey) -> None:
    response = api.post_events(batch(*events(500)), key=shop.key)

    assert response.status_code == 200
    assert response.json_body == {"accepted": 500, "rejected": []}
    assert len(rows(api.settings)) == 500


@pytest.mark.parametrize(
    "payload, error",
    [
        (batch(*events(501)), "events: 501 events, the limit is 500"),
        (batch(*events(40, properties={"text": "x" * 30_000})), "body: is 12"),
    ],
    ids=["501-events", "over-1-MiB"],
)
def test_too_large_request_answers_413_and_stores_nothing(api: Api, shop: AppWithKey, payload: dict, error: str) -> None:
    response = api.post_events(payload, key=shop.key)

    assert response.status_code == 413
    assert response.json_body["error"].startswith(error)
    assert rows(api.settings) == [] and rows(api.settings, "rejected_events") == []


def test_deeply_nested_event_is_rejected_not_a_server_error(api: Api, shop: AppWithKey) -> None:
    depth = 1_000  # orjson parses up to 1024 levels; the stdlib json encoder stops near 1000
    raw = b'{"events": [{"event_id": "deep", "properties": {"x": ' + b"[" * depth + b"]" * depth + b"}}]}"

    response = api.post_events(raw=raw, key=shop.key)

    assert response.status_code == 400
    assert response.json_body["rejected"] == [{"index": 0, "error": "event: cannot be encoded as JSON (Recursion limit reached)"}]
    [kept] = rows(api.settings, "rejected_events")
    assert (kept["event_id"], kept["reason"], kept["raw"]) == ("deep", "unencodable", "<dict nested too deeply to keep>")


def proxy_event(body: bytes, headers: dict[str, str], source_ip: str, request_id: str, base64: bool = False) -> dict:
    """The API Gateway (REST, Lambda proxy) event the deployed function receives."""
    return {
        "resource": "/v1/events",
        "path": "/v1/events",
        "httpMethod": "POST",
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/v1/events",
            "httpMethod": "POST",
            "path": "/v1/v1/events",
            "stage": "v1",
            "requestId": request_id,
            "identity": {"sourceIp": source_ip, "userAgent": headers.get("User-Agent")},
        },
        "body": b64.b64encode(body).decode() if base64 else body.decode(),
        "isBase64Encoded": base64,
    }


@pytest.mark.parametrize("base64", [False, True], ids=["text-body", "base64-body"])
def test_lambda_entry_point_with_an_api_gateway_event_from_ipv6_behind_cloudfront(
    api: Api, shop: AppWithKey, base64: bool
) -> None:
    # GIVEN the event API Gateway hands the function for a browser on IPv6 in Brazil
    good, bad = event(), event(event_type="hover")
    headers = {
        "Content-Type": "application/json",
        "X-Api-Key": shop.key,
        "User-Agent": USER_AGENTS["safari_iphone"],
        "CloudFront-Viewer-Country": "BR",
    }
    proxy = proxy_event(
        json.dumps(batch(good, bad)).encode(), headers, "2804:14c:65a1:4444:9d3c:1a2b:3c4d:5e6f", "req-abc", base64
    )

    # WHEN Lambda calls the handler
    answer = chalice_app(proxy, LambdaContext("api_handler", 512))

    # THEN the answer is the proxy response, and the row carries the /48 and the country
    assert answer["statusCode"] == 200 and json.loads(answer["body"])["accepted"] == 1
    row = rows_by_id(api.settings)[good["event_id"]]
    assert (row["ip"], row["country"], row["device_type"]) == ("2804:14c:65a1::", "BR", "mobile")
    # AND the rejected event is filed under API Gateway's request id
    [kept] = stored(api.settings, "rejected_events")
    assert kept.sk.endswith(f"#{shop.app_id}#req-abc-1")
