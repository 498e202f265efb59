"""Expressions written once in Python and placed in the SQL by clickstream.lake.catalog:
``@visitor``, ``@visitor_key``, ``@session_visitor_key`` and ``@spec_funnels`` (the module
docstring). What every engine reads is the
expanded text, so no placeholder may survive it, and an unknown one is an error."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest
import sqlglot
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.lake import rollup, visitor_key
from chalicelib.lake.month import DIMENSIONS
from clickstream.lake import catalog, translate
from clickstream.lake.exceptions import QueryError
from clickstream.lake.params import athena_literal
from clickstream.query import query

EXPANDED = sorted(p for d in (catalog.VIEWS_DIR, catalog.QUERIES_DIR, catalog.BLOCKS_DIR) for p in d.glob("*.sql"))


def test_an_unknown_placeholder_is_named_with_its_file_and_the_known_ones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    known = (
        "@month_later, "
        + ", ".join(f"@month_rows_{d.name}" for d in sorted(DIMENSIONS, key=lambda d: d.name))
        + ", @month_seen, @month_seen_all, @month_seen_people, @months_upto, @session_visitor_key, @spec_funnels,"
        " @visitor, @visitor_key"
    )
    with pytest.raises(QueryError, match=rf"top_pages.sql uses the placeholder @visitors, .* known: {known}$"):
        catalog.expand("SELECT @visitors FROM events", origin="top_pages.sql")
    with pytest.raises(QueryError, match=r"the SQL uses the placeholder @, "):
        catalog.expand("SELECT @ 1")
    # in a block, the block is named
    (tmp_path / "keyed.sql").write_text("keyed AS (SELECT @Visitor_key AS k FROM events)\n")
    monkeypatch.setattr(catalog, "BLOCKS_DIR", tmp_path)
    with pytest.raises(QueryError, match=r"etl/blocks/keyed.sql uses the placeholder @Visitor_key"):
        catalog.expand("WITH\n-- @include keyed\nSELECT * FROM keyed", origin="x.sql")


@pytest.mark.parametrize("path", EXPANDED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_placeholder_survives_the_expansion_of_any_file(path: Path):
    text = catalog.expand(path.read_text(), origin=path.name)
    assert "@" not in text
    assert catalog.expand(text, origin=path.name) == text  # expanding twice changes nothing (dashboard.pages does)


def test_the_table_ddl_which_is_not_expanded_has_no_placeholder():
    for path in (catalog.ETL_DIR / "tables").glob("*.sql"):
        assert "@" not in path.read_text(), path.name


def test_the_placeholders_are_used_where_the_copies_were():
    raw = {p.relative_to(catalog.ETL_DIR).as_posix(): p.read_text() for p in EXPANDED}
    keyed = {name for name, text in raw.items() if "@visitor_key" in text}
    assert keyed == {
        "blocks/visitor_rows.sql",
        "queries/custom_events.sql",
        "queries/daily_metrics.sql",
        "queries/geo_grid.sql",
        "queries/retention.sql",
        "queries/top_pages.sql",
    }
    assert {name for name, text in raw.items() if "@session_visitor_key" in text} == {"blocks/session_rows.sql"}
    # the visitor (decision 0016) wherever events are read per visitor: sessionized, grouped, counted
    visited = {name for name, text in raw.items() if re.search(r"@visitor\b", text)}
    assert visited == keyed | {
        "blocks/range_sessions.sql",
        "blocks/tail_sessions.sql",
        "queries/funnel.sql",
        "views/bot_traffic.sql",
        "views/countries.sql",
        "views/custom_events.sql",
        "views/daily_metrics.sql",
        "views/geo_grid.sql",
        "views/pages.sql",
        "views/retention.sql",
        "views/session_events.sql",
        "views/technology.sql",
    }
    assert {name for name, text in raw.items() if "@spec_funnels" in text} == {"queries/funnel.sql"}
    assert raw["queries/funnel.sql"].count(":steps IN (@spec_funnels)") == 6


CODE = st.sampled_from(["SELECT ", "x", " AS k", ", ", "(", ")", " FROM events", "\n", " || ", "1"])
COMMENT = st.text(st.sampled_from("ab @'\"-*/ "), max_size=12).map(lambda s: f"-- {s}\n")
LITERAL = st.text(st.sampled_from("ab@'\n-*/ "), max_size=12).map(athena_literal)
IDENT = st.text(st.sampled_from("ab@ '"), max_size=8).map(lambda s: '"' + s.replace('"', '""') + '"')


@given(st.lists(st.one_of(CODE, COMMENT, LITERAL, IDENT, st.just(" @visitor_key "), st.just("(@spec_funnels)")), max_size=20))
def test_placeholders_are_replaced_by_their_sql_in_code_only(pieces: list[str]):
    sql = {" @visitor_key ": f" {visitor_key.SQL} ", "(@spec_funnels)": f"({catalog.funnel_arrays(rollup.FUNNELS)})"}
    expected = "".join(sql.get(piece, piece) for piece in pieces)
    assert catalog.substitute("".join(pieces)) == expected


def test_the_spec_funnels_quote_each_step_for_both_engines():
    steps = ["/it's", "a\\b", "@spec_funnels", "--x", "日本"]
    text = f"SELECT {catalog.funnel_arrays([steps, ['/b']])}"
    tree = sqlglot.parse_one(text, read="athena")
    assert [[v.name for v in arr.expressions] for arr in tree.expressions] == [steps, ["/b"]]
    assert duckdb.connect().execute(translate.to_duckdb(text)).fetchone() == (steps, ["/b"])
    # a step that reads like a placeholder stays a string when the text is expanded again
    assert catalog.expand(text) == text


def test_with_no_spec_funnel_every_gate_says_not_a_spec_funnel():
    gate = f"SELECT ARRAY['/demo'] IN ({catalog.funnel_arrays([])}), NOT (ARRAY['/demo'] IN ({catalog.funnel_arrays([])}))"
    assert duckdb.connect().execute(translate.to_duckdb(gate)).fetchone() == (False, True)


def test_print_shows_the_funnel_with_the_spec_funnels_and_no_placeholder():
    result = CliRunner().invoke(query, ["funnel", "--print"])
    assert result.exit_code == 0, result.output
    assert "@" not in result.output
    assert result.output.count(f"? IN ({catalog.funnel_arrays(rollup.FUNNELS)})") == 6
