"""Bytes scanned as Athena would bill them, from the Athena SQL and the files' Parquet metadata.

Athena reads, for every scan of a table, the column chunks of the columns the query needs,
in the partitions its WHERE clause leaves (partition projection prunes on app_id and dt).
So, per scan of ``events`` in the statement (sqlglot's scopes, after pruning the columns no
outer query uses, as Trino does): the partitions its partition-only predicates keep, times
the compressed size of those columns' chunks in those partitions' files. Row-group skipping
by min/max statistics is ignored, so this is an upper bound; Athena then bills at least
10 MB per query, rounded up to the next MB.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

import duckdb
import pyarrow.parquet as pq
import sqlglot
from sqlglot import exp
from sqlglot.optimizer.pushdown_projections import pushdown_projections
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import traverse_scope
from sqlglot.optimizer.simplify import simplify

from clickstream.lake import translate
from clickstream.lake.catalog import PARTITIONS, SCHEMAS, partition_values, partitions_glob

MB = 1 << 20
MIN_BILLED = 10 * MB


@dataclass(frozen=True)
class ScanSpec:
    table: str
    columns: tuple[str, ...]  # data columns read (partition columns come from the path)
    partition_filter: str | None  # Athena SQL over app_id/dt, with :name parameters


@dataclass(frozen=True)
class Bill:
    scanned_bytes: int
    files: int
    scans: int

    @property
    def billed_bytes(self) -> int:
        return max(MIN_BILLED, -(-self.scanned_bytes // MB) * MB)


def _partition_only(condition: exp.Expression, table: str) -> bool:
    return all(c.name in PARTITIONS[table] for c in condition.find_all(exp.Column))


def _unqualified(condition: exp.Expression) -> exp.Expression:
    return condition.copy().transform(lambda n: exp.column(n.name) if isinstance(n, exp.Column) else n)


def _fold_flags(tree: exp.Expression, params: Mapping[str, Any]) -> exp.Expression:
    """The boolean parameters bound, and each CASE they decide folded to the branch it takes: what
    Athena's planner does before it chooses the columns to read. Trino replaces every parameter of
    a prepared statement by its value before planning (trinodb/trino, core/trino-main/src/main/java/
    io/trino/sql/planner/ParameterRewriter.java) and folds constant expressions, so
    ``CASE WHEN :include_bots THEN mask_all ELSE mask_people END`` reads one of the two columns."""
    flags = {name: value for name, value in params.items() if isinstance(value, bool)}
    if not flags:
        return tree
    bound = tree.transform(
        lambda n: (exp.true() if flags[n.name] else exp.false()) if isinstance(n, exp.Placeholder) and n.name in flags else n
    )
    return bound.transform(lambda n: simplify(n) if isinstance(n, exp.Case) else n)


def qualified(sql: str, params: Mapping[str, Any] | None = None) -> exp.Expression:
    """``sql`` parsed with every column qualified by its lake table (sqlglot's qualify; the
    types do not matter to what is read), as the optimizer rules that follow need it; with
    ``params``, the CASEs its boolean parameters decide folded (``_fold_flags``)."""
    schema = {table: {f.name: "VARCHAR" for f in s} | {c: "VARCHAR" for c in PARTITIONS[table]} for table, s in SCHEMAS.items()}
    tree = _fold_flags(sqlglot.parse_one(sql, read="athena"), params or {})
    return qualify(tree, schema=schema, dialect="athena", validate_qualify_columns=False)


def scans(sql: str, params: Mapping[str, Any] | None = None) -> list[ScanSpec]:
    """Every scan of a lake table in ``sql`` with the columns it needs and its partition predicate
    (with ``params``: as Athena plans it with those values, ``_fold_flags``)."""
    tree = pushdown_projections(qualified(sql, params))
    found = []
    for scope in traverse_scope(tree):
        for alias, (_, source) in scope.selected_sources.items():
            if not (isinstance(source, exp.Table) and source.name in SCHEMAS):
                continue
            columns = sorted({c.name for c in scope.columns if c.table == alias} - set(PARTITIONS[source.name]))
            where = scope.expression.args.get("where")
            kept = list(where.this.flatten()) if where is not None and isinstance(where.this, exp.And) else []
            if where is not None and not kept:
                kept = [where.this]
            conjuncts = [_unqualified(c).sql("athena") for c in kept if _partition_only(c, source.name)]
            found.append(ScanSpec(source.name, tuple(columns), " AND ".join(f"({c})" for c in conjuncts) or None))
    return found


def column_sizes(source: Any) -> dict[str, int]:
    """Compressed bytes per top-level column of one Parquet file (a path or a pyarrow file),
    summed over its row groups: what Athena reads of that column in that file."""
    meta = pq.ParquetFile(source).metadata
    sizes: dict[str, int] = {}
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        for c in range(group.num_columns):
            chunk = group.column(c)
            name = chunk.path_in_schema.split(".")[0]
            sizes[name] = sizes.get(name, 0) + chunk.total_compressed_size
    return sizes


@lru_cache(maxsize=4096)
def _chunk_sizes(path: str, mtime_ns: int) -> dict[str, int]:
    return column_sizes(path)


def _partitions(root: Path, table: str) -> list[tuple[str, ...]]:
    folder = root / table
    return [partition_values(table, part.relative_to(folder).as_posix()) for part in sorted(folder.glob(partitions_glob(table)))]


def estimate(root: Path, sql: str, params: Mapping[str, Any]) -> Bill:
    """What Athena would scan for ``sql`` (with bound ``params``) over the lake in ``root``."""
    total = files = 0
    specs = scans(sql, params)
    con = duckdb.connect()
    for spec in specs:
        parts = _partitions(root, spec.table)
        names = PARTITIONS[spec.table]
        con.execute(f"CREATE OR REPLACE TABLE parts ({', '.join(f'{c} VARCHAR' for c in names)})")
        if parts:
            con.executemany(f"INSERT INTO parts VALUES ({', '.join('?' for _ in names)})", parts)
        where = spec.partition_filter or "true"
        query = translate.to_duckdb(f"SELECT {', '.join(names)} FROM parts WHERE {where}")
        needed = {n: params[n] for n in translate.parameter_names(where)}
        for values in con.sql(query, params=needed).fetchall():
            folder = "/".join(f"{c}={v}" for c, v in zip(names, values, strict=True))
            for path in sorted((root / spec.table / folder).glob("*.parquet")):
                sizes = _chunk_sizes(str(path), path.stat().st_mtime_ns)
                total += sum(sizes.get(c, 0) for c in spec.columns)
                files += 1
    con.close()
    return Bill(total, files, len(specs))
