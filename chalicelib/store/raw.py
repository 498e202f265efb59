"""DynamoDB's JSON API called directly: sign, send, parse with orjson. No shape model.

botocore validates every attribute value of a BatchWriteItem against the service model,
fires a dozen event hooks and serialises through its own JSON encoder: ~23 µs of CPU per
event of a 20-event request, more than validating and enriching the event itself
(docs/performance.md, "Ingest"). The items we send are built by our own code in the wire
shape already, so this module signs the same request with botocore's SigV4 signer, sends
it over the boto3 client's own pooled HTTP session (same endpoint, region, credentials,
timeouts and connection pool) and parses the answer with orjson.

The wire protocol is AWS's ``application/x-amz-json-1.0``: a POST to ``/`` with the
operation in ``X-Amz-Target``, errors as an HTTP status and a body whose ``__type`` ends
in the error code (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/CommonErrors.html).
Retry decisions stay with the callers, through ``store.retry``, exactly as for boto errors.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

import orjson
from botocore.awsrequest import AWSPreparedRequest

from chalicelib.store.retry import RETRYABLE_CODES

_TARGET = "DynamoDB_20120810."
_CONTENT_TYPE = "application/x-amz-json-1.0"


class RawCallError(Exception):
    """DynamoDB answered with an error status: ``status``, ``code`` (e.g. ThrottlingException), ``message``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message

    @property
    def retryable(self) -> bool:
        return self.status >= 500 or self.code in RETRYABLE_CODES


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


class SigV4:
    """AWS Signature Version 4 for a POST to ``/`` with this fixed header set, nothing else.

    botocore's general signer (any method, query, headers) cost ~80 % of a raw call's CPU;
    this one builds the canonical request of our one request shape directly and keeps the
    derived signing key for the day. ``tests/unit/test_store_raw.py`` checks it signs exactly
    as botocore's ``SigV4Auth`` does. Algorithm:
    https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html
    """

    def __init__(self, host: str, region: str, service: str = "dynamodb") -> None:
        self.host = host
        self.region = region
        self.service = service
        self._key: tuple[str, str, bytes] | None = None  # (secret, day, signing key)

    def _signing_key(self, secret: str, day: str) -> bytes:
        if self._key is None or self._key[0] != secret or self._key[1] != day:
            k = _hmac(_hmac(_hmac(("AWS4" + secret).encode("utf-8"), day), self.region), self.service)
            self._key = (secret, day, _hmac(k, "aws4_request"))
        return self._key[2]

    def headers(self, target: str, body: bytes, access_key: str, secret: str, token: str | None, now: datetime) -> dict[str, str]:
        amz_date = now.strftime("%Y%m%dT%H%M%SZ")
        day = amz_date[:8]
        signed = {"content-type": _CONTENT_TYPE, "host": self.host, "x-amz-date": amz_date}
        if token:
            signed["x-amz-security-token"] = token
        signed["x-amz-target"] = target
        names = ";".join(signed)  # already in sorted order
        canonical = (
            "POST\n/\n\n"
            + "".join(f"{k}:{v}\n" for k, v in signed.items())
            + "\n"
            + names
            + "\n"
            + hashlib.sha256(body).hexdigest()
        )
        scope = f"{day}/{self.region}/{self.service}/aws4_request"
        to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode('utf-8')).hexdigest()}"
        signature = hmac.new(self._signing_key(secret, day), to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
        headers = {
            "Content-Type": _CONTENT_TYPE,
            "X-Amz-Target": target,
            "X-Amz-Date": amz_date,
            "Authorization": f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={names}, Signature={signature}",
            "Content-Length": str(len(body)),
        }
        if token:
            headers["X-Amz-Security-Token"] = token
        return headers


class RawDynamoDB:
    """Signed JSON calls sharing a boto3 DynamoDB client's endpoint, region, credentials and HTTP pool."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._endpoint = client.meta.endpoint_url + "/"
        self._region = client.meta.region_name
        self._http = client._endpoint.http_session  # botocore's pooled urllib3 session
        self._signer = SigV4(urlsplit(client.meta.endpoint_url).netloc, self._region)

    def call(self, operation: str, payload: dict[str, Any]) -> dict[str, Any]:
        """The parsed response of ``operation``; raises ``RawCallError`` for an error status and
        botocore's own ``BotoCoreError`` kinds for connection failures and timeouts."""
        body = orjson.dumps(payload)
        # Fetched per call: Lambda's credentials are temporary and botocore refreshes them.
        credentials = self._client._request_signer._credentials.get_frozen_credentials()
        headers = self._signer.headers(
            _TARGET + operation,
            body,
            credentials.access_key,
            credentials.secret_key,
            credentials.token,
            datetime.now(timezone.utc),
        )
        response = self._http.send(AWSPreparedRequest("POST", self._endpoint, headers, body, stream_output=False))
        if response.status_code == 200:
            try:
                parsed: dict[str, Any] = orjson.loads(response.content)
            except orjson.JSONDecodeError:
                # A body cut short on the way: botocore raises a (retryable) BotoCoreError here.
                raise RawCallError(502, "InvalidResponse", f"unparsable 200 body of {len(response.content)} bytes") from None
            return parsed
        try:
            error = orjson.loads(response.content or b"{}")
        except orjson.JSONDecodeError:
            error = {"message": response.content[:200].decode("utf-8", "replace")}
        code = str(error.get("__type", "")).rsplit("#", 1)[-1] or str(response.status_code)
        raise RawCallError(response.status_code, code, str(error.get("message") or error.get("Message") or ""))
