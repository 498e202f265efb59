"""No client input yields a 500: arbitrary bodies and header sets against a real key and table."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import event as label
from hypothesis import strategies as st

from tests.apiclient import SHOP_ORIGIN, Api, AppWithKey
from tests.factories import USER_AGENTS, event, now_ms

DOCUMENTED = {200, 400, 401, 403, 413, 415}
FIELDS = [
    "event_id",
    "event_type",
    "event_name",
    "timestamp",
    "sent_at",
    "anonymous_id",
    "user_id",
    "session_id",
    "url",
    "referrer",
    "title",
    "properties",
    "context",
    "app_id",
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=16,
)
context_like = st.fixed_dictionaries(
    {},
    optional={
        "locale": json_values,
        "screen": st.dictionaries(st.sampled_from(["width", "height"]), json_values | st.integers()),
        "geo": st.dictionaries(st.sampled_from(["lat", "lon", "accuracy"]), json_values | st.floats(allow_nan=False)),
    },
)
valid_values = st.sampled_from(["page_view", "custom", now_ms(), "2024-02-29T12:00:00+05:30", "x" * 129, "", "🚀", "\u202e"])
event_ids = st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True)
# a valid event with some fields replaced by anything JSON can hold
event_like = st.builds(
    lambda event_id, changes, context: {**event(event_id=event_id), **changes, **({"context": context} if context else {})},
    event_ids,
    st.dictionaries(st.sampled_from(FIELDS), json_values | valid_values, max_size=4),
    st.none() | context_like,
)


def dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


def nested(depth: int) -> bytes:
    return (
        b'{"events": [{"event_id": "deep", "event_type": "click", "anonymous_id": "a", '
        b'"timestamp": %d, "properties": {"x": %s%s}}]}' % (now_ms(), b"[" * depth, b"]" * depth)
    )


bodies = st.one_of(
    json_values.map(dumps),
    event_like.map(dumps),
    st.lists(event_like, max_size=6).map(lambda evs: dumps({"events": evs})),
    st.lists(event_like, min_size=1, max_size=3).map(lambda evs: dumps({"events": evs + evs})),  # duplicate ids
    st.binary(max_size=200),
    st.integers(1, 1_100).map(nested),
    st.integers(1, 1_100).map(lambda d: b"[" * d + b"]" * d),
    st.integers(32_000, 33_500).map(lambda n: dumps({"events": [event(title="t", properties={"p": "x" * n})]})),
    st.sampled_from(
        [
            b'{"event_id": "\xed\xa0\x80", "event_type": "click"}',  # a surrogate encoded as UTF-8 bytes
            b'{"events": [{"event_id": "e1", "title": "\\ud800"}]}',  # a lone surrogate escaped
            b'{"events": [{"event_id": "e1", "title": "\\udfff\\ud800"}]}',
            b'"\\ud83d"',
            b"\xef\xbb\xbf{}",  # a byte order mark
            b"1e400",
            b'{"events": [' + b"{}," * 600 + b"{}]}",
            dumps({"events": [event(title="x" * 3_000) for _ in range(400)]}),  # over 1 MiB
        ]
    ),
)
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=40)
# Mostly what browsers send, so most examples get past the key, origin and media type checks.
content_types = (
    st.none()
    | st.just("application/json")
    | st.just("text/plain;charset=UTF-8")
    | st.sampled_from(
        [
            "text/plain",
            "application/json; charset=utf-8",
            "application/xml",
            "*/*",
            "",
            "text/plain, application/json",
            "TEXT/PLAIN",
        ]
    )
    | header_text
)
origins = st.none() | st.just(SHOP_ORIGIN) | st.sampled_from(["https://evil.example", "null", ""]) | header_text


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    raw=bodies,
    content_type=content_types,
    key_in=st.sampled_from(["header", "header", "query", "both", "none", "wrong"]),
    origin=origins,
    user_agent=st.none() | st.sampled_from(list(USER_AGENTS.values())) | header_text,
    country=st.none() | header_text,
)
def test_no_body_or_header_set_yields_a_500(
    api: Api,
    shop: AppWithKey,
    raw: bytes,
    content_type: str | None,
    key_in: str,
    origin: str | None,
    user_agent: str | None,
    country: str | None,
) -> None:
    headers = {
        name: value
        for name, value in {
            "Content-Type": content_type,
            "Origin": origin,
            "User-Agent": user_agent,
            "CloudFront-Viewer-Country": country,
            "X-Api-Key": {"header": shop.key, "both": shop.key, "wrong": "cs_" + "x" * 30}.get(key_in),
        }.items()
        if value is not None
    }
    query = f"?key={shop.key}" if key_in in ("query", "both") else ""

    response = api.http.post("/v1/events" + query, headers=headers, body=raw)

    label(f"status {response.status_code}")  # pytest --hypothesis-show-statistics shows the mix
    assert response.status_code in DOCUMENTED, (response.status_code, response.body[:500])
    answer = json.loads(response.body)
    if response.status_code in (200, 400) and "rejected" in answer:
        assert answer["accepted"] >= (1 if response.status_code == 200 else 0)
        assert all(isinstance(r["index"], int) and ": " in r["error"] for r in answer["rejected"])
