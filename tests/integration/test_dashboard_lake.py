"""The local dashboard over a real exported lake: every panel shows what the traffic plan says.

Traffic with known answers (clickstream.traffic) is stored as the API stores it, exported by
the export, and read back through the dashboard's own HTTP handlers, i.e. the panel SQL on
DuckDB via clickstream.lake.run_query, exactly as `make run` serves /dashboard.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from urllib.parse import urlencode

import pyarrow as pa
import pytest

from chalicelib import clients
from chalicelib.settings import Settings, from_env
from clickstream.admin.tables import ensure_bucket, ensure_table
from clickstream.dashboard.pages import lake_runner, pages
from clickstream.dashboard.spec import load
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


def api(lake: tuple[Settings, Traffic, Path], path: str, params: dict) -> tuple[int, dict]:
    settings, _, cache = lake
    query = urlencode(
        {k: ",".join(v) if isinstance(v, list) else str(v).lower() if isinstance(v, bool) else v for k, v in params.items()}
    )
    status, _, body = pages(settings, cache_dir=cache)["/dashboard"]("GET", path, query)
    return status, json.loads(body)


def test_every_panel_matches_the_traffic_plan_with_and_without_bots(lake):
    spec, traffic = load(), lake[1]
    for include_bots in (False, True):
        params = filters(traffic, include_bots)
        status, body = api(lake, "/dashboard/api/panels", params)
        assert status == 200, body
        assert_same_panels(body["panels"], expected_panels(spec, traffic, params))
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
        table = run(dataset, filters(traffic))
        assert table.column_names == list(dataset.columns), dataset.name
        for column, declared in dataset.columns.items():
            assert table.schema.field(column).type in compatible[declared], (
                f"{dataset.name}.{column}: {table.schema.field(column).type} is not {declared}"
            )
        assert ARROW[declared] in compatible[declared]
