"""The local dashboard over a real exported lake: every panel shows what the traffic plan says.

Traffic with known answers (clickstream.traffic) is stored as the API stores it, exported by
the export, and read back through the dashboard's own HTTP handlers, i.e. the panel SQL on
DuckDB via clickstream.lake.run_query, exactly as `make run` serves /dashboard.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlencode

import pyarrow as pa
import pytest

from chalicelib import clients
from chalicelib.settings import Settings, from_env
from clickstream.admin.tables import ensure_bucket, ensure_table
from clickstream.dashboard.pages import lake_runner, pages
from clickstream.dashboard.spec import load
from clickstream.lake.params import NOTHING_ROLLED
from clickstream.localstack import LocalStack
from clickstream.traffic import Traffic
from tests.dashboard_helpers import ARROW, assert_same_panels, expected_panels, filters, lake_with_traffic


@pytest.fixture(scope="module")
def lake(local_stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, Traffic, Path]:
    """One exported lake for the module (storing and exporting it is most of the time here)."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    settings = from_env(
        {**local_stack.env(), "CLICKSTREAM_TABLE": name, "CLICKSTREAM_BUCKET": name, "CLICKSTREAM_WRITE_SHARDS": "1"}
    )
    ensure_table(clients.dynamodb(settings), settings.table)
    ensure_bucket(clients.s3(settings), settings.bucket)
    return settings, lake_with_traffic(settings), tmp_path_factory.mktemp("lake-cache")


NOW = datetime.now(timezone.utc)  # one instant for the page and the truth (the KPIs compare up to now)


def api(lake: tuple[Settings, Traffic, Path], path: str, params: dict) -> tuple[int, dict]:
    settings, _, cache = lake
    query = urlencode(
        {k: ",".join(v) if isinstance(v, list) else str(v).lower() if isinstance(v, bool) else v for k, v in params.items()}
    )
    status, _, body = pages(settings, cache_dir=cache, now=lambda: NOW)["/dashboard"]("GET", path, query)
    return status, json.loads(body)


def test_every_panel_matches_the_traffic_plan_with_and_without_bots(lake):
    spec, traffic = load(), lake[1]
    for include_bots in (False, True):
        params = filters(traffic, include_bots)
        status, body = api(lake, "/dashboard/api/panels", params)
        assert status == 200, body
        assert_same_panels(body["panels"], expected_panels(spec, traffic, {**params, "now": NOW}))
    assert body["panels"]["visitors"]["rows"][0][0] > 0 and len(body["panels"]["top_pages"]["rows"]) > 3  # not vacuous


def test_the_app_filter_lists_the_lake_apps_and_another_app_is_empty(lake):
    traffic = lake[1]
    assert api(lake, "/dashboard/api/apps", {})[1] == {"apps": [traffic.app_id]}
    status, body = api(lake, "/dashboard/api/panels", {**filters(traffic), "app_id": "other"})
    assert status == 200 and body["panels"]["visitors"]["rows"] == [[0]] and body["panels"]["top_pages"]["rows"] == []


def test_each_query_returns_the_types_the_quicksight_datasets_declare(lake):
    settings, traffic, cache = lake
    run = lake_runner(settings, cache)
    compatible = {
        "integer": (pa.int64(), pa.int32()),
        "decimal": (pa.float64(),),
        "string": (pa.string(), pa.large_string()),
        "date": (pa.date32(),),
        "boolean": (pa.bool_(),),
    }
    for dataset in load().used_datasets():
        table = run(dataset, {**filters(traffic), "now": NOW})
        assert table.column_names == list(dataset.columns), dataset.name
        for column, declared in dataset.columns.items():
            assert table.schema.field(column).type in compatible[declared], (
                f"{dataset.name}.{column}: {table.schema.field(column).type} is not {declared}"
            )
        assert ARROW[declared] in compatible[declared]


@pytest.mark.parametrize("running", [False, True], ids=["closed", "running"])
def test_the_comparison_sql_quicksight_runs_equals_the_page_s_two_runs(lake, running):
    """compare datasets: one statement for QuickSight (scope.compare_sql), two cached runs locally."""
    from datetime import date, timedelta

    from clickstream.dashboard import scope
    from clickstream.lake import run_query

    settings, traffic, cache = lake
    dataset = load().datasets["overview_compare"]
    to = NOW.date() if running else date.fromisoformat(traffic.days[-2])
    params = {**filters(traffic), "date_from": to - timedelta(days=2), "date_to": to, "now": NOW}
    local = lake_runner(settings, cache)(dataset, params).to_pylist()
    sql = dataset.sql(scope.LOCAL_NOW_SQL)
    one = run_query(
        sql,
        {
            "app_id": params["app_id"],
            "date_from": params["date_from"],
            "date_to": params["date_to"],
            "include_bots": False,
            "now": scope.bound({}, NOW)["until"],
            "rolled_through": NOTHING_ROLLED,  # raw events every day (QuickSight reads the state: test_rollup_state)
        },
        settings=settings,
        engine="duckdb",
        cache_dir=cache,
    ).to_pylist()
    assert one[0]["prev_visitors"] > 0 and list(local[0]) == list(one[0])
    for column, value in one[0].items():
        got = local[0][column]
        assert got == value or abs(got - value) <= 1e-9 * max(1.0, abs(value)), (column, got, value)


def test_a_running_period_is_compared_with_the_previous_one_up_to_the_same_time(lake):
    # GIVEN the last three days, today included (still running), and the three days before
    from datetime import date

    from clickstream.dashboard import main as main_block
    from tests.dashboard_helpers import truth_runner

    spec, traffic = load(), lake[1]
    from datetime import timedelta

    params = {**filters(traffic), "date_from": str(NOW.date() - timedelta(days=2)), "date_to": str(NOW.date())}

    # WHEN the page asks for them
    status, body = api(lake, "/dashboard/api/panels", params)

    # THEN the KPI panels (QuickSight's comparison) and the tiles equal the plan cut at now and now - 3 days
    assert status == 200, body
    want = expected_panels(spec, traffic, {**params, "now": NOW})
    kpis = [p.id for p in spec.panels if p.visual == "kpi"]
    assert_same_panels({k: body["panels"][k] for k in kpis}, {k: want[k] for k in kpis})
    bound = {**params, "date_from": date.fromisoformat(params["date_from"]), "date_to": date.fromisoformat(params["date_to"])}
    truth = main_block.compute(spec, bound, truth_runner(traffic), NOW)
    assert body["main"]["periods"]["previous"]["until"] == truth["periods"]["previous"]["until"] is not None
    for got, exp in zip(body["main"]["tiles"], truth["tiles"]):
        for key in ("value", "previous", "change"):
            assert (got[key] is None and exp[key] is None) or abs(got[key] - exp[key]) <= 1e-9 * max(1, abs(exp[key])), (got, exp)
    assert truth["tiles"][0]["previous"] > 0  # not vacuous: the previous period has visitors
    assert body["main"]["daily"] == truth["daily"] and body["main"]["daily_previous"] == truth["daily_previous"]


def test_a_filter_applies_to_the_rolled_up_days_too(lake):
    """Filters narrow raw events (clickstream.dashboard.scope), and the rollups of the rolled-up
    days: the per-day rollups of events to the rows with the country, and the session rollups to
    the visitors the country does not split (the exact split, docs/lake.md *Filters*).

    GIVEN a lake whose closed days the export rolled up, WHEN the page is filtered to a country
    no visitor came from, THEN every session panel is empty, over the rolled-up days too."""
    settings, traffic, cache = lake
    from clickstream.lake import local_lake

    target = local_lake(settings, cache)
    target.sync(0)
    assert target.rolled_through(traffic.app_id), "the fixture's lake must hold rolled-up days for this test to mean anything"

    status, body = api(lake, "/dashboard/api/panels", {**filters(traffic), "country": "ZZ"})

    assert status == 200
    counted = {
        pid: [row for row in panel["rows"] if any(v for c, v in zip(panel["columns"], row) if c in COUNTS)]
        for pid, panel in body["panels"].items()
    }
    assert {pid: rows for pid, rows in counted.items() if rows} == {}
    assert body["panels"]["visitors"]["rows"] == [[0]]


COUNTS = {"visitors", "sessions", "page_views", "events", "bounces", "new_visitors"}
