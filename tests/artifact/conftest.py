"""Fixtures of the artifact test: the packaged stack, its local table and bucket, Lambda's Invoke API."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib import clients
from chalicelib.settings import from_env
from chalicelib.store.apps import AppStore
from chalicelib.store.readkeys import ReadKeyStore
from clickstream.admin.tables import ensure_bucket, ensure_table
from clickstream.localstack import LocalStack
from tests.artifact import lambda_runtime as lr

_DESCRIBED: list[str] = []


@pytest.fixture(scope="module")
def recorder() -> Iterator[lr.InvokeRecorder]:
    rec = lr.InvokeRecorder()
    yield rec
    rec.close()


@pytest.fixture(scope="module")
def lambda_stack(
    local_stack: LocalStack, recorder: lr.InvokeRecorder, tmp_path_factory: pytest.TempPathFactory
) -> lr.LambdaRuntime:
    """``make package STAGE=prod``'s output, runnable as Lambda runs it, on a fresh local table and bucket."""
    name = f"art-{uuid.uuid4().hex[:10]}"
    settings = from_env({**local_stack.env(), "CLICKSTREAM_TABLE": name, "CLICKSTREAM_BUCKET": name})
    ensure_table(clients.dynamodb(settings), settings.table)
    ensure_bucket(clients.s3(settings), settings.bucket)
    refs = {
        "EventTable": name,
        "LakeBucket": name,
        "LakePrefix": "lake",
        "GlueDatabase": "clickstream_prod",
        "MetricsNamespace": "Clickstream",
    }
    local_env = {**local_stack.env(), "AWS_ENDPOINT_URL_LAMBDA": recorder.url}
    runtime = lr.build(tmp_path_factory.mktemp("artifact"), refs, local_env)
    _DESCRIBED.append(runtime.target.describe())
    return runtime


@pytest.fixture(scope="module")
def write_key(lambda_stack: lr.LambdaRuntime, local_stack: LocalStack) -> str:
    settings = from_env({**local_stack.env(), "CLICKSTREAM_TABLE": lambda_stack.refs["EventTable"]})
    _, key = AppStore(clients.dynamodb(settings), settings.table, cache_seconds=0).create_app(
        "shop", origins=["https://shop.example"]
    )
    return key


@pytest.fixture(scope="module")
def read_key(lambda_stack: lr.LambdaRuntime, local_stack: LocalStack, write_key: str) -> str:
    """A read key (Bearer, scope live) for the app the write key belongs to."""
    settings = from_env({**local_stack.env(), "CLICKSTREAM_TABLE": lambda_stack.refs["EventTable"]})
    [app] = AppStore(clients.dynamodb(settings), settings.table, cache_seconds=0).list_apps()
    _, clear = ReadKeyStore(clients.dynamodb(settings), settings.table, cache_seconds=0).create(app.app_id)
    return clear


@pytest.fixture(scope="module")
def lake(lambda_stack: lr.LambdaRuntime, local_stack: LocalStack) -> Any:
    settings = from_env({**local_stack.env(), "CLICKSTREAM_BUCKET": lambda_stack.refs["LakeBucket"]})
    return clients.s3(settings), settings.bucket


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for line in dict.fromkeys(_DESCRIBED):
        terminalreporter.write_line(f"artifact test: {line}")
