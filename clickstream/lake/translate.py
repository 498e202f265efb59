"""Named parameters and dialects: one Athena (Trino) text, bound two ways.

* DuckDB: sqlglot rewrites the statement (``read="athena"``, ``write="duckdb"``); ``:name``
  becomes ``$name`` and the values are bound by name in a prepared statement.
* Athena: ``:name`` becomes ``?`` in the original text and the values travel separately as
  execution parameters, in order of appearance (a name used twice is sent twice).

Values are never formatted into the SQL text on either engine.
"""

from __future__ import annotations

from functools import lru_cache

import sqlglot
from sqlglot import exp
from sqlglot.dialects.athena import Athena
from sqlglot.errors import ErrorLevel, SqlglotError
from sqlglot.tokens import TokenType

from clickstream.lake.exceptions import QueryError


def placeholders(sql: str) -> list[tuple[int, int, str]]:
    """(start, end inclusive, name) of every ``:name`` outside string literals and comments."""
    try:
        tokens = Athena().tokenize(sql)
    except SqlglotError as exc:
        raise QueryError(f"the SQL does not parse: {exc}") from exc
    found = []
    for colon, name in zip(tokens, tokens[1:]):
        if colon.token_type == TokenType.COLON and name.start == colon.end + 1 and name.text.isidentifier():
            found.append((colon.start, name.end, name.text))
    return found


def parameter_names(sql: str) -> list[str]:
    """The distinct ``:name`` parameters of ``sql``, in order of first appearance."""
    return list(dict.fromkeys(name for _, _, name in placeholders(sql)))


def to_qmark(sql: str) -> tuple[str, list[str]]:
    """Athena's form: ``?`` for each ``:name``, and the names in the order their values are sent."""
    out, names, last = [], [], 0
    for start, end, name in placeholders(sql):
        out.append(sql[last:start])
        out.append("?")
        names.append(name)
        last = end + 1
    out.append(sql[last:])
    return "".join(out), names


@lru_cache(maxsize=256)
def to_duckdb(sql: str) -> str:
    """The DuckDB form of one Athena statement; ``:name`` parameters become ``$name``."""
    try:
        # IGNORE: the one construct we rely on that DuckDB lacks is Trino's 4th argument of
        # reduce() (the output lambda, identity in etl/queries/funnel.sql); anything that
        # matters fails on DuckDB itself, and every .sql file runs there in the tests.
        statements = sqlglot.transpile(sql, read="athena", write="duckdb", unsupported_level=ErrorLevel.IGNORE, comments=False)
    except SqlglotError as exc:
        raise QueryError(f"the SQL does not parse as Athena (Trino) SQL: {exc}") from exc
    statements = [s for s in statements if s.strip()]
    if len(statements) != 1:
        raise QueryError(f"expected one SQL statement, got {len(statements)}")
    return statements[0]


def placeholders_outside_where(sql: str) -> list[str]:
    """Parameters Athena would refuse: its execution parameters may only appear in WHERE clauses."""
    tree = sqlglot.parse_one(sql, read="athena")
    bad = []
    for node in tree.find_all(exp.Placeholder):
        holder = node.find_ancestor(exp.Where, exp.Select, exp.Join)
        if not isinstance(holder, exp.Where):
            bad.append(str(node.this))
    return bad
