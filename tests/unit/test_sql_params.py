"""Parameters are bound, never formatted into the SQL: the named form, Athena's qmark form with
execution parameters, DuckDB's prepared form, and the checks in between."""

from __future__ import annotations

from datetime import date
from typing import Any

import boto3
import duckdb
import pandas as pd
import pytest
from botocore.stub import Stubber
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.errors import TransientError
from chalicelib.settings import from_env
from clickstream.lake import athena, prepare, translate
from clickstream.lake.exceptions import LakeUnavailable, ParamError, QueryError, ScanCutoffReached
from clickstream.lake.params import athena_literal, bind, parse_pairs

SQL = """-- :not_a_param in a comment
SELECT ':nor_this', x FROM events
WHERE app_id = :app_id AND dt BETWEEN :date_from AND :date_to AND (:date_from <> '' OR :include_bots)"""


def test_named_parameters_in_order_outside_strings_and_comments():
    assert translate.parameter_names(SQL) == ["app_id", "date_from", "date_to", "include_bots"]


def test_the_athena_form_has_a_question_mark_per_use_and_the_names_in_order():
    text, names = translate.to_qmark(SQL)
    assert names == ["app_id", "date_from", "date_to", "date_from", "include_bots"]
    assert text.count("?") == 5 and "':nor_this'" in text and "-- :not_a_param" in text
    assert "app_id = ? AND dt BETWEEN ? AND ?" in text


def test_the_duckdb_form_names_its_parameters():
    duck = translate.to_duckdb(SQL)
    assert "$app_id" in duck and "$include_bots" in duck and "?" not in duck


def test_bind_converts_the_contract_types_and_applies_defaults():
    values = bind(
        ["app_id", "date_from", "date_to", "include_bots", "steps"],
        {"app_id": "demo", "date_from": date(2026, 11, 1), "date_to": "2026-11-07", "steps": "/demo, LIKE_WOOD,CLICK_LANG"},
    )
    assert values == {
        "app_id": "demo",
        "date_from": "2026-11-01",
        "date_to": "2026-11-07",
        "include_bots": False,
        "steps": ["/demo", "LIKE_WOOD", "CLICK_LANG"],
    }
    assert bind(["include_bots"], {"include_bots": "yes"}) == {"include_bots": True}
    assert bind(["steps"], {"steps": '["a,b", "c"]'}) == {"steps": ["a,b", "c"]}


VALID = {"app_id": "demo", "date_from": "2026-11-01", "date_to": "2026-11-07", "include_bots": "false"}


@pytest.mark.parametrize(
    "change, message",
    [
        ({"app_id": "Demo App"}, "an app id is"),
        ({"app_id": "x' OR '1'='1"}, "an app id is"),
        ({"date_from": "yesterday"}, "expected a date YYYY-MM-DD"),
        ({"date_from": "2026-11-08"}, "is after date_to"),
        ({"include_bots": "maybe"}, "expected true or false"),
        ({"steps": ",".join("s" * 11)}, "1 to 10 non-empty steps"),
        ({"steps": "a,,b"}, "1 to 10 non-empty steps"),
        ({"date_to": None}, "missing parameter(s): date_to"),
        ({"appid": "x"}, "unknown parameter(s) appid"),
    ],
)
def test_bind_names_what_is_wrong(change: dict[str, Any], message: str):
    given = {**VALID, **change}
    given = {k: v for k, v in given.items() if v is not None}
    needed = list(VALID) + (["steps"] if "steps" in change else [])
    with pytest.raises(ParamError) as caught:
        bind(needed, given)
    assert message in str(caught.value)


def test_cli_pairs():
    assert parse_pairs(["app_id=demo", "steps=/a,/b=c"]) == {"app_id": "demo", "steps": "/a,/b=c"}
    with pytest.raises(ParamError):
        parse_pairs(["app_id"])


def test_athena_literals():
    assert athena_literal("demo") == "'demo'"
    assert athena_literal("it's") == "'it''s'"
    assert athena_literal(True) == "true" and athena_literal(False) == "false"
    assert athena_literal(["/demo", "LIKE_WOOD"]) == "ARRAY['/demo', 'LIKE_WOOD']"
    assert athena_literal(3) == "3"


@given(st.text(max_size=40))
def test_an_athena_string_literal_reads_back_as_the_value(value: str):
    # Trino's and DuckDB's string literal syntax agree: '' is a quote, nothing else is special.
    if "\x00" not in value:
        assert duckdb.sql(f"SELECT {athena_literal(value)} AS v").fetchall() == [(value,)]


@given(st.text(max_size=40))
def test_duckdb_binds_any_string_as_data(value: str):
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT 'demo' AS app_id")
    rows = con.sql(translate.to_duckdb("SELECT count(*) FROM t WHERE app_id = :who"), params={"who": value}).fetchall()
    assert rows == [(1,) if value == "demo" else (0,)]


def test_an_unknown_query_name_lists_the_known_ones():
    with pytest.raises(QueryError, match="top_pages"):
        prepare("top_pagez")


def test_athena_gets_qmark_sql_and_execution_parameters():
    calls: list[dict[str, Any]] = []

    def read_sql(**kwargs: Any) -> pd.DataFrame:
        calls.append(kwargs)
        return pd.DataFrame({"path": ["/demo"], "page_views": [3]})

    settings = from_env({"CLICKSTREAM_STAGE": "prod", "CLICKSTREAM_GLUE_DATABASE": "clickstream_prod"})
    sql, values = prepare("top_pages", {"app_id": "demo", "date_from": "2026-11-01", "date_to": "2026-11-07"})
    table = athena.run(sql, values, settings, read_sql=read_sql)
    assert table.to_pylist() == [{"path": "/demo", "page_views": 3}]
    (call,) = calls
    assert call["paramstyle"] == "qmark" and call["database"] == "clickstream_prod" and call["workgroup"] == "clickstream-prod"
    # one literal per ?, in the order of the placeholders: first the rollup scans (the keyed rows,
    # bounded below by the month rows' last day too, @months_upto; then the keyless totals), then
    # the raw scan after :rolled_through (default: nothing rolled up)
    scan = ["'demo'", "'2026-11-01'", "'2026-11-07'", "'0001-01-01'"]
    upto = len(translate.to_qmark(sql.split("FROM rollup_page_totals")[0])[1]) - len(scan)
    assert upto > 0 and call["params"][: 2 * len(scan) + upto] == [*scan, *call["params"][4 : 4 + upto], *scan]
    assert call["params"][2 * len(scan) + upto : 3 * len(scan) + upto] == scan
    literal = {
        "app_id": "'demo'",
        "date_from": "'2026-11-01'",
        "date_to": "'2026-11-07'",
        "rolled_through": "'0001-01-01'",
        "months_through": "'0001-01-01'",  # (default: no month row vouched for)
        "include_bots": "false",
    }
    names = translate.to_qmark(sql)[1]
    assert set(names) == set(literal)
    assert call["params"] == [literal[n] for n in names]
    assert "demo" not in call["sql"] and call["sql"].count("?") == len(names)


class _AthenaOnly(boto3.Session):
    """A session whose Athena client is ``client`` (stubbed), for awswrangler to call."""

    def __init__(self, client: Any) -> None:
        super().__init__(region_name="eu-west-1", aws_access_key_id="test", aws_secret_access_key="test")
        self._athena = client

    def client(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        assert (kwargs.get("service_name") or args[0]) == "athena"
        return self._athena


def _ended(state: str, reason: str | None = None, error: str | None = None) -> Any:
    """awswrangler's calls for one query (the workgroup's settings, the start, the state), with
    the query ending in ``state`` for ``reason``, or the first call failing with ``error``."""
    client = boto3.client("athena", region_name="eu-west-1", aws_access_key_id="test", aws_secret_access_key="test")
    stubber = Stubber(client)
    if error:
        stubber.add_client_error("get_work_group", service_error_code=error, http_status_code=500)
    else:
        configuration = {
            "ResultConfiguration": {"OutputLocation": "s3://bucket/athena-results/"},
            "EnforceWorkGroupConfiguration": True,
            "BytesScannedCutoffPerQuery": 1073741824,
        }
        stubber.add_response("get_work_group", {"WorkGroup": {"Name": "clickstream-dev", "Configuration": configuration}})
        stubber.add_response("start_query_execution", {"QueryExecutionId": "q-1"})
        status = {"State": state, **({"StateChangeReason": reason} if reason else {})}
        stubber.add_response("get_query_execution", {"QueryExecution": {"QueryExecutionId": "q-1", "Status": status}})
    stubber.activate()
    return _AthenaOnly(client)


def test_athena_failures_keep_their_kind():
    # GIVEN awswrangler itself, over Athena's responses for a query that fails, one cancelled by
    # the workgroup's scan cutoff, and a failing service
    settings = from_env({})
    # WHEN the query runs, THEN a wrong query is a terminal error naming Athena's reason
    with pytest.raises(QueryError, match="SYNTAX_ERROR") as failed:
        athena.run("SELECT 1", {}, settings, boto3_session=_ended("FAILED", "SYNTAX_ERROR: line 1:8"))
    assert not isinstance(failed.value, ScanCutoffReached)
    # a query over the cutoff is terminal too (a retry is cancelled and billed again), and says
    # which limit and what scans less
    with pytest.raises(ScanCutoffReached, match="Bytes scanned limit was exceeded") as cancelled:
        athena.run("SELECT 1", {}, settings, boto3_session=_ended("CANCELLED", "Bytes scanned limit was exceeded"))
    assert "AthenaBytesScannedCutoff" in str(cancelled.value) and athena.workgroup_for(settings) in str(cancelled.value)
    assert isinstance(cancelled.value, QueryError) and not isinstance(cancelled.value, TransientError)
    # a query cancelled for another reason is not mistaken for the cutoff
    with pytest.raises(QueryError, match="Query cancelled by user") as stopped:
        athena.run("SELECT 1", {}, settings, boto3_session=_ended("CANCELLED", "Query cancelled by user"))
    assert not isinstance(stopped.value, ScanCutoffReached) and "AthenaBytesScannedCutoff" not in str(stopped.value)
    # and a failing service is transient
    with pytest.raises(LakeUnavailable, match="InternalServerException"):
        athena.run("SELECT 1", {}, settings, boto3_session=_ended("", error="InternalServerException"))


def test_view_statements_come_in_dependency_order():
    names = [name for name, _ in athena.view_statements()]
    assert names.index("session_events") < names.index("sessions") < names.index("daily_metrics")
    assert names.index("sessions") < names.index("entry_pages")
