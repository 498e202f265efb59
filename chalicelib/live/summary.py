"""The live view's arithmetic, pure: which minutes to read how, one minute's summary, the answer.

Windows (every number on the page names one of these):

* a *minute* is ``[m, m + 60 s)`` of ``received_at`` (when the API stored the event, UTC);
* the *bars* are the 30 minutes ending with the current, still running, minute;
* *current visitors* and the top lists cover the 5 minutes ending with the current minute,
  i.e. everything received since the start of the minute four minutes ago (4 to 5 minutes);
* a minute is *settled* once ``now >= m + 60 s + settle``: an item stamped ``received_at = t``
  can become readable up to the settle delay after ``t`` (the export's rule, plan.next_window),
  so only then is a minute's summary final and worth storing.

What counts: user actions only (not Segment ``identify``/``group``/``alias`` messages), not
bots, and not imported history: an event whose ``event_time`` is more than 30 minutes before
its ``received_at`` happened outside every live window and is left to the lake.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from chalicelib.lake.visitor import visitor

MINUTE_MS = 60_000
BARS = 30
CURRENT_MINUTES = 5
MAX_EVENT_AGE_MS = 30 * MINUTE_MS  # older event_time vs received_at: imported history, not live
NOT_ACTIONS = frozenset({"identify", "group", "alias"})
PAGE_VIEWS = frozenset({"page_view", "screen_view"})
MAX_VISITORS_PER_MINUTE = 5_000  # ~40 bytes each: a summary item stays far below DynamoDB's 400 KB
MAX_PAGES_PER_MINUTE = 200
TOP = 10
DIRECT = "Direct / none"
UNKNOWN = "Unknown"

Summary = dict[str, Any]  # {"pv", "ev", "v": {visitor: [country, source]}, "vx": overflow, "p": {path: views}}


@dataclass(frozen=True)
class Plan:
    """The minutes one poll shows, and which of them are settled (read from summaries)."""

    now_ms: int
    minutes: tuple[int, ...]  # BARS minute starts, oldest first; the last one is running
    settled: tuple[int, ...]  # the settled ones among them
    raw_from_ms: int  # the unsettled minutes are read raw: received in (raw_from_ms, now_ms]

    @property
    def current_since_ms(self) -> int:
        return self.minutes[-CURRENT_MINUTES]


def plan(now_ms: int, settle_ms: int) -> Plan:
    current = now_ms // MINUTE_MS * MINUTE_MS
    minutes = tuple(current - (BARS - 1 - i) * MINUTE_MS for i in range(BARS))
    settled = tuple(m for m in minutes if m + MINUTE_MS + settle_ms <= now_ms)
    raw_from = (settled[-1] + MINUTE_MS if settled else minutes[0]) - 1  # exclusive lower bound
    return Plan(now_ms, minutes, settled, raw_from)


def counted(row: Mapping[str, Any]) -> bool:
    """Whether a stored event counts in the live view (see the module docstring)."""
    if row.get("event_type") in NOT_ACTIONS or row.get("is_bot"):
        return False
    received, happened = row.get("received_at"), row.get("event_time")
    return not (isinstance(received, int) and isinstance(happened, int) and received - happened > MAX_EVENT_AGE_MS)


def visitor_of(row: Mapping[str, Any]) -> str | None:
    ident = visitor(row.get("anonymous_id"), row.get("user_id"))  # as the lake's (decision 0016)
    if not ident:
        return None
    # A short hash: summaries outlive no event (2 h TTL) but need not hold ids in clear.
    return hashlib.blake2b(str(ident).encode("utf-8"), digest_size=6).hexdigest()


def source_of(row: Mapping[str, Any]) -> str | None:
    """utm_source, else an external referrer's host; None for direct or internal navigation."""
    if row.get("utm_source"):
        return str(row["utm_source"])
    ref = row.get("referrer_host")
    if not ref:
        return None
    own = urlsplit(str(row.get("url") or "")).hostname
    return None if own and own == ref else str(ref)


def summarize(rows: Iterable[Mapping[str, Any]]) -> Summary:
    """One minute's summary from its counted rows, taken in ``received_at`` order."""
    pv = ev = overflow = 0
    visitors: dict[str, list[Any]] = {}
    pages: dict[str, int] = {}
    for row in sorted(rows, key=lambda r: (r.get("received_at") or 0, r.get("event_id") or "")):
        if not counted(row):
            continue
        ev += 1
        if row.get("event_type") in PAGE_VIEWS:
            pv += 1
            path = str(row.get("path") or "/")
            pages[path] = pages.get(path, 0) + 1
        vid = visitor_of(row)
        if vid is None:
            continue
        seen = visitors.get(vid)
        if seen is None:
            if len(visitors) >= MAX_VISITORS_PER_MINUTE:
                overflow += 1  # counted in the bar, not in the 5-minute lists (see docs/decisions/0010)
                continue
            visitors[vid] = [row.get("country"), source_of(row)]
        else:
            seen[0] = seen[0] or row.get("country")
            seen[1] = seen[1] or source_of(row)
    if len(pages) > MAX_PAGES_PER_MINUTE:
        pages = dict(sorted(pages.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_PAGES_PER_MINUTE])
    return {"pv": pv, "ev": ev, "v": visitors, "vx": overflow, "p": pages}


def by_minute(rows: Iterable[Mapping[str, Any]]) -> dict[int, list[Mapping[str, Any]]]:
    out: dict[int, list[Mapping[str, Any]]] = {}
    for row in rows:
        out.setdefault(int(row["received_at"]) // MINUTE_MS * MINUTE_MS, []).append(row)
    return out


def _top(counts: Mapping[str, int]) -> list[list[Any]]:
    return [[k, n] for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP]]


def combine(p: Plan, summaries: Mapping[int, Summary]) -> dict[str, Any]:
    """The live view's body from one summary per shown minute (a missing one is empty)."""
    empty: Summary = {"pv": 0, "ev": 0, "v": {}, "vx": 0, "p": {}}
    bars = []
    for m in p.minutes:
        s = summaries.get(m, empty)
        bars.append(
            {
                "start": m,
                "visitors": len(s["v"]) + int(s.get("vx", 0)),
                "page_views": s["pv"],
                "events": s["ev"],
                "settled": m in p.settled,
            }
        )
    visitors: dict[str, list[Any]] = {}
    pages: dict[str, int] = {}
    page_views = overflow = 0
    for m in p.minutes[-CURRENT_MINUTES:]:  # oldest first: a visitor's first country and source win
        s = summaries.get(m, empty)
        page_views += s["pv"]
        overflow += int(s.get("vx", 0))
        for vid, (country, source) in s["v"].items():
            seen = visitors.setdefault(vid, [country, source])
            seen[0] = seen[0] or country
            seen[1] = seen[1] or source
        for path, n in s["p"].items():
            pages[path] = pages.get(path, 0) + n
    sources: dict[str, int] = {}
    countries: dict[str, int] = {}
    for country, source in visitors.values():
        sources[source or DIRECT] = sources.get(source or DIRECT, 0) + 1
        countries[country or UNKNOWN] = countries.get(country or UNKNOWN, 0) + 1
    return {
        "now": p.now_ms,
        "current": {
            "since": p.current_since_ms,
            "until": p.now_ms,
            "visitors": len(visitors) + overflow,
            "page_views": page_views,
            "visitors_over_cap": overflow,
        },
        "minutes": bars,
        "top_pages": _top(pages),
        "top_sources": _top(sources),
        "top_countries": _top(countries),
        "windows": {
            "current": "the 5 minutes ending now: events received since the start of the minute 4 minutes ago (UTC)",
            "minutes": f"{BARS} one-minute bars of received time, the last one still running",
            "top_pages": "page views in the current window",
            "top_sources": "visitors in the current window by their first external source",
            "top_countries": "visitors in the current window by country",
        },
    }
