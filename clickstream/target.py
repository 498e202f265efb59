"""Which stack a CLI command talks to: the local stack by default, a deployed stage on request.

Local: the endpoints of the servers ``make run`` started (ports from the environment,
the same variables the Makefile uses). Deployed: names from the CloudFormation stack
``clickstream-<stage>`` outputs, overridable by the CLICKSTREAM_* environment variables.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

from chalicelib.settings import Settings, from_env

ROOT = Path(__file__).resolve().parent.parent

# name -> (environment variable, default) for the local stack; the Makefile uses the same names.
LOCAL_VARS = {
    "port": ("CLICKSTREAM_PORT", "8000"),
    "dynamodb_port": ("CLICKSTREAM_DYNAMODB_PORT", "8001"),
    "s3_port": ("CLICKSTREAM_S3_PORT", "8002"),
    "data_dir": ("CLICKSTREAM_DATA_DIR", str(ROOT / ".data")),
}

# CloudFormation output -> environment variable it provides (deploy/resources.yaml defines them).
STACK_OUTPUTS = {
    "EventsTableName": "CLICKSTREAM_TABLE",
    "LakeBucketName": "CLICKSTREAM_BUCKET",
    "GlueDatabaseName": "CLICKSTREAM_GLUE_DATABASE",
    "LakePrefix": "CLICKSTREAM_LAKE_PREFIX",
}


def local_value(name: str, env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    var, default = LOCAL_VARS[name]
    return env.get(var, default)


def local_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if env is None else env)
    env.setdefault("CLICKSTREAM_DYNAMODB_ENDPOINT", f"http://127.0.0.1:{local_value('dynamodb_port', env)}")
    env.setdefault("CLICKSTREAM_S3_ENDPOINT", f"http://127.0.0.1:{local_value('s3_port', env)}")
    env.setdefault("CLICKSTREAM_STAGE", "local")
    return env


def settings_for(stage: str | None, env: Mapping[str, str] | None = None) -> Settings:
    if not stage or stage == "local":
        return from_env(local_env(env))
    base = dict(os.environ if env is None else env)
    base["CLICKSTREAM_STAGE"] = stage
    missing = [var for var in STACK_OUTPUTS.values() if var not in base]
    if missing:
        import boto3

        stack = boto3.client("cloudformation").describe_stacks(StackName=f"clickstream-{stage}")["Stacks"][0]
        for output in stack.get("Outputs", []):
            var = STACK_OUTPUTS.get(output["OutputKey"])
            if var:
                base.setdefault(var, output["OutputValue"])
    base.pop("CLICKSTREAM_DYNAMODB_ENDPOINT", None)
    base.pop("CLICKSTREAM_S3_ENDPOINT", None)
    return from_env(base)
