"""Write keys: header or query parameter, 401 for missing, unknown and revoked keys; per-app IP mode."""

from __future__ import annotations

import pytest

from chalicelib.store.apps import AppStore
from tests.apiclient import Api, AppWithKey
from tests.factories import batch, event
from tests.readback import rows, rows_by_id


@pytest.mark.parametrize(
    "key, error",
    [
        (None, "missing write key"),
        ("", "missing write key"),
        ("cs_not-a-key-anyone-was-given", "unknown or revoked write key"),
    ],
    ids=["missing", "empty", "unknown"],
)
def test_request_without_a_valid_key_answers_401_and_stores_nothing(
    api: Api, shop: AppWithKey, key: str | None, error: str
) -> None:
    response = api.post_events(batch(event()), key=key)

    assert response.status_code == 401
    assert response.json_body["error"].startswith(error)
    assert rows(api.settings) == [] and rows(api.settings, "rejected_events") == []


def test_revoked_key_answers_401(api: Api, shop: AppWithKey, app_store: AppStore) -> None:
    # GIVEN a key that worked
    assert api.post_events(batch(event()), key=shop.key).status_code == 200

    # WHEN it is revoked
    assert app_store.revoke(shop.key) == shop.app_id

    # THEN it no longer does (the test settings switch the key cache off)
    response = api.post_events(batch(event()), key=shop.key)
    assert response.status_code == 401
    assert len(rows(api.settings)) == 1


def test_other_keys_of_the_app_keep_working_after_one_is_revoked(api: Api, shop: AppWithKey, app_store: AppStore) -> None:
    second = app_store.add_key(shop.app_id)
    app_store.revoke(shop.key)

    assert api.post_events(batch(event()), key=second).status_code == 200


def test_key_in_the_query_parameter_is_accepted(api: Api, shop: AppWithKey) -> None:
    response = api.post_events(batch(event()), query=f"?key={shop.key}")

    assert response.status_code == 200


def test_header_key_wins_over_the_query_parameter(api: Api, shop: AppWithKey) -> None:
    response = api.post_events(batch(event()), key=shop.key, query="?key=cs_wrong")

    assert response.status_code == 200


def test_header_name_is_case_insensitive(api: Api, shop: AppWithKey) -> None:
    response = api.post_events(batch(event()), headers={"x-api-key": shop.key})

    assert response.status_code == 200


@pytest.mark.parametrize("ip_mode, stored_ip", [("anonymize", "127.0.0.0"), ("keep", "127.0.0.1"), ("drop", None)])
def test_the_apps_ip_mode_decides_what_is_stored(api: Api, app_store: AppStore, ip_mode: str, stored_ip: str | None) -> None:
    app, key = app_store.create_app(f"ip {ip_mode}", ip_mode=ip_mode)
    sent = event()

    assert api.post_events(batch(sent), key=key).status_code == 200

    assert rows_by_id(api.settings)[sent["event_id"]]["ip"] == stored_ip
