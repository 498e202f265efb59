"""Segment messages → our events (chalicelib.collect.segment): table cases and properties."""

from __future__ import annotations

import base64
import gzip
import tracemalloc
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.collect import segment
from chalicelib.collect.ingest import MalformedBody, PayloadTooLarge
from chalicelib.collect.validate import InvalidEvent, validate_event

NOW = 1_795_000_000_000

ids = st.text(min_size=1, max_size=200)
json_scalars = st.none() | st.booleans() | st.integers(-(10**9), 10**9) | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
kinds = st.sampled_from(sorted(segment.EVENT_TYPE))


def message(kind: str = "track", **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "type": kind,
        "messageId": "m-1",
        "anonymousId": "a-1",
        "userId": "u-1",
        "event": "Signed Up",
        "groupId": "g-1",
        "previousId": "p-1",
        "timestamp": "2026-11-20T10:00:00.123456+00:00",
    }
    base.update(fields)
    return base


# ---------------------------------------------------------------- event_id
@given(ids)
def test_event_id_is_stable_and_always_fits_our_pattern(message_id: str) -> None:
    event_id = segment.event_id_for(message_id)

    assert event_id == segment.event_id_for(message_id)
    assert event_id is not None and segment._EVENT_ID.fullmatch(event_id)


@given(st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True))
def test_a_message_id_that_fits_is_kept_as_is(message_id: str) -> None:
    assert segment.event_id_for(message_id) == message_id


@given(ids, ids)
def test_different_message_ids_give_different_event_ids(a: str, b: str) -> None:
    if a != b:
        assert segment.event_id_for(a) != segment.event_id_for(b)


def test_a_message_without_message_id_gets_a_content_hash_identical_on_retry() -> None:
    first = segment.translate(message(messageId=None), NOW).event["event_id"]

    assert first == segment.translate(message(messageId=None), NOW).event["event_id"]
    assert first != segment.translate(message(messageId=None, event="Other"), NOW).event["event_id"]


# ---------------------------------------------------------------- every message validates or is refused clearly
@given(
    kinds,
    st.dictionaries(
        st.sampled_from(
            [
                "anonymousId",
                "userId",
                "event",
                "name",
                "groupId",
                "previousId",
                "properties",
                "context",
                "traits",
                "timestamp",
                "sentAt",
                "messageId",
            ]
        ),
        json_values,
    ),
)
def test_any_message_translates_to_a_valid_event_or_a_field_error(kind: str, fields: dict[str, Any]) -> None:
    try:
        event = segment.translate({"type": kind, **fields}, NOW).event
        validate_event(event, segment.SEGMENT_EVENT_TYPES, segment=True)
    except InvalidEvent as exc:
        assert ": " in str(exc)


@given(kinds, st.one_of(st.text(min_size=1, max_size=30), st.integers(-(10**12), 10**12)))
def test_types_map_and_identities_become_strings(kind: str, user_id: Any) -> None:
    event = segment.translate(message(kind, userId=user_id), NOW).event
    valid = validate_event(event, segment.SEGMENT_EVENT_TYPES, segment=True)

    assert valid.event_type == segment.EVENT_TYPE[kind]
    assert valid.user_id == str(user_id)


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"anonymousId": None, "userId": None}, "anonymousId"),
        ({"event": None}, "event"),
        ({"type": "hover"}, "type"),
        ({"userId": True}, "userId"),
    ],
)
def test_refusals_name_the_segment_field(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidEvent, match=f"^{field}"):
        segment.translate(message("track", **fields), NOW)


@pytest.mark.parametrize(
    "kind, fields, field",
    [
        ("group", {"groupId": None}, "groupId"),
        ("alias", {"previousId": None}, "previousId"),
        ("alias", {"userId": None}, "userId"),
    ],
)
def test_group_and_alias_need_their_ids(kind: str, fields: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidEvent, match=f"^{field}"):
        segment.translate(message(kind, **fields), NOW)


# ---------------------------------------------------------------- field mapping
def test_original_timestamp_wins_over_timestamp_and_missing_means_received() -> None:
    both = segment.translate(message(originalTimestamp="2026-11-20T09:00:00Z"), NOW).event
    none = segment.translate(message(timestamp=None), NOW).event

    assert both["timestamp"] == "2026-11-20T09:00:00Z"
    assert none["timestamp"] == NOW


def test_page_fields_from_properties_then_context_page_and_search_completes_the_url() -> None:
    from_props = segment.translate(
        message(
            "page",
            properties={"url": "https://a.example/x", "search": "?utm_source=s", "title": "T", "price": 1},
            context={"page": {"url": "https://b.example/", "referrer": "https://r.example/"}},
        ),
        NOW,
    ).event
    from_context = segment.translate(message("track", context={"page": {"path": "/only-path", "title": "P"}}), NOW).event

    assert (from_props["url"], from_props["title"], from_props["referrer"]) == (
        "https://a.example/x?utm_source=s",
        "T",
        "https://r.example/",
    )
    assert from_props["properties"] == {"price": 1}  # the page fields are columns now
    assert (from_context["url"], from_context["title"]) == ("/only-path", "P")


def test_context_keeps_app_device_os_library_and_hands_columns_their_parts() -> None:
    context = {
        "app": {"name": "Shop", "version": "1.2"},
        "device": {"type": "ios", "model": "iPhone15,2"},
        "os": {"name": "iOS", "version": "17.1"},
        "library": {"name": "analytics-swift", "version": "1.5.0"},
        "screen": {"width": 390.0, "height": 844.0, "density": 3},
        "locale": "en-US",
        "timezone": "Europe/Paris",
        "ip": "203.0.113.9",
        "userAgent": "X",
        "campaign": {"name": "c"},
    }

    translated = segment.translate(message("screen", context=context), NOW)

    assert translated.event["context"] == {
        "app": context["app"],
        "device": context["device"],
        "os": context["os"],
        "library": context["library"],
        "screen": {"width": 390, "height": 844},
        "screen_extra": {"density": 3},
        "locale": "en-US",
        "timezone": "Europe/Paris",
    }
    assert (translated.ip, translated.user_agent, translated.os, translated.os_version, translated.device_type) == (
        "203.0.113.9",
        "X",
        "iOS",
        "17.1",
        "mobile",
    )
    assert translated.event["campaign"] == {"utm_campaign": "c"}


@pytest.mark.parametrize(
    "own, merged",
    [
        ("not an object", {"density": 3}),  # replaced: it made the translation raise TypeError (a 500)
        ({"notch": True}, {"notch": True, "density": 3}),
        ({"density": 2}, {"density": 3}),
    ],
)
def test_screen_extras_merge_into_a_screen_extra_the_context_already_has(own: Any, merged: dict[str, Any]) -> None:
    context = {"screen_extra": own, "screen": {"width": 390.0, "height": 844, "density": 3}}

    event = segment.translate(message("screen", context=context), NOW).event

    assert event["context"] == {"screen": {"width": 390, "height": 844}, "screen_extra": merged}


def test_identify_traits_fall_back_to_context_traits() -> None:
    event = segment.translate(message("identify", traits=None, context={"traits": {"email": "a@b.c"}}), NOW).event

    assert event["traits"] == {"email": "a@b.c"}


# ---------------------------------------------------------------- bodies
@given(
    st.lists(
        st.dictionaries(st.sampled_from(["type", "event", "context", "sentAt", "integrations"]), json_values),
        min_size=1,
        max_size=5,
    ),
    st.dictionaries(st.sampled_from(["ip", "library"]), st.text(max_size=5), max_size=2),
    st.booleans(),
)
def test_batch_level_context_and_sent_at_apply_under_each_messages_own(
    messages: list[dict[str, Any]], shared: dict[str, Any], gz: bool
) -> None:
    raw = orjson.dumps({"batch": messages, "context": shared, "sentAt": "2026-11-20T10:00:00Z"})

    body = segment.parse_body(gzip.compress(raw) if gz else raw, None)

    for sent, got in zip(messages, body.messages):
        assert got["sentAt"] == (sent.get("sentAt") or "2026-11-20T10:00:00Z")
        if shared and isinstance(sent.get("context"), dict):
            assert got["context"] == {**shared, **sent["context"]}


def test_a_single_message_route_takes_its_type_from_the_path_and_the_key_from_the_body() -> None:
    body = segment.parse_body(orjson.dumps({"type": "identify", "userId": "u", "writeKey": "k"}), "track")

    assert body.messages[0]["type"] == "track" and body.write_key == "k"


@given(st.integers(1, 4_000))
def test_decompression_stops_at_the_limit(size: int) -> None:
    data = gzip.compress(b"x" * size, mtime=0)

    if size <= 2_000:
        assert segment.decompress(data, 2_000) == b"x" * size
    else:
        with pytest.raises(PayloadTooLarge):
            segment.decompress(data, 2_000)


def test_a_bomb_is_refused_without_inflating_it_all() -> None:
    bomb = gzip.compress(b"\0" * 50_000_000, compresslevel=9)
    assert len(bomb) < 100_000
    tracemalloc.start()
    try:
        with pytest.raises(PayloadTooLarge):
            segment.decompress(bomb, segment.MAX_BODY_BYTES)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * segment.MAX_BODY_BYTES  # not the 50 MB it inflates to


def test_multi_member_gzip_is_read_whole() -> None:
    assert segment.decompress(gzip.compress(b'{"a":', mtime=0) + gzip.compress(b"1}", mtime=0)) == b'{"a":1}'


@pytest.mark.parametrize("raw", [b"", gzip.compress(b"{}", mtime=0)[:-3], b"\x1f\x8bnot gzip", b"[1]", b'{"batch": 3}'])
def test_malformed_bodies(raw: bytes) -> None:
    with pytest.raises(MalformedBody):
        segment.parse_body(raw, None)


@pytest.mark.parametrize(
    "header, user",
    [
        ("Basic " + base64.b64encode(b"key:").decode(), "key"),
        ("Basic " + base64.b64encode(b"key").decode(), "key"),
        ("basic " + base64.b64encode(b"key:").decode().rstrip("="), "key"),
        ("Bearer abc", None),
        ("Basic", None),
        ("Basic ###", None),
        (None, None),
        ("Basic " + base64.b64encode(b":").decode(), None),
    ],
)
def test_basic_auth_user(header: str | None, user: str | None) -> None:
    assert segment.basic_auth_user(header) == user
