"""A 200 is only given for a write that became durable within the settle delay of its received_at.

The export reads the window (lo, now - settle]; an item that becomes visible later than
``received_at + settle`` can land behind a committed watermark and never reach the lake.
The handler therefore refuses to acknowledge such a write (503, the client retries with a
new received_at, the export's dedup keeps the event once). The clock is ours: no sleeps.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.collect.enrich import request_facts
from chalicelib.collect.ingest import ACK_MARGIN_MS, WriteTooLate, ingest
from chalicelib.errors import StorageUnavailable
from chalicelib.export.plan import next_window
from chalicelib.settings import from_env
from tests.factories import batch, event
from tests.factories import body as body_of

SETTINGS = from_env({"CLICKSTREAM_SETTLE_SECONDS": "30"})
SETTLE_MS = SETTINGS.settle_seconds * 1000


class SlowStore:
    """Stores the items and advances the controlled clock by ``takes_ms`` while doing so."""

    def __init__(self, clock: list[int], takes_ms: int) -> None:
        self.clock, self.takes_ms, self.items, self.visible_at = clock, takes_ms, [], None

    def __call__(self, items: list[dict[str, Any]]) -> None:
        self.clock[0] += self.takes_ms
        self.items.extend(items)
        self.visible_at = self.clock[0]


def run(received_ms: int, takes_ms: int) -> tuple[SlowStore, Any]:
    clock = [received_ms]
    store = SlowStore(clock, takes_ms)
    facts = request_facts("shop", received_ms, "203.0.113.9", {"user-agent": "curl/8"})
    body = body_of(batch(event(timestamp=received_ms - 1000, sent_at=received_ms - 50)))
    try:
        return store, ingest(body, facts, SETTINGS, "req-1", store, clock=lambda: clock[0])
    except StorageUnavailable as exc:
        return store, exc


def test_a_write_within_the_deadline_is_acknowledged() -> None:
    _, result = run(1_800_000_000_000, takes_ms=SETTLE_MS - ACK_MARGIN_MS)
    assert result.status == 200


def test_a_write_that_outlived_the_settle_delay_is_refused_with_a_retry() -> None:
    store, result = run(1_800_000_000_000, takes_ms=36_000)  # the SIGSTOP of issue 12
    assert isinstance(result, WriteTooLate)
    assert isinstance(result, StorageUnavailable)  # so the API answers 503 + Retry-After
    assert result.retry_after_s >= 1
    assert store.items, "the write happened; only the acknowledgement is refused"
    assert "36.0 s" in str(result) and "retry" in str(result)


@given(
    received_ms=st.integers(1_700_000_000_000, 1_900_000_000_000),
    takes_ms=st.integers(0, 120_000),
    export_after_ms=st.integers(-5_000, 200_000),
    read_delay_ms=st.integers(0, 60_000),
    skew_ms=st.integers(-ACK_MARGIN_MS, ACK_MARGIN_MS),
)
def test_every_acknowledged_write_is_visible_to_every_export_whose_window_covers_it(
    received_ms: int, takes_ms: int, export_after_ms: int, read_delay_ms: int, skew_ms: int
) -> None:
    """GIVEN an export that plans at ``t`` (its own clock off by up to the margin) and reads at ``t + d``
    WHEN the window it plans covers the item's received_at
    THEN an acknowledged item was already visible when the export read: it cannot be skipped."""
    store, result = run(received_ms, takes_ms)
    acknowledged = not isinstance(result, Exception) and result.status == 200
    plan_at = received_ms + export_after_ms
    window = next_window(received_ms - 3_600_000, plan_at + skew_ms, SETTLE_MS, 0)
    if acknowledged and window is not None and received_ms <= window.hi_ms:
        assert store.visible_at <= plan_at + read_delay_ms
    # and the guard is not stricter than it needs to be
    if takes_ms <= SETTLE_MS - ACK_MARGIN_MS:
        assert acknowledged


@pytest.mark.parametrize("takes_ms", [0, SETTLE_MS - ACK_MARGIN_MS + 1, SETTLE_MS + 1])
def test_a_malformed_body_is_recorded_regardless_of_time(takes_ms: int) -> None:
    from chalicelib.collect.ingest import MalformedBody

    clock = [1_800_000_000_000]
    store = SlowStore(clock, takes_ms)
    facts = request_facts("shop", clock[0], None, {})
    with pytest.raises((MalformedBody, StorageUnavailable)):
        ingest(b"{", facts, SETTINGS, "req-2", store, clock=lambda: clock[0])


@given(settle_s=st.integers(1, 3600))
def test_the_deadline_is_inside_the_settle_delay_by_the_margin_or_half_of_it(settle_s: int) -> None:
    from chalicelib.collect.ingest import ack_deadline_ms

    deadline = ack_deadline_ms(settle_s * 1000)
    assert deadline is not None and 0 < deadline < settle_s * 1000
    assert settle_s * 1000 - deadline == min(ACK_MARGIN_MS, settle_s * 500)


def test_a_settle_delay_of_zero_is_the_test_configuration_without_a_deadline() -> None:
    from chalicelib.collect.ingest import ack_deadline_ms

    assert ack_deadline_ms(0) is None
