"""The deploy template (issue 6): deploy/resources.yaml on its own, and the template
`chalice package --merge-template` builds from it, offline.

The packaged tests need app.py; they skip only when it does not exist.
"""

from __future__ import annotations

import json
import re
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from chalice.package import YAMLTemplateSerializer

from chalicelib.lake import rollup
from chalicelib.settings import ENV_VARS
from deploy.cloudformation import change_set_parameters, retained_resources, with_code_uri
from deploy.package import (
    APP_DIR,
    FUNCTIONS,
    LAYERS_FILE,
    MERGE_TEMPLATE,
    MISSING_FUNCTIONS_HINT,
    Package,
    chalice_package,
    lint,
    missing_functions,
    summarize_zip,
)

# Read by the export functions on top of chalicelib.settings.ENV_VARS.
EXPORT_EXTRAS = {"CLICKSTREAM_EXPORT_WORKER_FUNCTION", "CLICKSTREAM_METRICS_NAMESPACE"}
LOCAL_ONLY = {"CLICKSTREAM_DYNAMODB_ENDPOINT", "CLICKSTREAM_S3_ENDPOINT"}
LAMBDA_RUNTIME = {"AWS_REGION", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"}  # set by Lambda itself
FROM_TEMPLATE = {  # deploy-time names: must be references to the stack, never literals
    "CLICKSTREAM_TABLE": {"Ref": "EventTable"},
    "CLICKSTREAM_BUCKET": {"Ref": "LakeBucket"},
    "CLICKSTREAM_LAKE_PREFIX": {"Ref": "LakePrefix"},
    "CLICKSTREAM_GLUE_DATABASE": {"Ref": "GlueDatabase"},
    "CLICKSTREAM_METRICS_NAMESPACE": {"Ref": "MetricsNamespace"},
    "CLICKSTREAM_EXPORT_WORKER_FUNCTION": {"Fn::Sub": "${AWS::StackName}-export-worker"},
}
EVENT_COLUMNS = [
    "event_id:string",
    "event_type:string",
    "event_name:string",
    "event_time:timestamp",
    "received_at:timestamp",
    "client_timestamp:timestamp",
    "sent_at:timestamp",
    "anonymous_id:string",
    "user_id:string",
    "session_id:string",
    "url:string",
    "path:string",
    "referrer:string",
    "referrer_host:string",
    "title:string",
    "utm_source:string",
    "utm_medium:string",
    "utm_campaign:string",
    "utm_term:string",
    "utm_content:string",
    "ip:string",
    "user_agent:string",
    "browser:string",
    "browser_version:string",
    "os:string",
    "os_version:string",
    "device_type:string",
    "is_bot:boolean",
    "bot_reason:string",
    "country:string",
    "locale:string",
    "timezone:string",
    "screen_width:int",
    "screen_height:int",
    "geo_lat:double",
    "geo_lon:double",
    "geo_accuracy:double",
    "properties:string",
    "context:string",
]
REJECTED_COLUMNS = ["received_at:timestamp", "reason:string", "error:string", "event_index:int", "raw:string"]


def _glue(schema: Any) -> list[str]:
    """A rollup table's Arrow schema as Glue columns (app_id is the partition key)."""
    import pyarrow as pa

    def kind(t: Any) -> str:
        return (
            "timestamp"
            if pa.types.is_timestamp(t)
            else {pa.string(): "string", pa.float64(): "double", pa.int64(): "bigint", pa.bool_(): "boolean"}[t]
        )

    return [f"{f.name}:{kind(f.type)}" for f in schema if f.name != "app_id"]


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def merge() -> dict[str, Any]:
    """deploy/resources.yaml read the way `chalice package` reads it (short tags -> long form)."""
    return YAMLTemplateSerializer().load_template(MERGE_TEMPLATE.read_text(), str(MERGE_TEMPLATE))


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Package:
    if not (APP_DIR / "app.py").exists():
        pytest.skip("app.py does not exist yet: there is no app to package")
    return chalice_package("prod", tmp_path_factory.mktemp("package") / "prod")


@pytest.fixture(scope="module")
def packaged(package: Package) -> dict[str, Any]:
    template = package.template()
    if missing := missing_functions(template):
        pytest.fail(f"chalice generated no {missing}; {MISSING_FUNCTIONS_HINT}")
    return template


def resource(template: dict[str, Any], logical: str) -> dict[str, Any]:
    return template["Resources"][logical]


def props(template: dict[str, Any], logical: str) -> dict[str, Any]:
    return resource(template, logical)["Properties"]


# ------------------------------------------------------------------ packaged template
def test_packaged_template_passes_cfn_lint(package: Package, packaged: dict[str, Any]) -> None:
    assert lint(package.template_path) == []


def test_api_package_stays_small(package: Package) -> None:
    import zipfile

    with zipfile.ZipFile(package.zip_path) as z:
        heavy = {n.split("/")[0] for n in z.namelist() if n.startswith(("pandas/", "pyarrow/", "numpy/", "awswrangler/"))}
    assert not heavy, f"{sorted(heavy)} belong in the AWS SDK for pandas layer, not in requirements.txt"
    summary = summarize_zip(package.zip_path)
    assert summary.compressed_bytes < 10 * 2**20, summary.describe()


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_every_setting_a_function_reads_is_provided(packaged: dict[str, Any], function: str) -> None:
    logical, _ = FUNCTIONS[function]
    provided = props(packaged, logical)["Environment"]["Variables"]
    reads = {var for var, _default in ENV_VARS.values()} - LAMBDA_RUNTIME - LOCAL_ONLY
    if function != "api_handler":
        reads |= EXPORT_EXTRAS
    missing = sorted(reads - set(provided))
    assert not missing, (
        f"{function} reads {missing} but the template does not set them: add them to "
        ".chalice/config.json environment_variables or deploy/resources.yaml"
    )
    assert not LOCAL_ONLY & set(provided), "local endpoints must never reach AWS"
    for var, value in FROM_TEMPLATE.items():
        assert provided.get(var) == value, f"{function}: {var} must come from the stack, got {provided.get(var)!r}"
    assert provided["CLICKSTREAM_STAGE"] == "prod"


def test_export_functions_get_the_pandas_layer_and_the_api_does_not(packaged: dict[str, Any]) -> None:
    assert props(packaged, "ExportEvents")["Layers"] == [{"Ref": "PandasLayerArn"}]
    assert props(packaged, "ExportWorker")["Layers"] == [{"Ref": "PandasLayerArn"}]
    assert "Layers" not in props(packaged, "APIHandler")


def test_the_export_has_the_ephemeral_storage_a_large_days_rollup_rebuild_spills(packaged: dict[str, Any]) -> None:
    """The rebuild spills ~58 bytes an event of the day to /tmp (chalicelib/lake/spill.py): a
    day of 33 million events (a billion a month) needs ~1.9 GB; Lambda's default is 512 MB."""
    assert props(packaged, "ExportEvents")["EphemeralStorage"]["Size"] >= 2 * 33_000_000 * 58 / 2**20
    assert "EphemeralStorage" not in props(packaged, "APIHandler")


def test_functions_have_fixed_names_and_their_own_log_groups(packaged: dict[str, Any]) -> None:
    for logical, suffix in (("APIHandler", "api"), ("ExportEvents", "export"), ("ExportWorker", "export-worker")):
        assert props(packaged, logical)["FunctionName"] == {"Fn::Sub": f"${{AWS::StackName}}-{suffix}"}
        group = resource(packaged, logical)["DependsOn"]
        assert props(packaged, group)["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/${{AWS::StackName}}-{suffix}"}


def test_the_export_runs_on_the_stages_schedule(packaged: dict[str, Any]) -> None:
    events = props(packaged, "ExportEvents")["Events"]
    assert [e["Type"] for e in events.values()] == ["Schedule"]
    assert [e["Properties"]["Schedule"] for e in events.values()] == ["rate(5 minutes)"]


def test_each_stage_takes_its_schedule_from_the_chalice_config() -> None:
    from deploy.package import stage_schedule_minutes

    assert (stage_schedule_minutes("prod"), stage_schedule_minutes("local")) == ("5", "1")


def test_deployed_template_points_every_function_at_the_uploaded_zip(packaged: dict[str, Any]) -> None:
    deployed = with_code_uri(packaged, "s3://artifacts/clickstream-prod/abc.zip")
    for logical, _ in FUNCTIONS.values():
        assert props(deployed, logical)["CodeUri"] == "s3://artifacts/clickstream-prod/abc.zip"
    assert props(packaged, "APIHandler")["CodeUri"] == "./deployment.zip"  # input untouched
    json.dumps(deployed)  # JSON: CloudFormation rejects the YAML aliases chalice writes


# ------------------------------------------------------------------ the merge template alone
def test_table_is_on_demand_with_ttl_pitr_and_encryption(merge: dict[str, Any]) -> None:
    table = resource(merge, "EventTable")
    p = table["Properties"]
    assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"
    assert p["BillingMode"] == "PAY_PER_REQUEST"
    assert p["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}]
    assert "GlobalSecondaryIndexes" not in p
    assert p["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert p["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert p["SSESpecification"]["SSEEnabled"] is True


def test_lake_bucket_is_private_encrypted_tls_only_and_archives(merge: dict[str, Any]) -> None:
    bucket = resource(merge, "LakeBucket")
    p = bucket["Properties"]
    assert bucket["DeletionPolicy"] == "Retain"
    assert p["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert all(p["PublicAccessBlockConfiguration"].values()) and len(p["PublicAccessBlockConfiguration"]) == 4
    rules = {r["Id"]: r for r in p["LifecycleConfiguration"]["Rules"]}
    assert rules["abort-incomplete-multipart-uploads"]["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] >= 1
    for rule in ("archive-events", "archive-rejected-events"):
        assert rules[rule]["Transitions"] == [
            {"StorageClass": {"Ref": "ArchiveStorageClass"}, "TransitionInDays": {"Ref": "ArchiveAfterDays"}}
        ]
    assert merge["Parameters"]["ArchiveAfterDays"]["Default"] == 90
    [deny] = props(merge, "LakeBucketPolicy")["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


@pytest.mark.parametrize(
    "logical,name,columns",
    [
        ("EventsGlueTable", "events", EVENT_COLUMNS),
        ("RejectedEventsGlueTable", "rejected_events", REJECTED_COLUMNS),
        *[
            ("".join(w.capitalize() for w in name.split("_")) + "GlueTable", name, _glue(schema))
            for name, schema in rollup.SCHEMAS.items()
        ],
    ],
)
def test_lake_tables_project_their_partitions(merge: dict[str, Any], logical: str, name: str, columns: list[str]) -> None:
    t = props(merge, logical)["TableInput"]
    assert t["Name"] == name
    assert [f"{k['Name']}:{k['Type']}" for k in t["PartitionKeys"]] == ["app_id:string", "dt:string"]
    actual = [f"{c['Name']}:{c['Type']}" for c in t["StorageDescriptor"]["Columns"]]
    assert actual[: len(columns)] == columns  # the lake may add columns at the end, never reorder
    assert "app_id" not in {c.split(":")[0] for c in actual}, "Glue rejects a column named like a partition key"
    params = t["Parameters"]
    assert params["projection.enabled"] == "true"
    assert params["projection.app_id.type"] == "injected"
    assert params["projection.dt.type"] == "date" and params["projection.dt.format"] == "yyyy-MM-dd"
    assert params["storage.location.template"] == {
        "Fn::Sub": f"s3://${{LakeBucket}}/${{LakePrefix}}/{name}/app_id=${{!app_id}}/dt=${{!dt}}/"
    }


def test_athena_workgroup_caps_scans_and_keeps_results_in_the_bucket(merge: dict[str, Any]) -> None:
    c = props(merge, "AthenaWorkGroup")["WorkGroupConfiguration"]
    assert c["EnforceWorkGroupConfiguration"] is True
    assert c["BytesScannedCutoffPerQuery"] == {"Ref": "AthenaBytesScannedCutoff"}
    assert c["ResultConfiguration"]["OutputLocation"] == {"Fn::Sub": "s3://${LakeBucket}/athena-results/"}


def test_alarms_watch_export_lag_api_5xx_rate_and_export_errors(merge: dict[str, Any]) -> None:
    lag = props(merge, "ExportLagAlarm")
    assert (lag["MetricName"], lag["Namespace"]) == ("ExportLagSeconds", {"Ref": "MetricsNamespace"})
    assert merge["Parameters"]["MetricsNamespace"]["Default"] == "Clickstream"
    assert lag["TreatMissingData"] == "breaching"

    def metric_names(alarm: str) -> set[str]:
        return {m["MetricStat"]["Metric"]["MetricName"] for m in props(merge, alarm)["Metrics"] if "MetricStat" in m}

    assert metric_names("Api5xxRateAlarm") == {"5XXError", "Count"}
    assert metric_names("ExportErrorsAlarm") == {"Errors"}
    functions = {
        d["Value"]["Ref"]
        for m in props(merge, "ExportErrorsAlarm")["Metrics"]
        if "MetricStat" in m
        for d in m["MetricStat"]["Metric"]["Dimensions"]
    }
    assert functions == {"ExportEvents", "ExportWorker"}


def test_api_stage_is_throttled_and_named_after_the_stack(merge: dict[str, Any]) -> None:
    p = props(merge, "RestAPI")
    assert p["Name"] == {"Ref": "AWS::StackName"}
    [setting] = p["MethodSettings"]
    assert (setting["ResourcePath"], setting["HttpMethod"]) == ("/*", "*")
    assert setting["ThrottlingRateLimit"] == {"Ref": "ApiThrottleRateLimit"}
    assert setting["ThrottlingBurstLimit"] == {"Ref": "ApiThrottleBurstLimit"}


def test_request_size_limit_is_an_optional_waf_rule(merge: dict[str, Any]) -> None:
    acl = resource(merge, "ApiWebAcl")
    assert acl["Condition"] == "WafEnabled" and merge["Parameters"]["EnableWaf"]["Default"] == "false"
    [rule] = acl["Properties"]["Rules"]
    size = rule["Statement"]["SizeConstraintStatement"]
    assert size["ComparisonOperator"] == "GT" and size["FieldToMatch"]["Body"]["OversizeHandling"] == "MATCH"
    assert "Block" in rule["Action"]


def test_only_stateful_resources_survive_a_destroy(merge: dict[str, Any]) -> None:
    assert retained_resources(merge) == ["EventTable", "LakeBucket"]


def test_stack_outputs_are_what_the_cli_reads(merge: dict[str, Any]) -> None:
    from clickstream.target import STACK_OUTPUTS

    assert set(STACK_OUTPUTS) <= set(merge["Outputs"])


# ------------------------------------------------------------------ deploy helpers
def test_change_set_keeps_previous_values_of_parameters_not_given() -> None:
    declared = {"PandasLayerArn": {}, "AlarmEmail": {"Default": ""}, "LakePrefix": {"Default": "lake"}}
    params = change_set_parameters(declared, {"PandasLayerArn": "arn:x"}, previous={"AlarmEmail"})
    assert params == [
        {"ParameterKey": "AlarmEmail", "UsePreviousValue": True},
        {"ParameterKey": "PandasLayerArn", "ParameterValue": "arn:x"},
    ]


def test_change_set_rejects_unknown_parameters() -> None:
    from deploy.package import DeployError

    with pytest.raises(DeployError, match="Typo"):
        change_set_parameters({"A": {}}, {"Typo": "1"}, previous=set())


def test_pinned_pandas_layers_are_one_release_for_the_runtime_in_their_own_region() -> None:
    from deploy.package import layer_pin

    pin = layer_pin()
    assert pin.runtime == f"python{pin.python}" and pin.python in ("3.12", "3.13", "3.14")  # Amazon Linux 2023
    layers = json.loads(LAYERS_FILE.read_text())["layers"]
    assert "us-east-1" in layers
    tag = "Python" + pin.python.replace(".", "")
    versions = set()
    for region, entry in layers.items():
        match = re.fullmatch(rf"arn:aws:lambda:{region}:\d{{12}}:layer:AWSSDKPandas-{tag}:(\d+)", entry["arn"])
        assert match, entry
        versions.add(match.group(1))
        assert pin.awswrangler in entry["source"], entry  # each ARN names the release (and table) it comes from
    assert len(versions) == 1, f"one awswrangler release everywhere, got layer versions {versions}"


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_every_function_runs_on_the_pinned_runtime_whatever_python_packaged_it(packaged: dict[str, Any], function: str) -> None:
    import sys

    from deploy.package import layer_pin

    logical, _ = FUNCTIONS[function]
    assert props(packaged, logical)["Runtime"] == layer_pin().runtime, f"packaged from Python {sys.version_info[:2]}"


def test_the_zip_holds_no_module_compiled_for_another_python(package: Package) -> None:
    from deploy.package import layer_pin
    from deploy.wheels import foreign_extensions, vendored

    python = layer_pin().python
    assert foreign_extensions(package.zip_path, python) == []
    assert {v.name for v in vendored(package.zip_path)} >= {"orjson"}  # the compiled one this check is about


@pytest.mark.parametrize("runtime", ["python3.11", "python3.9", "python2.7", "nodejs22.x", "python3.13t"])
def test_packaging_refuses_a_runtime_it_cannot_build_for(runtime: str) -> None:
    from deploy.wheels import WheelError, runtime_python

    with pytest.raises(WheelError, match="Amazon Linux 2023"):
        runtime_python(runtime)


def test_packaging_refuses_a_requirement_without_a_wheel_for_the_runtime(tmp_path: Path) -> None:
    """pip is asked for binary wheels only: a pin with none for CPython 3.13 manylinux is refused, not built from source."""
    from deploy.wheels import WheelError, download

    with pytest.raises(WheelError, match="no wheel for CPython 3.13"):
        download(["orjson==3.6.0"], "3.13", tmp_path)  # orjson 3.6.0 predates CPython 3.13 wheels


def test_foreign_extension_modules_are_found(tmp_path: Path) -> None:
    import zipfile

    from deploy.wheels import foreign_extensions

    z = tmp_path / "d.zip"
    with zipfile.ZipFile(z, "w") as out:
        for name in ("a/x.cpython-311-x86_64-linux-gnu.so", "b/y.cpython-313-x86_64-linux-gnu.so", "c/z.abi3.so"):
            out.writestr(name, b"")
    assert foreign_extensions(z, "3.13") == ["a/x.cpython-311-x86_64-linux-gnu.so"]


def test_first_deploy_creates_bucket_uploads_and_executes_a_create_change_set(tmp_path: Path) -> None:
    """The boto3 calls of a first deploy, in order, validated against the service models."""
    from datetime import datetime

    import boto3
    from botocore.stub import ANY, Stubber

    from deploy.cloudformation import Stack

    session = boto3.session.Session(region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    clients = {name: session.client(name) for name in ("cloudformation", "s3")}
    fake = type("Session", (), {"region_name": "eu-west-1", "client": lambda self, name: clients[name]})()
    zip_path = tmp_path / "deployment.zip"
    zip_path.write_bytes(b"code")
    template = {
        "Parameters": {"PandasLayerArn": {}, "LakePrefix": {"Default": "lake"}},
        "Resources": {"APIHandler": {"Type": "AWS::Serverless::Function", "Properties": {"CodeUri": "./deployment.zip"}}},
    }
    now = datetime.now(UTC)
    stack = {
        "StackName": "clickstream-prod",
        "CreationTime": now,
        "StackStatus": "CREATE_COMPLETE",
        "Outputs": [{"OutputKey": "EventsTableName", "OutputValue": "t"}],
    }

    with Stubber(clients["s3"]) as s3, Stubber(clients["cloudformation"]) as cfn:
        s3.add_client_error("head_bucket", "404", http_status_code=404)
        s3.add_response(
            "create_bucket", {}, {"Bucket": "artifacts", "CreateBucketConfiguration": {"LocationConstraint": "eu-west-1"}}
        )
        s3.add_response("put_public_access_block", {}, {"Bucket": "artifacts", "PublicAccessBlockConfiguration": ANY})
        s3.add_response("put_bucket_policy", {}, {"Bucket": "artifacts", "Policy": ANY})
        for _ in ("zip", "template"):
            s3.add_client_error("head_object", "404", http_status_code=404)
            s3.add_response("put_object", {}, {"Bucket": "artifacts", "Key": ANY, "Body": ANY})
        cfn.add_client_error("describe_stacks", "ValidationError", "Stack with id clickstream-prod does not exist")
        cfn.add_response(
            "create_change_set",
            {"Id": "cs-1"},
            {
                "StackName": "clickstream-prod",
                "ChangeSetName": ANY,
                "ChangeSetType": "CREATE",
                "TemplateURL": ANY,
                "Parameters": [{"ParameterKey": "PandasLayerArn", "ParameterValue": "arn:layer"}],
                "Capabilities": ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
                "Tags": [{"Key": "stage", "Value": "prod"}],
            },
        )
        cfn.add_response("describe_change_set", {"Status": "CREATE_COMPLETE"}, {"ChangeSetName": "cs-1"})
        cfn.add_response("describe_change_set", {"Changes": []}, {"ChangeSetName": "cs-1"})
        cfn.add_response("execute_change_set", {}, {"ChangeSetName": "cs-1"})
        cfn.add_response("describe_stacks", {"Stacks": [stack]}, {"StackName": "clickstream-prod"})
        cfn.add_response("describe_stacks", {"Stacks": [stack]}, {"StackName": "clickstream-prod"})
        outputs = Stack(fake, "clickstream-prod", echo=lambda _: None).deploy(
            template, zip_path, "artifacts", {"PandasLayerArn": "arn:layer"}, {"stage": "prod"}
        )
        s3.assert_no_pending_responses()
        cfn.assert_no_pending_responses()
    assert outputs == {"EventsTableName": "t"}
