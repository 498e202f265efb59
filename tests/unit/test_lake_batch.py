"""A page of panels as one DuckDB statement (clickstream.lake.batch) answers what each panel
answers alone: over random lakes with rollups (the generators of test_rollup_equality), every
panel, for the range and its previous period, row for row, in order, with the same types."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clickstream.lake import batch, catalog, directory_lake, prepare, translate
from clickstream.lake.duck import DuckLake
from clickstream.lake.exceptions import QueryError
from clickstream.lake.params import NOTHING_ROLLED
from tests.rollup_helpers import APP, DAY0, DAYS, FUNNELS, histories, lived, same


def alone(duck: DuckLake, sql: str, values: dict[str, Any]) -> pa.Table:
    return duck.execute(translate.to_duckdb(sql), values)


def page(lo: date, hi: date, bots: bool, through: str) -> list[tuple[str, dict[str, Any]]]:
    """Every panel over the range and over the previous period (as the dashboard's top half asks),
    each funnel of the tests: parameters that differ between the statement's queries."""
    days = (hi - lo).days + 1
    out = []
    for a, b in ((lo, hi), (lo - timedelta(days=days), hi - timedelta(days=days))):
        for name in catalog.query_names():
            for steps in FUNNELS if name == "funnel" else [None]:
                given_ = {"app_id": APP, "date_from": a, "date_to": b, "include_bots": bots, "rolled_through": through}
                if steps:
                    given_["steps"] = steps
                text = catalog.query_file(name).text  # type: ignore[union-attr]
                out.append(prepare(name, {k: v for k, v in given_.items() if k in translate.parameter_names(text)}))
    return out


def check(duck: DuckLake, queries: list[tuple[str, dict[str, Any]]]) -> batch.Batch:
    composed = batch.compose(queries)
    tables = composed.split(duck.execute(composed.sql, composed.params))
    assert len(tables) == len(queries)
    for (sql, values), table in zip(queries, tables, strict=True):
        expected = alone(duck, sql, values)
        assert table.schema == expected.schema, (sql[:200], table.schema, expected.schema)
        assert same(table.to_pylist(), expected.to_pylist()), (values, table.to_pylist(), expected.to_pylist())
    return composed


@pytest.mark.heavy
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(history=histories(), bots=st.lists(st.booleans(), min_size=3, max_size=3))
def test_a_batched_page_answers_what_each_panel_answers_alone(
    tmp_path_factory: pytest.TempPathFactory, history: dict[str, Any], bots: list[bool]
):
    # GIVEN a random lake rolled up through some day, then changed and rebuilt where affected
    lake = lived(tmp_path_factory.mktemp("lake"), history)
    duck = DuckLake(lake.root, threads=4)
    through = lake.rolled_through()
    # WHEN the whole page runs as one statement THEN every panel answers as it does alone
    # (the bot setting is the same bound value in every query of a statement: the statement's text
    # is the same either way, so each range runs with one drawn setting)
    for (first, last), include_bots in zip(history["ranges"], bots[: len(history["ranges"])], strict=True):
        lo, hi = sorted((DAY0 + timedelta(days=first), DAY0 + timedelta(days=last)))
        composed = check(duck, page(lo, hi, include_bots, through))
        assert {"visits", "visitor_rows"} <= set(composed.shared)  # the tail is sessionized once
    # and with nothing rolled up in one half of the statement (rolled_through differs between queries)
    lo, hi = DAY0, DAY0 + timedelta(days=DAYS - 1)
    check(duck, page(lo, hi, False, through)[:20] + page(lo, hi, False, NOTHING_ROLLED)[20:])


def test_many_ordered_rows_keep_their_order(tmp_path: Path):
    # 200,000 rows in an order no scan gives, sorted in parallel (4 threads) beside another query
    duck = DuckLake(tmp_path, threads=4)
    shuffled = "SELECT x, (x * 7919) % 200003 AS k FROM UNNEST(sequence(1, 200000)) AS t(x) ORDER BY k DESC"
    grouped = "SELECT x % 1000 AS g, count(*) AS n FROM UNNEST(sequence(1, 200000)) AS t(x) GROUP BY x % 1000 ORDER BY n, g DESC"
    tables = check(duck, [(shuffled, {}), (grouped, {}), (shuffled, {})])
    answer = batch.compose([(shuffled, {}), (grouped, {})])
    rows = answer.split(duck.execute(answer.sql, answer.params))[0].column("k").to_pylist()
    assert len(rows) == 200_000 and rows == sorted(rows, reverse=True)
    assert tables.size == 3


def test_a_parameter_that_differs_between_queries_is_renamed_for_one_of_them(tmp_path: Path):
    duck = DuckLake(tmp_path)
    sql = "WITH picked AS (SELECT x FROM UNNEST(sequence(1, 9)) AS t(x) WHERE x <= :n) SELECT count(*) AS c FROM picked"
    composed = batch.compose([(sql, {"n": "3"}), (sql, {"n": "5"}), (sql, {"n": "3"})])
    assert composed.params == {"n": "3", "p1_n": "5"}
    # the first and third share their CTE, the second has its own
    assert composed.sql.count(" AS MATERIALIZED (") == 1 and "p1_picked" in composed.sql
    tables = composed.split(duck.execute(composed.sql, composed.params))
    assert [t.to_pylist() for t in tables] == [[{"c": 3}], [{"c": 5}], [{"c": 3}]]


def test_a_cte_name_two_queries_use_for_different_bodies_is_renamed_and_its_references_follow(tmp_path: Path):
    duck = DuckLake(tmp_path)
    first = "WITH t AS (SELECT 1 AS a), u AS (SELECT a + 10 AS b FROM t) SELECT b FROM u"
    # the same names, other bodies; a column qualified by the CTE's name; u reads the renamed t
    second = "WITH t AS (SELECT 2 AS a), u AS (SELECT t.a + 20 AS b FROM t) SELECT u.b, (SELECT max(a) FROM t) AS m FROM u"
    composed = check(duck, [(first, {}), (second, {})])
    assert "p1_t" in composed.sql and "p1_u" in composed.sql
    tables = composed.split(duck.execute(composed.sql, composed.params))
    assert [t.to_pylist() for t in tables] == [[{"b": 11}], [{"b": 22, "m": 2}]]


def test_an_empty_answer_keeps_its_columns_and_types(tmp_path: Path):
    duck = DuckLake(tmp_path)
    check(
        duck, [("SELECT app_id, count(*) AS n, sum(1) AS s FROM events GROUP BY app_id ORDER BY n", {}), ("SELECT 1 AS one", {})]
    )


def test_one_failing_query_fails_the_batch_with_the_lake_error(tmp_path: Path):
    lake = directory_lake(tmp_path)
    good = prepare("top_pages", {"app_id": APP, "date_from": DAY0, "date_to": DAY0})
    bad = ("SELECT no_such_column FROM events", {})
    assert lake.query_many([good, good])[0].column_names == ["path", "page_views", "visitors"]
    with pytest.raises(QueryError, match="no_such_column"):
        lake.query_many([good, bad])
    with pytest.raises(QueryError, match="at least one"):
        batch.compose([])
