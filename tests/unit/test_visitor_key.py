"""The visitor key (chalicelib/lake/visitor_key.py) is one function on every engine: Python's
(the rollups), the Athena SQL text catalog puts where an etl/ file writes ``@visitor_key``, and
the DuckDB form translate makes of it; the rollups' visitor_key column is that function of their
visitors' anonymous_id."""

from __future__ import annotations

import hashlib
import re
import struct
import uuid
from datetime import timedelta
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.lake import rollup, visitor_key
from clickstream.lake import catalog, translate
from clickstream.lake.duck import DuckLake
from tests.rollup_helpers import APP, DAY0, DAYS, histories, lived

FIXED = ["", "a", " ", "é", "日本語", "🙂", "\x00", "a\x1fb", "0" * 16, "f" * 16, "x" * 1000] + [
    str(uuid.UUID(int=i * 0x9E3779B97F4A7C15)) for i in range(200)
]


def reference(s: str) -> int:
    """The definition, as the decision writes it."""
    return struct.unpack(">q", hashlib.md5(s.encode()).digest()[:8])[0]


def duckdb_keys(values: list[str | None]) -> list[int | None]:
    """The keys DuckDB computes from the SQL an etl/ file gets for ``@visitor_key``."""
    expanded = catalog.expand("SELECT @visitor_key AS k FROM ids")
    assert expanded == f"SELECT {visitor_key.SQL} AS k FROM ids"
    sql = translate.to_duckdb(expanded)
    con = duckdb.connect()
    con.execute("CREATE TABLE ids AS SELECT UNNEST($1::VARCHAR[]) AS anonymous_id, CAST(NULL AS VARCHAR) AS user_id", [values])
    return [row[0] for row in con.execute(sql).fetchall()]  # a scan keeps the insertion order


def test_python_and_duckdb_give_the_same_key_for_ascii_uuids_unicode_and_empty():
    expected = [reference(s) for s in FIXED]
    assert [visitor_key.key(s) for s in FIXED] == expected
    assert duckdb_keys(list(FIXED)) == expected
    # both signs occur: the top bit is the sign, not dropped
    assert min(expected) < 0 < max(expected)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.text(max_size=40), min_size=1, max_size=30))
def test_python_and_duckdb_agree_on_any_text(values: list[str]):
    assert duckdb_keys(values) == [reference(s) for s in values]


def test_a_null_id_has_a_null_key_and_keys_hashes_each_distinct_id_once():
    ids = pa.chunked_array([["b", None, "a"], ["b", "a", "c"]])
    assert visitor_key.keys(ids).to_pylist() == [None if s is None else reference(s) for s in ["b", None, "a", "b", "a", "c"]]
    assert visitor_key.keys(pa.array([], pa.string())).to_pylist() == []
    assert duckdb_keys([None, "a"]) == [None, reference("a")]


def test_the_duckdb_form_uses_duckdb_functions_only():
    sql = translate.to_duckdb(f"SELECT {visitor_key.SQL} FROM events")
    assert "FROM_BIG_ENDIAN_64" not in sql.upper() and "UNHEX" not in sql.upper()
    # another from_big_endian_64 is not this pattern: left to sqlglot
    assert "FROM_BIG_ENDIAN_64(x)" in translate.to_duckdb("SELECT from_big_endian_64(x) FROM t")


def etl_files() -> list[str]:
    return sorted(str(p) for p in catalog.ETL_DIR.rglob("*.sql"))


@pytest.mark.parametrize("path", etl_files())
def test_no_etl_file_writes_the_key_out(path: str):
    """The key is written once, here: an etl/ file that reads raw events says ``@visitor_key``."""
    assert not re.search(r"from_big_endian_64|md5\(", open(path).read(), re.IGNORECASE), path


@pytest.mark.parametrize("name", catalog.query_names())
def test_every_key_the_engines_see_is_the_canonical_text_and_duckdb_gets_its_own_form(name: str):
    text = catalog.query_file(name).text  # type: ignore[union-attr]
    found = [m.start() for m in re.finditer(r"from_big_endian_64", text, re.IGNORECASE)]
    # the key of an event's visitor, or of a sessionized row's (whose anonymous_id is the visitor)
    assert all(text[i:].startswith((visitor_key.SQL, visitor_key.SESSION_SQL)) for i in found), name
    if "visitor_key" in (catalog.QUERIES_DIR / f"{name}.sql").read_text():
        assert found, name
    assert "FROM_BIG_ENDIAN_64" not in translate.to_duckdb(text).upper(), name


def test_no_panel_counts_distinct_anonymous_ids_and_the_views_stay_on_them():
    for name in catalog.query_names():
        text = catalog.query_file(name).text  # type: ignore[union-attr]
        assert not re.search(r"count\(\s*DISTINCT\s+anonymous_id", text, re.IGNORECASE), name
    for path in (catalog.ETL_DIR / "views").glob("*.sql"):
        assert "visitor_key" not in path.read_text() and "from_big_endian_64" not in path.read_text()


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(history=histories())
def test_the_rollups_key_is_the_function_of_their_ids_and_what_the_tail_expression_yields(
    tmp_path_factory: pytest.TempPathFactory, history: dict[str, Any]
):
    # GIVEN a random lake, rolled up and changed
    lake = lived(tmp_path_factory.mktemp("lake"), history)
    duck = DuckLake(lake.root)
    through = lake.rolled_through()
    tail_key = translate.to_duckdb(f"SELECT DISTINCT {visitor_key.SQL} AS k FROM events WHERE dt = $dt")
    for k in range(DAYS):
        day = str(DAY0 + timedelta(days=k))
        if day > through:
            continue
        # THEN rollup_sessions' key is the Python function of its anonymous_id
        sessions = duck.execute(f"SELECT anonymous_id, visitor_key FROM rollup_sessions WHERE dt = '{day}'").to_pylist()
        assert all(r["visitor_key"] == reference(r["anonymous_id"]) for r in sessions)
        # AND the day tables hold the keys the tail's expression gives over the day's user actions
        raw = duck.execute(tail_key.replace("WHERE", "WHERE event_type NOT IN ('identify', 'group', 'alias') AND"), {"dt": day})
        expected = sorted(raw.column("k").to_pylist())
        got = duck.execute(f"SELECT DISTINCT visitor_key AS k FROM rollup_visitor_days WHERE dt = '{day}' ORDER BY k")
        assert got.column("k").to_pylist() == expected
        # AND every key of the day's page, event and geo rows is one of the day's visitors'
        for table in ("rollup_page_days", "rollup_event_days", "rollup_geo_days"):
            keys = duck.execute(f"SELECT visitor_key FROM {table} WHERE dt = '{day}' AND app_id = '{APP}'").column(0)
            assert set(keys.to_pylist()) <= set(expected), table


def test_the_rollup_schemas_carry_the_key_where_visitors_are_counted():
    for name in ("rollup_sessions", "rollup_visitor_days", "rollup_page_days", "rollup_event_days", "rollup_geo_days"):
        assert rollup.SCHEMAS[name].field(visitor_key.COLUMN).type == pa.int64(), name
    assert "anonymous_id" in rollup.SESSIONS.names and "anonymous_id" in rollup.LAST_EVENTS.names
    for name in ("rollup_visitor_days", "rollup_page_days", "rollup_event_days", "rollup_geo_days"):
        assert "anonymous_id" not in rollup.SCHEMAS[name].names, name
