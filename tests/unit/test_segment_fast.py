"""Segment's one-step path (``translate_valid``, ``adapter``) against the reference path
(``translate`` → ``validate_event``, ``reference_adapter``): the same event, the same refusal,
the same stored items, for random messages. The fast path skips the checks translation
guarantees by construction (chalicelib.collect.segment.translate_valid lists them); these
properties are what keeps it from drifting away from validate.py."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from chalicelib.collect import limits, segment
from chalicelib.collect.enrich import request_facts
from chalicelib.collect.ingest import plan_batch
from chalicelib.collect.validate import InvalidEvent, validate_event
from chalicelib.settings import from_env
from tests.factories import USER_AGENTS

NOW = 1_795_000_000_000
SETTINGS = from_env({"CLICKSTREAM_MAX_EVENT_AGE_DAYS": "3650"})


def often(good: st.SearchStrategy[Any], other: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``good`` four times in five: a union (``|``) would weigh each of ``other``'s branches as much."""
    return st.integers(0, 4).flatmap(lambda n: good if n else other)


def near(bound: int) -> st.SearchStrategy[str]:
    """Strings around a length limit, where a skipped check would show."""
    return st.integers(max(0, bound - 2), bound + 2).map(lambda n: "x" * n)


texts = st.text(max_size=12) | near(limits.MAX_ID) | st.sampled_from(["", " ", "a/b?c", "é–", "550e8400-e29b-41d4-a716"])
numbers = st.integers(-(10**15), 10**15) | st.floats(allow_nan=True, allow_infinity=True) | st.booleans()
scalars = st.none() | texts | numbers
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=6
)
good_times = st.integers(NOW - 10**10, NOW + 10**7) | st.sampled_from(
    ["2026-11-20T10:00:00.123456Z", "2026-11-20T10:00:00.5+01:00", "2026-11-20T10:00:00Z"]
)
bad_times = (
    st.integers(-(10**14), 10**14)
    | st.sampled_from(["2026-11-20T10:00:00", "yesterday", "1999-01-01T00:00:00Z"])
    | st.floats()
    | st.booleans()
    | json_values
)
times = often(st.none() | good_times, bad_times)
ids = st.text(min_size=1, max_size=12)
urls = st.none() | texts | near(limits.MAX_URL).map(lambda s: "https://a.example/" + s[18:]) | st.just("https://a.example/p?x=1")
page = st.fixed_dictionaries(
    {},
    optional={
        "url": often(st.just("https://a.example/p"), urls),
        "path": st.none() | st.sampled_from(["/p", "", "/q?x=1"]) | numbers,
        "referrer": urls,
        "title": st.none() | texts | near(limits.MAX_TITLE),
        "search": st.none() | st.sampled_from(["", "?utm_source=s", "utm_medium=m", "?"]) | numbers,
        "name": scalars,
    },
)
screen = st.one_of(
    st.fixed_dictionaries({"width": st.integers(0, 3000), "height": st.integers(0, 3000)}),
    st.fixed_dictionaries(
        {},
        optional={
            "width": st.integers(-5, 200_000) | st.floats() | st.booleans() | st.none() | texts,
            "height": st.integers(-5, 200_000) | st.floats() | st.none(),
            "density": json_values,
        },
    ),
    json_values,
)
context = st.fixed_dictionaries(
    {},
    optional={
        "page": page | json_values,
        "userAgent": st.sampled_from(sorted(USER_AGENTS.values())) | scalars,
        "ip": st.sampled_from(["203.0.113.9", "2001:db8::1", "not an ip"]) | scalars,
        "locale": st.sampled_from(["de-DE", "en"]) | near(limits.MAX_SHORT) | scalars,
        "timezone": st.sampled_from(["Europe/Berlin"]) | scalars,
        "screen": screen,
        "campaign": st.fixed_dictionaries({}, optional={k: scalars for k in ("source", "medium", "name", "term", "content")})
        | json_values,
        "geo": json_values,
        "library": st.just({"name": "analytics.js", "version": "next-1.84.0"}) | json_values,
        "os": st.fixed_dictionaries({}, optional={"name": scalars, "version": scalars}) | json_values,
        "device": st.fixed_dictionaries({}, optional={"type": st.sampled_from(["ios", "Android", "web"]) | scalars}),
        "traits": json_values,
        "app": json_values,
    },
)
kinds = st.sampled_from(sorted(segment.EVENT_TYPE))
one_message = st.fixed_dictionaries(
    # Mostly messages that get far, so that every later check is reached; sometimes anything.
    {"type": often(kinds, st.sampled_from(["Track", "PAGE", "hover", ""]) | scalars), "anonymousId": often(ids, scalars)},
    optional={
        "messageId": st.none() | ids | texts | st.integers() | st.from_regex(r"[A-Za-z0-9_-]{1,70}", fullmatch=True),
        "userId": often(ids, scalars),
        "event": often(ids, scalars | near(limits.MAX_EVENT_NAME) | json_values),
        "name": scalars | near(limits.MAX_EVENT_NAME),
        "properties": often(page, json_values),
        "context": often(context, json_values),
        "traits": json_values,
        "groupId": often(ids, scalars),
        "previousId": often(ids, scalars),
        "timestamp": times,
        "originalTimestamp": st.none() | times,
        "sentAt": times,
    },
)
messages = often(one_message, json_values)


def outcome(run: Any) -> Any:
    try:
        return run()
    except InvalidEvent as exc:
        return ("refused", str(exc), exc.code, exc.field)


def reference(message: Any) -> Any:
    translated = segment.translate(message, NOW)
    return validate_event(translated.event, segment.SEGMENT_EVENT_TYPES, segment=True), tuple(translated[1:])


@given(messages)
@example({"type": "track", "anonymousId": "a", "event": 5})
@example({"type": "page", "userId": 7, "context": {"screen": {"width": 390.0, "height": 844, "density": 3}}})
@example({"type": "group", "userId": "u", "groupId": "g" * 129, "anonymousId": "a" * 129})
@example({"type": "alias", "userId": "u" * 129, "previousId": "p" * 129})
@example({"type": "page", "userId": "u", "properties": {"url": "/" * 4097, "title": "t" * 1025}})
@example({"type": "screen", "userId": "u", "context": {"page": {"referrer": "r" * 4097}, "locale": "l" * 65, "geo": {}}})
@example({"type": "track", "userId": "u", "event": "e", "context": {"campaign": {"name": "c"}}, "timestamp": "2026-11-20"})
@settings(max_examples=300)
def test_translate_valid_is_translate_then_validate(message: Any) -> None:
    """The same ValidEvent and visitor, or the same refusal (message, code, field)."""
    assert outcome(lambda: segment.translate_valid(message, NOW)) == outcome(lambda: reference(message))


@given(st.lists(messages, min_size=1, max_size=6), st.sampled_from(["anonymize", "drop", "keep"]))
def test_a_batch_gives_the_same_items_on_both_paths(batch: list[Any], ip_mode: str) -> None:
    facts = request_facts("shop", NOW, "198.51.100.7", {"user-agent": "python-requests/2.31.0"}, ip_mode)  # type: ignore[arg-type]

    fast = plan_batch(batch, facts, SETTINGS, "req-1", adapt=segment.adapter(facts, ip_mode))  # type: ignore[arg-type]
    reference = plan_batch(batch, facts, SETTINGS, "req-1", adapt=segment.reference_adapter(facts, ip_mode))  # type: ignore[arg-type]

    assert (fast.items, fast.rejected, fast.accepted) == (reference.items, reference.rejected, reference.accepted)


def test_every_mapped_type_is_one_the_segment_contract_allows() -> None:
    # translate_valid skips validate_event's event_type check on this ground
    assert set(segment.EVENT_TYPE.values()) <= segment.SEGMENT_EVENT_TYPES


@pytest.mark.parametrize("message_id", [None, "", "ok-id", "x" * 65, "ünïcode", 12, 1.5, True, ["a"]])
def test_the_event_id_always_passes_validates_own_pattern(message_id: Any) -> None:
    # ... and this one its event_id check
    event, _ = segment.translate_valid({"type": "track", "anonymousId": "a", "event": "E", "messageId": message_id}, NOW)

    assert validate_event({"event_id": event.event_id, "event_type": "custom", "event_name": "E", "timestamp": NOW}).event_id
