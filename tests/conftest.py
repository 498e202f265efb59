"""Shared fixtures: one local stack (dynalite + s3rver over HTTP) per test session.

Each test that needs storage gets its own table and bucket, so tests never see each
other's data and can run in parallel workers.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Iterator

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from chalicelib import clients
from chalicelib.settings import Settings, from_env
from clickstream.admin.tables import ensure_bucket, ensure_table
from clickstream.localstack import LocalStack, free_port

# CI machines are shared and noisy: a per-example time limit only makes property tests flaky.
hypothesis_settings.register_profile("clickstream", deadline=None, suppress_health_check=[HealthCheck.too_slow])
hypothesis_settings.load_profile("clickstream")

# The code under test must never reach AWS from the test suite.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests marked ``heavy`` first, in their order, then the rest in theirs.

    With ``--maxschedchunk 2`` (the Makefile) pytest-xdist hands the collection out two tests at a
    time as workers free up, so the heavy tests (one to three minutes each) start on both workers
    from the beginning instead of one of them starting last with the other worker idle. Measured
    on 2 cores, `make test` with `--durations=0` (2026-12-05): pytest 20:16 before, 18:14 after, for
    2,110 s of test time summed (17:35 on two workers at best)."""
    items.sort(key=lambda item: item.get_closest_marker("heavy") is None)


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    stack = LocalStack(tmp_path_factory.mktemp("stack"), dynamodb_port=free_port(), s3_port=free_port())
    with stack:
        yield stack


@pytest.fixture
def stack_env(local_stack: LocalStack) -> dict[str, str]:
    """Environment for a fresh table and bucket on the local stack."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    return {
        **local_stack.env(),
        "CLICKSTREAM_TABLE": name,
        "CLICKSTREAM_BUCKET": name,
        "CLICKSTREAM_KEY_CACHE_SECONDS": "0",
        "CLICKSTREAM_WRITE_SHARDS": "4",
    }


@pytest.fixture
def settings(stack_env: dict[str, str]) -> Settings:
    s = from_env(stack_env)
    ensure_table(clients.dynamodb(s), s.table)
    ensure_bucket(clients.s3(s), s.bucket)
    return s


@pytest.fixture
def use_settings(settings: Settings, stack_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Configure the Lambda handlers the way Lambda does: through the environment."""
    from chalicelib import services
    from chalicelib.settings import get_settings

    for name, value in stack_env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    services.app_store.cache_clear()
    yield settings
    get_settings.cache_clear()
    services.app_store.cache_clear()


@pytest.fixture
def output_dir(request: pytest.FixtureRequest) -> Path:
    path = Path(__file__).parent.parent / "test-output" / request.node.name
    path.mkdir(parents=True, exist_ok=True)
    return path
