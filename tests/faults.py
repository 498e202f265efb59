"""Scripted DynamoDB BatchWriteItem failures in front of a real (local) DynamoDB.

Each call takes the next fault from the script; once the script is used up, calls go
through to the real table. The seam is the HTTP session a boto3 client sends through,
so it catches botocore's own calls and the signed raw calls of ``chalicelib.store.raw``
alike (BatchWriteItem is sent raw since docs/decisions/0012). Two ways in, neither
patches a dotted path:

* ``FlakyBatchWrites(real_client, script)`` *is* a client: pass it to ``put_items``;
* ``inject(handler_client, flaky)`` swaps the HTTP session of the client the Lambda
  handler uses for a pass-through one, for the duration of the block.
"""

from __future__ import annotations

import contextlib
import json
import threading
from types import SimpleNamespace
from typing import Any, Iterator, Literal

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError

Fault = Literal["throttle", "unprocessed", "refused"]
THROTTLE: Fault = "throttle"  # ProvisionedThroughputExceededException: nothing written
UNPROCESSED: Fault = "unprocessed"  # the first half written, the rest handed back in UnprocessedItems
REFUSED: Fault = "refused"  # AccessDeniedException: a deployment fault no retry can fix


class FlakyBatchWrites:
    def __init__(self, client: Any, script: list[Fault] | tuple[Fault, ...] = ()) -> None:
        self._client = client
        self._script = list(script)
        self._lock = threading.Lock()
        self.calls: list[int] = []  # items sent per BatchWriteItem call, in call order

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    @property
    def _endpoint(self) -> Any:
        """The wrapped client's endpoint, but sending through this script (what raw calls use)."""
        return SimpleNamespace(http_session=FaultySession(self._client._endpoint.http_session, self))

    def batch_write_item(self, RequestItems: dict[str, list[dict[str, Any]]], **kwargs: Any) -> dict[str, Any]:
        [(table, requests)] = RequestItems.items()
        with self._lock:
            self.calls.append(len(requests))
            fault = self._script.pop(0) if self._script else None
        if fault == THROTTLE:
            raise ClientError(
                {
                    "Error": {"Code": "ProvisionedThroughputExceededException", "Message": "injected"},
                    "ResponseMetadata": {"HTTPStatusCode": 400},
                },
                "BatchWriteItem",
            )
        if fault == REFUSED:
            raise ClientError(
                {"Error": {"Code": "AccessDeniedException", "Message": "injected"}, "ResponseMetadata": {"HTTPStatusCode": 400}},
                "BatchWriteItem",
            )
        if fault == UNPROCESSED:
            half = len(requests) // 2
            if half:
                self._client.batch_write_item(RequestItems={table: requests[:half]})
            return {"UnprocessedItems": {table: requests[half:]}}
        return self._client.batch_write_item(RequestItems=RequestItems, **kwargs)


class FaultySession:
    """An HTTP session that answers BatchWriteItem requests through ``flaky``, as DynamoDB would
    on the wire: 200 with the JSON body, or 400 with the error's ``__type``."""

    def __init__(self, inner: Any, flaky: FlakyBatchWrites) -> None:
        self._inner = inner
        self._flaky = flaky

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def send(self, request: Any) -> AWSResponse:
        target = request.headers.get("X-Amz-Target", b"")
        if (target.decode() if isinstance(target, bytes) else target) != "DynamoDB_20120810.BatchWriteItem":
            return self._inner.send(request)
        try:
            status, body = 200, self._flaky.batch_write_item(**json.loads(request.body))
        except ClientError as exc:
            error = exc.response["Error"]
            status = exc.response["ResponseMetadata"]["HTTPStatusCode"]
            body = {"__type": f"com.amazonaws.dynamodb.v20120810#{error['Code']}", "message": error["Message"]}
        response = AWSResponse(request.url, status, {"Content-Type": "application/x-amz-json-1.0"}, None)
        response._content = json.dumps(body).encode()
        return response


@contextlib.contextmanager
def inject(handler_client: Any, flaky: FlakyBatchWrites) -> Iterator[FlakyBatchWrites]:
    """Route ``handler_client``'s BatchWriteItem requests through ``flaky`` (whose own client is another one)."""
    endpoint = handler_client._endpoint
    original = endpoint.http_session
    endpoint.http_session = FaultySession(original, flaky)
    try:
        yield flaky
    finally:
        endpoint.http_session = original
