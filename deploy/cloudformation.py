"""Deploy and delete the stack with boto3: the equivalent of ``aws cloudformation package``
followed by ``aws cloudformation deploy`` (and ``delete-stack``).

The pure helpers at the top build what is sent; ``Stack`` does the I/O with an
injected boto3 session.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError, WaiterError

from deploy.package import DeployError

CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]  # roles without names; SAM transform
LOCAL_CODE_URI = "./deployment.zip"
NO_CHANGES = ("didn't contain changes", "No updates are to be performed")


# ------------------------------------------------------------------ pure helpers
def with_code_uri(template: Mapping[str, Any], code_uri: str) -> dict[str, Any]:
    """The template with every function's local CodeUri replaced by the uploaded zip."""
    out = copy.deepcopy(dict(template))
    for resource in out.get("Resources", {}).values():
        props = resource.get("Properties", {})
        if resource.get("Type") == "AWS::Serverless::Function" and props.get("CodeUri") == LOCAL_CODE_URI:
            props["CodeUri"] = code_uri
    return out


def change_set_parameters(declared: Mapping[str, Any], given: Mapping[str, str], previous: set[str]) -> list[dict[str, Any]]:
    """Parameters for CreateChangeSet.

    A value given now wins; otherwise a parameter the stack already has keeps its
    previous value (an operator's ``--param`` survives the next plain deploy);
    otherwise the template default applies.
    """
    unknown = set(given) - set(declared)
    if unknown:
        raise DeployError(f"the template has no parameter(s) {sorted(unknown)}")
    params: list[dict[str, Any]] = []
    for name in sorted(declared):
        if name in given:
            params.append({"ParameterKey": name, "ParameterValue": str(given[name])})
        elif name in previous:
            params.append({"ParameterKey": name, "UsePreviousValue": True})
    return params


def retained_resources(template: Mapping[str, Any]) -> list[str]:
    """Logical IDs that survive stack deletion (DeletionPolicy Retain)."""
    return sorted(
        name for name, r in template.get("Resources", {}).items() if r.get("DeletionPolicy") in ("Retain", "RetainExceptOnCreate")
    )


def content_key(prefix: str, data: bytes, suffix: str) -> str:
    return f"{prefix}/{hashlib.sha256(data).hexdigest()[:32]}{suffix}"


# ------------------------------------------------------------------ I/O
class Stack:
    def __init__(self, session: boto3.session.Session, name: str, echo: Callable[[str], None] = print) -> None:
        self.session = session
        self.name = name
        self.region = session.region_name
        self.echo = echo
        self.cfn = session.client("cloudformation")
        self.s3 = session.client("s3")

    # -- artifacts
    def default_artifact_bucket(self) -> str:
        account = self.session.client("sts").get_caller_identity()["Account"]
        return f"clickstream-artifacts-{account}-{self.region}"

    def ensure_artifact_bucket(self, bucket: str) -> None:
        """A private, TLS-only bucket for code and templates, outside the stack.

        Artifacts are never expired: a rollback needs the previous code zip.
        """
        try:
            self.s3.head_bucket(Bucket=bucket)
            return
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in ("404", "NoSuchBucket"):
                raise DeployError(f"cannot use artifact bucket {bucket}: {exc}") from exc
        self.echo(f"creating artifact bucket {bucket}")
        create: dict[str, Any] = {"Bucket": bucket}
        if self.region != "us-east-1":
            create["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        self.s3.create_bucket(**create)
        self.s3.put_public_access_block(
            Bucket=bucket,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )
        self.s3.put_bucket_policy(
            Bucket=bucket,
            Policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "DenyInsecureTransport",
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": "s3:*",
                            "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                        }
                    ],
                }
            ),
        )

    def upload(self, bucket: str, key: str, data: bytes) -> str:
        try:
            self.s3.head_object(Bucket=bucket, Key=key)
        except ClientError:
            self.s3.put_object(Bucket=bucket, Key=key, Body=data)
        return f"s3://{bucket}/{key}"

    def template_url(self, bucket: str, key: str) -> str:
        return f"https://{bucket}.s3.{self.region}.amazonaws.com/{key}"

    # -- stack
    def status(self) -> str | None:
        try:
            return self.cfn.describe_stacks(StackName=self.name)["Stacks"][0]["StackStatus"]
        except ClientError as exc:
            if "does not exist" in str(exc):
                return None
            raise

    def previous_parameters(self) -> set[str]:
        stack = self.cfn.describe_stacks(StackName=self.name)["Stacks"][0]
        return {p["ParameterKey"] for p in stack.get("Parameters", [])}

    def deploy(
        self,
        template: Mapping[str, Any],
        zip_path: Path,
        bucket: str,
        parameters: Mapping[str, str],
        tags: Mapping[str, str],
        execute: bool = True,
    ) -> dict[str, str]:
        self.ensure_artifact_bucket(bucket)
        code = zip_path.read_bytes()
        code_uri = self.upload(bucket, content_key(self.name, code, ".zip"), code)
        body = json.dumps(with_code_uri(template, code_uri), indent=1, sort_keys=True).encode()
        template_key = content_key(self.name, body, ".template.json")
        self.upload(bucket, template_key, body)

        status = self.status()
        if status == "ROLLBACK_COMPLETE":
            raise DeployError(
                f"stack {self.name} failed to create and must be deleted first "
                "(make destroy STAGE=...), see its events in the console"
            )
        creating = status in (None, "REVIEW_IN_PROGRESS")
        declared = template.get("Parameters", {})
        previous = set() if creating else self.previous_parameters()
        change_set = self.cfn.create_change_set(
            StackName=self.name,
            ChangeSetName=f"deploy-{int(time.time())}",
            ChangeSetType="CREATE" if creating else "UPDATE",
            TemplateURL=self.template_url(bucket, template_key),
            Parameters=change_set_parameters(declared, parameters, previous),
            Capabilities=CAPABILITIES,
            Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
        )["Id"]
        try:
            self.cfn.get_waiter("change_set_create_complete").wait(
                ChangeSetName=change_set, WaiterConfig={"Delay": 5, "MaxAttempts": 120}
            )
        except WaiterError as exc:
            described = self.cfn.describe_change_set(ChangeSetName=change_set)
            reason = described.get("StatusReason", "")
            if any(marker in reason for marker in NO_CHANGES):
                self.cfn.delete_change_set(ChangeSetName=change_set)
                self.echo(f"{self.name}: no changes")
                return self.outputs()
            raise DeployError(f"change set failed: {reason}") from exc
        for change in self.cfn.describe_change_set(ChangeSetName=change_set)["Changes"]:
            rc = change["ResourceChange"]
            self.echo(
                f"  {rc['Action']:<7} {rc['LogicalResourceId']} ({rc['ResourceType']})"
                + (f" replacement={rc['Replacement']}" if rc.get("Replacement") else "")
            )
        if not execute:
            self.echo(f"change set {change_set} created, not executed")
            return {}
        self.cfn.execute_change_set(ChangeSetName=change_set)
        waiter = "stack_create_complete" if creating else "stack_update_complete"
        try:
            self.cfn.get_waiter(waiter).wait(StackName=self.name, WaiterConfig={"Delay": 10, "MaxAttempts": 360})
        except WaiterError as exc:
            raise DeployError(f"{self.name} did not reach {waiter}: {self._first_failure()}") from exc
        return self.outputs()

    def _first_failure(self) -> str:
        events = self.cfn.describe_stack_events(StackName=self.name)["StackEvents"]
        failed = [e for e in events if e["ResourceStatus"].endswith("FAILED")]
        if not failed:
            return "no failed resource reported"
        e = failed[-1]
        return f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason', '')}"

    def outputs(self) -> dict[str, str]:
        stack = self.cfn.describe_stacks(StackName=self.name)["Stacks"][0]
        return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}

    def kept_on_delete(self) -> list[tuple[str, str]]:
        """(logical ID, physical name) of the resources a delete will leave behind."""
        processed = self.cfn.get_template(StackName=self.name, TemplateStage="Processed")["TemplateBody"]
        if isinstance(processed, str):
            processed = json.loads(processed)
        keep = set(retained_resources(processed))
        resources = self.cfn.describe_stack_resources(StackName=self.name)["StackResources"]
        return [(r["LogicalResourceId"], r.get("PhysicalResourceId", "?")) for r in resources if r["LogicalResourceId"] in keep]

    def delete(self) -> None:
        self.cfn.delete_stack(StackName=self.name)
        try:
            self.cfn.get_waiter("stack_delete_complete").wait(StackName=self.name, WaiterConfig={"Delay": 10, "MaxAttempts": 360})
        except WaiterError as exc:
            raise DeployError(f"{self.name} was not deleted: {self._first_failure()}") from exc

    def check_layer(self, arn: str, runtime: str | None = None) -> None:
        """The layer exists, is readable from this account and (if it says) supports ``runtime``."""
        try:
            layer = self.session.client("lambda").get_layer_version_by_arn(Arn=arn)
        except ClientError as exc:
            raise DeployError(
                f"layer {arn} is not usable from this account/region ({exc}); "
                "pin another version in deploy/pandas-layers.json or pass "
                "--pandas-layer-arn"
            ) from exc
        compatible = layer.get("CompatibleRuntimes") or []
        if runtime and compatible and runtime not in compatible:
            raise DeployError(
                f"layer {arn} is built for {compatible}, not {runtime}: the export could not import "
                "pyarrow; pin the layer for this runtime in deploy/pandas-layers.json"
            )
