"""The live view's pure parts: which minutes are settled, what counts, and the combined answer."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from chalicelib.live import summary

T0 = 1_764_576_000_000  # 2025-12-01 08:00:00 UTC, a minute start
M = summary.MINUTE_MS


def row(received: int, visitor: str = "a", kind: str = "page_view", **extra: Any) -> dict[str, Any]:
    return {
        "event_id": f"{visitor}-{received}-{kind}",
        "event_type": kind,
        "received_at": received,
        "event_time": received,
        "anonymous_id": visitor,
        "path": "/",
        "country": "DE",
        "url": "https://shop.example/",
        **extra,
    }


def test_plan_shows_30_minutes_ending_with_the_running_one_and_settles_after_the_delay() -> None:
    p = summary.plan(T0 + 20_000, settle_ms=30_000)

    assert len(p.minutes) == 30 and p.minutes[-1] == T0 and p.minutes[0] == T0 - 29 * M
    # the minute before the running one ended 20 s ago, less than the 30 s settle delay
    assert p.settled[-1] == T0 - 2 * M
    assert p.raw_from_ms == T0 - M - 1
    assert p.current_since_ms == T0 - 4 * M


@given(now=st.integers(T0, T0 + 10 * M), settle=st.integers(0, 120_000))
def test_a_settled_minute_has_ended_at_least_the_settle_delay_ago(now: int, settle: int) -> None:
    p = summary.plan(now, settle)
    for m in p.minutes:
        assert (m in p.settled) == (m + M + settle <= now)
    # everything not settled is read raw
    assert all(m > p.raw_from_ms for m in p.minutes if m not in p.settled)


def test_only_user_actions_of_humans_in_real_time_count() -> None:
    assert summary.counted(row(T0))
    assert summary.counted(row(T0, kind="click"))
    for kind in ("identify", "group", "alias"):
        assert not summary.counted(row(T0, kind=kind))
    assert not summary.counted(row(T0, is_bot=True))
    # imported history: happened 31 minutes before it was received
    assert not summary.counted(row(T0, event_time=T0 - 31 * M))
    assert summary.counted(row(T0, event_time=T0 - 29 * M))


def test_sources_prefer_utm_then_external_referrers() -> None:
    assert summary.source_of(row(T0, utm_source="newsletter", referrer_host="google.com")) == "newsletter"
    assert summary.source_of(row(T0, referrer_host="google.com")) == "google.com"
    assert summary.source_of(row(T0, referrer_host="shop.example")) is None  # internal navigation
    assert summary.source_of(row(T0)) is None


def test_combine_counts_distinct_visitors_across_minutes_and_labels_windows() -> None:
    p = summary.plan(T0 + 45_000, settle_ms=30_000)
    minutes = {
        T0 - 6 * M: summary.summarize([row(T0 - 6 * M, "old")]),  # outside the 5 current minutes
        T0 - 2 * M: summary.summarize([row(T0 - 2 * M, "a", referrer_host="google.com"), row(T0 - 2 * M + 5, "b", country="FR")]),
        T0: summary.summarize(
            [row(T0 + 1, "a", path="/pricing"), row(T0 + 2, "c", kind="click", country=None), row(T0 + 3, "d", kind="identify")]
        ),
    }
    body = summary.combine(p, minutes)

    assert body["current"]["visitors"] == 3  # a, b, c: old is outside, d only identified
    assert body["current"]["page_views"] == 3
    bars = {b["start"]: b for b in body["minutes"]}
    assert bars[T0]["visitors"] == 2 and bars[T0]["page_views"] == 1 and bars[T0]["events"] == 2
    assert bars[T0 - 6 * M]["visitors"] == 1
    assert body["top_pages"] == [["/", 2], ["/pricing", 1]]
    assert body["top_sources"] == [[summary.DIRECT, 2], ["google.com", 1]]
    assert body["top_countries"] == [["DE", 1], ["FR", 1], [summary.UNKNOWN, 1]]
    assert set(body["windows"]) == {"current", "minutes", "top_pages", "top_sources", "top_countries"}


def test_a_crowded_minute_keeps_its_count_beyond_the_visitor_cap(monkeypatch: Any) -> None:
    monkeypatch.setattr(summary, "MAX_VISITORS_PER_MINUTE", 3)
    s = summary.summarize([row(T0 + i, f"v{i}") for i in range(5)])

    assert len(s["v"]) == 3 and s["vx"] == 2
    body = summary.combine(summary.plan(T0 + 1000, 30_000), {T0: s})
    assert body["minutes"][-1]["visitors"] == 5 and body["current"]["visitors"] == 5
