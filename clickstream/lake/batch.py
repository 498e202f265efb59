"""Many panel queries as one DuckDB statement, sharing the CTEs they have in common.

A dashboard page runs 16 panels; most of them start from the same CTEs (etl/blocks: the raw
tail's sessions, the visitor rows). Run one by one, every panel sessionizes the tail again.
Composed into one statement, a CTE whose name and body (after parameter binding) are the same
in several panels is written once, and DuckDB materialises it once for the whole page:

    WITH scoped AS (...), ordered AS (...), visits AS MATERIALIZED (...),  -- shared
         p3_active AS (...),                    -- a name two panels use for different bodies
         q0 AS (SELECT row_number() OVER () AS __ord, * FROM (<panel 0's SELECT>) AS q), ...
    SELECT (SELECT list(r ORDER BY r.__ord) FROM q0 AS r) AS r0, ...

Each panel's rows come back as a list of structs in its own order (the ordinal is taken as its
ORDER BY left them), and ``split`` turns them into the table the panel alone returns, typed as
``duck.normalize`` types it. Parameters keep their names where every panel binds the same
value, and are renamed per panel (p3_steps) where values differ; nothing is formatted into the
text. The etl/queries files stay the single source: Athena and QuickSight run them one by one.
Nothing is kept between statements: each page reads the lake as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Mapping, Sequence

import pyarrow as pa
import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, SqlglotError

from clickstream.lake import translate
from clickstream.lake.duck import normalize
from clickstream.lake.exceptions import QueryError

ORDINAL = "__ord"


@dataclass(frozen=True)
class Batch:
    """The composed DuckDB statement, its parameter values, and what each query kept or shared."""

    sql: str
    params: dict[str, Any]
    size: int
    shared: tuple[str, ...]  # CTEs written once for several queries

    def split(self, table: pa.Table) -> list[pa.Table]:
        """Each query's rows, in its order, from the statement's one row of lists."""
        if table.num_rows != 1 or table.num_columns != self.size:
            raise QueryError(f"a batch of {self.size} queries answered {table.num_rows} rows of {table.num_columns} columns")
        return [_rows(table.column(i).combine_chunks()) for i in range(self.size)]


def _rows(column: pa.Array) -> pa.Table:
    assert isinstance(column, pa.ListArray)
    struct = column.flatten() if column.null_count == 0 else pa.array([], type=column.type.value_type)
    assert isinstance(struct, pa.StructArray)
    names = [struct.type.field(i).name for i in range(struct.type.num_fields)]
    arrays = struct.flatten()
    keep = [i for i, n in enumerate(names) if n != ORDINAL]
    return normalize(pa.Table.from_arrays([arrays[i] for i in keep], names=[names[i] for i in keep]))


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def _unique(name: str, taken: set[str]) -> str:
    while name in taken:
        name += "_"
    return name


def _rename_tables(node: exp.Expression, names: Mapping[str, str]) -> None:
    """Point references to a query's own CTEs at their names in the batch. The old name stays
    as the alias, so columns qualified by it (``visits.session_no``) still resolve."""
    for table in list(node.find_all(exp.Table)):
        if table.args.get("db") or table.args.get("catalog") or not isinstance(table.this, exp.Identifier):
            continue
        new = names.get(table.name)
        if new is None or new == table.name:
            continue
        if not table.args.get("alias"):
            table.set("alias", exp.TableAlias(this=exp.to_identifier(table.name)))
        table.set("this", exp.to_identifier(new))


def _duck(node: exp.Expression) -> str:
    return node.sql(dialect="duckdb", unsupported_level=ErrorLevel.IGNORE, comments=False)


def compose(queries: Sequence[tuple[str, Mapping[str, Any]]]) -> Batch:
    """One DuckDB statement for ``queries``: (Athena SQL with ``:name`` parameters, their bound values)."""
    if not queries:
        raise QueryError("a batch needs at least one query")
    # The statement depends on the texts and on which values repeat, not on the values: planned
    # once per page shape (parsing 17 panels takes a quarter of a second), bound every time.
    first: dict[str, Any] = {}
    shape = []
    for _, values in queries:
        for name, value in values.items():
            first.setdefault(name, value)
        shape.append(tuple((name, _same(first[name], value)) for name, value in values.items()))
    plan = _plan(tuple(sql for sql, _ in queries), tuple(shape))
    params = {plan.names[i][name]: value for i, (_, values) in enumerate(queries) for name, value in values.items()}
    return Batch(plan.sql, params, len(queries), plan.shared)


@dataclass(frozen=True)
class _Plan:
    sql: str
    names: tuple[dict[str, str], ...]  # per query: its parameter's name -> the name in the statement
    shared: tuple[str, ...]


@lru_cache(maxsize=64)
def _plan(texts: tuple[str, ...], shape: tuple[tuple[tuple[str, bool], ...], ...]) -> _Plan:
    """The statement for ``texts``; ``shape`` says, per query, its parameters and whether each has
    the value the first query binding that name gave it (then the name is kept, else renamed)."""
    taken_params = {name for row in shape for name, _ in row}
    param_names: list[dict[str, str]] = []
    outputs = [f"q{i}" for i in range(len(texts))]
    taken = set(outputs)
    seen: dict[str, str] = {}  # the CTE's text, under its batch name -> that name
    ctes: list[tuple[str, exp.CTE]] = []
    selects: list[exp.Expression] = []
    for i, (sql, row) in enumerate(zip(texts, shape)):
        try:
            tree = sqlglot.parse_one(sql, read="athena").transform(translate.for_duckdb)
        except SqlglotError as exc:
            raise QueryError(f"query {i} of the batch does not parse as Athena (Trino) SQL: {exc}") from exc
        if not isinstance(tree, exp.Query):
            raise QueryError(f"query {i} of the batch is not a SELECT")
        # Parameters: one name per distinct value, the query's own name where it can keep it.
        renamed: dict[str, str] = {}
        for name, same in row:
            renamed[name] = name if same else _unique(f"p{i}_{name}", taken_params)
            taken_params.add(renamed[name])
        param_names.append(renamed)
        for holder in tree.find_all(exp.Placeholder):
            if renamed.get(str(holder.this), str(holder.this)) != str(holder.this):
                holder.set("this", renamed[str(holder.this)])
        with_ = tree.args.get("with_")
        if with_ is not None and with_.args.get("recursive"):
            raise QueryError(f"query {i} of the batch has a recursive WITH, which a batch does not share")
        local: dict[str, str] = {}  # the query's CTE name -> its name in the batch
        for cte in with_.expressions if with_ is not None else []:
            name = cte.alias_or_name
            _rename_tables(cte.this, local)
            if any(w is not with_ for w in cte.find_all(exp.With)):
                raise QueryError(f"query {i} of the batch has a WITH inside a CTE, which a batch does not share")
            # Shared when the same CTE (name, columns, body with parameters renamed) is already there.
            key = cte.sql(comments=False)
            if key in seen:
                local[name] = seen[key]
                continue
            new = name if name not in taken else _unique(f"p{i}_{name}", taken)
            taken.add(new)
            seen[key] = local[name] = new
            alias = cte.args["alias"].copy()
            alias.set("this", exp.to_identifier(new))
            cte.set("alias", alias)
            ctes.append((new, cte))
        tree.set("with_", None)
        if any(True for _ in tree.find_all(exp.With)):
            raise QueryError(f"query {i} of the batch has a WITH inside its SELECT, which a batch does not share")
        _rename_tables(tree, local)
        selects.append(tree)
    # A CTE read in more than one place is computed once (MATERIALIZED): the point of the batch.
    uses: dict[str, int] = {}
    for node in [c.this for _, c in ctes] + selects:
        for table in node.find_all(exp.Table):
            uses[table.name] = uses.get(table.name, 0) + 1
    parts = []
    for name, cte in ctes:
        materialized = " MATERIALIZED" if uses.get(name, 0) > 1 else ""
        columns = cte.args["alias"].args.get("columns") or []
        column_list = f"({', '.join(_duck(c) for c in columns)})" if columns else ""
        parts.append(f"{_duck(exp.to_identifier(name))}{column_list} AS{materialized} ({_duck(cte.this)})")
    for out, select in zip(outputs, selects):
        parts.append(f"{out} AS (SELECT row_number() OVER () AS {ORDINAL}, * FROM ({_duck(select)}) AS q)")
    lists = ", ".join(f"(SELECT list(r ORDER BY r.{ORDINAL}) FROM {out} AS r) AS r{k}" for k, out in enumerate(outputs))
    shared = tuple(name for name, _ in ctes if uses.get(name, 0) > 1)
    return _Plan(f"WITH {', '.join(parts)}\nSELECT {lists}", tuple(param_names), shared)
