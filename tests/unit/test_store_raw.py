"""The raw DynamoDB call signs exactly as botocore does, and classifies errors as boto's would be."""

from __future__ import annotations

from datetime import datetime, timezone

import botocore.auth
import pytest
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.store import retry
from chalicelib.store.raw import RawCallError, SigV4

NOW = datetime(2026, 12, 1, 6, 30, 15, tzinfo=timezone.utc)


def botocore_headers(
    url: str, region: str, target: str, body: bytes, creds: Credentials, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: NOW.replace(tzinfo=None))
    request = AWSRequest(
        method="POST", url=url, data=body, headers={"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": target}
    )
    botocore.auth.SigV4Auth(creds, "dynamodb", region).add_auth(request)
    return dict(request.headers.items())


@pytest.mark.parametrize(
    "url, host",
    [
        ("https://dynamodb.eu-west-1.amazonaws.com/", "dynamodb.eu-west-1.amazonaws.com"),
        ("http://127.0.0.1:8701/", "127.0.0.1:8701"),
    ],
)
@pytest.mark.parametrize("token", [None, "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQ"])
def test_the_signature_is_botocores(url: str, host: str, token: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    body = b'{"RequestItems":{"t":[{"PutRequest":{"Item":{"pk":{"S":"e#2026120106#0a"},"d":{"S":"40,\\"\\u00e9\\""}}}}]}}'
    creds = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    expected = botocore_headers(url, "eu-west-1", "DynamoDB_20120810.BatchWriteItem", body, creds, monkeypatch)
    ours = SigV4(host, "eu-west-1").headers(
        "DynamoDB_20120810.BatchWriteItem", body, creds.access_key, creds.secret_key, token, NOW
    )
    assert ours["Authorization"] == expected["Authorization"]
    assert ours["X-Amz-Date"] == expected["X-Amz-Date"]
    assert ours.get("X-Amz-Security-Token") == expected.get("X-Amz-Security-Token")


@given(body=st.binary(max_size=300), day=st.integers(0, 3))
def test_the_cached_signing_key_follows_the_day(body: bytes, day: int) -> None:
    signer = SigV4("h", "us-east-1")
    signer.headers("T", b"", "AK", "SK", None, NOW)  # caches the key of NOW's day
    when = NOW.replace(day=1 + day)
    fresh = SigV4("h", "us-east-1").headers("T", body, "AK", "SK", None, when)
    assert signer.headers("T", body, "AK", "SK", None, when) == fresh


@pytest.mark.parametrize(
    "status, code, retryable",
    [
        (400, "ProvisionedThroughputExceededException", True),
        (400, "ThrottlingException", True),
        (500, "InternalServerError", True),
        (503, "503", True),
        (400, "ValidationException", False),
        (400, "ResourceNotFoundException", False),
        (403, "AccessDeniedException", False),
    ],
)
def test_errors_are_classified_like_botos(status: int, code: str, retryable: bool) -> None:
    assert retry.is_retryable(RawCallError(status, code, "m")) is retryable
