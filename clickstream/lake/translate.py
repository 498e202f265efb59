"""Named parameters and dialects: one Athena (Trino) text, bound two ways.

* DuckDB: sqlglot rewrites the statement (``read="athena"``, ``write="duckdb"``); ``:name``
  becomes ``$name`` and the values are bound by name in a prepared statement. One construct
  is rewritten by hand: the visitor key (chalicelib/lake/visitor_key.py), whose Trino form
  sqlglot turns into functions DuckDB lacks (``for_duckdb``, which clickstream/lake/batch.py
  applies too). Before that, the local engine puts the month arm's last day U, written out in the
  Athena text wherever it is used, in a parameter of its own (clickstream.lake.month_reads
  ``with_upto``: a third of the page's SQL to bind at every run).
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

# The visitor key in DuckDB's functions: its md5() is the hex digest of the UTF-8 bytes, so the
# first 8 bytes are the first 16 hex digits, read as an unsigned 64-bit integer ('0x...' casts
# to UBIGINT), then made signed (two's complement: flip the top bit, subtract 2^63; no overflow
# on the way). DuckDB's md5_number_upper is the little-endian reading of those bytes: not it.
_DUCKDB_KEY = (
    "CAST(CAST(xor(CAST(('0x' || substr(md5(__id), 1, 16)) AS UBIGINT), CAST(9223372036854775808 AS UBIGINT))"
    " AS HUGEINT) - 9223372036854775808 AS BIGINT)"
)
_DUCKDB_KEY_TREE = sqlglot.parse_one(_DUCKDB_KEY, read="duckdb")  # parsed once; each match gets a copy


def for_duckdb(node: exp.Expression) -> exp.Expression:
    """A transform (``tree.transform(for_duckdb)``) of an Athena-parsed tree before DuckDB's
    SQL is generated from it: from_big_endian_64(substr(md5(to_utf8(x)), 1, 8)), as sqlglot parses it from Athena SQL,
    becomes ``_DUCKDB_KEY`` over x; any other node is left as it is."""
    if not (isinstance(node, exp.Anonymous) and str(node.this).lower() == "from_big_endian_64" and len(node.expressions) == 1):
        return node
    sub = node.expressions[0]
    if not (
        isinstance(sub, exp.Substring)
        and isinstance(sub.this, exp.MD5Digest)
        and isinstance(sub.this.this, exp.Encode)
        and sub.args.get("start") == exp.Literal.number(1)
        and sub.args.get("length") == exp.Literal.number(8)
    ):
        return node
    argument = sub.this.this.this
    replacement = _DUCKDB_KEY_TREE.copy()
    for column in replacement.find_all(exp.Column):
        if column.name == "__id":
            column.replace(argument.copy())
    return replacement


def placeholders(sql: str) -> list[tuple[int, int, str]]:
    """(start, end inclusive, name) of every ``:name`` outside string literals and comments."""
    return list(_placeholders(sql))


# Tokenizing is most of the cost of binding a panel (sqlglot's tokenizer in Python: about 10 ms
# for a panel's expanded SQL), and the same texts are bound over and over (each dashboard request,
# each range of a test): one tokenization per text.
@lru_cache(maxsize=256)
def _placeholders(sql: str) -> tuple[tuple[int, int, str], ...]:
    try:
        tokens = Athena().tokenize(sql)
    except SqlglotError as exc:
        raise QueryError(f"the SQL does not parse: {exc}") from exc
    found = []
    for colon, name in zip(tokens, tokens[1:]):
        if colon.token_type == TokenType.COLON and name.start == colon.end + 1 and name.text.isidentifier():
            found.append((colon.start, name.end, name.text))
    return tuple(found)


def parameter_names(sql: str) -> list[str]:
    """The distinct ``:name`` parameters of ``sql``, in order of first appearance."""
    return list(dict.fromkeys(name for _, _, name in _placeholders(sql)))


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
        trees = [tree.transform(for_duckdb) for tree in sqlglot.parse(sql, read="athena") if tree is not None]
        statements = [tree.sql(dialect="duckdb", unsupported_level=ErrorLevel.IGNORE, comments=False) for tree in trees]
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
