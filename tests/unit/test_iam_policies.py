"""IAM (issue 6): one policy file per function, only the actions it uses, only on the
ARNs of this stack.

The policy files are CloudFormation-flavoured: ARNs are ``{"Fn::Sub": "${EventTable.Arn}"}``
over logical IDs of deploy/resources.yaml, which `chalice package` copies verbatim into
each function's role. So the files are checked on their own (always) and as embedded in
the packaged template (when app.py exists).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterator

import pytest
from chalice.package import YAMLTemplateSerializer

from deploy.package import (
    APP_DIR,
    FUNCTIONS,
    MERGE_TEMPLATE,
    MISSING_FUNCTIONS_HINT,
    Package,
    chalice_package,
    missing_functions,
)

POLICY_FILES = {"api_handler": "policy-api.json", "export_events": "policy-export.json", "export_worker": "policy-export.json"}

# Actions with no resource-level scoping in IAM: "*" is the only valid Resource, so each
# must be narrowed by a condition key instead (documented in docs/deploy.md).
UNSCOPABLE = {"cloudwatch:PutMetricData": "cloudwatch:namespace"}

# What each function does, per the contract; a new call must be added here and to the file.
EXPECTED_ACTIONS = {
    "policy-api.json": {
        "dynamodb:BatchWriteItem",
        "dynamodb:DescribeTable",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:Query",
        "dynamodb:UpdateItem",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
    },
    "policy-export.json": {
        "dynamodb:BatchWriteItem",
        "dynamodb:DeleteItem",
        "dynamodb:DescribeTable",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:Query",
        "dynamodb:UpdateItem",
        "s3:AbortMultipartUpload",
        "s3:DeleteObject",
        "s3:GetObject",
        "s3:PutObject",
        "s3:ListBucket",
        "lambda:InvokeFunction",
        "cloudwatch:PutMetricData",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "sqs:SendMessage",  # Lambda puts a failed async worker event on the failures queue with the function's role
    },
}
PSEUDO = {"AWS::Partition", "AWS::Region", "AWS::AccountId", "AWS::StackName", "AWS::URLSuffix"}


def load_policy(name: str) -> dict[str, Any]:
    return json.loads((APP_DIR / ".chalice" / name).read_text())


@pytest.fixture(scope="module")
def merge_names() -> set[str]:
    merge = YAMLTemplateSerializer().load_template(MERGE_TEMPLATE.read_text(), str(MERGE_TEMPLATE))
    return set(merge["Resources"]) | set(merge["Parameters"]) | PSEUDO


def statements(policy: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from policy["Statement"]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def sub_text(resource: Any) -> str:
    """The ARN template of a resource entry: a literal string or an Fn::Sub string."""
    if isinstance(resource, str):
        return resource
    assert set(resource) == {"Fn::Sub"} and isinstance(resource["Fn::Sub"], str), f"unexpected resource {resource!r}"
    return resource["Fn::Sub"]


def assert_least_privilege(policy: dict[str, Any], names: set[str], where: str) -> None:
    for st in statements(policy):
        sid = f"{where}:{st.get('Sid', '?')}"
        assert st["Effect"] == "Allow", sid
        assert "NotAction" not in st and "NotResource" not in st, sid
        actions = as_list(st["Action"])
        assert actions, sid
        for action in actions:
            assert re.fullmatch(r"[a-z0-9-]+:[A-Za-z0-9]+", action), f"{sid}: {action!r} is not one named action"
        for resource in as_list(st["Resource"]):
            text = sub_text(resource)
            if text == "*":
                assert set(actions) <= set(UNSCOPABLE), f"{sid}: Resource '*' for {actions}"
                keys = {k for block in st.get("Condition", {}).values() for k in block}
                assert {UNSCOPABLE[a] for a in actions} <= keys, f"{sid}: '*' needs a condition on {UNSCOPABLE}"
                continue
            placeholders = set(re.findall(r"\$\{([^}!][^}]*)\}", text))
            assert placeholders, f"{sid}: {text!r} names nothing of this stack"
            for p in placeholders:
                assert p.split(".")[0] in names, f"{sid}: ${{{p}}} is not a resource or parameter of the template"
            literal = re.sub(r"\$\{[^}]*\}", "", text)
            assert "*" not in literal.replace("/*", ""), f"{sid}: wildcard in {text!r}"
            if "/*" in literal:
                assert text.endswith("/${LakePrefix}/*"), f"{sid}: only objects under the lake prefix may be wildcarded"


@pytest.mark.parametrize("name", sorted(set(POLICY_FILES.values())))
def test_policy_files_name_specific_actions_and_resources(name: str, merge_names: set[str]) -> None:
    assert_least_privilege(load_policy(name), merge_names, name)


@pytest.mark.parametrize("name", sorted(EXPECTED_ACTIONS))
def test_policy_files_grant_exactly_what_the_function_uses(name: str) -> None:
    granted = {a for st in statements(load_policy(name)) for a in as_list(st["Action"])}
    assert granted == EXPECTED_ACTIONS[name]


def test_export_lists_only_the_lake_prefix_and_invokes_only_the_worker() -> None:
    policy = load_policy("policy-export.json")
    by_action = {a: st for st in statements(policy) for a in as_list(st["Action"])}
    listing = by_action["s3:ListBucket"]
    prefixes = [sub_text(p) for p in listing["Condition"]["StringLike"]["s3:prefix"]]
    assert prefixes == ["${LakePrefix}", "${LakePrefix}/*"]
    invoke = sub_text(by_action["lambda:InvokeFunction"]["Resource"])
    assert invoke.endswith(":function:${AWS::StackName}-export-worker")


def test_the_api_cannot_touch_the_lake() -> None:
    granted = {a for st in statements(load_policy("policy-api.json")) for a in as_list(st["Action"])}
    assert not {a for a in granted if a.startswith(("s3:", "lambda:", "cloudwatch:"))}


# ------------------------------------------------------------------ packaged roles
@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    if not (APP_DIR / "app.py").exists():
        pytest.skip("app.py does not exist yet: there is no app to package")
    package: Package = chalice_package("prod", tmp_path_factory.mktemp("package") / "prod")
    template = package.template()
    if missing := missing_functions(template):
        pytest.fail(f"chalice generated no {missing}; {MISSING_FUNCTIONS_HINT}")
    return template


def test_every_role_in_the_template_is_a_function_role_with_its_policy_file(
    packaged: dict[str, Any], merge_names: set[str]
) -> None:
    roles = {
        k: v
        for k, v in packaged["Resources"].items()
        if v.get("Type") in ("AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")
    }
    expected = {role: fn for fn, (_, role) in FUNCTIONS.items()}
    # API Gateway's account-wide access-log role: assumed by API Gateway only, AWS's managed push policy only.
    log_role = roles.pop("ApiGatewayLogRole")["Properties"]
    assert log_role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "apigateway.amazonaws.com"}
    assert [a["Fn::Sub"].rsplit("/", 1)[1] for a in log_role["ManagedPolicyArns"]] == ["AmazonAPIGatewayPushToCloudWatchLogs"]
    assert set(roles) == set(expected), "a role or policy the issue does not account for"
    for role, fn in expected.items():
        p = roles[role]["Properties"]
        assert "ManagedPolicyArns" not in p, role
        [policy] = p["Policies"]
        assert policy["PolicyDocument"] == load_policy(POLICY_FILES[fn]), f"{role} is not {POLICY_FILES[fn]}"
        assert_least_privilege(policy["PolicyDocument"], merge_names, role)


def test_policy_files_exist_for_every_function_in_the_chalice_config() -> None:
    config = json.loads((APP_DIR / ".chalice" / "config.json").read_text())
    assert config["autogen_policy"] is False
    for fn, name in POLICY_FILES.items():
        assert config["lambda_functions"][fn]["iam_policy_file"] == name
        assert (Path(APP_DIR) / ".chalice" / name).exists()
