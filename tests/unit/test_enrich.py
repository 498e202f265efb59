"""Enrichment: skew-corrected time and its bounds, IP anonymisation, URL parts, request facts."""

from __future__ import annotations

import ipaddress
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.collect.enrich import (
    anonymize_ip,
    check_event_time,
    enrich,
    event_time_ms,
    referrer_host,
    request_facts,
    url_parts,
)
from chalicelib.collect.ingest import plan_batch
from chalicelib.collect.validate import InvalidEvent, validate_event
from chalicelib.settings import from_env
from tests.factories import ABSENT, USER_AGENTS, event

no_deadline = settings(deadline=None)  # a busy shared machine must not fail a pure property test

RECEIVED = 1_700_000_000_000
HOUR, DAY = 3_600_000, 86_400_000


def valid(**overrides: Any):
    return validate_event(event(**overrides))


# -- event time ----------------------------------------------------------------------------

# id -> (timestamp, sent_at, event_time)
SKEW: dict[str, tuple[int, int | None, int]] = {
    "no-sent_at-keeps-client-time": (RECEIVED - 5_000, None, RECEIVED - 5_000),
    "clock-in-sync": (RECEIVED - 1_000, RECEIVED, RECEIVED - 1_000),
    "clock-2-days-behind": (RECEIVED - 2 * DAY - 1_000, RECEIVED - 2 * DAY, RECEIVED - 1_000),
    "clock-3-hours-ahead": (RECEIVED + 3 * HOUR - 250, RECEIVED + 3 * HOUR, RECEIVED - 250),
    "queued-offline-for-an-hour": (RECEIVED - HOUR - 40, RECEIVED - 40, RECEIVED - HOUR),
    "sent_at-before-timestamp": (RECEIVED, RECEIVED - 500, RECEIVED + 500),
}


@pytest.mark.parametrize("timestamp, sent_at, expected", SKEW.values(), ids=SKEW.keys())
def test_event_time_is_received_minus_time_in_flight(timestamp: int, sent_at: int | None, expected: int) -> None:
    assert event_time_ms(valid(timestamp=timestamp, sent_at=sent_at), RECEIVED) == expected


# id -> (event time, max age in days, accepted)
BOUNDS: dict[str, tuple[int, int, bool]] = {
    "now": (RECEIVED, 7, True),
    "24h-ahead-exactly": (RECEIVED + 24 * HOUR, 7, True),
    "24h-ahead-plus-1ms": (RECEIVED + 24 * HOUR + 1, 7, False),
    "7-days-old-exactly": (RECEIVED - 7 * DAY, 7, True),
    "7-days-old-plus-1ms": (RECEIVED - 7 * DAY - 1, 7, False),
    "configured-1-day-exactly": (RECEIVED - DAY, 1, True),
    "configured-1-day-plus-1ms": (RECEIVED - DAY - 1, 1, False),
    "configured-30-days-accepts-8-days": (RECEIVED - 8 * DAY, 30, True),
}


@pytest.mark.parametrize("event_ms, max_age_days, accepted", BOUNDS.values(), ids=BOUNDS.keys())
def test_event_time_bounds(event_ms: int, max_age_days: int, accepted: bool) -> None:
    check = lambda: check_event_time(event_ms, RECEIVED, max_age_days * DAY, 24 * HOUR)  # noqa: E731
    if accepted:
        check()
    else:
        with pytest.raises(InvalidEvent) as caught:
            check()
        assert caught.value.code == "out_of_range" and caught.value.field == "timestamp"


# id -> (overrides, accepted): bounds apply to the corrected time, as configured in settings
BATCH_TIMES: dict[str, tuple[dict[str, Any], bool]] = {
    "clock-3-days-ahead-but-sent_at-corrects-it": ({"timestamp": RECEIVED + 3 * DAY - 10, "sent_at": RECEIVED + 3 * DAY}, True),
    "clock-3-days-ahead-without-sent_at": ({"timestamp": RECEIVED + 3 * DAY, "sent_at": ABSENT}, False),
    "2-days-old-over-configured-1-day": ({"timestamp": RECEIVED - 2 * DAY, "sent_at": ABSENT}, False),
    "iso-+05:30-an-hour-ago": ({"timestamp": "2023-11-15T02:43:20+05:30", "sent_at": ABSENT}, True),
}


@pytest.mark.parametrize("overrides, accepted", BATCH_TIMES.values(), ids=BATCH_TIMES.keys())
def test_time_bounds_apply_to_the_corrected_time(overrides: dict[str, Any], accepted: bool) -> None:
    settings = from_env({"CLICKSTREAM_MAX_EVENT_AGE_DAYS": "1"})
    facts = request_facts("shop", RECEIVED, "203.0.113.7", {"user-agent": USER_AGENTS["chrome_windows"]})

    plan = plan_batch([event(**overrides)], facts, settings, "req-1")

    assert plan.accepted == int(accepted)


# -- IP --------------------------------------------------------------------------------------

# id -> (source ip, mode, stored ip)
IPS: dict[str, tuple[str | None, str, str | None]] = {
    "ipv4": ("203.0.113.77", "anonymize", "203.0.113.0"),
    "ipv4-last-octet-255": ("198.51.100.255", "anonymize", "198.51.100.0"),
    "ipv4-with-spaces": (" 203.0.113.7 ", "anonymize", "203.0.113.0"),
    "ipv6-full": ("2001:db8:85a3:1234:5678:8a2e:370:7334", "anonymize", "2001:db8:85a3::"),
    "ipv6-compressed-loopback": ("::1", "anonymize", "::"),
    "ipv6-with-zone": ("fe80::1%eth0", "anonymize", "fe80::"),
    "ipv4-mapped-ipv6": ("::ffff:203.0.113.7", "anonymize", "203.0.113.0"),
    "ipv4-mapped-ipv6-kept-as-ipv4": ("::ffff:203.0.113.7", "keep", "203.0.113.7"),
    "ipv4-keep": ("203.0.113.77", "keep", "203.0.113.77"),
    "ipv6-keep": ("2001:db8::7334", "keep", "2001:db8::7334"),
    "ipv4-drop": ("203.0.113.77", "drop", None),
    "ipv6-drop": ("2001:db8::7334", "drop", None),
    "ipv4-with-port": ("203.0.113.7:443", "anonymize", None),
    "garbage": ("not-an-ip", "anonymize", None),
    "garbage-keep": ("999.1.1.1", "keep", None),
    "empty": ("", "anonymize", None),
    "absent": (None, "anonymize", None),
}


@pytest.mark.parametrize("raw, mode, expected", IPS.values(), ids=IPS.keys())
def test_anonymize_ip(raw: str | None, mode: str, expected: str | None) -> None:
    assert anonymize_ip(raw, mode) == expected  # type: ignore[arg-type]


@no_deadline
@given(st.ip_addresses())
def test_anonymized_ip_never_keeps_more_bits_than_allowed(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    result = ipaddress.ip_address(anonymize_ip(str(address)))
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if address.version == 4:
        assert result.version == 4 and int(result) == int(address) & 0xFFFF_FF00  # /24 kept
    else:
        assert result.version == 6 and int(result) == int(address) & ~((1 << 80) - 1)  # /48 kept


@no_deadline
@given(st.ip_addresses(), st.sampled_from(["keep", "drop"]))
def test_keep_and_drop_modes(address: ipaddress.IPv4Address | ipaddress.IPv6Address, mode: str) -> None:
    result = anonymize_ip(str(address), mode)  # type: ignore[arg-type]
    if mode == "drop":
        assert result is None
    else:
        assert result is not None and ipaddress.ip_address(result) in (address, getattr(address, "ipv4_mapped", None))


# -- URL and referrer ---------------------------------------------------------------------------

# id -> (url, path, (utm_source, utm_medium, utm_campaign, utm_term, utm_content))
URLS: dict[str, tuple[str | None, str | None, tuple[str | None, ...]]] = {
    "all-five": (
        "https://s.example/p?utm_source=a&utm_medium=b&utm_campaign=c&utm_term=d&utm_content=e",
        "/p",
        ("a", "b", "c", "d", "e"),
    ),
    "percent-encoded": (
        "https://s.example/p?utm_source=spring%20sale&utm_campaign=%F0%9F%9A%80",
        "/p",
        ("spring sale", None, "🚀", None, None),
    ),
    "plus-is-space": ("https://s.example/p?utm_medium=paid+social", "/p", (None, "paid social", None, None, None)),
    "bad-percent-escape-kept": ("https://s.example/p?utm_source=%ZZ", "/p", ("%ZZ", None, None, None, None)),
    "repeated-key-first-wins": (
        "https://s.example/p?utm_source=first&utm_source=second",
        "/p",
        ("first", None, None, None, None),
    ),
    "blank-value-is-none": ("https://s.example/p?utm_source=&utm_medium=m", "/p", (None, "m", None, None, None)),
    "key-is-case-sensitive": ("https://s.example/p?UTM_SOURCE=a", "/p", (None, None, None, None, None)),
    "over-256-truncated": ("https://s.example/p?utm_content=" + "c" * 300, "/p", (None, None, None, None, "c" * 256)),
    "no-query": ("https://s.example/products/espresso", "/products/espresso", (None,) * 5),
    "no-path": ("https://s.example", "/", (None,) * 5),
    "query-without-path": ("https://s.example?utm_source=a", "/", ("a", None, None, None, None)),
    "utm-in-fragment-ignored": ("https://s.example/p#/route?utm_source=a", "/p", (None,) * 5),
    "fragment-after-query": ("https://s.example/p?utm_source=a#utm_source=b", "/p", ("a", None, None, None, None)),
    "relative": ("/cart?utm_source=x", "/cart", ("x", None, None, None, None)),
    "unicode-path": ("https://s.example/café/ü?utm_term=ß", "/café/ü", (None, None, None, "ß", None)),
    "broken-ipv6-host": ("http://[::1/p?utm_source=a", None, (None,) * 5),
    "absent": (None, None, (None,) * 5),
}


@pytest.mark.parametrize("url, path, utm", URLS.values(), ids=URLS.keys())
def test_url_parts(url: str | None, path: str | None, utm: tuple[str | None, ...]) -> None:
    assert url_parts(url) == (path, utm)


# id -> (referrer, host)
REFERRERS: dict[str, tuple[str | None, str | None]] = {
    "search": ("https://www.google.com/search?q=x", "www.google.com"),
    "upper-case-and-port": ("https://WWW.Google.COM:443/search", "www.google.com"),
    "userinfo": ("http://user:pw@host.example/", "host.example"),
    "ipv6-literal": ("http://[2001:db8::1]:8080/", "2001:db8::1"),
    "android-app": ("android-app://com.google.android.gm/", "com.google.android.gm"),
    "scheme-relative": ("//cdn.example/x", "cdn.example"),
    "idn-host": ("https://bücher.example/", "bücher.example"),
    "not-a-url": ("not a url", None),
    "broken-ipv6": ("http://[::1", None),
    "empty": ("", None),
    "absent": (None, None),
}


@pytest.mark.parametrize("referrer, host", REFERRERS.values(), ids=REFERRERS.keys())
def test_referrer_host(referrer: str | None, host: str | None) -> None:
    assert referrer_host(referrer) == host


# -- request facts and the row --------------------------------------------------------------------

# id -> (CloudFront-Viewer-Country header, country)
COUNTRIES: dict[str, tuple[str | None, str | None]] = {
    "upper": ("DE", "DE"),
    "lower": ("de", "DE"),
    "digits": ("D3", None),
    "empty": ("", None),
    "absent": (None, None),
}


@pytest.mark.parametrize("header, country", COUNTRIES.values(), ids=COUNTRIES.keys())
def test_country_comes_from_cloudfront_header(header: str | None, country: str | None) -> None:
    headers = {} if header is None else {"cloudfront-viewer-country": header}

    assert request_facts("shop", RECEIVED, None, headers).country == country


def test_request_facts_truncate_the_user_agent_and_apply_the_ip_mode() -> None:
    facts = request_facts("shop", RECEIVED, "203.0.113.7", {"user-agent": "a" * 5_000}, "drop")

    assert len(facts.user_agent or "") == 1024 and facts.ip is None


def test_enrich_writes_properties_and_context_as_compact_json_and_flattens_context() -> None:
    sent = event(context={"locale": "fr-CA", "geo": {"lat": 45.5, "lon": -73.6}}, properties={"é": [1, 2]})
    facts = request_facts("shop", RECEIVED, "2001:db8::1", {"user-agent": USER_AGENTS["safari_iphone"]})

    row = enrich(validate_event(sent), facts, RECEIVED - 10)

    assert json.loads(row["properties"]) == {"é": [1, 2]} and row["properties"] == '{"é":[1,2]}'
    assert row["context"] is None  # every key it held has a column of its own
    assert (row["locale"], row["timezone"], row["geo_lat"], row["geo_lon"], row["geo_accuracy"]) == (
        "fr-CA",
        None,
        45.5,
        -73.6,
        None,
    )
    assert (row["screen_width"], row["screen_height"]) == (None, None)
    assert (row["ip"], row["device_type"], row["event_time"]) == ("2001:db8::", "mobile", RECEIVED - 10)


def test_enrich_leaves_empty_properties_and_context_out() -> None:
    facts = request_facts("shop", RECEIVED, None, {})

    row = enrich(validate_event(event(properties=ABSENT, context=ABSENT)), facts, RECEIVED)

    assert (row["properties"], row["context"], row["locale"]) == (None, None, None)


@pytest.mark.parametrize(
    ("context", "rest"),
    [
        pytest.param({"locale": "en", "timezone": "UTC", "screen": {"width": 1, "height": 2}}, None, id="all-in-columns"),
        pytest.param({"locale": "en", "campaign_page": "x"}, {"campaign_page": "x"}, id="other-keys-kept"),
        pytest.param(
            {"screen": {"width": 1, "height": 2, "density": 2}},
            {"screen": {"width": 1, "height": 2, "density": 2}},
            id="extra-subkey-keeps-whole",
        ),
        pytest.param({"geo": {"lat": 1.0, "lon": 2.0}}, None, id="geo-in-columns"),
    ],
)
def test_context_column_keeps_only_what_no_other_column_holds(context, rest) -> None:
    facts = request_facts("shop", RECEIVED, "192.0.2.1", {"user-agent": USER_AGENTS["safari_iphone"]})
    row = enrich(validate_event(event(context=context)), facts, RECEIVED)
    assert (json.loads(row["context"]) if row["context"] else None) == rest
