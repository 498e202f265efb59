"""`clickstream etl run|backfill|create-tables` against the local stack."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import boto3
import pytest
import sqlglot
from botocore.stub import Stubber
from click.testing import CliRunner

from chalicelib import clients
from chalicelib.errors import TerminalError
from chalicelib.lake.schema import EVENTS, REJECTED
from clickstream.athena import run_ddl
from clickstream.cli import main
from clickstream.etl import ddl_statements
from tests.lake_helpers import cli_env, event, lake_files, read_lake, store


def test_etl_run_exports_and_prints_what_it_did(settings):
    now = int(time.time() * 1000)
    store(settings, [event(f"e{i}", now - 5000) for i in range(3)], received_ms=now - 2000, app_id="shop")
    result = CliRunner().invoke(main, ["etl", "run"], env=cli_env(settings))
    assert result.exit_code == 0, result.output
    assert "exported" in result.output and "3 events" in result.output and "1 files in 1 partitions" in result.output
    assert "lag" in result.output


def test_backfill_restores_a_lost_file_and_a_second_backfill_changes_nothing(settings):
    # GIVEN exported events whose file was then lost
    now = int(time.time() * 1000)
    store(settings, [event(f"e{i}", now - 60_000) for i in range(4)], received_ms=now - 30_000, app_id="shop")
    runner = CliRunner()
    assert runner.invoke(main, ["etl", "run"], env=cli_env(settings)).exit_code == 0
    (key,) = lake_files(settings)
    clients.s3(settings).delete_object(Bucket=settings.bucket, Key=key)
    since, until = str(now - 3_600_000), str(now)
    # WHEN the window is backfilled, twice
    for _ in range(2):
        result = runner.invoke(main, ["etl", "backfill", "--since", since, "--until", until], env=cli_env(settings))
        assert result.exit_code == 0, result.output
    # THEN every event is back, once
    assert Counter(read_lake(settings).column("event_id").to_pylist()) == Counter({f"e{i}": 1 for i in range(4)})
    assert "backfilled 4 events" in result.output


def test_backfill_over_a_complete_lake_adds_no_copies(settings):
    now = int(time.time() * 1000)
    store(settings, [event(f"e{i}", now - 60_000) for i in range(4)], received_ms=now - 30_000, app_id="shop")
    runner = CliRunner()
    runner.invoke(main, ["etl", "run"], env=cli_env(settings))
    result = runner.invoke(main, ["etl", "backfill", "--since", str(now - 3_600_000), "--until", str(now)], env=cli_env(settings))
    assert result.exit_code == 0, result.output
    assert read_lake(settings).num_rows == 4


def _ddl_columns(sql: str) -> dict[str, str]:
    create = sqlglot.parse_one(sql.replace("${DATABASE}", "db").replace("${LAKE}", "s3://b/p"), read="athena")
    schema = create.this
    return {c.name: c.args["kind"].sql("hive").lower() for c in schema.expressions}


def test_table_ddl_matches_the_arrow_schema_the_export_writes():
    types = {
        "timestamp[ms, tz=UTC]": "timestamp",
        "string": "string",
        "int32": "int",
        "int64": "bigint",
        "double": "double",
        "bool": "boolean",
    }
    for name, schema in (("events.sql", EVENTS), ("rejected_events.sql", REJECTED)):
        sql = dict(ddl_statements("bucket", "lake", "db"))[name]
        expected = {f.name: types[str(f.type)] for f in schema if f.name != "app_id"}
        assert _ddl_columns(sql) == expected
        assert "'projection.enabled' = 'true'" in sql and "s3://bucket/lake/" in sql


def _athena() -> tuple[Any, Stubber]:
    client = boto3.client("athena", region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
    return client, Stubber(client)


# botocore's Stubber, not moto: botocore 1.44.18 speaks rest-json to Athena, which moto 5.2.6 does
# not route ("Not yet implemented"); the Stubber checks each request against botocore's own model.
def test_create_tables_runs_each_ddl_on_athena_in_the_stage_workgroup(settings):
    # GIVEN Athena answering each DDL statement: queued, running, then succeeded
    athena, stubber = _athena()
    statements = ddl_statements("bucket", "lake", "clickstream_prod")
    for n, (_, sql) in enumerate(statements):
        context = {"Database": "clickstream_prod"}
        request = {"QueryString": sql, "QueryExecutionContext": context, "WorkGroup": "clickstream-prod"}
        stubber.add_response("start_query_execution", {"QueryExecutionId": f"q{n}"}, request)
        for state in ("QUEUED", "RUNNING", "SUCCEEDED"):
            answer = {"QueryExecution": {"QueryExecutionId": f"q{n}", "Status": {"State": state}}}
            stubber.add_response("get_query_execution", answer, {"QueryExecutionId": f"q{n}"})
    # WHEN each runs in the stage's workgroup and database
    with stubber:
        ids = [
            run_ddl(sql, settings.with_(glue_database="clickstream_prod"), "clickstream-prod", client=athena, poll_s=0)
            for _, sql in statements
        ]
        # THEN each was started there as written, waited for until it succeeded, in order
        stubber.assert_no_pending_responses()
    assert ids == [f"q{n}" for n in range(len(statements))]
    assert all(sql.startswith("-- ") for _, sql in statements)


def test_a_ddl_statement_athena_fails_is_a_terminal_error_with_its_reason(settings):
    athena, stubber = _athena()
    stubber.add_response("start_query_execution", {"QueryExecutionId": "q0"})
    reason = "FAILED: SemanticException [Error 10072]: Database does not exist: clickstream_prod"
    failed = {"QueryExecution": {"QueryExecutionId": "q0", "Status": {"State": "FAILED", "StateChangeReason": reason}}}
    stubber.add_response("get_query_execution", failed)
    with stubber, pytest.raises(TerminalError, match="Database does not exist"):
        run_ddl("CREATE EXTERNAL TABLE t (x int)", settings, "clickstream-prod", client=athena, poll_s=0)
