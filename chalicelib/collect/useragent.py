"""User-agent parsing (ua-parser, the uap-core regexes) and bot flagging.

ua-parser is imported on first use so that importing the API module stays cheap;
results are cached per distinct user agent (a site sees few distinct ones).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

DeviceType = Literal["desktop", "mobile", "tablet", "bot", "other"]

# Flag, never drop: analysts count bots on request (is_bot). Substrings that uap-core
# does not classify as Spider but that no person's browser sends. "Cubot" is a phone brand.
_BOT_WORDS = re.compile(
    r"((?<!cu)bot\b|bot/|crawl|spider|slurp|headless|phantomjs|puppeteer|playwright|selenium|"
    r"lighthouse|pingdom|uptime|monitor|curl/|wget/|python-requests|python-urllib|aiohttp|"
    r"go-http-client|java/|okhttp|axios/|node-fetch|httpclient|libwww|scrapy|facebookexternalhit|"
    r"preview|validator)",
    re.IGNORECASE,
)
_TABLET = re.compile(r"ipad|tablet|kindle|silk/|playbook|(android(?!.*mobile))", re.IGNORECASE)
_MOBILE = re.compile(r"mobile|iphone|ipod|android|windows phone|blackberry|opera mini", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Agent:
    browser: str | None
    browser_version: str | None
    os: str | None
    os_version: str | None
    device_type: DeviceType
    is_bot: bool
    bot_reason: str | None


def _version(*parts: str | None) -> str | None:
    out = [p for p in parts if p]
    return ".".join(out) or None


@lru_cache(maxsize=4096)
def parse_agent(user_agent: str | None) -> Agent:
    if not user_agent or not user_agent.strip():
        return Agent(None, None, None, None, "bot", True, "missing_user_agent")
    from ua_parser import parse  # deferred: 40 ms of import the API's cold start does not need

    result = parse(user_agent[:1024])
    ua, os_, device = result.user_agent, result.os, result.device
    browser = ua.family if ua and ua.family != "Other" else None
    os_name = os_.family if os_ and os_.family != "Other" else None
    is_bot, reason = False, None
    if device is not None and device.family == "Spider":
        is_bot, reason = True, "known_crawler"
    else:
        match = _BOT_WORDS.search(user_agent)
        if match:
            is_bot, reason = True, f"user_agent_contains:{match.group(0).lower().rstrip('/')}"
    if is_bot:
        device_type: DeviceType = "bot"
    elif _TABLET.search(user_agent):
        device_type = "tablet"
    elif _MOBILE.search(user_agent):
        device_type = "mobile"
    elif os_name or browser:
        device_type = "desktop"
    else:
        device_type = "other"
    return Agent(
        browser=browser,
        browser_version=_version(ua.major, ua.minor) if browser and ua else None,
        os=os_name,
        os_version=_version(os_.major, os_.minor) if os_name and os_ else None,
        device_type=device_type,
        is_bot=is_bot,
        bot_reason=reason,
    )
