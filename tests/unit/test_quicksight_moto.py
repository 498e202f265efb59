"""`clickstream quicksight deploy` against moto, for the QuickSight operations moto implements.

Moto 5 has data sources (create/describe/update/list), CreateDataSet (without Describe),
and dashboards (create/describe/list) but no analyses, no dataset describe/update and no
permissions APIs: those go to a botocore Stubber on a second client. Both clients validate
every request against the service model (botocore's parameter_validation, on by default).
"""

from __future__ import annotations

from typing import Any, Iterator

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws
from moto.quicksight.models import quicksight_backends

from clickstream.dashboard import quicksight_requests as qs
from clickstream.dashboard.spec import Spec, load
from clickstream.quicksight import Deployer

REGION = "us-east-1"
MOTO_OPS = {
    "create_data_source",
    "describe_data_source",
    "update_data_source",
    "create_data_set",
    "create_dashboard",
    "describe_dashboard",
}
NAMES = qs.Names("clickstream", "prod")


class Routed:
    """One client for the deployer: moto where moto implements the operation, else the Stubber."""

    def __init__(self, moto: Any, stubbed: Any) -> None:
        self.moto, self.stubbed = moto, stubbed

    def __getattr__(self, operation: str) -> Any:
        return getattr(self.moto if operation in MOTO_OPS else self.stubbed, operation)


@pytest.fixture
def aws() -> Iterator[tuple[Routed, Stubber, str]]:
    with mock_aws():
        session = boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name=REGION)
        account = session.client("sts").get_caller_identity()["Account"]
        moto_client, stubbed = session.client("quicksight"), session.client("quicksight")
        assert moto_client.meta.config.parameter_validation and stubbed.meta.config.parameter_validation
        stub = Stubber(stubbed)
        with stub:
            yield Routed(moto_client, stub.client), stub, account
            stub.assert_no_pending_responses()


def principal(account: str) -> str:
    return f"arn:aws:quicksight:{REGION}:{account}:group/default/analysts"


def test_data_source_is_created_left_alone_then_updated_in_moto(aws):
    client, stub, account = aws
    d = Deployer(client, account, principal(account), REGION, sleep=lambda s: None)
    perms = {"Status": 200, "Permissions": qs.permissions(principal(account), "data_source")}
    key = {"AwsAccountId": account, "DataSourceId": NAMES.data_source}

    arn = d.data_source(NAMES, "clickstream-prod")  # created
    stub.add_response("describe_data_source_permissions", perms, key)
    assert d.data_source(NAMES, "clickstream-prod") == arn  # unchanged
    stub.add_response("describe_data_source_permissions", perms, key)
    d.data_source(NAMES, "other-workgroup")  # updated

    stored = client.describe_data_source(**key)["DataSource"]
    assert stored["Type"] == "ATHENA" and stored["DataSourceParameters"] == {"AthenaParameters": {"WorkGroup": "other-workgroup"}}
    assert d.changes == [("data_source", NAMES.data_source, "created"), ("data_source", NAMES.data_source, "updated")]


def test_first_deploy_leaves_the_data_source_datasets_and_dashboard_in_moto(aws):
    client, stub, account = aws
    spec: Spec = load()
    key = {"AwsAccountId": account}
    for d in spec.used_datasets():
        stub.add_client_error(
            "describe_data_set",
            "ResourceNotFoundException",
            http_status_code=404,
            expected_params={**key, "DataSetId": NAMES.data_set(d.name)},
        )
    stub.add_client_error(
        "describe_analysis_definition",
        "ResourceNotFoundException",
        http_status_code=404,
        expected_params={**key, "AnalysisId": NAMES.analysis},
    )
    moto_arns = {d.name: f"arn:aws:quicksight:{REGION}:{account}:data-set/{NAMES.data_set(d.name)}" for d in spec.used_datasets()}
    stub.add_response(
        "create_analysis",
        {"Status": 202, "AnalysisId": NAMES.analysis},
        {
            **key,
            "AnalysisId": NAMES.analysis,
            "Name": "Clickstream (prod)",
            "Definition": qs.definition(spec, moto_arns),
            "Permissions": qs.permissions(principal(account), "analysis"),
            "Tags": [{"Key": "clickstream:stage", "Value": "prod"}],
        },
    )
    stub.add_response(
        "describe_analysis", {"Status": 200, "Analysis": {"Status": "CREATION_SUCCESSFUL"}}, {**key, "AnalysisId": NAMES.analysis}
    )
    stub.add_client_error(
        "describe_dashboard_definition",
        "ResourceNotFoundException",
        http_status_code=404,
        expected_params={**key, "DashboardId": NAMES.dashboard},
    )

    changes = Deployer(client, account, principal(account), REGION, sleep=lambda s: None).deploy(
        spec, "prod", "clickstream-prod", "clickstream_prod"
    )

    backend = quicksight_backends[account][REGION]
    assert set(backend.data_sources) == {NAMES.data_source}
    assert set(backend.data_sets) == {NAMES.data_set(d.name) for d in spec.used_datasets()}
    dashboard = backend.dashboards[NAMES.dashboard]
    declared = {d["Identifier"]: d["DataSetArn"] for d in dashboard.definition["DataSetIdentifierDeclarations"]}
    assert declared == {d.name: backend.data_sets[NAMES.data_set(d.name)].arn for d in spec.used_datasets()}
    assert dashboard.permissions == qs.permissions(principal(account), "dashboard")
    assert len(changes) == len(spec.used_datasets()) + 3
