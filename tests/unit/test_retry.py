"""Backoff and the durable batch write against a scripted wire: no server, no waiting.

BatchWriteItem goes out as a signed raw call (chalicelib.store.raw), below botocore's
Stubber; ``Wire`` plays DynamoDB's side of the HTTP exchange instead, with the same
exact request checks.
"""

from __future__ import annotations

import json
import threading
from typing import Any, Iterator

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.errors import StorageRefused, StorageUnavailable, TerminalError, TransientError
from chalicelib.store import retry
from chalicelib.store.events import BATCH, put_items, write_chunk
from chalicelib.store.raw import RawCallError

no_deadline = settings(deadline=None)  # a busy shared machine must not fail a pure property test

TABLE = "events-table"


def item(n: int) -> dict[str, Any]:
    return {"pk": {"S": "e#2023111422#00"}, "sk": {"S": f"1700000000000#shop#e{n}"}, "d": {"S": "{}"}}


def puts(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"PutRequest": {"Item": i}} for i in items]


class Wire:
    """DynamoDB's side of the HTTP exchange, scripted: each request takes the next answer, in call order."""

    def __init__(self) -> None:
        self._answers: list[tuple[int, dict[str, Any] | Exception, dict[str, Any] | None]] = []
        self._lock = threading.Lock()
        self.targets: list[str] = []

    def add_response(self, body: dict[str, Any], expected: dict[str, Any] | None = None) -> None:
        self._answers.append((200, body, expected))

    def add_error(self, code: str, status: int = 400, message: str = "") -> None:
        self._answers.append((status, {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message}, None))

    def add_body(self, raw: bytes) -> None:
        self._answers.append((200, raw, None))  # type: ignore[arg-type]

    def add_exception(self, exc: Exception) -> None:
        self._answers.append((0, exc, None))

    def send(self, request: Any) -> AWSResponse:
        with self._lock:
            status, body, expected = self._answers.pop(0)
            self.targets.append(request.headers["X-Amz-Target"])
        assert request.headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=x/")
        if expected is not None:
            assert json.loads(request.body) == expected
        if isinstance(body, Exception):
            raise body
        response = AWSResponse(request.url, status, {}, None)
        response._content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return response

    def assert_no_pending_responses(self) -> None:
        assert self._answers == []


@pytest.fixture
def stubbed() -> Iterator[tuple[Any, Wire]]:
    client = boto3.session.Session().client("dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    wire = Wire()
    client._endpoint.http_session = wire
    yield client, wire
    wire.assert_no_pending_responses()
    assert set(wire.targets) <= {"DynamoDB_20120810.BatchWriteItem"}


def throttle(stubber: Wire) -> None:
    stubber.add_error("ProvisionedThroughputExceededException")


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


def test_throttled_write_is_retried_with_the_same_items_until_it_succeeds(stubbed: tuple[Any, Wire]) -> None:
    client, stubber = stubbed
    items = [item(n) for n in range(3)]
    throttle(stubber)
    throttle(stubber)
    stubber.add_response({"UnprocessedItems": {}}, {"RequestItems": {TABLE: puts(items)}})
    sleeps: list[float] = []

    write_chunk(client, TABLE, items, attempts=3, sleep=sleeps.append)

    assert len(sleeps) == 2


def test_only_unprocessed_items_are_sent_again(stubbed: tuple[Any, Wire]) -> None:
    client, stubber = stubbed
    items = [item(n) for n in range(4)]
    stubber.add_response({"UnprocessedItems": {TABLE: puts(items[2:])}}, {"RequestItems": {TABLE: puts(items)}})
    stubber.add_response({"UnprocessedItems": {TABLE: puts(items[3:])}}, {"RequestItems": {TABLE: puts(items[2:])}})
    stubber.add_response({}, {"RequestItems": {TABLE: puts(items[3:])}})

    write_chunk(client, TABLE, items, attempts=3, sleep=lambda s: None)


@pytest.mark.parametrize("fault", ["throttle", "unprocessed"])
def test_persistent_failure_gives_up_after_the_attempts_and_sleeps_between_them(stubbed: tuple[Any, Wire], fault: str) -> None:
    client, stubber = stubbed
    items = [item(n) for n in range(2)]
    for _ in range(4):
        if fault == "throttle":
            throttle(stubber)
        else:
            stubber.add_response({"UnprocessedItems": {TABLE: puts(items[1:])}})
    sleeps: list[float] = []

    with pytest.raises(StorageUnavailable) as caught:
        write_chunk(client, TABLE, items, attempts=4, sleep=sleeps.append)

    assert len(sleeps) == 3 and caught.value.retry_after_s == 2
    assert "after 4 attempts" in str(caught.value) and "nothing was acknowledged" in str(caught.value)


def test_non_retryable_error_fails_at_once(stubbed: tuple[Any, Wire]) -> None:
    client, stubber = stubbed
    stubber.add_error("ValidationException", message="Item size has exceeded the maximum allowed size")
    sleeps: list[float] = []

    with pytest.raises(StorageRefused) as caught:
        write_chunk(client, TABLE, [item(0)], attempts=6, sleep=sleeps.append)

    assert sleeps == [] and isinstance(caught.value.__cause__, RawCallError)
    assert "ValidationException" in str(caught.value) and "Item size has exceeded" in str(caught.value)
    assert isinstance(caught.value, TerminalError) and not isinstance(caught.value, TransientError)


@pytest.mark.parametrize("answer", ["connection", "500", "throttling", "truncated"])
def test_connection_failures_and_server_errors_are_retried(stubbed: tuple[Any, Wire], answer: str) -> None:
    client, stubber = stubbed
    if answer == "connection":
        stubber.add_exception(EndpointConnectionError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com/"))
    elif answer == "500":
        stubber.add_error("InternalServerError", status=500)
    elif answer == "truncated":
        stubber.add_body(b'{"UnprocessedItems": {"events-ta')
    else:
        stubber.add_error("ThrottlingException")
    stubber.add_response({})
    sleeps: list[float] = []

    write_chunk(client, TABLE, [item(0)], attempts=2, sleep=sleeps.append)

    assert len(sleeps) == 1


# -- put_items -----------------------------------------------------------------------------------------


def test_put_items_writes_in_chunks_of_25(stubbed: tuple[Any, Wire]) -> None:
    client, stubber = stubbed
    items = [item(n) for n in range(2 * BATCH + 1)]
    for start in range(0, len(items), BATCH):
        stubber.add_response({}, {"RequestItems": {TABLE: puts(items[start : start + BATCH])}})

    put_items(client, TABLE, items, attempts=1, parallel=1)


def test_put_items_raises_when_any_parallel_chunk_fails(stubbed: tuple[Any, Wire]) -> None:
    # The wire answers in call order whichever thread calls; the last call fails for good.
    client, stubber = stubbed
    items = [item(n) for n in range(3 * BATCH)]
    stubber.add_response({})
    stubber.add_response({})
    stubber.add_error("ResourceNotFoundException")

    with pytest.raises(StorageRefused):
        put_items(client, TABLE, items, attempts=1, sleep=lambda s: None, parallel=3)


def test_put_items_with_nothing_to_write_calls_nothing(stubbed: tuple[Any, Wire]) -> None:
    client, _ = stubbed

    put_items(client, TABLE, [], attempts=1)
