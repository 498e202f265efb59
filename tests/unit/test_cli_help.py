"""What `--help` and `--version` tell a newcomer, without a stack."""

from __future__ import annotations

from importlib.metadata import version

import pytest
from click.testing import CliRunner

from clickstream.cli import main


def run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())  # help text is wrapped: compare words


def test_version() -> None:
    assert run("--version") == f"clickstream, version {version('clickstream')}"


def test_dev_help_lists_the_ports_and_the_data_dir() -> None:
    text = run("dev", "--help")
    for var in ("CLICKSTREAM_PORT", "CLICKSTREAM_DYNAMODB_PORT", "CLICKSTREAM_S3_PORT", "CLICKSTREAM_DATA_DIR"):
        assert var in text
    assert "8000" in text and ".data" in text


@pytest.mark.parametrize("command", ["delete", "export"])
def test_privacy_help_says_one_of_the_ids_is_required(command: str) -> None:
    text = run("privacy", command, "--help")
    assert "one of --user-id or --anonymous-id is required" in text


def test_create_tables_help_says_what_it_does_locally_and_with_a_stage() -> None:
    text = run("etl", "create-tables", "--help")
    assert "prints" in text and "Athena" in text and "--stage" in text
    assert "DuckDB" in text  # locally nothing needs creating
