"""Scripted DynamoDB BatchWriteItem failures in front of a real (local) DynamoDB.

Each call takes the next fault from the script; once the script is used up, calls go
through to the real table. Two ways in, neither patches a dotted path:

* ``FlakyBatchWrites(real_client, script)`` *is* a client: pass it to ``put_items``;
* ``inject(handler_client, flaky)`` hooks botocore's ``before-call`` event of the client
  the Lambda handler uses, the seam botocore's Stubber uses, but for one operation and
  with pass-through.
"""

from __future__ import annotations

import contextlib
import json
import threading
from typing import Any, Iterator, Literal

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError

Fault = Literal["throttle", "unprocessed"]
THROTTLE: Fault = "throttle"  # ProvisionedThroughputExceededException: nothing written
UNPROCESSED: Fault = "unprocessed"  # the first half written, the rest handed back in UnprocessedItems


class FlakyBatchWrites:
    def __init__(self, client: Any, script: list[Fault] | tuple[Fault, ...] = ()) -> None:
        self._client = client
        self._script = list(script)
        self._lock = threading.Lock()
        self.calls: list[int] = []  # items sent per BatchWriteItem call, in call order

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

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
        if fault == UNPROCESSED:
            half = len(requests) // 2
            if half:
                self._client.batch_write_item(RequestItems={table: requests[:half]})
            return {"UnprocessedItems": {table: requests[half:]}}
        return self._client.batch_write_item(RequestItems=RequestItems, **kwargs)


@contextlib.contextmanager
def inject(handler_client: Any, flaky: FlakyBatchWrites) -> Iterator[FlakyBatchWrites]:
    """Route ``handler_client``'s BatchWriteItem calls through ``flaky`` (whose own client is another one)."""

    def before_call(params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        # The JSON protocol's body is the request's RequestItems as the API takes them.
        parsed = flaky.batch_write_item(**json.loads(params["body"]))
        return AWSResponse(params.get("url", ""), 200, {}, None), parsed

    event = "before-call.dynamodb.BatchWriteItem"
    handler_client.meta.events.register_first(event, before_call, unique_id="tests-faults")
    try:
        yield flaky
    finally:
        handler_client.meta.events.unregister(event, unique_id="tests-faults")
