"""`clickstream etl run|backfill|create-tables` against the local stack."""

from __future__ import annotations

import time
from collections import Counter

import sqlglot
from click.testing import CliRunner
from moto import mock_aws

from chalicelib import clients
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


@mock_aws
def test_create_tables_runs_each_ddl_on_athena_in_the_stage_workgroup(settings):
    athena = __import__("boto3").client("athena", region_name="us-east-1")
    athena.create_work_group(Name="clickstream-prod", Configuration={"ResultConfiguration": {"OutputLocation": "s3://results/"}})
    for _, sql in ddl_statements("bucket", "lake", "clickstream_prod"):
        qid = run_ddl(sql, settings.with_(glue_database="clickstream_prod"), "clickstream-prod", client=athena, poll_s=0)
        execution = athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]
        assert execution["Query"].startswith("-- ") and execution["WorkGroup"] == "clickstream-prod"
