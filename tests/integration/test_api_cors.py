"""CORS per app (allow-list, preflight) and sendBeacon (text/plain, key in the query)."""

from __future__ import annotations

import pytest
from chalice.test import HTTPResponse

from chalicelib.store.apps import AppStore
from tests.apiclient import SHOP_ORIGIN, Api, AppWithKey
from tests.factories import batch, body, event
from tests.readback import rows, rows_by_id

CORS_HEADERS = {
    "Access-Control-Allow-Origin",
    "Access-Control-Allow-Methods",
    "Access-Control-Allow-Headers",
    "Access-Control-Max-Age",
}


def cors_of(response: HTTPResponse) -> set[str]:
    return CORS_HEADERS & set(response.headers)


# -- POST ------------------------------------------------------------------------------------------


def test_allowed_origin_gets_its_origin_back(api: Api, shop: AppWithKey) -> None:
    response = api.post_events(batch(event()), key=shop.key, headers={"Origin": SHOP_ORIGIN})

    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == SHOP_ORIGIN
    assert response.headers["Vary"] == "Origin"
    assert response.headers["Access-Control-Expose-Headers"] == "Retry-After"


def test_401_is_readable_by_the_page_so_the_tracker_stops_retrying(api: Api, shop: AppWithKey) -> None:
    response = api.post_events(batch(event()), key="cs_revoked-long-ago", headers={"Origin": "https://any.example"})

    assert response.status_code == 401
    assert response.headers["Access-Control-Allow-Origin"] == "https://any.example"


@pytest.mark.parametrize("origin", ["https://evil.example", "http://shop.example", "https://shop.example:8443", "null"])
def test_other_origin_gets_403_without_cors_headers_and_nothing_is_stored(api: Api, shop: AppWithKey, origin: str) -> None:
    response = api.post_events(batch(event()), key=shop.key, headers={"Origin": origin})

    assert response.status_code == 403
    assert cors_of(response) == set()
    assert response.json_body["accepted"] == 0 and "is not allowed" in response.json_body["error"]
    assert rows(api.settings) == []


def test_request_without_origin_is_not_a_browser_and_gets_no_cors_headers(api: Api, shop: AppWithKey) -> None:
    response = api.post_events(batch(event()), key=shop.key)

    assert response.status_code == 200
    assert cors_of(response) == set()


def test_origin_is_compared_case_insensitively(api: Api, shop: AppWithKey) -> None:
    response = api.post_events(batch(event()), key=shop.key, headers={"Origin": "HTTPS://Shop.Example"})

    assert response.status_code == 200


@pytest.mark.parametrize("origin", ["https://anywhere.example", "http://localhost:3000"])
def test_app_without_an_allow_list_accepts_every_origin(api: Api, open_app: AppWithKey, origin: str) -> None:
    response = api.post_events(batch(event()), key=open_app.key, headers={"Origin": origin})

    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == origin


def test_rejected_batch_from_an_allowed_origin_is_readable_by_the_page(api: Api, shop: AppWithKey) -> None:
    response = api.post_events(batch(event(event_type="nope")), key=shop.key, headers={"Origin": SHOP_ORIGIN})

    assert response.status_code == 400
    assert response.headers["Access-Control-Allow-Origin"] == SHOP_ORIGIN


# -- preflight ---------------------------------------------------------------------------------------


def preflight(api: Api, origin: str, query: str = "") -> HTTPResponse:
    return api.http.options(
        "/v1/events" + query,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-api-key",
        },
    )


def test_preflight_with_the_apps_key_and_an_allowed_origin_is_answered(api: Api, shop: AppWithKey) -> None:
    response = preflight(api, SHOP_ORIGIN, f"?key={shop.key}")

    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == SHOP_ORIGIN
    assert response.headers["Access-Control-Allow-Methods"] == "POST, OPTIONS"
    assert {h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")} == {
        "content-type",
        "x-api-key",
    }
    assert response.headers["Access-Control-Max-Age"] == "86400"


def test_preflight_without_a_key_is_answered_for_an_origin_some_app_allows(api: Api, shop: AppWithKey) -> None:
    response = preflight(api, SHOP_ORIGIN)

    assert response.status_code == 204 and response.headers["Access-Control-Allow-Origin"] == SHOP_ORIGIN


@pytest.mark.parametrize("query", ["", "?key=KEY", "?key=cs_unknown"], ids=["no-key", "apps-key", "unknown-key"])
def test_preflight_from_another_origin_gets_no_cors_headers(api: Api, shop: AppWithKey, query: str) -> None:
    response = preflight(api, "https://evil.example", query.replace("KEY", shop.key))

    assert response.status_code == 204
    assert cors_of(response) == set()


def test_preflight_with_a_revoked_key_gets_no_cors_headers(api: Api, shop: AppWithKey, app_store: AppStore) -> None:
    app_store.revoke(shop.key)

    assert cors_of(preflight(api, SHOP_ORIGIN, f"?key={shop.key}")) == set()


def test_preflight_is_answered_for_any_origin_once_an_app_has_no_allow_list(
    api: Api, shop: AppWithKey, open_app: AppWithKey
) -> None:
    response = preflight(api, "https://anywhere.example")

    assert response.headers["Access-Control-Allow-Origin"] == "https://anywhere.example"


# -- sendBeacon --------------------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["text/plain", "text/plain;charset=UTF-8", "text/plain; charset=utf-8"])
def test_send_beacon_text_plain_with_key_in_the_query_is_stored(api: Api, shop: AppWithKey, content_type: str) -> None:
    # GIVEN what navigator.sendBeacon(url + "?key=...", JSON.stringify(body)) sends from the shop
    sent = event(event_type="scroll")

    response = api.post_events(batch(sent), query=f"?key={shop.key}", content_type=content_type, headers={"Origin": SHOP_ORIGIN})

    assert response.status_code == 200 and response.json_body == {"accepted": 1, "rejected": []}
    assert response.headers["Access-Control-Allow-Origin"] == SHOP_ORIGIN
    assert rows_by_id(api.settings)[sent["event_id"]]["event_type"] == "scroll"


def test_body_without_content_type_is_read_as_json(api: Api, shop: AppWithKey) -> None:
    response = api.post_events(batch(event()), key=shop.key, content_type=None)

    assert response.status_code == 200


@pytest.mark.parametrize(
    "content_type", ["application/xml", "multipart/form-data; boundary=x", "application/x-www-form-urlencoded"]
)
def test_other_content_types_answer_415(api: Api, shop: AppWithKey, content_type: str) -> None:
    response = api.http.post(
        "/v1/events", headers={"Content-Type": content_type, "X-Api-Key": shop.key}, body=body(batch(event()))
    )

    assert response.status_code == 415
    assert rows(api.settings) == []
