"""From a request body to stored items: parse, validate, enrich, serialise, store.

``plan_batch`` is pure (given the clock reading in ``RequestFacts``); ``ingest`` adds the
one I/O step, the durable write, and decides the status code.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Sequence

import orjson

from chalicelib.collect import limits
from chalicelib.collect.enrich import RequestFacts, check_event_time, enrich, event_time_ms
from chalicelib.collect.validate import InvalidEvent, ValidEvent, validate_event
from chalicelib.errors import StorageUnavailable, TerminalError
from chalicelib.lake.rows import encode_row
from chalicelib.privacy import cookieless
from chalicelib.settings import Settings
from chalicelib.store import items, keys
from chalicelib.store.items import Item

# Room for the API function's clock and the export's to disagree (both hosts are NTP-synced;
# Amazon Time Sync keeps EC2/Lambda hosts well under a millisecond apart).
ACK_MARGIN_MS = 5_000


def _clock_ms() -> int:
    return int(time.time() * 1000)


class MalformedBody(TerminalError):
    """The body is not JSON, or not an event object or ``{"events": [...]}``."""


class PayloadTooLarge(TerminalError):
    """More than 500 events or 1 MiB in one request."""


class WriteTooLate(StorageUnavailable):
    """The write became durable too long after ``received_at`` to be acknowledged.

    The items may sit behind a watermark an export has already committed, so they may never
    reach the lake; a 503 makes the client send the batch again with a new ``received_at``,
    and the export's dedup keeps each event_id once if both copies reach the lake.
    """


@dataclass
class BatchPlan:
    items: list[Item] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)  # what the client sees
    accepted: int = 0


def parse_body(raw: bytes | str | None) -> list[Any]:
    if raw is None or len(raw) == 0:
        raise MalformedBody('body: is empty; send {"events": [...]} or one event object')
    if len(raw) > limits.MAX_REQUEST_BYTES:
        raise PayloadTooLarge(f"body: is {len(raw)} bytes, the limit is {limits.MAX_REQUEST_BYTES}; nothing was stored")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MalformedBody(f"body: is not valid JSON ({exc}); nothing was stored") from None
    if isinstance(body, dict) and "events" in body:
        events = body["events"]
        if not isinstance(events, list):
            raise MalformedBody(f"events: must be an array, got {type(events).__name__}")
    elif isinstance(body, dict):
        events = [body]
    else:
        raise MalformedBody(f"body: must be an object, got {type(body).__name__}")
    if not events:
        raise MalformedBody("events: must hold at least one event")
    if len(events) > limits.MAX_EVENTS_PER_REQUEST:
        raise PayloadTooLarge(
            f"events: {len(events)} events, the limit is {limits.MAX_EVENTS_PER_REQUEST} per request; nothing was stored"
        )
    return events


def _raw_text(event: Any) -> str:
    try:
        text = json.dumps(event, ensure_ascii=False, default=str) if not isinstance(event, str) else event
    except RecursionError:  # nested deeper than the encoder goes (orjson parses up to 1024 levels)
        text = f"<{type(event).__name__} nested too deeply to keep>"
    data = text.encode("utf-8", "replace")
    if len(data) <= limits.MAX_REJECTED_RAW_BYTES:
        return text
    return data[: limits.MAX_REJECTED_RAW_BYTES].decode("utf-8", "ignore")


def rejected_item(facts: RequestFacts, request_id: str, index: int, code: str, error: str, raw: Any, settings: Settings) -> Item:
    event_id = raw.get("event_id") if isinstance(raw, dict) and isinstance(raw.get("event_id"), str) else None
    row = {
        "app_id": facts.app_id,
        "received_at": facts.received_ms,
        "reason": code,
        "error": error,
        "event_index": index,
        "event_id": event_id[:64] if event_id else None,
        "raw": _raw_text(raw),
        "user_agent": facts.user_agent,
    }
    ref = f"{request_id}-{index}"
    partition = keys.partition_key("rejected_events", facts.received_ms, keys.shard_of(ref, settings.write_shards))
    expires = str(facts.received_ms // 1000 + settings.event_ttl_days * 86400)
    return items.row_item(partition, facts.received_ms, facts.app_id, ref, encode_row(row, "rejected_events"), expires)


# A second contract's hook: one input message -> (our valid event, the facts of its visitor).
# It validates with validate.py's rules (chalicelib.collect.segment.translate_valid).
Adapter = Callable[[Any], "tuple[ValidEvent, RequestFacts]"]


def plan_batch(
    events: Sequence[Any],
    facts: RequestFacts,
    settings: Settings,
    request_id: str,
    visitor_salt: Callable[[int], bytes] | None = None,
    *,
    adapt: Adapter | None = None,
    max_age_ms: int | None = None,
) -> BatchPlan:
    """Items for every event: stored rows for valid ones, rejected records for the rest.

    An event without ``anonymous_id`` (the tracker's cookieless mode) gets one derived from
    the daily salt of its day (``visitor_salt``), the client IP and the user agent.

    ``adapt`` (Segment's contract, chalicelib.collect.segment) turns each input message into
    our valid event (its types and fields) and its own request facts; such an event with only
    a ``user_id`` keeps no anonymous id.
    ``max_age_ms`` overrides the live-traffic age bound (``/v1/import``).
    """
    plan = BatchPlan()
    if max_age_ms is None:
        max_age_ms = settings.max_event_age_days * 86_400_000
    segment = adapt is not None
    max_future_ms = settings.max_future_hours * 3_600_000
    expires = str(facts.received_ms // 1000 + settings.event_ttl_days * 86400)
    seen: dict[str, int] = {}
    partitions: dict[int, str] = {}  # one received_ms per request: one partition key per shard
    for index, raw in enumerate(events):
        event_facts = facts
        try:
            try:
                size = len(orjson.dumps(raw))
            except TypeError as exc:  # orjson: nested deeper than 254 levels, or a lone surrogate
                raise InvalidEvent("event", f"cannot be encoded as JSON ({exc})", code="unencodable") from None
            if size > limits.MAX_EVENT_BYTES:
                raise InvalidEvent("event", f"is {size} bytes, the limit is {limits.MAX_EVENT_BYTES}", code="too_large")
            if adapt is None:
                event = validate_event(raw)
            else:
                event, event_facts = adapt(raw)
            if event.event_id in seen:
                raise InvalidEvent(
                    "event_id", f"duplicates the event at index {seen[event.event_id]} of this request", code="duplicate"
                )
            event_ms = event_time_ms(event, facts.received_ms)
            check_event_time(event_ms, facts.received_ms, max_age_ms, max_future_ms)
            if event.anonymous_id is None and not (segment and event.user_id):
                if visitor_salt is None:
                    raise InvalidEvent("anonymous_id", "is required", code="missing")
                event = replace(
                    event, anonymous_id=cookieless.derive(visitor_salt(event_ms), facts.app_id, facts.source_ip, facts.user_agent)
                )
        except InvalidEvent as exc:
            plan.rejected.append({"index": index, "error": str(exc)})
            plan.items.append(rejected_item(facts, request_id, index, exc.code, str(exc), raw, settings))
            continue
        seen[event.event_id] = index
        row = enrich(event, event_facts, event_ms)
        shard = keys.shard_of(event.event_id, settings.write_shards)
        partition = partitions.get(shard) or partitions.setdefault(shard, keys.partition_key("events", facts.received_ms, shard))
        plan.items.append(items.row_item(partition, facts.received_ms, facts.app_id, event.event_id, encode_row(row), expires))
        plan.accepted += 1
    return plan


@dataclass(frozen=True)
class IngestResult:
    status: int
    accepted: int
    rejected: list[dict[str, Any]]

    def body(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "rejected": self.rejected}


def ingest(
    raw_body: bytes | str | None,
    facts: RequestFacts,
    settings: Settings,
    request_id: str,
    store: Callable[[list[Item]], None],
    visitor_salt: Callable[[int], bytes] | None = None,
    clock: Callable[[], int] = _clock_ms,
) -> IngestResult:
    """Store every valid event (and a record of each rejected one) before answering.

    ``store`` raises ``StorageUnavailable`` if it cannot make every item durable; it
    propagates so the API answers 503 and the client retries the batch.

    The acknowledgement deadline, by construction rather than by the function's timeout::

        r = received_at      w = the write is durable (<= the clock read after store())
        export: plans at t, window (lo, t - settle], reads at t' >= t
        the export misses the item only if  r <= t - settle  and  w > t'
                                      hence  w - r > settle
        so we answer 200 only if  clock() - r <= settle - margin  (<= settle even when the
        export's clock runs up to the margin ahead), else 503 (``WriteTooLate``); the margin
        is ACK_MARGIN_MS, or half the settle delay if that is shorter.

    A stalled process (SIGSTOP, a GC pause, a slow retry loop) can delay the answer, never
    turn a write the export may have skipped into a 200.
    """
    try:
        events = parse_body(raw_body)
    except MalformedBody as exc:
        store([rejected_item(facts, request_id, -1, "malformed_body", str(exc), _body_text(raw_body), settings)])
        raise
    plan = plan_batch(events, facts, settings, request_id, visitor_salt)
    store(plan.items)
    _check_ack_deadline(facts.received_ms, clock(), settings.settle_seconds * 1000)
    return IngestResult(200 if plan.accepted else 400, plan.accepted, plan.rejected)


def ack_deadline_ms(settle_ms: int) -> int | None:
    """How long after ``received_at`` a write may become durable and still be acknowledged.

    None when the settle delay is 0: a configuration for tests that export only after every
    write has finished; with no delay, no deadline could protect a write in flight.
    """
    if settle_ms <= 0:
        return None
    return settle_ms - min(ACK_MARGIN_MS, settle_ms // 2)


def _check_ack_deadline(received_ms: int, durable_ms: int, settle_ms: int) -> None:
    took_ms = durable_ms - received_ms
    deadline_ms = ack_deadline_ms(settle_ms)
    if deadline_ms is not None and took_ms > deadline_ms:
        raise WriteTooLate(
            f"the write took {took_ms / 1000:.1f} s, longer than the {deadline_ms / 1000:g} s "
            "an acknowledged write may take; it is not acknowledged, retry the same events",
            retry_after_s=1,
        )


def _body_text(raw: bytes | str | None) -> str:
    if raw is None:
        return ""
    if isinstance(raw, bytes):
        return raw[: limits.MAX_REJECTED_RAW_BYTES].decode("utf-8", "replace")
    return raw[: limits.MAX_REJECTED_RAW_BYTES]
