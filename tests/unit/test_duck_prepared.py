"""The local engine prepares each statement once (clickstream.lake.duck: PREPARE, then EXECUTE with
the values written as literals). A value must reach the statement exactly as bound, whatever it
holds, and the answers must stay the lake's as files come and go."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clickstream.lake.duck import PREPARED_KEPT, DuckLake, literal

VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),
    st.lists(st.text(), max_size=4),
)


@pytest.fixture(scope="module")
def duck(tmp_path_factory) -> DuckLake:
    return DuckLake(tmp_path_factory.mktemp("lake"))


@settings(max_examples=300, deadline=None)
@given(value=VALUES)
def test_a_value_reaches_the_prepared_statement_as_bound(duck, value):
    written = literal(value)
    assert written is not None or "\x00" in (value if isinstance(value, str) else "".join(value))
    if written is not None:  # the literal alone reads back as the value
        assert duck.execute(f"SELECT {written} AS v", {}).to_pylist() == [{"v": value}]
    assert duck.execute("SELECT $v AS v", {"v": value}).to_pylist() == [{"v": value}]


@pytest.mark.parametrize(
    "value",
    [
        "x' AS v; DROP TABLE events; SELECT '",
        "back\\\\slash\\\\'",
        "it's",
        "line\nbreak",
        "'",
        "''",
        "\u00e9\u6f22\U0001f600",
        "",
    ],
)
def test_quotes_and_escapes_stay_inside_the_value(duck, value):
    assert literal(value) is not None
    assert duck.execute("SELECT $v AS v, length($v) AS n", {"v": value}).to_pylist() == [{"v": value, "n": len(value)}]


def test_values_without_a_literal_are_bound_as_before(duck):
    assert literal("nul\x00byte") is None and literal(float("nan")) is None and literal(object()) is None
    assert duck.execute("SELECT $v AS v", {"v": "nul\x00byte"}).to_pylist() == [{"v": "nul\x00byte"}]


def test_a_planned_statement_reads_the_files_a_table_has_when_it_runs(tmp_path: Path):
    def day(dt: str, n: int) -> Path:
        folder = tmp_path / "events" / "app_id=a" / f"dt={dt}"
        folder.mkdir(parents=True)
        pq.write_table(pa.table({"event_id": [f"{dt}-{i}" for i in range(n)]}), folder / "compacted-1.parquet")
        return folder / "compacted-1.parquet"

    first = day("2026-11-01", 2)
    duck = DuckLake(tmp_path)
    sql = "SELECT count(*) AS n FROM events WHERE app_id = $app AND dt >= $since"
    assert duck.execute(sql, {"app": "a", "since": "2026-11-01"}).to_pylist() == [{"n": 2}]
    # a new day's file, with no refresh: DuckDB lists the view's files again at each EXECUTE
    day("2026-11-02", 3)
    assert duck.execute(sql, {"app": "a", "since": "2026-11-01"}).to_pylist() == [{"n": 5}]
    first.unlink()
    assert duck.execute(sql, {"app": "a", "since": "2026-11-01"}).to_pylist() == [{"n": 3}]
    duck.refresh()  # what LocalLake.sync does after the copy changed: the statements are planned again
    assert duck.execute(sql, {"app": "a", "since": "2026-11-02"}).to_pylist() == [{"n": 3}]


def test_more_statements_than_are_kept_all_answer(tmp_path: Path):
    duck = DuckLake(tmp_path)
    for k in range(PREPARED_KEPT + 5):
        assert duck.execute(f"SELECT $x + {k} AS y", {"x": 1}).to_pylist() == [{"y": 1 + k}]
    assert duck.execute("SELECT $x + 0 AS y", {"x": 2}).to_pylist() == [{"y": 2}]


def test_a_tables_first_file_is_read_after_the_refresh_that_finds_it(tmp_path: Path):
    duck = DuckLake(tmp_path)
    sql = "SELECT count(*) AS n FROM events WHERE app_id = $app"
    assert duck.execute(sql, {"app": "a"}).to_pylist() == [{"n": 0}]  # no file: an empty relation
    folder = tmp_path / "events" / "app_id=a" / "dt=2026-11-01"
    folder.mkdir(parents=True)
    pq.write_table(pa.table({"event_id": ["e1", "e2"]}), folder / "compacted-1.parquet")
    duck.refresh()
    assert duck.execute(sql, {"app": "a"}).to_pylist() == [{"n": 2}]
