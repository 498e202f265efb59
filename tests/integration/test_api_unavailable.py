"""Every 503 looks the same to a client: CORS headers, Retry-After, one body shape, no internal address."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError

from chalicelib import clients
from tests.apiclient import SHOP_ORIGIN, Api, AppWithKey
from tests.factories import batch, event

ADDRESS = re.compile(r"https?://|127\.0\.0\.1|localhost|amazonaws\.com|:\d{2,5}\b")


@pytest.fixture
def dynamodb_down(api: Api) -> Iterator[None]:
    """The handler's DynamoDB client cannot connect (the request never leaves the process)."""
    client = clients.dynamodb(api.settings)

    def refuse(request: Any, **_: Any) -> None:
        raise EndpointConnectionError(endpoint_url=request.url)

    client.meta.events.register_first("before-send.dynamodb", refuse)
    yield
    client.meta.events.unregister("before-send.dynamodb", refuse)


def test_503_from_a_failed_key_lookup_is_readable_by_the_page_and_reveals_no_address(
    api: Api, shop: AppWithKey, dynamodb_down: None
) -> None:
    response = api.post_events(batch(event()), key=shop.key, headers={"Origin": SHOP_ORIGIN})

    assert response.status_code == 503
    assert response.headers["Access-Control-Allow-Origin"] == SHOP_ORIGIN
    assert response.headers["Access-Control-Expose-Headers"] == "Retry-After"
    assert int(response.headers["Retry-After"]) >= 1
    assert set(response.json_body) == {"error", "retry_after_s"}
    assert response.json_body["retry_after_s"] == int(response.headers["Retry-After"])
    assert not ADDRESS.search(response.body.decode()), response.body


def test_health_503_reveals_no_address(api: Api, dynamodb_down: None) -> None:
    response = api.http.get("/v1/health")

    assert response.status_code == 503
    assert not ADDRESS.search(response.body.decode()), response.body
