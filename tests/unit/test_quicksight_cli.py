"""`clickstream quicksight deploy` as a command: options, output, and errors as one line."""

from __future__ import annotations

import boto3
import click
from botocore.stub import Stubber
from click.testing import CliRunner

from clickstream.cli import Group
from clickstream.dashboard import quicksight_requests as qs
from clickstream.dashboard.spec import load
from clickstream.quicksight import quicksight

ACCOUNT = "123456789012"
ENV = {
    "CLICKSTREAM_TABLE": "t",
    "CLICKSTREAM_BUCKET": "b",
    "CLICKSTREAM_GLUE_DATABASE": "clickstream_prod",
    "CLICKSTREAM_LAKE_PREFIX": "lake",
    "AWS_REGION": "eu-west-1",
}  # as the stack outputs would give them
ARGS = [
    "quicksight",
    "deploy",
    "--stage",
    "prod",
    "--principal",
    f"arn:aws:quicksight:eu-west-1:{ACCOUNT}:group/default/analysts",
]
cli = Group(commands={"quicksight": quicksight})  # what clickstream.cli.main adds it to


def client() -> tuple[object, Stubber]:
    c = boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="x").client("quicksight", region_name="eu-west-1")
    return c, Stubber(c)


def test_dry_run_lists_what_would_be_created_in_the_stage_region():
    c, stub = client()
    names = qs.Names("clickstream", "prod")
    key = {"AwsAccountId": ACCOUNT}
    stub.add_client_error(
        "describe_data_source",
        "ResourceNotFoundException",
        http_status_code=404,
        expected_params={**key, "DataSourceId": names.data_source},
    )
    for d in load().used_datasets():
        stub.add_client_error(
            "describe_data_set",
            "ResourceNotFoundException",
            http_status_code=404,
            expected_params={**key, "DataSetId": names.data_set(d.name)},
        )
    stub.add_client_error(
        "describe_analysis_definition",
        "ResourceNotFoundException",
        http_status_code=404,
        expected_params={**key, "AnalysisId": names.analysis},
    )
    stub.add_client_error(
        "describe_dashboard_definition",
        "ResourceNotFoundException",
        http_status_code=404,
        expected_params={**key, "DashboardId": names.dashboard},
    )
    with stub:
        result = CliRunner().invoke(cli, [*ARGS, "--dry-run"], env=ENV, obj={"quicksight": c, "account": ACCOUNT})
    assert result.exit_code == 0, result.output
    assert "data_source  clickstream-prod-athena" in result.output and "would be created" in result.output
    assert result.output.count("would be created") == len(load().used_datasets()) + 3


def test_an_aws_refusal_is_one_line_and_exit_code_2():
    c, stub = client()
    stub.add_client_error("describe_data_source", "AccessDeniedException", "User is not authorized to DescribeDataSource", 403)
    with stub:
        result = CliRunner().invoke(cli, ARGS, env=ENV, obj={"quicksight": c, "account": ACCOUNT})
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "error: QuickSight describe_data_source failed (AccessDeniedException): User is not authorized to DescribeDataSource"
    ]


def test_principal_and_stage_are_required():
    result = CliRunner().invoke(cli, ["quicksight", "deploy", "--stage", "prod"], env=ENV)
    assert result.exit_code == 2 and "--principal" in result.output
    assert isinstance(quicksight, click.Group) and "deploy" in quicksight.commands
