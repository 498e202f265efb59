"""Enrichment: server time, skew-corrected event time, IP, user agent, URL parts.

Pure functions of (valid event, request facts). ``RequestFacts`` is computed once per
request because every event of a batch shares its IP, user agent and country.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

import orjson

from chalicelib.collect.useragent import Agent, DeviceType, parse_agent
from chalicelib.collect.validate import InvalidEvent, ValidEvent

IpMode = Literal["anonymize", "drop", "keep"]
UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
MAX_UTM = 256


@dataclass(frozen=True, slots=True)
class RequestFacts:
    app_id: str
    received_ms: int
    ip: str | None
    user_agent: str | None
    agent: Agent
    country: str | None
    # The client address as received: input to the cookieless visitor hash, in memory only.
    source_ip: str | None = field(default=None, repr=False)


@lru_cache(maxsize=4096)
def anonymize_ip(raw: str | None, mode: IpMode = "anonymize") -> str | None:
    """IPv4: last octet zeroed; IPv6: last 80 bits zeroed (the first 48 kept). None if unparsable."""
    if not raw or mode == "drop":
        return None
    try:
        address = ipaddress.ip_address(raw.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped  # one client, one spelling: ::ffff:1.2.3.4 is 1.2.3.4
    if mode == "keep":
        return str(address)
    if address.version == 4:
        return str(ipaddress.IPv4Address(int(address) & 0xFFFFFF00))
    return str(ipaddress.IPv6Address(int(address) & ~((1 << 80) - 1)))


def request_facts(
    app_id: str,
    received_ms: int,
    source_ip: str | None,
    headers: dict[str, str],
    ip_mode: IpMode = "anonymize",
) -> RequestFacts:
    user_agent = headers.get("user-agent")
    country = headers.get("cloudfront-viewer-country")
    return RequestFacts(
        app_id=app_id,
        received_ms=received_ms,
        ip=anonymize_ip(source_ip, ip_mode),
        user_agent=user_agent[:1024] if user_agent else None,
        agent=parse_agent(user_agent),
        country=country.upper()[:2] if country and country.isalpha() else None,
        source_ip=source_ip,
    )


def message_facts(
    facts: RequestFacts,
    user_agent: str | None,
    ip: str | None,
    ip_mode: IpMode = "anonymize",
    os: str | None = None,
    os_version: str | None = None,
    device_type: DeviceType | None = None,
) -> RequestFacts:
    """The facts of a Segment message: its own ``context.userAgent`` and ``context.ip`` describe
    the visitor, not the server-side SDK's HTTP client that sent the request.

    Without a user agent the browser is unknown and the message is no bot (a server or a
    mobile app sent it); ``context.os`` and ``context.device.type`` fill what they can.
    """
    if user_agent:
        agent = parse_agent(user_agent)
        if agent.os is None and os:
            agent = replace(agent, os=os[:64], os_version=os_version[:32] if os_version else None)
    else:
        agent = Agent(
            None,
            None,
            os[:64] if os else None,
            os_version[:32] if os and os_version else None,
            device_type or "other",
            False,
            None,
        )
    return replace(
        facts,
        user_agent=user_agent[:1024] if user_agent else None,
        agent=agent,
        ip=anonymize_ip(ip, ip_mode) if ip else facts.ip,
        source_ip=ip or facts.source_ip,
    )


@lru_cache(maxsize=8192)
def url_parts(url: str | None) -> tuple[str | None, tuple[str | None, ...]]:
    """(path, utm values) of a page URL; parsing failures give empty parts, never an error."""
    if not url:
        return None, (None,) * len(UTM_FIELDS)
    try:
        parts = urlsplit(url)
    except ValueError:
        return None, (None,) * len(UTM_FIELDS)
    utm: dict[str, str] = {}
    if "utm_" in parts.query:
        for key, value in parse_qsl(parts.query, keep_blank_values=False):
            if key in UTM_FIELDS and key not in utm:
                utm[key] = value[:MAX_UTM]
    return parts.path or "/", tuple(utm.get(f) for f in UTM_FIELDS)


@lru_cache(maxsize=8192)
def referrer_host(referrer: str | None) -> str | None:
    if not referrer:
        return None
    try:
        host = urlsplit(referrer).hostname
    except ValueError:
        return None
    return host or None


def event_time_ms(event: ValidEvent, received_ms: int) -> int:
    """Client clock skew corrected as Segment and Snowplow do: received − (sent_at − timestamp)."""
    if event.sent_at_ms is None:
        return event.timestamp_ms
    return received_ms - (event.sent_at_ms - event.timestamp_ms)


def check_event_time(event_ms: int, received_ms: int, max_age_ms: int, max_future_ms: int) -> None:
    if event_ms > received_ms + max_future_ms:
        raise InvalidEvent(
            "timestamp",
            f"is {(event_ms - received_ms) / 3_600_000:.1f} h in the future; the limit is {max_future_ms / 3_600_000:.0f} h",
            code="out_of_range",
        )
    if event_ms < received_ms - max_age_ms:
        raise InvalidEvent(
            "timestamp",
            f"is {(received_ms - event_ms) / 86_400_000:.1f} days old; the limit is {max_age_ms / 86_400_000:.0f} days",
            code="out_of_range",
        )


# Context keys that become columns of their own, with the sub-keys the columns hold.
_CONTEXT_COLUMNS: dict[str, frozenset[str] | None] = {
    "locale": None,
    "timezone": None,
    "screen": frozenset({"width", "height"}),
    "geo": frozenset({"lat", "lon", "accuracy"}),
}


def context_rest(context: dict[str, Any] | None) -> dict[str, Any] | None:
    """The context minus what its own columns already hold (docs/decisions/0002: it keeps a
    typical event under one DynamoDB write unit). A key with sub-keys beyond its columns' stays whole."""
    if not context:
        return None
    rest = {}
    for key, value in context.items():
        covered = _CONTEXT_COLUMNS.get(key, frozenset())
        if key in _CONTEXT_COLUMNS and (covered is None or (isinstance(value, dict) and set(value) <= covered)):
            continue
        rest[key] = value
    return rest or None


def _json_text(value: dict[str, Any] | None) -> str | None:
    return orjson.dumps(value).decode() if value else None


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def enrich(event: ValidEvent, facts: RequestFacts, event_ms: int) -> dict[str, Any]:
    """The lake row for one event: every column the export writes, JSON-ready.

    Times are epoch milliseconds (the export casts them to UTC timestamps);
    ``properties`` and ``context`` are JSON text so the lake's schema never changes
    with what clients send.
    """
    path, utm = url_parts(event.url)
    if event.campaign:  # Segment's context.campaign fills the UTM fields the URL lacks
        utm = tuple(u if u is not None else event.campaign.get(f) for u, f in zip(utm, UTM_FIELDS))
    context = event.context or {}
    screen, geo = _object(context.get("screen")), _object(context.get("geo"))
    agent = facts.agent
    return {
        "event_id": event.event_id,
        "app_id": facts.app_id,
        "event_type": event.event_type,
        "event_name": event.event_name,
        "event_time": event_ms,
        "received_at": facts.received_ms,
        "client_timestamp": event.timestamp_ms,
        "sent_at": event.sent_at_ms,
        "anonymous_id": event.anonymous_id,
        "user_id": event.user_id,
        "session_id": event.session_id,
        "url": event.url,
        "path": path,
        "referrer": event.referrer,
        "referrer_host": referrer_host(event.referrer),
        "title": event.title,
        "utm_source": utm[0],
        "utm_medium": utm[1],
        "utm_campaign": utm[2],
        "utm_term": utm[3],
        "utm_content": utm[4],
        "ip": facts.ip,
        "user_agent": facts.user_agent,
        "browser": agent.browser,
        "browser_version": agent.browser_version,
        "os": agent.os,
        "os_version": agent.os_version,
        "device_type": agent.device_type,
        "is_bot": agent.is_bot,
        "bot_reason": agent.bot_reason,
        "country": facts.country,
        "locale": context.get("locale"),
        "timezone": context.get("timezone"),
        "screen_width": screen.get("width"),
        "screen_height": screen.get("height"),
        "geo_lat": geo.get("lat"),
        "geo_lon": geo.get("lon"),
        "geo_accuracy": geo.get("accuracy"),
        "properties": _json_text(event.properties),
        "context": _json_text(context_rest(event.context)),
        "traits": _json_text(event.traits),
        "group_id": event.group_id,
        "previous_id": event.previous_id,
    }
