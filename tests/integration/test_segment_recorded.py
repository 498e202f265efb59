"""Recorded request shapes of SDKs we cannot run here (analytics.js in a browser, analytics-swift,
analytics-kotlin), replayed through the API: tests/integration/segment_requests/*.json.

Placeholders: WRITE_KEY (the app's key), "BASIC" (Authorization: Basic of the key),
${NOW} (ISO time a moment ago), ${NOW_KOTLIN} (analytics-kotlin's format, milliseconds unpadded).
"""

from __future__ import annotations

import base64
import gzip
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.apiclient import Api, AppWithKey
from tests.readback import rows_by_id

FIXTURES = Path(__file__).parent / "segment_requests"
CASES = [
    (path.stem, i, request)
    for path in sorted(FIXTURES.glob("*.json"))
    for i, request in enumerate(json.loads(path.read_text())["requests"])
]


def _fill(text: str, key: str) -> str:
    now = datetime.fromtimestamp(time.time() - 2, tz=UTC)
    kotlin = now.strftime("%Y-%m-%dT%H:%M:%S.") + str(now.microsecond // 1000) + "Z"
    return (
        text.replace("WRITE_KEY", key)
        .replace("${NOW}", now.isoformat(timespec="milliseconds").replace("+00:00", "Z"))
        .replace("${NOW_KOTLIN}", kotlin)
    )


def _messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    return body.get("batch", [body])


@pytest.mark.parametrize("sdk, index, recorded", CASES, ids=[f"{sdk}-{i}-{r['path']}" for sdk, i, r in CASES])
def test_recorded_requests_are_stored_as_their_sdk_meant(
    api: Api, shop: AppWithKey, sdk: str, index: int, recorded: dict[str, Any]
) -> None:
    body = json.loads(_fill(json.dumps(recorded["body"]), shop.key))
    data = json.dumps(body).encode()
    if recorded.get("gzip"):
        data = gzip.compress(data)
    headers = {
        name: ("Basic " + base64.b64encode(f"{shop.key}:".encode()).decode() if value == "BASIC" else value)
        for name, value in recorded["headers"].items()
    }

    response = api.http.post(recorded["path"], headers=headers, body=data)

    assert response.status_code == 200, response.body
    assert response.json_body["success"] is True and response.json_body["rejected"] == []
    stored = rows_by_id(api.settings)
    rows = [stored[m["messageId"]] for m in _messages(body)]  # messageId kept as event_id
    for column, want in recorded["expect"].items():
        got = [row[column] for row in rows]
        if column == "traits":
            got = [json.loads(g) if g else None for g in got]
        if isinstance(want, list):
            assert got == want, column
        else:
            assert got[0] == want, column
