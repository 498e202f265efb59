"""The QuickSight requests built from quicksight/dashboard.yaml, without any client.

botocore validates types and required members; QuickSight also rejects values outside an
enum or a pattern (ids, parameter names), which botocore leaves to the service, so these
tests check those against the model too (tests/quicksight_helpers.py).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlglot

from chalicelib.errors import ConfigError
from chalicelib.export import rollups
from clickstream.dashboard import quicksight_requests as qs
from clickstream.dashboard.spec import Spec, load, parse
from tests.quicksight_helpers import strict_errors

ACCOUNT = "123456789012"
NAMES = qs.Names("clickstream", "prod")
SOURCE = f"arn:aws:quicksight:us-east-1:{ACCOUNT}:datasource/{NAMES.data_source}"


@pytest.fixture(scope="module")
def spec() -> Spec:
    return load()


def data_sets(spec: Spec) -> dict[str, dict[str, Any]]:
    return {d.name: qs.data_set_request(spec, d, NAMES, SOURCE, "clickstream_prod") for d in spec.used_datasets()}


def definition(spec: Spec) -> dict[str, Any]:
    return qs.definition(
        spec, {n: f"arn:aws:quicksight:us-east-1:{ACCOUNT}:dataset/{r['DataSetId']}" for n, r in data_sets(spec).items()}
    )


def test_every_request_fits_the_service_model_including_enums_and_patterns(spec):
    requests = [("CreateDataSource", qs.data_source_request(NAMES, "clickstream-prod"))]
    requests += [("CreateDataSet", r) for r in data_sets(spec).values()]
    requests += [("UpdateDataSet", r) for r in data_sets(spec).values()]
    requests += [
        (
            op,
            {
                "AnalysisId" if "Analysis" in op else "DashboardId": "clickstream-prod",
                "Name": "Clickstream (prod)",
                "Definition": definition(spec),
            },
        )
        for op in ("CreateAnalysis", "UpdateAnalysis", "CreateDashboard", "UpdateDashboard")
    ]
    requests += [
        (
            "UpdateDashboardPermissions",
            {
                "DashboardId": "d",
                "GrantPermissions": qs.permissions("arn:aws:quicksight:us-east-1:1:user/default/a", "dashboard"),
            },
        )
    ]
    for operation, params in requests:
        assert strict_errors(operation, {"AwsAccountId": ACCOUNT, **params}) == [], operation


def test_the_strict_check_catches_what_botocore_lets_through():
    bad = {
        "AwsAccountId": ACCOUNT,
        "DataSetId": "x",
        "Name": "x",
        "PhysicalTableMap": {},
        "ImportMode": "DIRECT",
        "DatasetParameters": [{"StringDatasetParameter": {"Id": "app_id", "Name": "app_id", "ValueType": "SINGLE_VALUED"}}],
    }
    errors = "\n".join(strict_errors("CreateDataSet", bad))
    assert "'DIRECT' not in" in errors and "'app_id' does not match" in errors


def test_dataset_sql_is_athena_with_qualified_tables_and_quicksight_parameters(spec):
    for name, request in data_sets(spec).items():
        sql = request["PhysicalTableMap"]["sql"]["CustomSql"]["SqlQuery"]
        assert qs.placeholders(sql) == [], f"{name}: a :named parameter is left"
        used = set(re.findall(r"<<\$(\w+)>>", sql))
        declared = {next(iter(p.values()))["Name"] for p in request.get("DatasetParameters", [])}
        assert used == declared, name
        # With literals where QuickSight puts them, Athena's dialect parses it.
        literal = re.sub(r"<<\$\w+>>", "'2025-01-01'", sql)
        tree = sqlglot.parse_one(literal, read="athena")
        ctes = {c.alias_or_name for c in tree.find_all(sqlglot.exp.CTE)}
        for table in tree.find_all(sqlglot.exp.Table):
            assert table.name in ctes or table.db == "clickstream_prod", f"{name}: {table.sql()} is not qualified"


def test_datasets_read_the_rollups_through_the_published_state_never_a_literal(spec):
    """rolled_through is the export's, not a filter: each use in a dataset's SQL is the subquery
    over the app's rollup_state files (chalicelib/export/rollups.py), which falls back to raw
    events when there is none; no dataset binds a fixed day."""
    subquery = qs.rolled_through_sql("clickstream_prod")
    assert "clickstream_prod.rollup_state WHERE app_id = <<$appId>> AND" in subquery and "'0001-01-01'" in subquery
    assert subquery.count(f"'{rollups.STATE_TAG}'") == 2  # trusts only a state of its own set of rollups
    rolled = 0
    months = qs.rolled_through_sql("clickstream_prod", "months_through")
    assert "months_through" in months and months != subquery
    for dataset in spec.used_datasets():
        names = [n for _, _, n in qs.placeholder_spans(dataset.sql())]
        uses = names.count("rolled_through")
        sql = data_sets(spec)[dataset.name]["PhysicalTableMap"]["sql"]["CustomSql"]["SqlQuery"]
        assert sql.count(subquery) == uses, dataset.name
        assert sql.count(months) == names.count("months_through"), dataset.name
        # (funnel.sql's own '0001-01-01', for ad-hoc steps, is in the file: only those may be left)
        left = sql.replace(months, "").replace(subquery, "").count("'0001-01-01'")
        assert left == dataset.sql().count("'0001-01-01'"), f"{dataset.name}: a literal rolled_through is left"
        if uses:
            rolled += 1
            assert "app_id" in qs.placeholders(dataset.sql()), dataset.name
            tree = sqlglot.parse_one(re.sub(r"<<\$\w+>>", "'demo'", sql), read="athena")
            assert "rollup_state" in {t.name for t in tree.find_all(sqlglot.exp.Table)}
    assert rolled >= 10, "the session panels read the rollups"


def test_each_filter_is_one_analysis_parameter_mapped_to_the_datasets_that_use_it(spec):
    d = definition(spec)
    requests = data_sets(spec)
    for declaration in d["ParameterDeclarations"]:
        body = next(iter(declaration.values()))
        mapped = {m["DataSetIdentifier"] for m in body["MappedDataSetParameters"]}
        users = {
            n for n, r in requests.items() if f"<<${body['Name']}>>" in r["PhysicalTableMap"]["sql"]["CustomSql"]["SqlQuery"]
        }
        assert mapped == users and mapped, body["Name"]
    controls = {next(iter(c.values()))["SourceParameterName"] for c in d["Sheets"][0]["ParameterControls"]}
    assert controls == {next(iter(x.values()))["Name"] for x in d["ParameterDeclarations"]}
    assert {"appId", "dateFrom", "dateTo", "includeBots"} <= controls


def test_every_panel_is_one_visual_placed_on_the_grid(spec):
    sheet = definition(spec)["Sheets"][0]
    ids = [next(iter(v.values()))["VisualId"] for v in sheet["Visuals"]]
    assert len(ids) == len(set(ids)) == len(spec.panels)
    assert [e["ElementId"] for e in sheet["Layouts"][0]["Configuration"]["GridLayout"]["Elements"]] == ids


def test_geo_columns_are_tagged_for_the_map(spec):
    tagged = {
        op["TagColumnOperation"]["ColumnName"]: op["TagColumnOperation"]["Tags"][0]["ColumnGeographicRole"]
        for r in data_sets(spec).values()
        for t in r.get("LogicalTableMap", {}).values()
        for op in t["DataTransforms"]
    }
    geo = next(p for p in spec.panels if p.visual == "geo")
    country = next(p for p in spec.panels if p.visual == "filled_map")
    assert tagged == {
        geo.dimensions[0].column: "LATITUDE",
        geo.dimensions[1].column: "LONGITUDE",
        country.dimensions[0].column: "COUNTRY",
    }


def test_kpis_compare_with_the_previous_period_and_rates_in_points(spec):
    kpis = {
        v["KPIVisual"]["VisualId"]: v["KPIVisual"]["ChartConfiguration"]
        for v in qs.definition(spec, {d.name: f"arn:{d.name}" for d in spec.used_datasets()})["Sheets"][0]["Visuals"]
        if "KPIVisual" in v
    }
    assert set(kpis) == {"visitors", "sessions", "page-views", "views-per-session", "bounce-rate", "avg-duration"}
    for vid, conf in kpis.items():
        target = conf["FieldWells"]["TargetValues"][0]["NumericalMeasureField"]["Column"]
        assert target == {
            "DataSetIdentifier": "overview_compare",
            "ColumnName": "prev_" + conf["FieldWells"]["Values"][0]["NumericalMeasureField"]["Column"]["ColumnName"],
        }
        method = conf["KPIOptions"]["Comparison"]["ComparisonMethod"]
        assert method == ("DIFFERENCE" if vid == "bounce-rate" else "PERCENT_DIFFERENCE")


def test_redeploying_builds_identical_requests(spec):
    assert definition(spec) == definition(load.__wrapped__())  # nothing time-dependent (rolling dates are expressions)
    assert data_sets(spec) == data_sets(load.__wrapped__())


@pytest.mark.parametrize(
    "change, message",
    [
        ({"visual": "pie"}, "visual 'pie'"),
        ({"dataset": "nope"}, "dataset 'nope'"),
        ({"measures": [{"column": "nope"}]}, "column 'nope'"),
        ({"measures": [{"column": "path", "agg": "sum"}]}, "cannot sum the string column 'path'"),
        ({"dimensions": []}, "a bar takes 1-1 dimensions"),
    ],
)
def test_spec_mistakes_fail_at_load_with_the_panel_named(change, message):
    raw = {
        "datasets": {"top": {"query": "top", "columns": {"path": "string", "views": "integer"}}},
        "panels": [{"id": "top", "visual": "bar", "dataset": "top", "dimensions": ["path"], "measures": ["views"], **change}],
    }
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse(raw)
