"""The export's raw Query reader against a scripted wire: pages into blocks, and what it retries.

Same seam as the ingest's raw writes (tests/unit/test_retry.py): the boto3 client's HTTP
session plays DynamoDB's side, so the signed request and the error bodies are the real shapes.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import EndpointConnectionError

from chalicelib.errors import StorageRefused, StorageUnavailable
from chalicelib.export.reader import KeyRange, RawQuery
from chalicelib.lake.transform import lines_to_table

RANGE = KeyRange("e#2026120108#00", "1764576000000$", "1764579600000$")


class Wire:
    def __init__(self, answers: list[tuple[int, Any]]) -> None:
        self.answers = answers
        self.requests: list[dict[str, Any]] = []

    def send(self, request: Any) -> AWSResponse:
        assert request.headers["X-Amz-Target"] == "DynamoDB_20120810.Query"
        assert request.headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=x/")
        self.requests.append(json.loads(request.body))
        status, body = self.answers.pop(0)
        if isinstance(body, Exception):
            raise body
        response = AWSResponse(request.url, status, {}, None)
        response._content = json.dumps(body).encode()
        return response


def reader(answers: list[tuple[int, Any]]) -> tuple[RawQuery, Wire]:
    client = boto3.session.Session().client("dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    wire = Wire(answers)
    client._endpoint.http_session = wire
    return RawQuery(client, "events-table", attempts=3, sleep=lambda _s: None), wire


def error(code: str) -> dict[str, str]:
    return {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": "m"}


def line(n: int) -> str:
    return json.dumps({"i": f"e{n}", "a": "shop", "T": 1764576000000 + n, "R": 1764576000000 + n})


def test_pages_are_followed_and_each_becomes_one_block_after_a_throttle_and_a_dropped_connection() -> None:
    q, wire = reader(
        [
            (400, error("ThrottlingException")),
            (0, EndpointConnectionError(endpoint_url="http://127.0.0.1:1")),
            (200, {"Items": [{"d": {"S": line(1)}}, {"d": {"S": line(2)}}], "LastEvaluatedKey": {"pk": {"S": "k"}}}),
            (200, {"Items": [{"d": {"S": line(3)}}]}),
        ]
    )
    blocks = q.read(RANGE)
    assert len(blocks.parts) == 2 and len(blocks) == 3
    assert lines_to_table("events", blocks).column("event_id").to_pylist() == ["e1", "e2", "e3"]
    assert wire.requests[-1]["ExclusiveStartKey"] == {"pk": {"S": "k"}} and wire.requests[0]["ConsistentRead"] is True


def test_a_refusal_is_not_retried_and_a_persistent_failure_gives_up_after_the_attempts() -> None:
    q, wire = reader([(400, error("AccessDeniedException"))])
    with pytest.raises(StorageRefused, match="AccessDeniedException"):
        q.read(RANGE)
    q, wire = reader([(500, error("InternalServerError"))] * 3)
    with pytest.raises(StorageUnavailable, match="after 3 attempts"):
        q.read(RANGE)
    assert wire.answers == []


def test_a_count_follows_every_page_and_each_query_starts_from_the_range_itself() -> None:
    q, wire = reader(
        [
            (200, {"Count": 2, "LastEvaluatedKey": {"pk": {"S": "k1"}}}),
            (200, {"Count": 3, "LastEvaluatedKey": {"pk": {"S": "k2"}}}),
            (200, {"Count": 1}),
            (200, {"Count": 4}),
        ]
    )
    assert q.count(RANGE) == 6
    assert [r.get("ExclusiveStartKey") for r in wire.requests] == [None, {"pk": {"S": "k1"}}, {"pk": {"S": "k2"}}]
    assert all(r["Select"] == "COUNT" for r in wire.requests)
    assert q.count(RANGE) == 4  # a second count of the same range does not resume the first one's key
    assert "ExclusiveStartKey" not in wire.requests[-1]
