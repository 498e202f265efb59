"""What each view and panel query must answer for a planned Traffic.

Computed in plain Python from the plan (the sessions as constructed, the events as sent and
the user agents' known parse), never from the lake, so the tests compare two independent
answers. Row shapes are the SQL's: same column names, dates as ISO strings or ``date``.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta, timezone
from statistics import mean
from typing import Any, Callable, Iterable, Sequence

from clickstream.traffic import Event, Session, Traffic

Row = dict[str, Any]
UTM = ("utm_source", "utm_medium", "utm_campaign")


def _utm_keys() -> dict[str, Callable[[Session], Any]]:
    """Keys for grouping sessions by the UTM tags of their first event."""
    return {name: (lambda i: lambda s: s.events[0].utm[i])(i) for i, name in enumerate(UTM)}


def _ts(ms: int) -> datetime:
    """Event times as Athena and DuckDB return them: naive UTC."""
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).replace(tzinfo=None)


def _group(
    items: Iterable[Any], keys: dict[str, Callable[[Any], Any]], metrics: dict[str, Callable[[list[Any]], Any]]
) -> list[Row]:
    groups: dict[tuple, list[Any]] = defaultdict(list)
    for item in items:
        groups[tuple(f(item) for f in keys.values())].append(item)
    return [{**dict(zip(keys, key)), **{m: f(g) for m, f in metrics.items()}} for key, g in groups.items()]


def _visitors(items: list[tuple[Event, Session]]) -> int:
    return len({s.visitor.anonymous_id for _, s in items})


def _ratio(a: int, b: int) -> float | None:
    return a / b if b else None


def step_key(event_type: str | None, path: str | None, event_name: str | None) -> str | None:
    """What a funnel step matches: a page view's path, any other event's name (etl/queries/funnel.sql)."""
    return path if event_type == "page_view" else event_name


def funnel_rows(sessions: Iterable[Sequence[str | None]], steps: Sequence[str]) -> list[Row]:
    """The funnel query's rows from the sessions it counts, each given as its events' step keys in
    order: greedy, each event advances a session by at most one step."""
    depths = []
    for keys in sessions:
        reached = 0
        for key in keys:
            if reached < len(steps) and key == steps[reached]:
                reached += 1
        depths.append(reached)
    counts = [sum(d >= k for d in depths) for k in range(1, len(steps) + 1)]
    return [
        {
            "step": k + 1,
            "sessions": n,
            "conversion": _ratio(n, counts[0]),
            "step_conversion": _ratio(n, counts[k - 1]) if k else None,
        }
        for k, n in enumerate(counts)
    ]


class Truth:
    def __init__(self, traffic: Traffic) -> None:
        self.traffic = traffic
        self.sessions = traffic.sessions
        self.pairs = [(e, s) for s in self.sessions for e in s.events]

    # -- selections ------------------------------------------------------------------
    def events(self, lo: str, hi: str, include_bots: bool = False) -> list[tuple[Event, Session]]:
        return [(e, s) for e, s in self.pairs if lo <= e.dt <= hi and (include_bots or not s.visitor.agent.is_bot)]

    def sessions_in(self, lo: str, hi: str, include_bots: bool = False) -> list[Session]:
        return [s for s in self.sessions if lo <= s.dt <= hi and (include_bots or not s.visitor.agent.is_bot)]

    # -- the sessions and session_events views ------------------------------------------
    def session_rows(self) -> list[Row]:
        rows = []
        for s in self.sessions:
            first, pages, agent = s.events[0], s.page_view_events, s.visitor.agent
            rows.append(
                {
                    "app_id": self.traffic.app_id,
                    "session_id": first.body["event_id"],
                    "anonymous_id": s.visitor.anonymous_id,
                    "user_id": s.visitor.user_id,
                    "session_start": _ts(s.start_ms),
                    "session_end": _ts(s.end_ms),
                    "duration_s": (s.end_ms - s.start_ms) / 1000,
                    "event_count": len(s.events),
                    "page_views": len(pages),
                    "is_bounce": s.is_bounce,
                    "entry_url": pages[0].url,
                    "exit_url": pages[-1].url,
                    "utm_source": first.utm[0],
                    "referrer_host": first.referrer_host,
                    "country": s.visitor.place.country,
                    "device_type": agent.device_type,
                    "browser": agent.browser,
                    "os": agent.os,
                    "is_bot": agent.is_bot,
                    "entry_path": pages[0].path,
                    "exit_path": pages[-1].path,
                    "utm_medium": first.utm[1],
                    "utm_campaign": first.utm[2],
                    "dt": s.dt,
                }
            )
        return rows

    def session_of_event(self) -> dict[str, str]:
        return {e.body["event_id"]: s.events[0].body["event_id"] for e, s in self.pairs}

    # -- event panels -------------------------------------------------------------------
    def top_pages(self, lo: str, hi: str, include_bots: bool = False) -> list[Row]:
        views = [(e, s) for e, s in self.events(lo, hi, include_bots) if e.event_type == "page_view"]
        return _group(views, {"path": lambda p: p[0].path}, {"page_views": len, "visitors": _visitors})

    def _dimension(
        self, column: str, key: Callable[[tuple[Event, Session]], Any], lo: str, hi: str, include_bots: bool
    ) -> list[Row]:
        return _group(
            self.events(lo, hi, include_bots),
            {column: key},
            {"visitors": _visitors, "page_views": lambda g: sum(e.event_type == "page_view" for e, _ in g), "events": len},
        )

    def devices(self, lo: str, hi: str, include_bots: bool = False) -> list[Row]:
        return self._dimension("device_type", lambda p: p[1].visitor.agent.device_type, lo, hi, include_bots)

    def browsers(self, lo: str, hi: str, include_bots: bool = False) -> list[Row]:
        return self._dimension("browser", lambda p: p[1].visitor.agent.browser, lo, hi, include_bots)

    def operating_systems(self, lo: str, hi: str, include_bots: bool = False) -> list[Row]:
        return self._dimension("os", lambda p: p[1].visitor.agent.os, lo, hi, include_bots)

    def countries(self, lo: str, hi: str, include_bots: bool = False) -> list[Row]:
        return self._dimension("country", lambda p: p[1].visitor.place.country, lo, hi, include_bots)

    def geo_grid(self, lo: str, hi: str, include_bots: bool = False) -> list[Row]:
        located = [(e, s) for e, s in self.events(lo, hi, include_bots) if e.geo]
        place = lambda p: p[1].visitor.place  # noqa: E731 - every position is inside its city's cell
        return _group(
            located,
            {"lat_cell": lambda p: place(p).lat, "lon_cell": lambda p: place(p).lon},
            {"events": len, "visitors": _visitors},
        )

    def custom_events(self, lo: str, hi: str, include_bots: bool = False) -> list[Row]:
        custom = [(e, s) for e, s in self.events(lo, hi, include_bots) if e.event_type != "page_view"]
        return _group(
            custom,
            {"event_type": lambda p: p[0].event_type, "event_name": lambda p: p[0].event_name},
            {"events": len, "visitors": _visitors},
        )

    def bot_traffic(self, lo: str, hi: str) -> list[Row]:
        bots = [(e, s) for e, s in self.events(lo, hi, True) if s.visitor.agent.is_bot]
        return _group(
            bots,
            {"bot_reason": lambda p: p[1].visitor.agent.bot_reason, "browser": lambda p: p[1].visitor.agent.browser},
            {"events": len, "page_views": lambda g: sum(e.event_type == "page_view" for e, _ in g), "visitors": _visitors},
        )

    # -- session panels -----------------------------------------------------------------
    def overview(self, lo: str, hi: str, include_bots: bool = False) -> Row:
        events, sessions = self.events(lo, hi, include_bots), self.sessions_in(lo, hi, include_bots)
        return {
            "visitors": _visitors(events),
            "sessions": len(sessions),
            "page_views": sum(e.event_type == "page_view" for e, _ in events),
            "events": len(events),
            "bounce_rate": _ratio(sum(s.is_bounce for s in sessions), len(sessions)),
            "avg_session_duration_s": mean((s.end_ms - s.start_ms) / 1000 for s in sessions) if sessions else None,
        }

    def entry_pages(self, lo: str, hi: str, include_bots: bool = False) -> list[Row]:
        return _group(
            self.sessions_in(lo, hi, include_bots),
            {"path": lambda s: s.page_view_events[0].path},
            {
                "entries": len,
                "visitors": lambda g: len({s.visitor.anonymous_id for s in g}),
                "bounces": lambda g: sum(s.is_bounce for s in g),
                "bounce_rate": lambda g: sum(s.is_bounce for s in g) / len(g),
            },
        )

    def exit_pages(self, lo: str, hi: str, include_bots: bool = False) -> list[Row]:
        return _group(
            self.sessions_in(lo, hi, include_bots),
            {"path": lambda s: s.page_view_events[-1].path},
            {"exits": len, "visitors": lambda g: len({s.visitor.anonymous_id for s in g})},
        )

    def _by_session(self, keys: dict[str, Callable[[Session], Any]], sessions: list[Session], bounce_rate: bool) -> list[Row]:
        def bounces(g: list[Session]) -> int:
            return sum(s.is_bounce for s in g)

        metrics: dict[str, Callable[[list[Session]], Any]] = {
            "sessions": len,
            "visitors": lambda g: len({s.visitor.anonymous_id for s in g}),
        }
        if bounce_rate:
            metrics["bounce_rate"] = lambda g: bounces(g) / len(g)
        else:
            metrics["bounces"] = bounces
        return _group(sessions, keys, metrics)

    def referrers(self, lo: str, hi: str, include_bots: bool = False) -> list[Row]:
        return self._by_session(
            {"referrer_host": lambda s: s.events[0].referrer_host}, self.sessions_in(lo, hi, include_bots), True
        )

    def utm_campaigns(self, lo: str, hi: str, include_bots: bool = False) -> list[Row]:
        tagged = [s for s in self.sessions_in(lo, hi, include_bots) if s.events[0].utm[0] or s.events[0].utm[2]]
        return self._by_session(_utm_keys(), tagged, True)

    def daily(self, lo: str, hi: str, include_bots: bool = False) -> list[Row]:
        active: dict[str, set[str]] = defaultdict(set)
        for e, s in self.events("0000-00-00", hi, include_bots):
            active[e.dt].add(s.visitor.anonymous_id)

        def window(day: date, n: int) -> int:
            return len(set().union(*(active.get((day - timedelta(days=k)).isoformat(), set()) for k in range(n))))

        rows = []
        for dt in sorted(d for d in active if lo <= d <= hi):
            day = date.fromisoformat(dt)
            started = self.sessions_in(dt, dt, include_bots)
            rows.append(
                {
                    "day": day,
                    "dau": len(active[dt]),
                    "wau": window(day, 7),
                    "mau": window(day, 30),
                    "sessions": len(started),
                    "page_views": sum(e.event_type == "page_view" for e, _ in self.events(dt, dt, include_bots)),
                    "bounce_rate": _ratio(sum(s.is_bounce for s in started), len(started)),
                    "avg_session_duration_s": mean((s.end_ms - s.start_ms) / 1000 for s in started) if started else None,
                }
            )
        return rows

    def funnel(self, steps: Sequence[str], lo: str, hi: str, include_bots: bool = False) -> list[Row]:
        sessions = self.sessions_in(lo, hi, include_bots)
        return funnel_rows(([step_key(e.event_type, e.path, e.event_name) for e in s.events] for s in sessions), steps)

    def retention(self, lo: str, hi: str, include_bots: bool = False) -> list[Row]:
        weeks: dict[str, set[date]] = defaultdict(set)
        for e, s in self.events(lo, hi, include_bots):
            day = date.fromisoformat(e.dt)
            weeks[s.visitor.anonymous_id].add(day - timedelta(days=day.weekday()))
        cells: dict[tuple[date, date], int] = defaultdict(int)
        for seen in weeks.values():
            for week in seen:
                cells[(min(seen), week)] += 1
        return [
            {
                "cohort_week": c,
                "week_offset": (w - c).days // 7,
                "cohort_users": cells[(c, c)],
                "active_users": n,
                "retention": n / cells[(c, c)],
            }
            for (c, w), n in sorted(cells.items())
        ]

    # -- per-day views ---------------------------------------------------------------------
    def per_day(self, method: str, drop: tuple[str, ...] = (), **kwargs: Any) -> list[Row]:
        """A range panel evaluated day by day: the rows of the matching per-day view."""
        rows = []
        for dt in self.traffic.days:
            for row in getattr(self, method)(dt, dt, **kwargs):
                rows.append({"app_id": self.traffic.app_id, "dt": dt, **{k: v for k, v in row.items() if k not in drop}})
        return rows

    def traffic_sources(self) -> list[Row]:
        keys = {"referrer_host": lambda s: s.events[0].referrer_host, **_utm_keys()}
        return [
            {"app_id": self.traffic.app_id, "dt": dt, **row}
            for dt in self.traffic.days
            for row in self._by_session(keys, self.sessions_in(dt, dt), False)
        ]

    def technology(self) -> list[Row]:
        out = []
        for dt in self.traffic.days:
            agent = lambda p: p[1].visitor.agent  # noqa: E731
            out += [
                {"app_id": self.traffic.app_id, "dt": dt, **row}
                for row in _group(
                    self.events(dt, dt),
                    {
                        "device_type": lambda p: agent(p).device_type,
                        "browser": lambda p: agent(p).browser,
                        "os": lambda p: agent(p).os,
                    },
                    {
                        "visitors": _visitors,
                        "events": len,
                        "page_views": lambda g: sum(e.event_type == "page_view" for e, _ in g),
                    },
                )
            ]
        return out
