"""Every command that needs the local stack says `is make run running?` when it is not there."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from clickstream.cli import main
from clickstream.localstack import free_port


@pytest.fixture(scope="module")
def nothing_listening() -> dict[str, str | None]:
    dynamodb, s3 = free_port(), free_port()  # free, so nothing answers there
    return {
        "CLICKSTREAM_DYNAMODB_PORT": str(dynamodb),
        "CLICKSTREAM_S3_PORT": str(s3),
        "CLICKSTREAM_DYNAMODB_ENDPOINT": None,
        "CLICKSTREAM_S3_ENDPOINT": None,
        "CLICKSTREAM_STORAGE_ATTEMPTS": "1",
    }


@pytest.mark.parametrize(
    "args",
    [
        ["etl", "run"],
        ["etl", "backfill", "--since", "1700000000000", "--until", "1700000600000"],
        ["apps", "list"],
        ["apps", "create", "Shop", "--any-origin"],
        ["query", "SELECT count(*) AS n FROM events"],
        ["privacy", "ledger"],
        ["privacy", "delete", "--app", "shop", "--user-id", "u-1"],
    ],
    ids=" ".join,
)
def test_a_command_without_the_stack_asks_whether_make_run_is_running(
    nothing_listening: dict[str, str | None], args: list[str]
) -> None:
    result = CliRunner().invoke(main, args, env=nothing_listening)

    assert result.exit_code != 0
    assert "is `make run` running?" in result.output, result.output
    assert "Traceback" not in result.output and result.exception is None or isinstance(result.exception, SystemExit)
