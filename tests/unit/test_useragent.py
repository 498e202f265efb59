"""User agent → browser, os, device_type, and the bot flag (flagged, never dropped)."""

from __future__ import annotations

import pytest

from chalicelib.collect.useragent import parse_agent
from tests.factories import USER_AGENTS

# id -> (user agent, browser, os, device_type, is_bot, bot_reason)
AGENTS: dict[str, tuple[str | None, str | None, str | None, str, bool, str | None]] = {
    "chrome-windows": (USER_AGENTS["chrome_windows"], "Chrome", "Windows", "desktop", False, None),
    "edge-windows": (USER_AGENTS["edge_windows"], "Edge", "Windows", "desktop", False, None),
    "safari-mac": (USER_AGENTS["safari_mac"], "Safari", "Mac OS X", "desktop", False, None),
    "safari-iphone": (USER_AGENTS["safari_iphone"], "Mobile Safari", "iOS", "mobile", False, None),
    "safari-ipad": (USER_AGENTS["safari_ipad"], "Mobile Safari", "iOS", "tablet", False, None),
    "firefox-android-phone": (USER_AGENTS["firefox_android_phone"], "Firefox Mobile", "Android", "mobile", False, None),
    "firefox-android-tablet": (USER_AGENTS["firefox_android_tablet"], "Firefox Mobile", "Android", "tablet", False, None),
    "chrome-android-tablet-no-mobile-token": (USER_AGENTS["chrome_android_tablet"], "Chrome", "Android", "tablet", False, None),
    "chrome-android-cubot-phone-is-not-a-bot": (
        USER_AGENTS["chrome_android_cubot"],
        "Chrome Mobile",
        "Android",
        "mobile",
        False,
        None,
    ),
    "googlebot": (USER_AGENTS["googlebot"], "Googlebot", None, "bot", True, "known_crawler"),
    "googlebot-smartphone": (USER_AGENTS["googlebot_smartphone"], "Googlebot", "Android", "bot", True, "known_crawler"),
    "bingbot": (USER_AGENTS["bingbot"], "bingbot", None, "bot", True, "known_crawler"),
    "curl": (USER_AGENTS["curl"], "curl", None, "bot", True, "user_agent_contains:curl"),
    "python-requests": (
        USER_AGENTS["python_requests"],
        "Python Requests",
        None,
        "bot",
        True,
        "user_agent_contains:python-requests",
    ),
    "headless-chrome": (
        USER_AGENTS["headless_chrome"],
        "HeadlessChrome",
        "Linux",
        "bot",
        True,
        "user_agent_contains:headlesschrome",
    ),
    "ahrefs-bot-slash": (
        "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
        "AhrefsBot",
        None,
        "bot",
        True,
        "known_crawler",
    ),
    "unknown-tool-bot-word": ("acme-uptime-checker 1.0", None, None, "bot", True, "user_agent_contains:uptime"),
    # From the maintained crawler list (crawler-user-agents), not uap-core's Spider family:
    "go-http-client": ("Go-http-client/1.1", "Go-http-client", None, "bot", True, "user_agent_contains:go-http-client"),
    "okhttp": ("okhttp/4.12.0", "okhttp", None, "bot", True, "user_agent_contains:okhttp"),
    "lighthouse": (
        "Mozilla/5.0 (Linux; Android 7.0; Moto G (4)) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
        "Mobile Safari/537.36 Chrome-Lighthouse",
        "Chrome Mobile",
        "Android",
        "bot",
        True,
        "user_agent_contains:chrome-lighthouse",
    ),
    # Our additions, each a case the list misses:
    "generic-bot-word-is-uap-spider": ("AcmeBot/1.0 (+https://acme.example)", "AcmeBot", None, "bot", True, "known_crawler"),
    "puppeteer": ("Mozilla/5.0 puppeteer-core/21.0", None, None, "bot", True, "user_agent_contains:puppeteer"),
    "selenium": ("selenium/4.15.0 (python linux)", None, "Linux", "bot", True, "user_agent_contains:selenium"),
    "site-monitor": ("SiteMonitor/2.0", None, None, "bot", True, "user_agent_contains:monitor"),
    # analytics-kotlin's context.userAgent is a person's app, not a bot (no "Mobile" token: the tablet rule applies).
    "android-dalvik": (
        "Dalvik/2.1.0 (Linux; U; Android 13; Pixel 7 Build/TQ3A.230805.001)",
        "Android",
        "Android",
        "tablet",
        False,
        None,
    ),
    "empty": ("", None, None, "bot", True, "missing_user_agent"),
    "whitespace-only": ("   ", None, None, "bot", True, "missing_user_agent"),
    "absent": (None, None, None, "bot", True, "missing_user_agent"),
    "garbage": ("zzz", None, None, "other", False, None),
}


@pytest.mark.parametrize("user_agent, browser, os, device_type, is_bot, bot_reason", AGENTS.values(), ids=AGENTS.keys())
def test_user_agent_is_parsed_and_bots_are_flagged(
    user_agent: str | None, browser: str | None, os: str | None, device_type: str, is_bot: bool, bot_reason: str | None
) -> None:
    agent = parse_agent(user_agent)

    assert (agent.browser, agent.os, agent.device_type, agent.is_bot, agent.bot_reason) == (
        browser,
        os,
        device_type,
        is_bot,
        bot_reason,
    )


def test_versions_are_major_dot_minor() -> None:
    agent = parse_agent(USER_AGENTS["safari_iphone"])

    assert (agent.browser_version, agent.os_version) == ("17.1", "17.1")


def test_huge_user_agent_is_parsed_from_its_first_kilobyte() -> None:
    agent = parse_agent(USER_AGENTS["chrome_windows"] + " x" * 50_000)

    assert (agent.browser, agent.device_type) == ("Chrome", "desktop")
