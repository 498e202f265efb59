"""Segment's tracking API through chalice.test.Client, reading back what landed in dynalite.

The real SDKs are driven against the dev server in test_segment_sdks.py; here every route,
auth form, body encoding and failure answer is checked on its own.
"""

from __future__ import annotations

import base64
import gzip
import json
import uuid
from typing import Any

import pytest
from botocore.stub import Stubber

from chalicelib import clients
from chalicelib.collect import segment
from tests.apiclient import SHOP_ORIGIN, Api, AppWithKey
from tests.factories import USER_AGENTS, iso, now_ms
from tests.readback import rows, rows_by_id

SERVER_UA = "analytics-python/2.4.0"


def basic(key: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:".encode()).decode()


def message(kind: str = "track", **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "type": kind,
        "messageId": str(uuid.uuid4()),
        "anonymousId": "anon-1",
        "timestamp": iso(now_ms() - 2_000),
        "context": {"library": {"name": "analytics-python", "version": "2.4.0"}},
    }
    if kind == "track":
        base["event"] = "Order Completed"
        base["properties"] = {"revenue": 42.5}
    base.update(fields)
    return base


def post(
    api: Api,
    path: str,
    payload: Any,
    *,
    key: str | None = None,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
    content_type: str = "application/json",
) -> Any:
    sent = {"Content-Type": content_type, "User-Agent": SERVER_UA}
    if key:
        sent["Authorization"] = basic(key)
    sent.update(headers or {})
    data = raw if raw is not None else json.dumps(payload).encode()
    return api.http.post(path, headers=sent, body=data)


def test_a_batch_with_basic_auth_is_stored_once_per_message_with_messageid_as_event_id(api: Api, shop: AppWithKey) -> None:
    sent = [
        message("track"),
        message("page", name="Home", properties={"url": "https://shop.example/?utm_source=x", "title": "Home"}),
        message("screen", name="Cart"),
        message("identify", userId="u-1", traits={"plan": "pro"}),
        message("group", userId="u-1", groupId="g-1", traits={"name": "Acme"}),
        message("alias", userId="u-1", previousId="anon-1"),
    ]

    response = post(api, "/v1/batch", {"batch": sent, "sentAt": iso(now_ms())}, key=shop.key)

    assert response.status_code == 200, response.body
    assert response.json_body == {"success": True, "accepted": 6, "rejected": []}
    by_id = rows_by_id(api.settings)
    assert set(by_id) == {m["messageId"] for m in sent}
    types = {by_id[m["messageId"]]["event_type"] for m in sent}
    assert types == {"custom", "page_view", "screen_view", "identify", "group", "alias"}
    identify = by_id[sent[3]["messageId"]]
    assert (identify["user_id"], json.loads(identify["traits"])) == ("u-1", {"plan": "pro"})
    group = by_id[sent[4]["messageId"]]
    assert (group["group_id"], json.loads(group["traits"])) == ("g-1", {"name": "Acme"})
    assert by_id[sent[5]["messageId"]]["previous_id"] == "anon-1"
    page = by_id[sent[1]["messageId"]]
    assert (page["path"], page["title"], page["utm_source"]) == ("/", "Home", "x")
    # A server-side SDK's HTTP client is not the visitor: no browser, no bot flag.
    track = by_id[sent[0]["messageId"]]
    assert (track["user_agent"], track["browser"], track["is_bot"]) == (None, None, False)
    assert json.loads(track["context"]) == {"library": {"name": "analytics-python", "version": "2.4.0"}}


@pytest.mark.parametrize(
    "route, kind, event_type",
    [
        ("track", "track", "custom"),
        ("t", "track", "custom"),
        ("page", "page", "page_view"),
        ("p", "page", "page_view"),
        ("screen", "screen", "screen_view"),
        ("s", "screen", "screen_view"),
        ("identify", "identify", "identify"),
        ("i", "identify", "identify"),
        ("group", "group", "group"),
        ("g", "group", "group"),
        ("alias", "alias", "alias"),
        ("a", "alias", "alias"),
    ],
)
def test_single_message_routes_take_the_type_from_the_path(
    api: Api, shop: AppWithKey, route: str, kind: str, event_type: str
) -> None:
    sent = message(kind, userId="u-9", groupId="g-9", previousId="old-9", writeKey=shop.key)
    sent.pop("type")

    response = post(api, f"/v1/{route}", sent, content_type="text/plain")

    assert response.status_code == 200, response.body
    assert rows_by_id(api.settings)[sent["messageId"]]["event_type"] == event_type


def test_analytics_js_context_gives_the_visitor_its_user_agent_ip_page_and_campaign(api: Api, shop: AppWithKey) -> None:
    sent = message(
        "track",
        context={
            "userAgent": USER_AGENTS["safari_iphone"],
            "ip": "198.51.100.77",
            "locale": "de-DE",
            "timezone": "Europe/Berlin",
            "page": {"url": "https://shop.example/cart", "referrer": "https://www.google.com/", "title": "Cart", "path": "/cart"},
            "campaign": {"name": "spring", "source": "newsletter", "medium": "email"},
            "library": {"name": "analytics.js", "version": "next-1.84.0"},
        },
    )

    response = post(
        api,
        "/v1/t",
        {**sent, "writeKey": shop.key},
        content_type="text/plain",
        headers={"User-Agent": USER_AGENTS["chrome_windows"]},
    )

    assert response.status_code == 200, response.body
    row = rows_by_id(api.settings)[sent["messageId"]]
    assert (row["browser"], row["os"], row["device_type"], row["ip"]) == ("Mobile Safari", "iOS", "mobile", "198.51.100.0")
    assert (row["url"], row["path"], row["referrer_host"], row["title"]) == (
        "https://shop.example/cart",
        "/cart",
        "www.google.com",
        "Cart",
    )
    assert (row["utm_source"], row["utm_medium"], row["utm_campaign"]) == ("newsletter", "email", "spring")
    assert (row["locale"], row["timezone"]) == ("de-DE", "Europe/Berlin")


def test_auth_order_basic_then_body_then_header_then_query(api: Api, shop: AppWithKey, open_app: AppWithKey) -> None:
    first, second = message(), message()
    post(api, "/v1/batch", {"batch": [first], "writeKey": open_app.key}, key=shop.key)
    post(api, "/v1/batch", {"batch": [second], "writeKey": shop.key}, headers={"X-Api-Key": open_app.key})

    by_id = rows_by_id(api.settings)
    assert by_id[first["messageId"]]["app_id"] == shop.app_id
    assert by_id[second["messageId"]]["app_id"] == shop.app_id
    third = message()
    assert post(api, f"/v1/track?key={shop.key}", third).status_code == 200
    assert rows_by_id(api.settings)[third["messageId"]]["app_id"] == shop.app_id


@pytest.mark.parametrize("authorization", [None, "Basic " + base64.b64encode(b"cs_wrong:").decode(), "Basic !!!"])
def test_a_wrong_or_missing_key_is_401(api: Api, shop: AppWithKey, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}

    response = post(api, "/v1/batch", {"batch": [message()]}, headers=headers)

    assert response.status_code == 401
    assert response.json_body["success"] is False


def test_basic_auth_without_the_colon_is_accepted(api: Api, shop: AppWithKey) -> None:
    header = "Basic " + base64.b64encode(shop.key.encode()).decode()

    response = post(api, "/v1/batch", {"batch": [message()]}, headers={"Authorization": header})

    assert response.status_code == 200


@pytest.mark.parametrize("header", ["gzip", None])
def test_gzip_body_is_decided_by_magic_bytes_not_the_header(api: Api, shop: AppWithKey, header: str | None) -> None:
    sent = message()
    data = gzip.compress(json.dumps({"batch": [sent]}).encode())

    response = post(api, "/v1/batch", None, raw=data, key=shop.key, headers={"Content-Encoding": header} if header else {})

    assert response.status_code == 200, response.body
    assert sent["messageId"] in rows_by_id(api.settings)


def test_api_gateway_inflated_body_with_content_encoding_still_set_is_read_as_json(api: Api, shop: AppWithKey) -> None:
    # API Gateway with payload compression enabled inflates the body and keeps the header.
    sent = message()

    response = post(api, "/v1/batch", {"batch": [sent]}, key=shop.key, headers={"Content-Encoding": "gzip"})

    assert response.status_code == 200
    assert sent["messageId"] in rows_by_id(api.settings)


def test_a_gzip_bomb_is_refused_413_without_inflating_it(api: Api, shop: AppWithKey) -> None:
    bomb = gzip.compress(b"[" + b" " * (64 * 1024 * 1024) + b"]", compresslevel=9)
    assert len(bomb) < 100_000

    response = post(api, "/v1/batch", None, raw=bomb, key=shop.key, headers={"Content-Encoding": "gzip"})

    assert response.status_code == 413
    assert rows(api.settings) == []


@pytest.mark.parametrize(
    "raw, status",
    [
        (b'{"batch": [', 400),
        (b"[]", 400),
        (b'{"batch": []}', 400),
        (b'{"batch": {}}', 400),
        (gzip.compress(b"not json", mtime=0), 400),
        (gzip.compress(b'{"batch": []}', mtime=0)[:-6], 400),
    ],
    ids=["truncated-json", "array", "empty-batch", "batch-not-array", "gzip-not-json", "gzip-truncated"],
)
def test_malformed_bodies_are_400(api: Api, shop: AppWithKey, raw: bytes, status: int) -> None:
    response = post(api, "/v1/batch", None, raw=raw, key=shop.key)

    assert response.status_code == status
    assert response.json_body["success"] is False


def test_over_the_message_limit_is_413(api: Api, shop: AppWithKey) -> None:
    tiny = {"type": "track", "event": "x", "anonymousId": "a"}

    response = post(api, "/v1/batch", {"batch": [tiny] * (segment.MAX_MESSAGES + 1)}, key=shop.key)

    assert response.status_code == 413


def test_2500_messages_in_one_batch_are_accepted(api: Api, shop: AppWithKey) -> None:
    sent = [{"type": "track", "event": "x", "anonymousId": "a", "messageId": f"m-{i}"} for i in range(2_500)]

    response = post(api, "/v1/batch", {"batch": sent}, key=shop.key)

    assert response.status_code == 200
    assert response.json_body["accepted"] == 2_500


def test_partly_invalid_batch_is_200_with_detail_and_all_invalid_is_400(api: Api, shop: AppWithKey) -> None:
    good = message()
    bad = [{"type": "track", "anonymousId": "a"}, {"type": "hover", "anonymousId": "a"}, {"type": "track", "event": "x"}]

    partial = post(api, "/v1/batch", {"batch": [good, *bad]}, key=shop.key)
    invalid = post(api, "/v1/batch", {"batch": bad}, key=shop.key)

    assert partial.status_code == 200
    assert partial.json_body["accepted"] == 1
    assert [r["index"] for r in partial.json_body["rejected"]] == [1, 2, 3]
    assert invalid.status_code == 400
    assert invalid.json_body["success"] is False


def test_storage_trouble_is_503_with_retry_after_and_never_500(api: Api, shop: AppWithKey) -> None:
    assert post(api, "/v1/batch", {"batch": [message()]}, key=shop.key).status_code == 200  # warm: key cached
    with Stubber(clients.dynamodb(api.settings)) as stubber:
        for _ in range(api.settings.storage_attempts):
            stubber.add_client_error("batch_write_item", "ProvisionedThroughputExceededException", http_status_code=400)
        response = post(api, "/v1/batch", {"batch": [message()]}, key=shop.key)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"


def test_import_accepts_history_older_than_live_traffic_in_its_own_day(api: Api, shop: AppWithKey) -> None:
    old_ms = now_ms() - 40 * 86_400_000
    sent = message(timestamp=iso(old_ms))

    live = post(api, "/v1/batch", {"batch": [sent]}, key=shop.key)
    imported = post(api, "/v1/import", {"batch": [sent]}, key=shop.key)

    assert live.status_code == 400  # 40 days is past the 7-day bound of live traffic
    assert imported.status_code == 200, imported.body
    row = rows_by_id(api.settings)[sent["messageId"]]
    assert abs(row["event_time"] - old_ms) < 5_000
    assert row["received_at"] - row["event_time"] > 39 * 86_400_000


def test_import_is_bounded_by_the_deployment_setting(api: Api, shop: AppWithKey) -> None:
    sent = message(timestamp=iso(now_ms() - (api.settings.import_max_age_days + 1) * 86_400_000))

    response = post(api, "/v1/import", {"batch": [sent]}, key=shop.key)

    assert response.status_code == 400
    assert "days old" in response.json_body["rejected"][0]["error"]


def test_a_user_id_only_message_keeps_no_anonymous_id(api: Api, shop: AppWithKey) -> None:
    sent = message(anonymousId=None, userId=12345)

    assert post(api, "/v1/batch", {"batch": [sent]}, key=shop.key).status_code == 200
    row = rows_by_id(api.settings)[sent["messageId"]]
    assert (row["anonymous_id"], row["user_id"]) == (None, "12345")


def test_a_retry_with_a_long_message_id_gets_the_same_event_id(api: Api, shop: AppWithKey) -> None:
    sent = message(messageId="ajs-next-" + "x" * 80 + ":with.dots")

    post(api, "/v1/batch", {"batch": [sent]}, key=shop.key)
    post(api, "/v1/batch", {"batch": [sent]}, key=shop.key)

    ids = [r["event_id"] for r in rows(api.settings)]
    assert len(ids) == 2 and len(set(ids)) == 1 and ids[0] == segment.event_id_for(sent["messageId"])


def test_preflight_on_short_paths_allows_analytics_js_headers(api: Api, shop: AppWithKey) -> None:
    response = api.http.request(
        "OPTIONS",
        "/v1/t",
        headers={
            "Origin": SHOP_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,x-retry-count,content-type",
        },
    )
    denied = api.http.request(
        "OPTIONS", "/v1/t", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    )

    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == SHOP_ORIGIN
    allowed = {h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "x-retry-count", "content-type"} <= allowed
    assert "Access-Control-Allow-Origin" not in denied.headers


def test_an_origin_outside_the_allow_list_is_403(api: Api, shop: AppWithKey) -> None:
    response = post(
        api, "/v1/t", {**message(), "writeKey": shop.key}, content_type="text/plain", headers={"Origin": "https://evil.example"}
    )

    assert response.status_code == 403
    assert rows(api.settings) == []


def test_events_route_is_unchanged_for_segment_types(api: Api, shop: AppWithKey) -> None:
    from tests.factories import batch, event

    response = api.post_events(batch(event(event_type="identify")), key=shop.key)

    assert response.status_code == 400
