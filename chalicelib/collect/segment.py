"""Segment's HTTP tracking API, translated into our event contract. Pure: no clock, no I/O.

The Segment and RudderStack SDKs send messages (``track``, ``page``, ``screen``, ``identify``,
``group``, ``alias``) one per request or as ``{"batch": [...]}``. Each message becomes one of
our events, checked by the rules of ``POST /v1/events`` (validate.py), and then takes the same
path: enrichment, storage (``chalicelib.collect.ingest.plan_batch``). The mapping (``_map``) is
written down in docs/segment.md; keep the two in step. ``translate_valid`` maps and validates in
one step (the API's path); ``translate`` then ``validate_event`` is the reference it is held to.

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
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

from chalicelib.collect import limits
from chalicelib.collect.enrich import IpMode, RequestFacts, message_facts
from chalicelib.collect.ingest import MalformedBody, PayloadTooLarge
from chalicelib.collect.useragent import DeviceType
from chalicelib.collect.validate import EVENT_ID, InvalidEvent, ValidEvent, parse_time_ms, text_field, validate_event

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

_EVENT_ID = EVENT_ID  # validate's pattern: a messageId it matches is kept, others are hashed into it
# Page properties that become columns of their own.
_PAGE_FIELDS = ("url", "path", "referrer", "title", "search")
_PAGE_FIELD_SET = frozenset(_PAGE_FIELDS)
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
    if message_id.__class__ is str and _EVENT_ID.fullmatch(message_id):  # the common case, checked first
        return message_id
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
_NO_PAGE = (None, None, None)


def _our_context(context: dict[str, Any]) -> tuple[dict[str, Any] | None, Any, Any, Any, Any]:
    """(context for our columns and the lake's ``context`` JSON, then the values taken out of it:
    page, userAgent, ip, campaign).

    Locale, timezone and screen stay where our columns look for them, when they fit them; every
    other key (app, device, os, library, network, traits, ...) is kept as is; ``geo`` is dropped
    (our geo columns are /v1/events' own ``context.geo``). A copy and a few pops: cheaper than
    a loop over the keys, and the kept keys keep their order."""
    out = dict(context)
    pop = out.pop
    page, user_agent, ip, campaign = pop("page", None), pop("userAgent", None), pop("ip", None), pop("campaign", None)
    if "geo" in out:
        del out["geo"]
    value = out.get("locale")
    if value is not None and not (value.__class__ is str and 0 < len(value) <= limits.MAX_SHORT):
        del out["locale"]
    value = out.get("timezone")
    if value is not None and not (value.__class__ is str and 0 < len(value) <= limits.MAX_SHORT):
        del out["timezone"]
    value = out.get("screen")
    if value is not None:
        screen = _screen(value, out) if value.__class__ is dict else None
        if screen:
            out["screen"] = screen
        else:
            del out["screen"]
    return out or None, page, user_agent, ip, campaign


def _screen(value: dict[str, Any], out: dict[str, Any]) -> dict[str, int]:
    """Width and height as our integers; other keys (density) go to ``out["screen_extra"]``
    (merged into the context's own ``screen_extra`` object if it has one, replacing anything else)."""
    width, height = value.get("width"), value.get("height")
    if len(value) == 2 and width.__class__ is int and height.__class__ is int and 0 <= width <= 100_000 >= height >= 0:
        return value  # what browsers send: already our shape (the loop below would copy it unchanged)
    sides = {}
    extra = {}
    for side, size in value.items():
        if side == "width" or side == "height":
            if (size := _size(size)) is not None:
                sides[side] = size
        else:  # density and the like: kept under a name our screen columns do not claim
            extra[side] = size
    if extra:
        own = out.get("screen_extra")
        out["screen_extra"] = {**own, **extra} if isinstance(own, dict) else extra
    return sides


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


def _campaign(campaign: Any) -> dict[str, str] | None:
    if not isinstance(campaign, dict):
        return None
    out = {ours: value[:256] for ours, theirs in _CAMPAIGN if isinstance(value := campaign.get(theirs), str) and value}
    return out or None


# What a message says about its visitor: (user agent, IP, OS, OS version, device type). The
# messages of one device share one, and with it one RequestFacts (``adapter``).
Visitor = tuple["str | None", "str | None", "str | None", "str | None", "DeviceType | None"]
# One message mapped field by field, before any of validate_event's checks: kind, event_id,
# event_type, event_name, timestamp, sent_at, anonymous_id, user_id, url, referrer, title,
# properties, context, campaign, traits, group_id, previous_id, visitor. A plain tuple: the
# mapping runs once per message on both paths, and a tuple is the cheapest thing to hand over.
_Mapped = tuple[
    str,
    str,
    str,
    Any,
    Any,
    Any,
    "str | None",
    "str | None",
    "str | None",
    "str | None",
    "str | None",
    "dict[str, Any] | None",
    "dict[str, Any] | None",
    "dict[str, str] | None",
    "dict[str, Any] | None",
    "str | None",
    "str | None",
    Visitor,
]


def _map(message: Any, received_ms: int) -> _Mapped:
    """The one mapping of a Segment message to our fields (docs/segment.md); raises
    ``InvalidEvent`` ("field: reason", naming the Segment field) when it cannot be an event.
    Field bounds (lengths, times) are validate.py's, applied by ``translate``'s and
    ``translate_valid``'s callers."""
    if not isinstance(message, dict):
        raise InvalidEvent("message", f"must be an object, got {type(message).__name__}")
    get = message.get
    kind: Any = get("type")
    event_type = EVENT_TYPE.get(kind) if kind.__class__ is str else None
    if event_type is None:
        if isinstance(kind, str) and kind.lower() in EVENT_TYPE:
            kind = kind.lower()
            event_type = EVENT_TYPE[kind]
        else:
            raise InvalidEvent("type", f"{str(kind)[:40]!r} is not one of {', '.join(EVENT_TYPE)}", code="invalid")
    anonymous_id = get("anonymousId")  # a non-empty string as is (the common case), else _identity's rules
    if anonymous_id.__class__ is not str or not anonymous_id:
        anonymous_id = _identity(message, "anonymousId")
    user_id = get("userId")
    if user_id.__class__ is not str or not user_id:
        user_id = _identity(message, "userId")
    if anonymous_id is None and user_id is None:
        raise InvalidEvent("anonymousId", "or userId is required", code="missing")
    context = get("context")
    if context.__class__ is dict and context:
        ours, page, user_agent, ip, campaign = _our_context(context)
    else:
        ours = page = user_agent = ip = campaign = None
    properties = get("properties")
    if properties.__class__ is not dict:
        properties = _EMPTY
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
        properties = {k: v for k, v in properties.items() if k not in _PAGE_FIELD_SET}
    else:
        url, referrer, title = _page_fields(_EMPTY, page) if page else _NO_PAGE

    timestamp = get("originalTimestamp")
    if timestamp is None:
        timestamp = get("timestamp")
    traits = group_id = previous_id = None
    if kind == "identify" or kind == "group":
        traits = get("traits")
        if traits is None and kind == "identify" and ours:
            traits = ours.get("traits")
        if not isinstance(traits, dict) or not traits:
            traits = None
        if kind == "group":
            group_id = _identity(message, "groupId")
            if group_id is None:
                raise InvalidEvent("groupId", "is required for a group message", code="missing")
    elif kind == "alias":
        previous_id = _identity(message, "previousId")
        if previous_id is None:
            raise InvalidEvent("previousId", "is required for an alias message", code="missing")
        if user_id is None:
            raise InvalidEvent("userId", "is required for an alias message", code="missing")

    os_name: str | None = None
    os_version: str | None = None
    device_type: DeviceType | None = None
    if ours:
        os_info = ours.get("os")
        if os_info.__class__ is dict:
            os_name, os_version = _text(os_info.get("name")), _text(os_info.get("version"))
        device = ours.get("device")
        device_kind = device.get("type") if device.__class__ is dict else None
        if isinstance(device_kind, str) and device_kind.lower() in ("ios", "android"):
            device_type = "mobile"
    return (
        kind,
        event_id_for(get("messageId")) or _content_id(message),
        event_type,
        event_name,
        received_ms if timestamp is None else timestamp,
        get("sentAt"),
        anonymous_id,
        user_id,
        url,
        referrer,
        title,
        properties or None,
        ours,
        None if campaign is None else _campaign(campaign),
        traits,
        group_id,
        previous_id,
        (
            user_agent if user_agent.__class__ is str and user_agent else None,
            ip if ip.__class__ is str and ip else None,
            os_name,
            os_version,
            device_type,
        ),
    )


def translate(message: Any, received_ms: int) -> Translated:
    """One Segment message as our event, the ``/v1/events`` shape plus Segment's fields: the
    reference form, which ``validate_event(event, SEGMENT_EVENT_TYPES, segment=True)`` checks
    as it checks any event. ``translate_valid`` is the same in one step."""
    (
        kind,
        event_id,
        event_type,
        event_name,
        timestamp,
        sent_at,
        anonymous_id,
        user_id,
        url,
        referrer,
        title,
        properties,
        ours,
        campaign,
        traits,
        group_id,
        previous_id,
        visitor,
    ) = _map(message, received_ms)
    event: dict[str, Any] = {
        "event_id": event_id,
        "event_type": event_type,
        "event_name": event_name,
        "timestamp": timestamp,
        "sent_at": sent_at,
        "anonymous_id": anonymous_id,
        "user_id": user_id,
        "url": url,
        "referrer": referrer,
        "title": title,
        "properties": properties,
        "context": ours,
    }
    if campaign is not None:
        event["campaign"] = campaign
    if kind == "identify" or kind == "group":
        event["traits"] = traits
    if kind == "group":
        event["group_id"] = group_id
    elif kind == "alias":
        event["previous_id"] = previous_id
    return Translated(event, *visitor)


def translate_valid(message: Any, received_ms: int) -> tuple[ValidEvent, Visitor]:
    """``validate_event(translate(message).event, SEGMENT_EVENT_TYPES, segment=True)`` in one
    step, without the intermediate dict; raises the same ``InvalidEvent`` for the same message
    (tests/unit/test_segment_fast.py holds the two paths equal on random messages).

    It applies validate.py's own rules (``text_field``, ``parse_time_ms``) to the values the
    mapping cannot bound, in validate_event's order, and skips the checks that hold by
    construction of ``_map``:

    * ``event_id``: ``event_id_for`` keeps a messageId only when ``EVENT_ID`` (validate's
      pattern) matches it, else ``sm-``/``sc-`` + 40 hex, which matches it;
    * ``event_type``: a value of ``EVENT_TYPE``, all in ``SEGMENT_EVENT_TYPES``;
    * ``event_name`` required for ``custom``: a track message without ``event`` is refused first;
    * ``timestamp`` present: the received time stands in for a missing one;
    * ``properties``, ``traits``, ``campaign``: an object or None, never anything else;
    * ``context``: ``_our_context`` keeps locale and timezone only as strings of at most
      ``MAX_SHORT``, screen sides only as integers in 0..100000, and no ``geo``;
    * ``session_id``: Segment has none.
    """
    (
        _,
        event_id,
        event_type,
        event_name,
        timestamp,
        sent_at,
        anonymous_id,
        user_id,
        url,
        referrer,
        title,
        properties,
        ours,
        campaign,
        traits,
        group_id,
        previous_id,
        visitor,
    ) = _map(message, received_ms)
    # What _map gives is a non-empty string or None (event_name: anything for a track message),
    # so a string within its bound passes text_field unchanged: only the rest goes through it.
    if event_name is not None and not (event_name.__class__ is str and len(event_name) <= limits.MAX_EVENT_NAME):
        event_name = text_field("event_name", event_name, limits.MAX_EVENT_NAME)
    timestamp_ms = parse_time_ms("timestamp", timestamp)
    sent_at_ms = None if sent_at is None else parse_time_ms("sent_at", sent_at)
    if group_id is not None and len(group_id) > limits.MAX_ID:
        text_field("group_id", group_id, limits.MAX_ID)
    if previous_id is not None and len(previous_id) > limits.MAX_ID:
        text_field("previous_id", previous_id, limits.MAX_ID)
    if anonymous_id is not None and len(anonymous_id) > limits.MAX_ID:
        text_field("anonymous_id", anonymous_id, limits.MAX_ID)
    if user_id is not None and len(user_id) > limits.MAX_ID:
        text_field("user_id", user_id, limits.MAX_ID)
    if url is not None and len(url) > limits.MAX_URL:
        text_field("url", url, limits.MAX_URL)
    if referrer is not None and len(referrer) > limits.MAX_URL:
        text_field("referrer", referrer, limits.MAX_URL)
    if title is not None and len(title) > limits.MAX_TITLE:
        text_field("title", title, limits.MAX_TITLE)
    # Positional, in ValidEvent's field order (a keyword call costs ~1 µs more per event; the
    # property tests fail if the order drifts); the four Segment fields are None on most
    # messages (track, page, screen without a campaign), and 13 arguments cost less than 17.
    if traits is None and group_id is None and previous_id is None and campaign is None:
        event = ValidEvent(
            event_id,
            event_type,
            event_name,
            timestamp_ms,
            sent_at_ms,
            anonymous_id,
            user_id,
            None,
            url,
            referrer,
            title,
            properties,
            ours,
        )
    else:
        event = ValidEvent(
            event_id,
            event_type,
            event_name,
            timestamp_ms,
            sent_at_ms,
            anonymous_id,
            user_id,
            None,
            url,
            referrer,
            title,
            properties,
            ours,
            traits,
            group_id,
            previous_id,
            campaign,
        )
    return event, visitor


def _visitor_facts(facts: RequestFacts, ip_mode: IpMode) -> Callable[[Visitor], RequestFacts]:
    """The request facts of each visitor, computed once per device within a request."""
    cache: dict[Visitor, RequestFacts] = {}

    def of(visitor: Visitor) -> RequestFacts:
        found = cache.get(visitor)
        if found is None:
            user_agent, ip, os, os_version, device_type = visitor
            found = cache[visitor] = message_facts(facts, user_agent, ip, ip_mode, os, os_version, device_type)
        return found

    return of


def adapter(facts: RequestFacts, ip_mode: IpMode) -> Callable[[Any], tuple[ValidEvent, RequestFacts]]:
    """``plan_batch``'s hook for this contract: each message as a valid event (``translate_valid``)
    with its own visitor facts, shared between the messages of one device."""
    received_ms = facts.received_ms
    of = _visitor_facts(facts, ip_mode)

    def adapt(message: Any) -> tuple[ValidEvent, RequestFacts]:
        event, visitor = translate_valid(message, received_ms)
        return event, of(visitor)

    return adapt


def reference_adapter(facts: RequestFacts, ip_mode: IpMode) -> Callable[[Any], tuple[ValidEvent, RequestFacts]]:
    """``adapter`` the long way: the translated dict through ``validate_event``, the one
    validation of ``/v1/events``. The property tests hold ``adapter`` to it."""
    of = _visitor_facts(facts, ip_mode)

    def adapt(message: Any) -> tuple[ValidEvent, RequestFacts]:
        translated = translate(message, facts.received_ms)
        event = validate_event(translated.event, SEGMENT_EVENT_TYPES, segment=True)
        return event, of(translated[1:])

    return adapt
