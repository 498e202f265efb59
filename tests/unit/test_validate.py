"""Validation of one event against the contract: table-driven, one row per case."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.collect import limits
from chalicelib.collect.validate import InvalidEvent, parse_time_ms, validate_event
from tests.factories import ABSENT, event

MS_2000 = 946_684_800_000  # 2000-01-01T00:00:00Z
MS_2100 = 4_102_444_800_000  # 2100-01-01T00:00:00Z
TS = 1_700_000_000_000  # 2023-11-14T22:13:20Z


def minimal(**overrides: Any) -> dict[str, Any]:
    """Only the required fields."""
    base = {"event_id": "e1", "event_type": "page_view", "timestamp": TS, "anonymous_id": "a1", **overrides}
    return {name: value for name, value in base.items() if value is not ABSENT}


# id -> (event, attribute of ValidEvent, expected value)
ACCEPTED: dict[str, tuple[dict[str, Any], str, Any]] = {
    "minimal": (minimal(), "properties", None),
    "full-factory-event": (event(event_id="full"), "event_id", "full"),
    "event_id-1-char": (minimal(event_id="x"), "event_id", "x"),
    "event_id-64-chars": (minimal(event_id="A_-9" * 16), "event_id", "A_-9" * 16),
    "event_name-128-emoji": (minimal(event_name="🚀" * 128), "event_name", "🚀" * 128),
    "event_name-128-ascii": (minimal(event_name="n" * 128), "event_name", "n" * 128),
    "title-rtl-hebrew": (minimal(title="שלום עולם"), "title", "שלום עולם"),
    "title-rtl-arabic-with-marks": (minimal(title="\u202bمرحبا\u202c"), "title", "\u202bمرحبا\u202c"),
    "title-combining-marks": (minimal(title="e\u0301" * 512), "title", "e\u0301" * 512),  # 1024 code points
    "title-zwj-emoji-family": (minimal(title="👨‍👩‍👧"), "title", "👨‍👩‍👧"),
    "anonymous_id-128-chars": (minimal(anonymous_id="a" * 128), "anonymous_id", "a" * 128),
    # cookieless mode: no anonymous_id; the API derives one (tests/integration/test_api_cookieless.py)
    "anonymous_id-missing": (minimal(anonymous_id=ABSENT), "anonymous_id", None),
    "anonymous_id-null": (minimal(anonymous_id=None), "anonymous_id", None),
    "anonymous_id-empty": (minimal(anonymous_id=""), "anonymous_id", None),
    "url-4096-chars": (minimal(url="https://x.example/" + "p" * 4078), "url", "https://x.example/" + "p" * 4078),
    "properties-unicode-keys": (
        minimal(properties={"🔑": "värde", "מפתח": [1, None]}),
        "properties",
        {"🔑": "värde", "מפתח": [1, None]},
    ),
    "properties-empty-object": (minimal(properties={}), "properties", None),
    "user_id-null": (minimal(user_id=None), "user_id", None),
    "user_id-empty-string": (minimal(user_id=""), "user_id", None),
    "session_id-null": (minimal(session_id=None), "session_id", None),
    "url-null": (minimal(url=None), "url", None),
    "referrer-null": (minimal(referrer=None), "referrer", None),
    "title-null": (minimal(title=None), "title", None),
    "properties-null": (minimal(properties=None), "properties", None),
    "context-null": (minimal(context=None), "context", None),
    "sent_at-null": (minimal(sent_at=None), "sent_at_ms", None),
    "event_name-null-page_view": (minimal(event_name=None), "event_name", None),
    "custom-with-name": (minimal(event_type="custom", event_name="signup"), "event_type", "custom"),
    "timestamp-iso-Z": (minimal(timestamp="2023-11-14T22:13:20Z"), "timestamp_ms", TS),
    "timestamp-iso-lowercase-z": (minimal(timestamp="2023-11-14T22:13:20z"), "timestamp_ms", TS),
    "timestamp-iso-+05:30": (minimal(timestamp="2023-11-15T03:43:20+05:30"), "timestamp_ms", TS),
    "timestamp-iso--08:00-ms": (minimal(timestamp="2023-11-14T14:13:20.123-08:00"), "timestamp_ms", TS + 123),
    "timestamp-iso-microseconds": (minimal(timestamp="2023-11-14T22:13:20.999999+00:00"), "timestamp_ms", TS + 999),
    "sent_at-epoch-ms": (minimal(sent_at=TS + 5), "sent_at_ms", TS + 5),
    "context-locale-64": (minimal(context={"locale": "l" * 64}), "context", {"locale": "l" * 64}),
    "context-screen-bounds": (
        minimal(context={"screen": {"width": 0, "height": 100_000}}),
        "context",
        {"screen": {"width": 0, "height": 100_000}},
    ),
    "context-geo-bounds": (
        minimal(context={"geo": {"lat": -90, "lon": 180.0, "accuracy": 0}}),
        "context",
        {"geo": {"lat": -90, "lon": 180.0, "accuracy": 0}},
    ),
    "context-extra-keys-kept": (minimal(context={"campaign": {"a": 1}}), "context", {"campaign": {"a": 1}}),
}


@pytest.mark.parametrize("raw, attribute, expected", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_valid_event_is_accepted(raw: dict[str, Any], attribute: str, expected: Any) -> None:
    assert getattr(validate_event(raw), attribute) == expected


# id -> (event, field named in the error, code, fragment of the reason)
REJECTED: dict[str, tuple[Any, str, str, str]] = {
    "event-is-list": ([], "event", "invalid", "must be an object, got list"),
    "event-is-string": ("page_view", "event", "invalid", "got str"),
    "event-is-null": (None, "event", "invalid", "got NoneType"),
    "event_id-missing": (minimal(event_id=ABSENT), "event_id", "missing", "is required"),
    "event_id-null": (minimal(event_id=None), "event_id", "missing", "is required"),
    "event_id-empty": (minimal(event_id=""), "event_id", "invalid", "1 to 64 characters"),
    "event_id-65-chars": (minimal(event_id="e" * 65), "event_id", "invalid", "1 to 64 characters"),
    "event_id-space": (minimal(event_id="has space"), "event_id", "invalid", "1 to 64"),
    "event_id-accented": (minimal(event_id="café"), "event_id", "invalid", "1 to 64"),
    "event_id-emoji": (minimal(event_id="🚀"), "event_id", "invalid", "1 to 64"),
    "event_id-arabic-digits": (minimal(event_id="١٢٣"), "event_id", "invalid", "1 to 64"),
    "event_id-trailing-newline": (minimal(event_id="e1\n"), "event_id", "invalid", "1 to 64"),
    "event_id-int": (minimal(event_id=5), "event_id", "invalid", "1 to 64"),
    "event_id-bool": (minimal(event_id=True), "event_id", "invalid", "1 to 64"),
    "event_type-missing": (minimal(event_type=ABSENT), "event_type", "missing", "is required"),
    "event_type-null": (minimal(event_type=None), "event_type", "missing", "is required"),
    "event_type-unknown": (minimal(event_type="hover"), "event_type", "invalid", "'hover' is not one of"),
    "event_type-wrong-case": (minimal(event_type="PAGE_VIEW"), "event_type", "invalid", "is not one of"),
    "event_type-list": (minimal(event_type=["click"]), "event_type", "invalid", "is not one of"),
    "event_type-object": (minimal(event_type={"t": "click"}), "event_type", "invalid", "is not one of"),
    "event_type-int": (minimal(event_type=1), "event_type", "invalid", "is not one of"),
    "custom-without-name": (minimal(event_type="custom"), "event_name", "missing", "required for custom events"),
    "custom-with-empty-name": (minimal(event_type="custom", event_name=""), "event_name", "missing", "required for custom"),
    "event_name-129-chars": (minimal(event_name="n" * 129), "event_name", "too_long", "is 129 characters, the limit is 128"),
    "event_name-129-emoji": (minimal(event_name="🚀" * 129), "event_name", "too_long", "the limit is 128"),
    "event_name-int": (minimal(event_name=7), "event_name", "invalid", "must be a string, got int"),
    "timestamp-missing": (minimal(timestamp=ABSENT), "timestamp", "missing", "is required"),
    "timestamp-null": (minimal(timestamp=None), "timestamp", "missing", "is required"),
    "timestamp-bool": (minimal(timestamp=True), "timestamp", "invalid", "got a boolean"),
    "timestamp-float-ms": (minimal(timestamp=float(TS)), "timestamp", "invalid", "got float"),
    "timestamp-list": (minimal(timestamp=[TS]), "timestamp", "invalid", "got list"),
    "timestamp-naive-iso": (minimal(timestamp="2023-11-14T22:13:20"), "timestamp", "invalid", "has no UTC offset"),
    "timestamp-date-only": (minimal(timestamp="2023-11-14"), "timestamp", "invalid", "has no UTC offset"),
    "timestamp-words": (minimal(timestamp="yesterday"), "timestamp", "invalid", "is not an ISO-8601 time"),
    "timestamp-epoch-seconds": (minimal(timestamp=TS // 1000), "timestamp", "invalid", "seconds sent instead of ms?"),
    "timestamp-epoch-microseconds": (minimal(timestamp=TS * 1000), "timestamp", "invalid", "outside 2000..2100"),
    "timestamp-41-chars": (minimal(timestamp="2023-11-14T22:13:20.123456+00:00" + " " * 9), "timestamp", "invalid", "too long"),
    "sent_at-words": (minimal(sent_at="soon"), "sent_at", "invalid", "is not an ISO-8601 time"),
    "sent_at-bool": (minimal(sent_at=False), "sent_at", "invalid", "got a boolean"),
    "anonymous_id-129-chars": (minimal(anonymous_id="a" * 129), "anonymous_id", "too_long", "the limit is 128"),
    "anonymous_id-int": (minimal(anonymous_id=12), "anonymous_id", "invalid", "got int"),
    "user_id-list": (minimal(user_id=["u"]), "user_id", "invalid", "got list"),
    "session_id-129-chars": (minimal(session_id="s" * 129), "session_id", "too_long", "the limit is 128"),
    "url-4097-chars": (minimal(url="u" * 4097), "url", "too_long", "the limit is 4096"),
    "referrer-int": (minimal(referrer=1), "referrer", "invalid", "got int"),
    "title-1025-combining": (minimal(title="e\u0301" * 512 + "!"), "title", "too_long", "is 1025 characters"),
    "properties-list": (minimal(properties=[1, 2]), "properties", "invalid", "must be an object, got list"),
    "properties-string": (minimal(properties="{}"), "properties", "invalid", "got str"),
    "properties-bool": (minimal(properties=True), "properties", "invalid", "got bool"),
    "context-list": (minimal(context=[]), "context", "invalid", "must be an object, got list"),
    "context-locale-65": (minimal(context={"locale": "l" * 65}), "context.locale", "invalid", "at most 64"),
    "context-timezone-int": (minimal(context={"timezone": 1}), "context.timezone", "invalid", "at most 64"),
    "context-screen-list": (minimal(context={"screen": [1, 2]}), "context.screen", "invalid", "{width, height}"),
    "context-screen-width-bool": (minimal(context={"screen": {"width": True}}), "context.screen.width", "invalid", "integer"),
    "context-screen-width-float": (minimal(context={"screen": {"width": 1.5}}), "context.screen.width", "invalid", "integer"),
    "context-screen-width-negative": (
        minimal(context={"screen": {"width": -1}}),
        "context.screen.width",
        "invalid",
        "between 0 and 100000",
    ),
    "context-screen-height-100001": (
        minimal(context={"screen": {"height": 100_001}}),
        "context.screen.height",
        "invalid",
        "between 0 and 100000",
    ),
    "context-geo-list": (minimal(context={"geo": [52, 13]}), "context.geo", "invalid", "{lat, lon, accuracy}"),
    "context-geo-without-lon": (minimal(context={"geo": {"lat": 52}}), "context.geo", "invalid", "needs both lat and lon"),
    "context-geo-lat-91": (minimal(context={"geo": {"lat": 91, "lon": 0}}), "context.geo.lat", "invalid", "outside -90..90"),
    "context-geo-lon-string": (
        minimal(context={"geo": {"lat": 0, "lon": "13"}}),
        "context.geo.lon",
        "invalid",
        "must be a number",
    ),
    "context-geo-lat-bool": (minimal(context={"geo": {"lat": True, "lon": 0}}), "context.geo.lat", "invalid", "must be a number"),
    "context-geo-accuracy-negative": (
        minimal(context={"geo": {"lat": 0, "lon": 0, "accuracy": -1}}),
        "context.geo.accuracy",
        "invalid",
        "outside",
    ),
}


@pytest.mark.parametrize("raw, field, code, reason", REJECTED.values(), ids=REJECTED.keys())
def test_invalid_event_is_rejected_with_field_and_reason(raw: Any, field: str, code: str, reason: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        validate_event(raw)

    assert caught.value.field == field
    assert caught.value.code == code
    assert str(caught.value).startswith(f"{field}: ")
    assert reason in str(caught.value)


# id -> (value, epoch ms or None when rejected)
TIMES: dict[str, tuple[Any, int | None]] = {
    "ms-2000-lower-bound": (MS_2000, MS_2000),
    "ms-just-before-2000": (MS_2000 - 1, None),
    "ms-2100-upper-bound": (MS_2100, MS_2100),
    "ms-just-after-2100": (MS_2100 + 1, None),
    "iso-2000-lower-bound": ("2000-01-01T00:00:00Z", MS_2000),
    "iso-just-before-2000": ("1999-12-31T23:59:59.999Z", None),
    "iso-2000-in-+05:30-is-1999-utc": ("2000-01-01T05:29:59+05:30", None),
    "iso-2100-upper-bound": ("2100-01-01T00:00:00Z", MS_2100),
    "iso-just-after-2100": ("2100-01-01T00:00:00.001Z", None),
    "iso-year-1-with-offset": ("0001-01-01T00:00:00+05:00", None),
    "iso-year-9999-with-offset": ("9999-12-31T23:59:59-05:00", None),
    "iso-offset-without-colon": ("2023-11-14T22:13:20+0000", TS),
    "iso-offset-24h-invalid": ("2023-11-14T22:13:20+24:00", None),
    "iso-space-separator": ("2023-11-14 22:13:20Z", TS),
    "epoch-zero": (0, None),
    "negative-ms": (-TS, None),
    "huge-int": (10**30, None),
}


@pytest.mark.parametrize("value, expected", TIMES.values(), ids=TIMES.keys())
def test_parse_time_ms_bounds_and_formats(value: Any, expected: int | None) -> None:
    if expected is None:
        with pytest.raises(InvalidEvent):
            parse_time_ms("timestamp", value)
    else:
        assert parse_time_ms("timestamp", value) == expected


def test_limits_are_the_ones_the_contract_states() -> None:
    assert limits.EVENT_TYPES == {"page_view", "click", "scroll", "form_submit", "conversion", "video_play", "custom"}
    assert (limits.MAX_EVENTS_PER_REQUEST, limits.MAX_REQUEST_BYTES, limits.MAX_EVENT_BYTES) == (500, 1024 * 1024, 32 * 1024)
    assert limits.MAX_EVENT_NAME == 128 and limits.MAX_REJECTED_RAW_BYTES == 8 * 1024
