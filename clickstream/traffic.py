"""Realistic traffic that knows its own truth, and `clickstream demo-traffic`.

``generate`` plans visitors (browsers and devices, countries, users identified on two
devices, bots) and their sessions over the last few UTC days, with every case the lake's SQL
must get right: gaps just under, exactly at and over 30 minutes, sessions across midnight,
late batches (received days after the events), UTM campaigns and referrers, GEO_LOC
positions, the demo's custom events (LIKE_WOOD, UNLIKE_WOOD, CLICK_LANG) and funnels with a
known drop-off. The plan is the truth: ``Traffic.sessions`` are the sessions by construction
and clickstream.traffic_truth aggregates them the way each view and query should.

``send`` delivers the plan as the tracker would, in batches, through an injected sender:
``http_sender`` (POST /v1/events to a running API), ``store_sender`` (straight into the
table at a chosen received time, as the API would store it) or any callable taking a Batch.
"""

from __future__ import annotations

import json
import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Callable
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit
from urllib.request import Request, urlopen

import click

from clickstream.target import local_value

MIN_MS, HOUR_MS, DAY_MS = 60_000, 3_600_000, 86_400_000
GAP_MS = 30 * MIN_MS  # the tracker's and the views' session timeout
SITE = "https://touchwood.example"
MAX_DAYS = 7  # the API rejects events older than 7 days (CLICKSTREAM_MAX_EVENT_AGE_DAYS)


@dataclass(frozen=True)
class Agent:
    """A user agent and what the collector's parser makes of it (tests/unit/test_traffic.py checks)."""

    user_agent: str
    browser: str | None
    os: str | None
    device_type: str
    bot_reason: str | None = None

    @property
    def is_bot(self) -> bool:
        return self.bot_reason is not None


HUMANS: tuple[tuple[Agent, int], ...] = (
    (
        Agent(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
            "Chrome",
            "Windows",
            "desktop",
        ),
        8,
    ),
    (
        Agent(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 "
            "Edg/124.0.2478.80",
            "Edge",
            "Windows",
            "desktop",
        ),
        2,
    ),
    (
        Agent(
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/"
            "605.1.15",
            "Safari",
            "Mac OS X",
            "desktop",
        ),
        3,
    ),
    (Agent("Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0", "Firefox", "Ubuntu", "desktop"), 1),
    (
        Agent(
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 "
            "Mobile/15E148 Safari/604.1",
            "Mobile Safari",
            "iOS",
            "mobile",
        ),
        6,
    ),
    (
        Agent(
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 Mobile "
            "Safari/537.36",
            "Chrome Mobile",
            "Android",
            "mobile",
        ),
        5,
    ),
    (
        Agent(
            "Mozilla/5.0 (Linux; Android 14; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/24.0 Chrome/"
            "117.0.0.0 Mobile Safari/537.36",
            "Samsung Internet",
            "Android",
            "mobile",
        ),
        2,
    ),
    (
        Agent(
            "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 "
            "Safari/604.1",
            "Mobile Safari",
            "iOS",
            "tablet",
        ),
        2,
    ),
    (
        Agent(
            "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
            "Chrome",
            "Android",
            "tablet",
        ),
        1,
    ),
)
BOTS: tuple[tuple[Agent, int], ...] = (
    (
        Agent(
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "Googlebot", None, "bot", "known_crawler"
        ),
        3,
    ),
    (
        Agent("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", "bingbot", None, "bot", "known_crawler"),
        1,
    ),
    (Agent("curl/8.5.0", "curl", None, "bot", "user_agent_contains:curl"), 1),
    (
        Agent(
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/124.0.0.0 Safari/537.36",
            "HeadlessChrome",
            "Linux",
            "bot",
            "user_agent_contains:headlesschrome",
        ),
        1,
    ),
)


@dataclass(frozen=True)
class Place:
    """A country and a city; lat/lon is the centre of the city's 0.1-degree geo_grid cell."""

    country: str
    lat: float
    lon: float
    timezone: str
    locale: str


PLACES: tuple[tuple[Place, int], ...] = (
    (Place("DE", 52.5, 13.4, "Europe/Berlin", "de-DE"), 4),
    (Place("US", 40.7, -74.0, "America/New_York", "en-US"), 5),
    (Place("GB", 51.5, -0.1, "Europe/London", "en-GB"), 3),
    (Place("FR", 48.9, 2.3, "Europe/Paris", "fr-FR"), 2),
    (Place("HK", 22.3, 114.2, "Asia/Hong_Kong", "zh-HK"), 2),
    (Place("JP", 35.7, 139.7, "Asia/Tokyo", "ja-JP"), 1),
    (Place("BR", -23.6, -46.6, "America/Sao_Paulo", "pt-BR"), 1),
)
PAGES = (("/demo", 6), ("/demo/about", 2), ("/demo/woods/oak", 2), ("/demo/woods/teak", 1), ("/demo/contact", 1))
REFERRERS = (
    (None, 5),
    ("https://www.google.com/", 4),
    ("https://duckduckgo.com/", 1),
    ("https://news.ycombinator.com/item?id=4242", 1),
    ("https://t.co/woods", 1),
)
CAMPAIGNS = (
    (None, 6),
    (("newsletter", "email", "spring-sale"), 2),
    (("twitter", "social", "launch"), 1),
    (("google", "cpc", "woods"), 1),
)
LANGS = ("en", "zh-HK", "fr")
# Each visitor's first session plays one of these in turn, so every case is in every run.
SCENARIOS = (
    "midnight",
    "gap_under",
    "gap_exact",
    "gap_over",
    "late",
    "funnel_full",
    "funnel_like",
    "funnel_entry",
    "funnel_reversed",
    "bounce",
)
FUNNEL = ("/demo", "LIKE_WOOD", "CLICK_LANG")


@dataclass
class Visitor:
    anonymous_id: str
    agent: Agent
    place: Place
    user_id: str | None
    ip: str
    shares_geo: bool
    sessions: list[Session] = field(default_factory=list)


@dataclass
class Event:
    time_ms: int
    body: dict[str, Any]  # what the tracker sends
    path: str
    url: str
    referrer_host: str | None
    utm: tuple[str | None, str | None, str | None]
    received_ms: int = 0

    @property
    def event_type(self) -> str:
        return self.body["event_type"]

    @property
    def event_name(self) -> str:
        return self.body["event_name"]

    @property
    def geo(self) -> tuple[float, float] | None:
        geo = self.body.get("context", {}).get("geo")
        return (geo["lat"], geo["lon"]) if geo else None

    @property
    def dt(self) -> str:
        return day_of(self.time_ms)


@dataclass
class Session:
    visitor: Visitor
    scenario: str
    events: list[Event]

    start_ms = property(lambda self: self.events[0].time_ms)
    end_ms = property(lambda self: self.events[-1].time_ms)
    dt = property(lambda self: day_of(self.start_ms))
    page_view_events = property(lambda self: [e for e in self.events if e.event_type == "page_view"])
    is_bounce = property(lambda self: len(self.events) == 1)


@dataclass(frozen=True)
class Batch:
    events: list[dict[str, Any]]
    user_agent: str
    country: str | None
    ip: str
    received_ms: int


@dataclass
class Traffic:
    app_id: str
    site: str
    start_ms: int
    end_ms: int
    visitors: list[Visitor]
    batches: list[Batch]

    @property
    def sessions(self) -> list[Session]:
        return sorted((s for v in self.visitors for s in v.sessions), key=lambda s: (s.start_ms, s.visitor.anonymous_id))

    @property
    def events(self) -> list[Event]:
        return [e for s in self.sessions for e in s.events]

    @property
    def days(self) -> list[str]:
        return sorted({e.dt for e in self.events})


def day_of(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d")


def _midnight(ms: int) -> int:
    return ms - ms % DAY_MS


def _pick(rng: random.Random, weighted: tuple[tuple[Any, int], ...]) -> Any:
    return rng.choices([v for v, _ in weighted], weights=[w for _, w in weighted])[0]


class _Planner:
    def __init__(self, rng: random.Random, site: str, start_ms: int, end_ms: int) -> None:
        self.rng, self.site, self.start_ms, self.end_ms = rng, site, start_ms, end_ms

    def _id(self) -> str:
        return f"{self.rng.getrandbits(96):024x}"

    def _event(
        self,
        v: Visitor,
        t: int,
        etype: str,
        name: str,
        path: str,
        referrer: str | None,
        campaign: tuple | None,
        client_session: str | None,
        props: dict | None = None,
    ) -> Event:
        query = "" if not campaign else f"?utm_source={campaign[0]}&utm_medium={campaign[1]}&utm_campaign={campaign[2]}"
        url = f"{self.site}{path}{query}"
        screen = {"width": 390, "height": 844} if v.agent.device_type == "mobile" else {"width": 1920, "height": 1080}
        context: dict[str, Any] = {"locale": v.place.locale, "timezone": v.place.timezone, "screen": screen}
        if name == "GEO_LOC":
            jitter = lambda: round(self.rng.uniform(-0.03, 0.03), 4)  # noqa: E731 - stays inside the 0.1-degree cell
            context["geo"] = {"lat": round(v.place.lat + jitter(), 4), "lon": round(v.place.lon + jitter(), 4), "accuracy": 30}
        body: dict[str, Any] = {
            "event_id": self._id(),
            "event_type": etype,
            "event_name": name,
            "timestamp": t,
            "anonymous_id": v.anonymous_id,
            "url": url,
            "title": f"Touchwood {path}",
            "context": context,
        }
        if referrer:
            body["referrer"] = referrer
        if client_session:
            body["session_id"] = client_session
        if v.user_id:
            body["user_id"] = v.user_id
        if props:
            body["properties"] = props
        host = urlsplit(referrer).hostname if referrer else None
        return Event(t, body, path, url, host, tuple(campaign) if campaign else (None, None, None))  # type: ignore[arg-type]

    def _actions(self, v: Visitor, scenario: str) -> list[str]:
        rng = self.rng
        if v.agent.is_bot:
            return [] if v.agent.browser == "curl" else ["page"] * rng.randint(2, 9)
        fixed = {
            "bounce": [],
            "funnel_full": ["LIKE_WOOD", "page", "CLICK_LANG"],
            "funnel_like": ["LIKE_WOOD", "UNLIKE_WOOD"],
            "funnel_entry": ["page"],
            "funnel_reversed": ["CLICK_LANG", "LIKE_WOOD"],
            "midnight": ["page", "LIKE_WOOD", "page", "CLICK_LANG", "page"],
        }
        if scenario in fixed:
            return fixed[scenario]
        kinds = (("page", 5), ("LIKE_WOOD", 3), ("UNLIKE_WOOD", 1), ("CLICK_LANG", 2), ("GEO_LOC", 2 if v.shares_geo else 0))
        return [_pick(rng, kinds) for _ in range(rng.randint(0 if scenario == "normal" else 1, 7))]

    def session(self, v: Visitor, scenario: str, begin: int) -> Session:
        rng = self.rng
        bot = v.agent.is_bot
        entry = "/demo" if scenario.startswith("funnel") else _pick(rng, PAGES)
        referrer = None if bot else _pick(rng, REFERRERS)
        campaign = None if bot else _pick(rng, CAMPAIGNS)
        client_session = None if bot else f"cs-{v.anonymous_id[:6]}-{day_of(begin)}"  # per day: deliberately not our sessions
        t = begin
        page, page_ref, page_campaign = entry, referrer, campaign
        events = [self._event(v, t, "page_view", "page_view", page, page_ref, page_campaign, client_session)]
        actions = self._actions(v, scenario)
        long_gap_at = rng.randrange(len(actions)) if scenario == "gap_under" and actions else -1
        for i, kind in enumerate(actions):
            if i == long_gap_at:
                t += GAP_MS - 1_000  # 29:59, still the same session
            elif scenario == "midnight":
                t += rng.randint(150, 200) * 1000  # 5 actions of 2.5-3.3 min: past midnight
            else:
                t += rng.randint(2, 20) * 1000 if bot else rng.randint(4, 240) * 1000
            if kind == "page":
                options = [(p, w) for p, w in PAGES if p != page] if not scenario.startswith("funnel") else [("/demo/about", 1)]
                page_ref, page_campaign = f"{self.site}{page}", None
                page = _pick(rng, tuple(options))
                events.append(self._event(v, t, "page_view", "page_view", page, page_ref, page_campaign, client_session))
            else:
                props = None
                if kind.endswith("_WOOD"):
                    props = {"item_index": str(rng.randrange(6))}
                elif kind == "CLICK_LANG":
                    props = {"lang": rng.choice(LANGS)}
                events.append(self._event(v, t, "click", kind, page, page_ref, page_campaign, client_session, props))
        return Session(v, scenario, events)

    def timeline(self, v: Visitor, first_day: int, days: int, forced: str | None, return_p: float) -> None:
        rng = self.rng
        visit_days = [first_day] + [d for d in range(first_day + 1, days) if rng.random() < return_p]
        cursor: int | None = None  # end of the visitor's last session
        for d in visit_days:
            day0 = self.start_ms + d * DAY_MS
            for _n in range(2 if rng.random() < 0.2 else 1):
                scenario = forced if forced and not v.sessions else "normal"
                if scenario == "midnight":
                    begin = day0 + DAY_MS - rng.randint(6, 9) * MIN_MS
                else:
                    begin = day0 + rng.randint(0 if v.agent.is_bot else 6 * 60, 23 * 60) * MIN_MS + rng.randint(0, 59_999)
                if cursor is not None:
                    begin = max(begin, cursor + GAP_MS + rng.randint(1, 120) * MIN_MS)
                if not self._add(v, self.session(v, scenario, begin)):
                    return
                cursor = v.sessions[-1].end_ms
                if scenario in ("gap_exact", "gap_over"):  # the next session exactly 30:00 / 31:00 after the last event
                    follow = cursor + GAP_MS + (0 if scenario == "gap_exact" else MIN_MS)
                    if not self._add(v, self.session(v, "normal", follow)):
                        return
                    cursor = v.sessions[-1].end_ms

    def _add(self, v: Visitor, s: Session) -> bool:
        if s.end_ms >= self.end_ms - MIN_MS:
            return False
        v.sessions.append(s)
        return True


def generate(
    users: int = 60,
    days: int = 7,
    *,
    end_ms: int | None = None,
    seed: int = 7,
    site: str = SITE,
    app_id: str = "demo",
    bots: int | None = None,
) -> Traffic:
    """Plan ``users`` human visitors (plus bots) over ``days`` UTC days ending at ``end_ms``."""
    rng = random.Random(seed)
    end_ms = end_ms if end_ms is not None else int(time.time() * 1000) - MIN_MS
    start_ms = _midnight(end_ms) - (days - 1) * DAY_MS
    planner = _Planner(rng, site, start_ms, end_ms)
    visitors: list[Visitor] = []

    def visitor(agent: Agent, place: Place, user_id: str | None) -> Visitor:
        n = len(visitors)
        shares_geo = not agent.is_bot and rng.random() < 0.3
        v = Visitor(f"{rng.getrandbits(64):016x}", agent, place, user_id, f"198.51.100.{n % 250 + 1}", shares_geo)
        visitors.append(v)
        return v

    for i in range(users):
        place = _pick(rng, PLACES)
        user_id = f"user-{i:04d}" if rng.random() < 0.3 else None
        forced = SCENARIOS[i % len(SCENARIOS)]
        first = rng.randrange(max(1, days - 3)) if forced == "late" else rng.randrange(days)
        planner.timeline(visitor(_pick(rng, HUMANS), place, user_id), first, days, forced, 0.35)
        if user_id and rng.random() < 0.4:  # the same person on a second device: another anonymous_id
            planner.timeline(visitor(_pick(rng, HUMANS), place, user_id), rng.randrange(days), days, None, 0.25)
    for _ in range(bots if bots is not None else max(2, users // 12)):
        planner.timeline(visitor(_pick(rng, BOTS), PLACES[1][0], None), rng.randrange(days), days, None, 0.5)
    return Traffic(app_id, site, start_ms, end_ms, visitors, _batches(rng, visitors, end_ms))


def _batches(rng: random.Random, visitors: list[Visitor], end_ms: int) -> list[Batch]:
    """The tracker flushes every few events; a late session's batches arrive days later."""
    out = []
    for v in visitors:
        for s in v.sessions:
            delay = (2 * DAY_MS + rng.randint(0, 20) * HOUR_MS) if s.scenario == "late" else 0
            for i in range(0, len(s.events), 6):
                chunk = s.events[i : i + 6]
                received = min(chunk[-1].time_ms + rng.randint(1_000, 15_000) + delay, end_ms)
                for e in chunk:
                    e.received_ms = received
                out.append(Batch([e.body for e in chunk], v.agent.user_agent, v.place.country, v.ip, received))
    return sorted(out, key=lambda b: b.received_ms)


Sender = Callable[[Batch], None]


def send(traffic: Traffic, sender: Sender, parallel: int = 1) -> int:
    """Deliver every batch in order of receipt; returns the number of events sent."""
    if parallel <= 1:
        for batch in traffic.batches:
            sender(batch)
    else:
        with ThreadPoolExecutor(max_workers=parallel) as pool:
            list(pool.map(sender, traffic.batches))
    return sum(len(b.events) for b in traffic.batches)


def store_sender(settings: Any, app_id: str) -> Sender:
    """Store a batch exactly as POST /v1/events would, received at the batch's ``received_ms``."""
    from chalicelib import clients
    from chalicelib.collect.enrich import request_facts
    from chalicelib.collect.ingest import plan_batch
    from chalicelib.store.events import put_items

    def deliver(batch: Batch) -> None:
        headers = {"user-agent": batch.user_agent, **({"cloudfront-viewer-country": batch.country} if batch.country else {})}
        facts = request_facts(app_id, batch.received_ms, batch.ip, headers)
        plan = plan_batch(batch.events, facts, settings, f"traffic-{batch.events[0]['event_id']}")
        if plan.rejected:
            raise ValueError(f"the API would reject {plan.rejected[:3]}")
        put_items(clients.dynamodb(settings), settings.table, plan.items, attempts=5)

    return deliver


def http_sender(endpoint: str, key: str, timeout_s: float = 10.0) -> Sender:
    """POST each batch to a running API, as the browser tracker does (received now, by the API)."""
    url = f"{endpoint.rstrip('/')}/v1/events"

    def deliver(batch: Batch) -> None:
        headers = {"Content-Type": "application/json", "X-Api-Key": key, "User-Agent": batch.user_agent}
        if batch.country:
            headers["CloudFront-Viewer-Country"] = batch.country  # what CloudFront adds in AWS
        request = Request(url, data=json.dumps({"events": batch.events}).encode(), headers=headers, method="POST")
        try:
            with urlopen(request, timeout=timeout_s) as resp:
                answer = json.loads(resp.read() or b"{}")
        except HTTPError as exc:
            raise click.ClickException(f"POST {url} answered {exc.code}: {exc.read()[:300].decode(errors='replace')}") from exc
        if answer.get("rejected"):
            raise click.ClickException(f"POST {url} rejected events: {answer['rejected'][:3]}")

    return deliver


def _demo_key() -> str | None:
    saved = Path(local_value("data_dir")) / "demo-app.json"
    try:
        return json.loads(saved.read_text())["write_key"]
    except (OSError, ValueError, KeyError):
        return None


@click.command("demo-traffic")
@click.option("--users", default=200, show_default=True, help="Human visitors (bots and second devices come on top).")
@click.option(
    "--days",
    default=7,
    show_default=True,
    type=click.IntRange(1, MAX_DAYS),
    help="UTC days ending today (the API keeps events up to 7 days old).",
)
@click.option("--endpoint", default=None, help="The API (default: the local one, http://127.0.0.1:$CLICKSTREAM_PORT).")
@click.option(
    "--key",
    default=None,
    help="A write key (default: the demo app's, saved by `make run` in $CLICKSTREAM_DATA_DIR/demo-app.json).",
)
@click.option("--seed", default=None, type=int, help="Plan the same traffic again (default: new traffic each run).")
def demo_traffic(users: int, days: int, endpoint: str | None, key: str | None, seed: int | None) -> None:
    """Send realistic traffic to the demo app, so the dashboards have something to show."""
    endpoint = endpoint or f"http://127.0.0.1:{local_value('port')}"
    key = key or _demo_key()
    if not key:
        raise click.ClickException("no write key: start `make run` once (it saves the demo key) or pass --key")
    traffic = generate(users, days, seed=seed if seed is not None else time.time_ns() % 2**32, site=endpoint.rstrip("/"))
    try:
        sent = send(traffic, http_sender(endpoint, key), parallel=4)
    except URLError as exc:
        raise click.ClickException(f"cannot reach {endpoint}: {exc.reason}; is `make run` running?") from exc
    sessions = traffic.sessions
    click.echo(
        f"sent {sent} events in {len(traffic.batches)} batches: {len(traffic.visitors)} visitors "
        f"({sum(v.agent.is_bot for v in traffic.visitors)} bots), {len(sessions)} sessions, "
        f"{date.fromisoformat(traffic.days[0]):%b %d} to {date.fromisoformat(traffic.days[-1]):%b %d} UTC"
    )
    click.echo(
        f"the export runs every minute; then: clickstream query overview --param app_id=demo --param "
        f"date_from={traffic.days[0]} --param date_to={traffic.days[-1]}"
    )
