"""Throttling and UnprocessedItems: retried until stored, else 503 and never a 200 for a lost event."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from chalicelib import clients
from chalicelib.collect.enrich import request_facts
from chalicelib.collect.ingest import ingest
from chalicelib.errors import StorageUnavailable
from chalicelib.settings import Settings
from chalicelib.store.events import put_items
from tests.apiclient import Api, AppWithKey
from tests.factories import batch, body, events
from tests.faults import REFUSED, THROTTLE, UNPROCESSED, FlakyBatchWrites, inject
from tests.readback import rows_by_id

ATTEMPTS = 3


@pytest.fixture
def stack_env(stack_env: dict[str, str]) -> dict[str, str]:
    """Few attempts (the handler's backoff then sleeps at most 0.15 s) and a warm key cache."""
    return {**stack_env, "CLICKSTREAM_STORAGE_ATTEMPTS": str(ATTEMPTS), "CLICKSTREAM_KEY_CACHE_SECONDS": "300"}


@pytest.fixture
def separate_client(api: Api) -> Any:
    """A client of its own for the pass-through writes, so hooks on the handler's client don't see them."""
    return boto3.session.Session().client(
        "dynamodb",
        region_name=api.settings.region,
        endpoint_url=api.settings.dynamodb_endpoint,
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )


def planned_items(settings: Settings, n: int) -> tuple[list[dict[str, Any]], list[str]]:
    """The items ingest would write for ``n`` events, and their event ids."""
    sent = events(n)
    captured: list[dict[str, Any]] = []
    facts = request_facts("shop", sent[0]["sent_at"] + 40, "203.0.113.7", {})
    ingest(body(batch(*sent)), facts, settings, "req", captured.extend)
    return captured, [e["event_id"] for e in sent]


# -- the store, with a wrapped client passed in ---------------------------------------------------


@pytest.mark.parametrize(
    "script, calls",
    [
        ([THROTTLE, THROTTLE], [25, 25, 25]),
        ([UNPROCESSED], [25, 13]),
        ([UNPROCESSED, UNPROCESSED], [25, 13, 7]),
        ([THROTTLE, UNPROCESSED], [25, 25, 13]),
    ],
    ids=["throttled-twice", "half-unprocessed", "unprocessed-twice", "throttled-then-unprocessed"],
)
def test_put_items_retries_until_every_item_is_stored(api: Api, script: list, calls: list[int]) -> None:
    items, ids = planned_items(api.settings, 25)
    flaky = FlakyBatchWrites(clients.dynamodb(api.settings), script)
    sleeps: list[float] = []

    put_items(flaky, api.settings.table, items, attempts=ATTEMPTS, sleep=sleeps.append)

    assert flaky.calls == calls and len(sleeps) == len(script)
    assert set(rows_by_id(api.settings)) == set(ids)


@pytest.mark.parametrize("fault", [THROTTLE, UNPROCESSED])
def test_put_items_gives_up_after_the_attempts(api: Api, fault: str) -> None:
    items, _ = planned_items(api.settings, 25)
    flaky = FlakyBatchWrites(clients.dynamodb(api.settings), [fault] * ATTEMPTS)
    sleeps: list[float] = []

    with pytest.raises(StorageUnavailable, match=f"after {ATTEMPTS} attempts"):
        put_items(flaky, api.settings.table, items, attempts=ATTEMPTS, sleep=sleeps.append)

    assert len(flaky.calls) == ATTEMPTS and len(sleeps) == ATTEMPTS - 1


def test_ingest_never_returns_a_result_when_a_chunk_stays_unstored(api: Api) -> None:
    # GIVEN 60 events (three chunks) and a table that throttles every write but the first two
    sent = events(60)
    flaky = FlakyBatchWrites(clients.dynamodb(api.settings), [None, None] + [THROTTLE] * 10)  # type: ignore[list-item]
    facts = request_facts("shop", sent[0]["sent_at"] + 40, None, {})

    def store(items: list[dict[str, Any]]) -> None:
        put_items(flaky, api.settings.table, items, attempts=ATTEMPTS, sleep=lambda s: None, parallel=1)

    # WHEN the batch is ingested THEN it raises instead of answering, although 50 events are in
    with pytest.raises(StorageUnavailable):
        ingest(body(batch(*sent)), facts, api.settings, "req", store)
    assert len(rows_by_id(api.settings)) == 50


# -- through the API: the handler's own client ------------------------------------------------------


def test_throttled_then_unprocessed_then_stored_answers_200_with_every_event(
    api: Api, shop: AppWithKey, separate_client: Any
) -> None:
    sent = events(20)
    flaky = FlakyBatchWrites(separate_client, [THROTTLE, UNPROCESSED])

    with inject(clients.dynamodb(api.settings), flaky):
        response = api.post_events(batch(*sent), key=shop.key)

    assert response.status_code == 200 and response.json_body == {"accepted": 20, "rejected": []}
    assert flaky.calls == [20, 20, 10]
    assert set(rows_by_id(api.settings)) == {e["event_id"] for e in sent}


def test_persistent_throttling_answers_503_with_retry_after_and_claims_nothing(
    api: Api, shop: AppWithKey, separate_client: Any
) -> None:
    # GIVEN a warm function: the key is resolved and cached
    assert api.post_events(batch(*events(1)), key=shop.key).status_code == 200
    before = set(rows_by_id(api.settings))
    # AND DynamoDB throttles every write, as many times as the handler tries
    flaky = FlakyBatchWrites(separate_client, [THROTTLE] * ATTEMPTS)
    with inject(clients.dynamodb(api.settings), flaky):
        # WHEN a batch arrives
        response = api.post_events(batch(*events(5)), key=shop.key, headers={"Origin": "https://shop.example"})

    # THEN it tried exactly that often, and told the client to retry later
    assert flaky.calls == [5] * ATTEMPTS
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
    assert response.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    assert response.json_body == {
        "error": "storage is unavailable; nothing was acknowledged, retry the same events",
        "retry_after_s": 2,
    }
    assert set(rows_by_id(api.settings)) == before


def test_a_write_dynamodb_refuses_for_good_answers_503_at_once_and_stores_nothing(
    api: Api, shop: AppWithKey, separate_client: Any
) -> None:
    # GIVEN a warm function whose table refuses writes (a deployment fault, not a client's)
    assert api.post_events(batch(*events(1)), key=shop.key).status_code == 200
    before = set(rows_by_id(api.settings))
    flaky = FlakyBatchWrites(separate_client, [REFUSED] * ATTEMPTS)
    with inject(clients.dynamodb(api.settings), flaky):
        # WHEN a batch arrives
        response = api.post_events(batch(*events(3)), key=shop.key, headers={"Origin": "https://shop.example"})

    # THEN it was tried once (a retry would be refused too), and the client is told nothing was stored
    assert flaky.calls == [3]
    assert response.status_code == 503 and response.headers["Retry-After"] == "60"
    assert response.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    assert "nothing was stored" in response.json_body["error"]
    assert set(rows_by_id(api.settings)) == before


def test_persistent_unprocessed_items_answer_503_even_though_part_was_written(
    api: Api, shop: AppWithKey, separate_client: Any
) -> None:
    flaky = FlakyBatchWrites(separate_client, [UNPROCESSED] * ATTEMPTS)

    with inject(clients.dynamodb(api.settings), flaky):
        response = api.post_events(batch(*events(8)), key=shop.key)

    assert response.status_code == 503 and response.headers["Retry-After"] == "2"
    assert flaky.calls == [8, 4, 2]
    assert len(rows_by_id(api.settings)) == 7  # 4 + 2 + 1 written, 1 never: the client must resend all


faults = st.lists(st.sampled_from([THROTTLE, UNPROCESSED, None]), max_size=8)


@hypothesis_settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(script=faults, n=st.integers(1, 60))
def test_a_200_always_means_every_accepted_event_is_stored(
    api: Api, shop: AppWithKey, separate_client: Any, script: list, n: int
) -> None:
    sent = events(n)
    flaky = FlakyBatchWrites(separate_client, script)

    with inject(clients.dynamodb(api.settings), flaky):
        response = api.post_events(batch(*sent), key=shop.key)

    assert response.status_code in (200, 503)
    if response.status_code == 200:
        assert response.json_body["accepted"] == n
        assert {e["event_id"] for e in sent} <= set(rows_by_id(api.settings))
    else:
        assert response.headers["Retry-After"] and "accepted" not in response.json_body
