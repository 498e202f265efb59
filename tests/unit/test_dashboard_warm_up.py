"""`make run` answers the dashboard's default view once as it starts (pages.warm_up), so that the
page's first load, which asks for that view, finds its statements translated, batched and prepared."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import yaml

from chalicelib.export import rollups
from chalicelib.settings import from_env
from clickstream.dashboard.pages import LakeRunner, handlers, warm_up
from clickstream.dashboard.spec import SPEC_FILE, Spec, parse
from clickstream.lake import directory_lake
from tests.rollup_helpers import APP, DAY0, DAYS, Lake, page_view


def _spec() -> Spec:
    """The shipped spec with the lake's app as the default one (make run's is the demo app)."""
    raw = yaml.safe_load(SPEC_FILE.read_text())
    for p in raw["parameters"]:
        if p["name"] == "app_id":
            p["default"] = APP
    return parse(raw)


def _lake(root: Path) -> Lake:
    # three visitors over the lake's days (two months), all but the last day rolled up, with the
    # month rows: a running period reads the raw last day and both months' rows
    lake = Lake(root, [page_view(f"e{i}", f"v{i % 3}", i % DAYS, ["/demo", "/b"][i % 2], hour=9 + i % 5) for i in range(24)])
    lake.write_events(lake.days())
    lake.roll({DAY0 + timedelta(days=k) for k in range(DAYS - 1)}, 10_000)
    lake.build_months()
    # the export's published state: days and month rows through the last rolled-up day
    through = str(DAY0 + timedelta(days=DAYS - 2))
    state = lake.root / rollups.STATE_TABLE / f"app_id={APP}"
    state.mkdir(parents=True)
    pq.write_table(rollups.state_table(through, months_through=through), state / rollups.STATE_FILE)
    return lake


def test_after_the_warm_up_the_first_load_of_the_default_view_prepares_nothing_and_answers_as_without_it(
    tmp_path: Path,
) -> None:
    lake = _lake(tmp_path / "lake")
    assert list((lake.root / "rollup_visitor_months").rglob("*.parquet"))
    local = directory_lake(lake.root)
    assert local.rolled_through(APP, "months") == str(DAY0 + timedelta(days=DAYS - 2))
    started = datetime.combine(DAY0 + timedelta(days=DAYS - 1), datetime.min.time(), tzinfo=timezone.utc) + timedelta(hours=15)
    clock = [started]
    page = handlers(_spec(), LakeRunner(from_env({}), lake=local), lambda: [APP], now=lambda: clock[0])["/dashboard"]
    said: list[str] = []
    # GIVEN the dev server's warm-up, run as it starts
    assert warm_up(page, said.append) == 200
    assert said and said[0].startswith("dashboard warmed up in "), said
    prepared = dict(local.duck._prepared)
    assert len(prepared) == 1 and " AS r16" in next(iter(prepared))  # the page as one batched statement
    # WHEN a person opens the dashboard a minute later (the page's first request: no query string)
    clock[0] = started + timedelta(minutes=1)
    status, _, body = page("GET", "/dashboard/api/panels", "")
    # THEN nothing new is translated or prepared for it...
    assert status == 200
    assert dict(local.duck._prepared) == prepared
    # ...and the answer is the one a process that never warmed up gives
    cold = handlers(_spec(), LakeRunner(from_env({}), lake=directory_lake(lake.root)), lambda: [APP], now=lambda: clock[0])
    answer = json.loads(body)
    assert answer == json.loads(cold["/dashboard"]("GET", "/dashboard/api/panels", "")[2])
    assert answer["params"]["app_id"] == APP and answer["main"]["tiles"][0]["value"]
    assert all("error" not in p for p in answer["panels"].values())


def test_a_warm_up_that_fails_is_said_and_the_server_goes_on() -> None:
    def broken(method: str, path: str, query: str) -> Any:
        raise OSError("the lake's directory is gone")

    said: list[str] = []
    assert warm_up(broken, said.append) == 500
    assert said == ["dashboard warm-up failed, so the first page load will take longer: the lake's directory is gone"]
