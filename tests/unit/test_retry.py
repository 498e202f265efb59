"""Backoff and the durable batch write, with botocore's Stubber: no server, no waiting."""

from __future__ import annotations

from typing import Any, Iterator

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from botocore.stub import Stubber
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.errors import StorageRefused, StorageUnavailable, TerminalError, TransientError
from chalicelib.store import retry
from chalicelib.store.events import BATCH, put_items, write_chunk

no_deadline = settings(deadline=None)  # a busy shared machine must not fail a pure property test

TABLE = "events-table"


def item(n: int) -> dict[str, Any]:
    return {"pk": {"S": "e#2023111422#00"}, "sk": {"S": f"1700000000000#shop#e{n}"}, "d": {"S": "{}"}}


def puts(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"PutRequest": {"Item": i}} for i in items]


@pytest.fixture
def stubbed() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.session.Session().client(
        "dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def throttle(stubber: Stubber) -> None:
    stubber.add_client_error("batch_write_item", "ProvisionedThroughputExceededException", http_status_code=400)


# -- backoff ---------------------------------------------------------------------------------------


@no_deadline
@given(st.integers(0, 12), st.floats(0, 1))
def test_backoff_has_one_sleep_between_each_attempt_capped_and_jittered(attempts: int, draw: float) -> None:
    delays = retry.backoff_delays(attempts, base_s=0.05, cap_s=1.0, rng=lambda: draw)

    assert len(delays) == max(0, attempts - 1)
    assert delays == [draw * min(1.0, 0.05 * 2**n) for n in range(len(delays))]
    assert all(0 <= d <= 1.0 for d in delays)


# id -> (error, retryable)
ERRORS: dict[str, tuple[Exception, bool]] = {
    "throughput-exceeded": (ClientError({"Error": {"Code": "ProvisionedThroughputExceededException"}}, "BatchWriteItem"), True),
    "throttling": (ClientError({"Error": {"Code": "ThrottlingException"}}, "BatchWriteItem"), True),
    "request-limit": (ClientError({"Error": {"Code": "RequestLimitExceeded"}}, "BatchWriteItem"), True),
    "internal-server-error": (ClientError({"Error": {"Code": "InternalServerError"}}, "BatchWriteItem"), True),
    "connection-refused": (EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), True),
    "read-timeout": (ReadTimeoutError(endpoint_url="http://127.0.0.1:1"), True),
    "validation": (ClientError({"Error": {"Code": "ValidationException"}}, "BatchWriteItem"), False),
    "missing-table": (ClientError({"Error": {"Code": "ResourceNotFoundException"}}, "BatchWriteItem"), False),
    "access-denied": (ClientError({"Error": {"Code": "AccessDeniedException"}}, "BatchWriteItem"), False),
    "no-code": (ClientError({}, "BatchWriteItem"), False),
    "not-boto": (ValueError("x"), False),
}


@pytest.mark.parametrize("error, retryable", ERRORS.values(), ids=ERRORS.keys())
def test_error_triage(error: Exception, retryable: bool) -> None:
    assert retry.is_retryable(error) is retryable


@pytest.mark.parametrize("error, retryable", ERRORS.values(), ids=ERRORS.keys())
def test_storage_errors_take_the_kind_the_triage_decides(error: Exception, retryable: bool) -> None:
    wrapped = retry.storage_error("writing x failed", error, retry_after_s=3)
    assert isinstance(wrapped, TransientError if retryable else TerminalError)
    assert isinstance(wrapped, StorageUnavailable if retryable else StorageRefused) and str(wrapped) == "writing x failed"
    if retryable:
        assert wrapped.retry_after_s == 3


# -- write_chunk -------------------------------------------------------------------------------------


def test_throttled_write_is_retried_with_the_same_items_until_it_succeeds(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    items = [item(n) for n in range(3)]
    throttle(stubber)
    throttle(stubber)
    stubber.add_response("batch_write_item", {"UnprocessedItems": {}}, {"RequestItems": {TABLE: puts(items)}})
    sleeps: list[float] = []

    write_chunk(client, TABLE, items, attempts=3, sleep=sleeps.append)

    assert len(sleeps) == 2


def test_only_unprocessed_items_are_sent_again(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    items = [item(n) for n in range(4)]
    stubber.add_response(
        "batch_write_item", {"UnprocessedItems": {TABLE: puts(items[2:])}}, {"RequestItems": {TABLE: puts(items)}}
    )
    stubber.add_response(
        "batch_write_item", {"UnprocessedItems": {TABLE: puts(items[3:])}}, {"RequestItems": {TABLE: puts(items[2:])}}
    )
    stubber.add_response("batch_write_item", {}, {"RequestItems": {TABLE: puts(items[3:])}})

    write_chunk(client, TABLE, items, attempts=3, sleep=lambda s: None)


@pytest.mark.parametrize("fault", ["throttle", "unprocessed"])
def test_persistent_failure_gives_up_after_the_attempts_and_sleeps_between_them(stubbed: tuple[Any, Stubber], fault: str) -> None:
    client, stubber = stubbed
    items = [item(n) for n in range(2)]
    for _ in range(4):
        if fault == "throttle":
            throttle(stubber)
        else:
            stubber.add_response("batch_write_item", {"UnprocessedItems": {TABLE: puts(items[1:])}})
    sleeps: list[float] = []

    with pytest.raises(StorageUnavailable) as caught:
        write_chunk(client, TABLE, items, attempts=4, sleep=sleeps.append)

    assert len(sleeps) == 3 and caught.value.retry_after_s == 2
    assert "after 4 attempts" in str(caught.value) and "nothing was acknowledged" in str(caught.value)


def test_non_retryable_error_fails_at_once(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    stubber.add_client_error("batch_write_item", "ValidationException", "Item size has exceeded the maximum allowed size")
    sleeps: list[float] = []

    with pytest.raises(StorageRefused) as caught:
        write_chunk(client, TABLE, [item(0)], attempts=6, sleep=sleeps.append)

    assert sleeps == [] and isinstance(caught.value.__cause__, ClientError)
    assert isinstance(caught.value, TerminalError) and not isinstance(caught.value, TransientError)


# -- put_items -----------------------------------------------------------------------------------------


def test_put_items_writes_in_chunks_of_25(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    items = [item(n) for n in range(2 * BATCH + 1)]
    for start in range(0, len(items), BATCH):
        stubber.add_response("batch_write_item", {}, {"RequestItems": {TABLE: puts(items[start : start + BATCH])}})

    put_items(client, TABLE, items, attempts=1, parallel=1)


def test_put_items_raises_when_any_parallel_chunk_fails(stubbed: tuple[Any, Stubber]) -> None:
    # Stubber answers in call order whichever thread calls; the last call fails for good.
    client, stubber = stubbed
    items = [item(n) for n in range(3 * BATCH)]
    stubber.add_response("batch_write_item", {})
    stubber.add_response("batch_write_item", {})
    stubber.add_client_error("batch_write_item", "ResourceNotFoundException")

    with pytest.raises(StorageRefused):
        put_items(client, TABLE, items, attempts=1, sleep=lambda s: None, parallel=3)


def test_put_items_with_nothing_to_write_calls_nothing(stubbed: tuple[Any, Stubber]) -> None:
    client, _ = stubbed

    put_items(client, TABLE, [], attempts=1)
