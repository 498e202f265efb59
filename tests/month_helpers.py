"""Shared by the tests of the panels that read the month rows (tests/unit/test_month_panels.py,
tests/unit/test_month_upto.py): which panels they are, events of the shape they read, and a
small lake rolled up and built into month rows."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from clickstream.lake import catalog, translate
from tests.rollup_helpers import APP, Lake

MONTH_PANELS = [
    n for n in catalog.query_names() if "months_through" in translate.parameter_names(catalog.expand(catalog.query_file(n).text))
]  # type: ignore[union-attr]


def event(i: int, visitor: str, day: date, browser: str, bot: bool = False, **other: Any) -> dict[str, Any]:
    return {
        "event_id": f"e{i:04d}",
        "app_id": APP,
        "anonymous_id": visitor,
        "event_time": datetime.combine(day, datetime.min.time(), tzinfo=timezone.utc) + timedelta(hours=9, minutes=i),
        "event_type": "page_view",
        "event_name": "page_view",
        "path": "/demo",
        "browser": "Crawler" if bot else browser,
        "country": "DE",
        "os": "Linux",
        "device_type": "bot" if bot else "desktop",
        "is_bot": bot,
        "bot_reason": "known_crawler" if bot else None,
        # every row names every column (the lake's files take the first row's): NULL unless given
        **dict.fromkeys(("geo_lat", "geo_lon", "referrer_host", "utm_source", "utm_medium", "utm_campaign")),
        **other,
    }


def click(i: int, visitor: str, day: date, name: str, geo: tuple[float, float] | None = None) -> dict[str, Any]:
    at = {"geo_lat": geo[0], "geo_lon": geo[1]} if geo else {}
    return event(i, visitor, day, "Firefox", event_type="click", event_name=name, path=None, **at)


def rolled_lake(root: Path, events: list[dict[str, Any]]) -> Lake:
    lake = Lake(root, events)
    lake.write_events(lake.days())
    first, last = min(lake.days()), max(lake.days())
    lake.roll({first + timedelta(days=k) for k in range(-1, (last - first).days + 2)}, 10_000)
    lake.build_months()
    return lake
