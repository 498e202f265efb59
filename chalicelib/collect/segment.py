"""Segment's HTTP tracking API, translated into our event contract. Pure: no clock, no I/O.

The Segment and RudderStack SDKs send messages (``track``, ``page``, ``screen``, ``identify``,
``group``, ``alias``) one per request or as ``{"batch": [...]}``. Each message becomes one of
our events and then takes the same path as ``POST /v1/events``: validation, enrichment,
storage (``chalicelib.collect.ingest.plan_batch``). The mapping is written down in
docs/segment.md; keep the two in step.

Three things differ from our own contract and are decided here:

* ``event_id`` is the message's ``messageId`` when it fits our pattern, else a stable hash
  of it, so an SDK's retry of the same message still deduplicates in the export;
* the user agent and IP of the *message* (``context.userAgent``, ``context.ip``) describe the
  visitor; a server-side SDK's own HTTP client (``python-requests``, ``node-fetch``) does not,
  so a message without ``context.userAgent`` has an unknown browser and is not a bot;
* a message with only ``userId`` keeps no anonymous id (no cookieless id is derived for it).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

from chalicelib.collect import limits
from chalicelib.collect.enrich import IpMode, RequestFacts, message_facts
from chalicelib.collect.ingest import MalformedBody, PayloadTooLarge
from chalicelib.collect.useragent import DeviceType
from chalicelib.collect.validate import InvalidEvent

GZIP_MAGIC = b"\x1f\x8b"

# Segment accepts 500 KB per batch and 32 KB per message (its SDKs cut batches at ~475-500 KB);
# we allow twice that, measured on the decompressed body, and up to 5,000 messages per batch.
MAX_BODY_BYTES = 1024 * 1024
MAX_MESSAGES = 5_000

# The message types and what each becomes in our event_type.
EVENT_TYPE = {
    "track": "custom",
    "page": "page_view",
    "screen": "screen_view",
    "identify": "identify",
    "group": "group",
    "alias": "alias",
}
# Our event types the Segment contract adds to those of /v1/events.
SEGMENT_EVENT_TYPES = limits.EVENT_TYPES | frozenset({"screen_view", "identify", "group", "alias"})
# Not user actions: page views, events, sessions, funnels and bounces do not count them (docs/lake.md).
NON_ACTION_TYPES = frozenset({"identify", "group", "alias"})

# Route suffix -> message type; analytics.js uses the one-letter forms.
PATH_TYPES = {
    "track": "track",
    "t": "track",
    "page": "page",
    "p": "page",
    "screen": "screen",
    "s": "screen",
    "identify": "identify",
    "i": "identify",
    "group": "group",
    "g": "group",
    "alias": "alias",
    "a": "alias",
}

_EVENT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
# Context keys that become columns (or are used for enrichment) and leave the context JSON.
_CONTEXT_TAKEN = frozenset({"page", "userAgent", "ip", "campaign", "locale", "timezone", "screen", "geo"})
# Page properties that become columns of their own.
_PAGE_FIELDS = ("url", "path", "referrer", "title", "search")
_CAMPAIGN = (
    ("utm_source", "source"),
    ("utm_medium", "medium"),
    ("utm_campaign", "name"),
    ("utm_term", "term"),
    ("utm_content", "content"),
)


@dataclass(frozen=True, slots=True)
class SegmentBody:
    messages: list[Any]
    write_key: str | None


class Translated(NamedTuple):  # a NamedTuple: built once per message, 3x cheaper than a frozen dataclass
    """One message as our event (the ``/v1/events`` shape plus Segment's extra fields) and the
    visitor facts the message itself carries."""

    event: dict[str, Any]
    user_agent: str | None
    ip: str | None
    os: str | None
    os_version: str | None
    device_type: DeviceType | None


# ---------------------------------------------------------------- body
def decompress(data: bytes, limit: int = MAX_BODY_BYTES) -> bytes:
    """gzip (one or more members) to bytes, stopping as soon as more than ``limit`` come out.

    A 1 KB gzip bomb that inflates to gigabytes costs at most ``limit`` + one chunk of memory.
    """
    out = bytearray()
    rest = data
    while rest[:2] == GZIP_MAGIC:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            chunk = inflater.decompress(rest, limit + 1 - len(out))
        except zlib.error as exc:
            raise MalformedBody(f"body: is not valid gzip ({exc}); nothing was stored") from None
        out += chunk
        if len(out) > limit or inflater.unconsumed_tail:
            raise PayloadTooLarge(f"body: inflates to more than {limit} bytes, the limit; nothing was stored")
        if not inflater.eof:
            raise MalformedBody("body: the gzip stream is truncated; nothing was stored")
        rest = inflater.unused_data
    return bytes(out)


def decode_body(raw: bytes | str | None, limit: int = MAX_BODY_BYTES) -> bytes:
    """The JSON bytes of a request body, deciding gzip by its magic bytes, never by the header.

    Behind API Gateway with payload compression enabled, the body arrives already inflated
    while ``Content-Encoding: gzip`` is still set ("Payload compression for REST APIs",
    https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-gzip-compression-decompression.html);
    without it, a gzip body arrives as bytes (chalice decodes ``isBase64Encoded`` bodies).
    """
    if raw is None or len(raw) == 0:
        raise MalformedBody('body: is empty; send a Segment message or {"batch": [...]}')
    data = raw.encode("utf-8") if isinstance(raw, str) else raw
    if data[:2] == GZIP_MAGIC:
        return decompress(data, limit)
    if len(data) > limit:
        raise PayloadTooLarge(f"body: is {len(data)} bytes, the limit is {limit}; nothing was stored")
    return data


def _merge_context(outer: Any, inner: Any) -> Any:
    """Batch-level context under the message's own: the message's keys win."""
    if not isinstance(outer, dict) or not outer:
        return inner
    if not isinstance(inner, dict):
        return dict(outer) if inner is None else inner
    return {**outer, **inner}


def parse_body(
    raw: bytes | str | None, path_type: str | None, limit: int = MAX_BODY_BYTES, max_messages: int = MAX_MESSAGES
) -> SegmentBody:
    """Messages of a request. ``path_type``: the type a single-message route gives its message
    (``/v1/track`` → ``track``), or None for the batch routes.

    Batch-level ``context``, ``integrations`` and ``sentAt`` apply to every message that lacks them.
    """
    data = decode_body(raw, limit)
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise MalformedBody(f"body: is not valid JSON ({exc}); nothing was stored") from None
    if not isinstance(body, dict):
        raise MalformedBody(f"body: must be an object, got {type(body).__name__}; nothing was stored")
    write_key = body.get("writeKey") if isinstance(body.get("writeKey"), str) else None
    if path_type is not None:
        return SegmentBody([{**body, "type": path_type}], write_key)
    messages = body.get("batch")
    if not isinstance(messages, list):
        raise MalformedBody("batch: must be an array of messages; nothing was stored")
    if not messages:
        raise MalformedBody("batch: must hold at least one message")
    if len(messages) > max_messages:
        raise PayloadTooLarge(f"batch: {len(messages)} messages, the limit is {max_messages} per request; nothing was stored")
    shared = {k: body[k] for k in ("context", "integrations", "sentAt") if body.get(k) is not None}
    if shared:
        merged = []
        for message in messages:
            if isinstance(message, dict):
                message = {**message}
                for key, value in shared.items():
                    message[key] = _merge_context(value, message.get(key)) if key != "sentAt" else message.get(key) or value
            merged.append(message)
        messages = merged
    return SegmentBody(messages, write_key)


def basic_auth_user(header: str | None) -> str | None:
    """The user name of an HTTP Basic ``Authorization`` header (Segment's write key; the password
    is empty and the colon optional), or None."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip() + "=" * (-len(value.strip()) % 4), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    user = decoded.split(":", 1)[0]
    return user or None


# ---------------------------------------------------------------- one message
def event_id_for(message_id: Any) -> str | None:
    """``messageId`` as our event_id: kept when it fits ``[A-Za-z0-9_-]{1,64}``, else a stable
    hash of it (``sm-`` + 40 hex of SHA-256), so a retry of the same message gets the same id."""
    if isinstance(message_id, bool) or message_id is None:
        return None
    if isinstance(message_id, (int, float)):
        message_id = str(message_id)
    if not isinstance(message_id, str) or not message_id:
        return None
    if _EVENT_ID.fullmatch(message_id):
        return message_id
    return "sm-" + hashlib.sha256(message_id.encode("utf-8", "surrogatepass")).hexdigest()[:40]


def _content_id(message: dict[str, Any]) -> str:
    """For a message without messageId: a hash of its content, identical on a retry."""
    return "sc-" + hashlib.sha256(orjson.dumps(message, option=orjson.OPT_SORT_KEYS)).hexdigest()[:40]


def _identity(message: dict[str, Any], field: str) -> str | None:
    value = message.get(field)
    if value.__class__ is str and value:  # the common case, checked first
        return value
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        raise InvalidEvent(field, "must be a string or a number, got a boolean")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return str(int(value)) if value.is_integer() else repr(value)
    raise InvalidEvent(field, f"must be a string or a number, got {type(value).__name__}")


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _size(value: Any) -> int | None:
    """A screen side as our integer, or None: mobile SDKs send doubles (390.0)."""
    if value.__class__ is int:
        return value if 0 <= value <= 100_000 else None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    size = int(value)
    return size if 0 <= size <= 100_000 else None


_EMPTY: dict[str, Any] = {}


def _our_context(context: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """(context for our columns and the lake's ``context`` JSON, the keys taken out of it).

    Locale, timezone and screen go where our columns want them; every other key (app, device,
    os, library, network, traits, ...) is kept as is. One pass over the keys."""
    out: dict[str, Any] = {}
    taken: dict[str, Any] = {}
    for key, value in context.items():
        if key not in _CONTEXT_TAKEN:
            out[key] = value
        elif key == "locale" or key == "timezone":
            if value.__class__ is str and 0 < len(value) <= limits.MAX_SHORT:
                out[key] = value
        elif key == "screen":
            if value.__class__ is dict:
                sides = {}
                for side, size in value.items():
                    if side == "width" or side == "height":
                        if (size := _size(size)) is not None:
                            sides[side] = size
                    else:  # density and the like: kept under a name our screen columns do not claim
                        out.setdefault("screen_extra", {})[side] = size
                if sides:
                    out["screen"] = sides
        else:  # page, userAgent, ip, campaign, geo
            taken[key] = value
    return out or None, taken


def _page_text(own: dict[str, Any], page: dict[str, Any], key: str) -> str | None:
    value = own.get(key)
    if value.__class__ is str and value:
        return value
    value = page.get(key)
    return value if value.__class__ is str and value else None


def _page_fields(own: dict[str, Any], page: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(url, referrer, title): ``own`` (a page message's properties) first, then context.page.
    A path alone stands for the URL (its path column is the same); ``search`` completes a URL
    without a query string (analytics.js's canonical URL drops it)."""
    url = _page_text(own, page, "url") or _page_text(own, page, "path")
    if url and "?" not in url:
        search = _page_text(own, page, "search")
        if search:
            url = url + (search if search.startswith("?") else "?" + search)
    return url, _page_text(own, page, "referrer"), _page_text(own, page, "title")


def _campaign(context: dict[str, Any]) -> dict[str, str] | None:
    campaign = context.get("campaign")
    if not isinstance(campaign, dict):
        return None
    out = {ours: value[:256] for ours, theirs in _CAMPAIGN if isinstance(value := campaign.get(theirs), str) and value}
    return out or None


def translate(message: Any, received_ms: int) -> Translated:
    """One Segment message as our event; raises ``InvalidEvent`` ("field: reason") when it
    cannot be one. Field checks beyond the shape (lengths, times) are validate_event's."""
    if not isinstance(message, dict):
        raise InvalidEvent("message", f"must be an object, got {type(message).__name__}")
    get = message.get
    kind = get("type")
    event_type = EVENT_TYPE.get(kind) if kind.__class__ is str else None
    if event_type is None:
        if isinstance(kind, str) and kind.lower() in EVENT_TYPE:
            kind = kind.lower()
            event_type = EVENT_TYPE[kind]
        else:
            raise InvalidEvent("type", f"{str(kind)[:40]!r} is not one of {', '.join(EVENT_TYPE)}", code="invalid")
    anonymous_id = _identity(message, "anonymousId")
    user_id = _identity(message, "userId")
    if anonymous_id is None and user_id is None:
        raise InvalidEvent("anonymousId", "or userId is required", code="missing")
    context = get("context")
    ours, taken = _our_context(context) if context.__class__ is dict and context else (None, _EMPTY)
    properties = get("properties")
    if properties.__class__ is not dict:
        properties = _EMPTY
    page = taken.get("page")
    if page.__class__ is not dict:
        page = _EMPTY

    event_name: Any = None
    if kind == "track":
        event_name = get("event")
        if event_name is None or event_name == "":
            raise InvalidEvent("event", "is required for a track message", code="missing")
    elif kind == "page" or kind == "screen":
        event_name = _text(get("name")) or _text(properties.get("name"))
    # Page fields: a page message's properties first, then context.page (analytics.js fills it
    # on every message); other types only from context.page.
    if kind == "page":
        url, referrer, title = _page_fields(properties, page)
        properties = {k: v for k, v in properties.items() if k not in _PAGE_FIELDS}
    else:
        url, referrer, title = _page_fields(_EMPTY, page) if page else (None, None, None)

    timestamp = get("originalTimestamp")
    if timestamp is None:
        timestamp = get("timestamp")
    event: dict[str, Any] = {
        "event_id": event_id_for(get("messageId")) or _content_id(message),
        "event_type": event_type,
        "event_name": event_name,
        "timestamp": received_ms if timestamp is None else timestamp,
        "sent_at": get("sentAt"),
        "anonymous_id": anonymous_id,
        "user_id": user_id,
        "url": url,
        "referrer": referrer,
        "title": title,
        "properties": properties or None,
        "context": ours,
    }
    if "campaign" in taken:
        event["campaign"] = _campaign(taken)
    if kind == "identify" or kind == "group":
        traits = get("traits")
        if traits is None and kind == "identify" and ours:
            traits = ours.get("traits")
        event["traits"] = traits if isinstance(traits, dict) and traits else None
        if kind == "group":
            event["group_id"] = _identity(message, "groupId")
            if event["group_id"] is None:
                raise InvalidEvent("groupId", "is required for a group message", code="missing")
    elif kind == "alias":
        event["previous_id"] = _identity(message, "previousId")
        if event["previous_id"] is None:
            raise InvalidEvent("previousId", "is required for an alias message", code="missing")
        if user_id is None:
            raise InvalidEvent("userId", "is required for an alias message", code="missing")

    os_info = ours.get("os") if ours else None
    device = ours.get("device") if ours else None
    device_kind = device.get("type") if device.__class__ is dict else None
    return Translated(
        event=event,
        user_agent=_text(taken.get("userAgent")),
        ip=_text(taken.get("ip")),
        os=_text(os_info.get("name")) if os_info.__class__ is dict else None,
        os_version=_text(os_info.get("version")) if os_info.__class__ is dict else None,
        device_type="mobile" if isinstance(device_kind, str) and device_kind.lower() in ("ios", "android") else None,
    )


def adapter(facts: RequestFacts, ip_mode: IpMode) -> Callable[[Any], tuple[dict[str, Any], RequestFacts]]:
    """``plan_batch``'s hook for this contract: translate each message and give it its own
    visitor facts, shared between the messages of one device (one user agent, IP, OS)."""
    cache: dict[tuple[Any, ...], RequestFacts] = {}

    def adapt(message: Any) -> tuple[dict[str, Any], RequestFacts]:
        translated = translate(message, facts.received_ms)
        key = (translated.user_agent, translated.ip, translated.os, translated.os_version, translated.device_type)
        found = cache.get(key)
        if found is None:
            found = cache[key] = message_facts(
                facts, translated.user_agent, translated.ip, ip_mode, translated.os, translated.os_version, translated.device_type
            )
        return translated.event, found

    return adapt
