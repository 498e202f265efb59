"""`make run` answers the dashboard's default view once as it starts (pages.warm_up), so that the
first page load a person makes finds the page's statements translated, batched and prepared."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from chalicelib.settings import from_env
from clickstream.dashboard.pages import LakeRunner, handlers, warm_up
from clickstream.dashboard.spec import load
from clickstream.lake import directory_lake
from tests.rollup_helpers import APP, DAY0, DAYS, Lake


def _view(event_id: str, visitor: str, day: int, hour: int, path: str) -> dict[str, Any]:
    at = datetime.combine(DAY0 + timedelta(days=day), datetime.min.time().replace(hour=hour), tzinfo=timezone.utc)
    return {"event_id": event_id, "app_id": APP, "anonymous_id": visitor, "event_time": at, "event_type": "page_view",
            "event_name": "page_view", "path": path, "browser": "Firefox", "is_bot": False}  # fmt: skip


def _lake(root: Path) -> Lake:
    # three visitors over the lake's days, the last day not rolled up (a running period reads it raw)
    lake = Lake(root, [_view(f"e{i}", f"v{i % 3}", i % DAYS, 9 + i % 5, ["/demo", "/b"][i % 2]) for i in range(24)])
    lake.write_events(lake.days())
    lake.roll({DAY0 + timedelta(days=k) for k in range(DAYS - 1)}, 10_000)
    return lake


def test_after_the_warm_up_the_first_page_load_prepares_nothing_and_answers_as_without_it(tmp_path: Path) -> None:
    lake = _lake(tmp_path / "lake")
    local = directory_lake(lake.root)
    started = datetime.combine(DAY0 + timedelta(days=DAYS - 1), datetime.min.time(), tzinfo=timezone.utc) + timedelta(hours=15)
    clock = [started]
    page = handlers(load(), LakeRunner(from_env({}), lake=local), lambda: [APP], now=lambda: clock[0])["/dashboard"]
    said: list[str] = []
    # GIVEN the dev server's warm-up over a lake, run as it starts (the default view: another app)
    assert warm_up(page, said.append) == 200
    assert said and said[0].startswith("dashboard warmed up in "), said
    prepared = dict(local.duck._prepared)
    assert len(prepared) == 1 and " AS r16" in next(iter(prepared))  # the page as one batched statement
    # WHEN a person loads the page a minute later, for the app that has data
    clock[0] = started + timedelta(minutes=1)
    query = f"app_id={APP}&date_from={DAY0}&date_to={DAY0 + timedelta(days=DAYS - 1)}"
    status, _, body = page("GET", "/dashboard/api/panels", query)
    # THEN nothing new is translated or prepared for it...
    assert status == 200
    assert dict(local.duck._prepared) == prepared
    # ...and the answer is the one a process that never warmed up gives
    cold = handlers(load(), LakeRunner(from_env({}), lake=directory_lake(lake.root)), lambda: [APP], now=lambda: clock[0])
    answer = json.loads(body)
    assert answer == json.loads(cold["/dashboard"]("GET", "/dashboard/api/panels", query)[2])
    assert answer["main"]["tiles"] and all("error" not in p for p in answer["panels"].values())


def test_a_warm_up_that_fails_is_said_and_the_server_goes_on() -> None:
    def broken(method: str, path: str, query: str) -> Any:
        raise OSError("the lake's directory is gone")

    said: list[str] = []
    assert warm_up(broken, said.append) == 500
    assert said == ["dashboard warm-up failed, so the first page load will take longer: the lake's directory is gone"]
