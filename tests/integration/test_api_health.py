"""GET /v1/health, and what the API answers when DynamoDB cannot be reached at all."""

from __future__ import annotations

import time

import pytest

from clickstream.localstack import free_port
from tests.apiclient import Api, AppWithKey, reconfigure
from tests.factories import batch, event


def test_health_is_200_when_the_table_is_reachable(api: Api) -> None:
    response = api.http.get("/v1/health")

    assert response.status_code == 200
    assert response.json_body == {"status": "ok", "table": api.settings.table, "stage": api.settings.stage}


def test_health_is_503_when_the_table_does_not_exist(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    reconfigure(monkeypatch, CLICKSTREAM_TABLE="no-such-table")

    response = api.http.get("/v1/health")

    assert response.status_code == 503
    assert response.json_body == {
        "status": "unavailable",
        "error": "table no-such-table is not reachable: ResourceNotFoundException",
    }
    assert response.headers["Retry-After"] == "5"


def test_health_is_503_when_nothing_listens_on_the_endpoint(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    reconfigure(monkeypatch, CLICKSTREAM_DYNAMODB_ENDPOINT=f"http://127.0.0.1:{free_port()}")
    started = time.monotonic()

    response = api.http.get("/v1/health")

    assert response.status_code == 503
    assert response.json_body["error"].endswith("EndpointConnectionError")
    assert time.monotonic() - started < 10  # botocore's own retries are bounded


def test_events_answer_503_with_retry_after_when_the_key_cannot_be_checked(
    api: Api, shop: AppWithKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a valid key, but DynamoDB is gone
    reconfigure(monkeypatch, CLICKSTREAM_DYNAMODB_ENDPOINT=f"http://127.0.0.1:{free_port()}")

    response = api.post_events(batch(event()), key=shop.key)

    # THEN the client is told to come back, not that the key is wrong
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
    assert "accepted" not in response.json_body


def test_a_missing_table_answers_503_retry_later(api: Api, shop: AppWithKey, monkeypatch: pytest.MonkeyPatch) -> None:
    """A missing table is a deployment fault: not retried here, never a 500; clients resend after a minute (0007)."""
    reconfigure(monkeypatch, CLICKSTREAM_TABLE="no-such-table")

    response = api.post_events(batch(event()), key=shop.key)

    assert response.status_code == 503 and response.headers["Retry-After"] == "60"
    assert "nothing was stored" in response.json_body["error"]
