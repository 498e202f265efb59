"""`clickstream quicksight deploy` against botocore's Stubber: the exact calls, in order.

The client is a real botocore client with parameter validation on (its default), so every
request is checked against the QuickSight service model before the Stubber compares it with
the expected parameters; every stubbed response is checked against the output shapes too.
Moto implements only part of QuickSight (tests/unit/test_quicksight_moto.py), so the
describe-compare-update logic is proven here.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from chalicelib.errors import TerminalError, TransientError
from clickstream.dashboard import quicksight_requests as qs
from clickstream.dashboard.spec import Spec, load
from clickstream.quicksight import PUBLISH_OPTIONS, Deployer

ACCOUNT = "123456789012"
REGION = "us-east-1"
PRINCIPAL = f"arn:aws:quicksight:{REGION}:{ACCOUNT}:user/default/analyst"
STAGE, WORKGROUP, DATABASE = "prod", "clickstream-prod", "clickstream_prod"
NAMES = qs.Names("clickstream", STAGE)
TITLE = "Clickstream (prod)"
TAGS = [{"Key": "clickstream:stage", "Value": STAGE}]


def arn(kind: str, rid: str) -> str:
    return f"arn:aws:quicksight:{REGION}:{ACCOUNT}:{kind}/{rid}"


@pytest.fixture
def spec() -> Spec:
    return load()


@pytest.fixture
def client() -> Any:
    c = boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="x").client("quicksight", region_name=REGION)
    assert c.meta.config.parameter_validation is True  # botocore's default: requests are validated client-side
    return c


class Script:
    """The calls a deploy must make, queued on a Stubber in order."""

    def __init__(self, client: Any) -> None:
        self.stub = Stubber(client)

    def ok(self, op: str, params: dict[str, Any], response: dict[str, Any] | None = None) -> None:
        self.stub.add_response(op, {"Status": 200, "RequestId": "r", **(response or {})}, {"AwsAccountId": ACCOUNT, **params})

    def missing(self, op: str, params: dict[str, Any]) -> None:
        self.stub.add_client_error(
            op, "ResourceNotFoundException", "not found", 404, expected_params={"AwsAccountId": ACCOUNT, **params}
        )


def data_sets(spec: Spec) -> dict[str, dict[str, Any]]:
    source = arn("datasource", NAMES.data_source)
    return {d.name: qs.data_set_request(spec, d, NAMES, source, DATABASE) for d in spec.used_datasets()}


def definition(spec: Spec) -> dict[str, Any]:
    return qs.definition(spec, {n: arn("dataset", r["DataSetId"]) for n, r in data_sets(spec).items()})


def script_existing(
    s: Script, spec: Spec, *, perms: bool = True, stale_sql: str | None = None, stale_title: bool = False
) -> None:
    """Describes answered with what a previous deploy left: optionally one dataset's SQL or the
    dashboard's definition out of date, or the principal's dashboard permissions missing."""
    src = qs.data_source_request(NAMES, WORKGROUP)
    ds = {"Arn": arn("datasource", NAMES.data_source), "Status": "CREATION_SUCCESSFUL", **src}
    s.ok("describe_data_source", {"DataSourceId": NAMES.data_source}, {"DataSource": ds})
    s.ok(
        "describe_data_source_permissions",
        {"DataSourceId": NAMES.data_source},
        {"Permissions": qs.permissions(PRINCIPAL, "data_source")},
    )
    for name, req in data_sets(spec).items():
        have = {**req, "Arn": arn("dataset", req["DataSetId"]), "ConsumedSpiceCapacityInBytes": 0}
        if name == stale_sql:
            have["PhysicalTableMap"] = {
                "sql": {"CustomSql": {**req["PhysicalTableMap"]["sql"]["CustomSql"], "SqlQuery": "SELECT 1"}}
            }
        s.ok("describe_data_set", {"DataSetId": req["DataSetId"]}, {"DataSet": have})
        if name == stale_sql:
            s.ok("update_data_set", req, {"Arn": have["Arn"], "DataSetId": req["DataSetId"]})
        s.ok(
            "describe_data_set_permissions",
            {"DataSetId": req["DataSetId"]},
            {"Permissions": qs.permissions(PRINCIPAL, "data_set")},
        )
    current = definition(spec)
    s.ok(
        "describe_analysis_definition",
        {"AnalysisId": NAMES.analysis},
        {"AnalysisId": NAMES.analysis, "Name": TITLE, "Definition": current, "ResourceStatus": "CREATION_SUCCESSFUL"},
    )
    s.ok("describe_analysis_permissions", {"AnalysisId": NAMES.analysis}, {"Permissions": qs.permissions(PRINCIPAL, "analysis")})
    old = definition(spec)
    if stale_title:
        old["Sheets"][0]["Visuals"][0]["KPIVisual"]["Title"]["FormatText"]["PlainText"] = "Old title"
    s.ok(
        "describe_dashboard_definition",
        {"DashboardId": NAMES.dashboard},
        {
            "DashboardId": NAMES.dashboard,
            "Name": TITLE,
            "Definition": old,
            "DashboardPublishOptions": PUBLISH_OPTIONS,
            "ResourceStatus": "CREATION_SUCCESSFUL",
        },
    )
    if stale_title:
        body = {
            "DashboardId": NAMES.dashboard,
            "Name": TITLE,
            "Definition": current,
            "DashboardPublishOptions": PUBLISH_OPTIONS,
            "VersionDescription": "clickstream quicksight deploy",
        }
        s.ok(
            "update_dashboard",
            body,
            {
                "DashboardId": NAMES.dashboard,
                "VersionArn": arn("dashboard", NAMES.dashboard) + "/version/7",
                "CreationStatus": "CREATION_IN_PROGRESS",
            },
        )
        s.ok(
            "describe_dashboard",
            {"DashboardId": NAMES.dashboard, "VersionNumber": 7},
            {"Dashboard": {"DashboardId": NAMES.dashboard, "Version": {"VersionNumber": 7, "Status": "CREATION_SUCCESSFUL"}}},
        )
        s.ok(
            "update_dashboard_published_version",
            {"DashboardId": NAMES.dashboard, "VersionNumber": 7},
            {"DashboardId": NAMES.dashboard},
        )
    s.ok(
        "describe_dashboard_permissions",
        {"DashboardId": NAMES.dashboard},
        {"Permissions": qs.permissions(PRINCIPAL, "dashboard") if perms else []},
    )
    if not perms:
        s.ok(
            "update_dashboard_permissions",
            {"DashboardId": NAMES.dashboard, "GrantPermissions": qs.permissions(PRINCIPAL, "dashboard")},
            {"DashboardId": NAMES.dashboard},
        )


def script_analysis_created(s: Script, spec: Spec) -> None:
    """The analysis is missing, so the deployer creates it with the principal as owner."""
    s.missing("describe_analysis_definition", {"AnalysisId": NAMES.analysis})
    s.ok(
        "create_analysis",
        {
            "AnalysisId": NAMES.analysis,
            "Name": TITLE,
            "Definition": definition(spec),
            "Permissions": qs.permissions(PRINCIPAL, "analysis"),
            "Tags": TAGS,
        },
        {"AnalysisId": NAMES.analysis},
    )


def deployer(client: Any, **kw: Any) -> Deployer:
    return Deployer(client, ACCOUNT, PRINCIPAL, REGION, sleep=lambda s: None, **kw)


def test_first_deploy_creates_everything_with_the_principal_as_owner(client, spec):
    s = Script(client)
    src = qs.data_source_request(NAMES, WORKGROUP)
    s.missing("describe_data_source", {"DataSourceId": NAMES.data_source})
    s.ok(
        "create_data_source",
        {**src, "Permissions": qs.permissions(PRINCIPAL, "data_source"), "Tags": TAGS},
        {"Arn": arn("datasource", NAMES.data_source), "CreationStatus": "CREATION_IN_PROGRESS"},
    )
    for status in ("CREATION_IN_PROGRESS", "CREATION_SUCCESSFUL"):  # waits for the asynchronous build
        s.ok(
            "describe_data_source",
            {"DataSourceId": NAMES.data_source},
            {"DataSource": {"DataSourceId": NAMES.data_source, "Status": status}},
        )
    for req in data_sets(spec).values():
        s.missing("describe_data_set", {"DataSetId": req["DataSetId"]})
        s.ok(
            "create_data_set",
            {**req, "Permissions": qs.permissions(PRINCIPAL, "data_set"), "Tags": TAGS},
            {"Arn": arn("dataset", req["DataSetId"]), "DataSetId": req["DataSetId"]},
        )
    script_analysis_created(s, spec)
    s.ok(
        "describe_analysis",
        {"AnalysisId": NAMES.analysis},
        {"Analysis": {"AnalysisId": NAMES.analysis, "Status": "CREATION_SUCCESSFUL"}},
    )
    s.missing("describe_dashboard_definition", {"DashboardId": NAMES.dashboard})
    s.ok(
        "create_dashboard",
        {
            "DashboardId": NAMES.dashboard,
            "Name": TITLE,
            "Definition": definition(spec),
            "DashboardPublishOptions": PUBLISH_OPTIONS,
            "VersionDescription": "clickstream quicksight deploy",
            "Permissions": qs.permissions(PRINCIPAL, "dashboard"),
            "Tags": TAGS,
        },
        {"DashboardId": NAMES.dashboard, "VersionArn": arn("dashboard", NAMES.dashboard) + "/version/1"},
    )
    s.ok(
        "describe_dashboard",
        {"DashboardId": NAMES.dashboard, "VersionNumber": 1},
        {"Dashboard": {"DashboardId": NAMES.dashboard, "Version": {"VersionNumber": 1, "Status": "CREATION_SUCCESSFUL"}}},
    )
    with s.stub:
        changes = deployer(client).deploy(spec, STAGE, WORKGROUP, DATABASE)
        s.stub.assert_no_pending_responses()
    assert [c[0] for c in changes] == ["data_source"] + ["data_set"] * len(spec.used_datasets()) + ["analysis", "dashboard"]
    assert {c[2] for c in changes} == {"created"}


def test_a_second_deploy_describes_compares_and_changes_nothing(client, spec):
    s = Script(client)
    script_existing(s, spec)
    with s.stub:
        assert deployer(client).deploy(spec, STAGE, WORKGROUP, DATABASE) == []
        s.stub.assert_no_pending_responses()


def test_only_what_differs_is_updated_and_the_new_dashboard_version_is_published(client, spec):
    # GIVEN a deployed stage where one dataset's SQL, the dashboard and its permissions are out of date
    s = Script(client)
    script_existing(s, spec, perms=False, stale_sql="top_pages", stale_title=True)
    # WHEN deploying again THEN exactly those are updated (the Stubber fails on any other call)
    with s.stub:
        changes = deployer(client).deploy(spec, STAGE, WORKGROUP, DATABASE)
        s.stub.assert_no_pending_responses()
    assert changes == [
        ("data_set", NAMES.data_set("top_pages"), "updated"),
        ("dashboard", NAMES.dashboard, "updated"),
        ("dashboard", NAMES.dashboard, "published version 7"),
        ("dashboard", NAMES.dashboard, "granted"),
    ]


def test_dry_run_only_describes(client, spec):
    s = Script(client)
    s.missing("describe_data_source", {"DataSourceId": NAMES.data_source})
    for req in data_sets(spec).values():
        s.missing("describe_data_set", {"DataSetId": req["DataSetId"]})
    s.missing("describe_analysis_definition", {"AnalysisId": NAMES.analysis})
    s.missing("describe_dashboard_definition", {"DashboardId": NAMES.dashboard})
    with s.stub:
        changes = deployer(client, dry_run=True).deploy(spec, STAGE, WORKGROUP, DATABASE)
        s.stub.assert_no_pending_responses()
    assert {c[2] for c in changes} == {"would be created"} and len(changes) == len(spec.used_datasets()) + 3


def test_a_failed_analysis_build_stops_the_deploy_with_quicksights_errors(client, spec):
    d = deployer(client)
    s = Script(client)
    script_analysis_created(s, spec)
    s.ok(
        "describe_analysis",
        {"AnalysisId": NAMES.analysis},
        {
            "Analysis": {
                "AnalysisId": NAMES.analysis,
                "Status": "CREATION_FAILED",
                "Errors": [{"Type": "COLUMN_TYPE_MISMATCH", "Message": "day"}],
            }
        },
    )
    with s.stub, pytest.raises(TerminalError, match="CREATION_FAILED.*COLUMN_TYPE_MISMATCH: day"):
        d.analysis(NAMES, TITLE, definition(spec))


def test_throttling_is_transient_and_access_denied_terminal(client):
    s = Script(client)
    params = {"AwsAccountId": ACCOUNT, "DataSourceId": NAMES.data_source}
    s.stub.add_client_error("describe_data_source", "ThrottlingException", "slow down", 429, expected_params=params)
    s.stub.add_client_error("describe_data_source", "AccessDeniedException", "no", 403, expected_params=params)
    with s.stub:
        with pytest.raises(TransientError, match="ThrottlingException"):
            deployer(client).data_source(NAMES, WORKGROUP)
        with pytest.raises(TerminalError, match="AccessDeniedException"):
            deployer(client).data_source(NAMES, WORKGROUP)
