"""DuckDB over a directory in the lake's layout (<root>/<table>/app_id=<app>/dt=<day>/*.parquet;
the month grain's <root>/rollup_visitor_months/app_id=<app>/dim=<dim>/month=<YYYY-MM>/*.parquet).

The tables are views over read_parquet with Hive partitioning, typed as Athena types them:
the partition columns (catalog.PARTITIONS) strings, times as UTC timestamps without a zone (the session runs in UTC). The
etl/views are then created from their Athena text, translated by sqlglot, in dependency order.
"""

from __future__ import annotations

import json
import math
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from clickstream.lake import catalog, translate
from clickstream.lake.exceptions import LakeUnavailable, QueryError

_DUCK_TYPES = {
    pa.string(): "VARCHAR",
    pa.int64(): "BIGINT",
    pa.int32(): "INTEGER",
    pa.int8(): "TINYINT",
    pa.float64(): "DOUBLE",
    pa.bool_(): "BOOLEAN",
    pa.date32(): "DATE",
}


def _duck_type(t: pa.DataType) -> str:
    return "TIMESTAMP" if pa.types.is_timestamp(t) else _DUCK_TYPES[t]


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# Prepared statements kept per DuckLake (least recently used dropped): the dashboard's page
# shapes (each filter, each panel alone) and a CLI session's queries.
PREPARED_KEPT = 64


def literal(value: Any) -> str | None:
    """``value`` as a DuckDB literal for ``EXECUTE name(param := literal)``, or None where it has
    none here (the statement then runs with the value bound as before). Strings are quoted as
    standard SQL (a quote doubled; DuckDB reads no backslash escape in them), so no value can
    end its literal; tests/unit/test_duck_prepared.py checks each kind round-trips."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"CAST({_quote(repr(value))} AS DOUBLE)" if math.isfinite(value) else None
    if isinstance(value, str):
        return None if "\x00" in value else _quote(value)
    if isinstance(value, (list, tuple)):
        items = [literal(v) for v in value]
        return None if any(i is None for i in items) else "[" + ", ".join(items) + "]"  # type: ignore[arg-type]
    return None


@lru_cache(maxsize=16384)
def _columns(path: str, mtime_ns: int) -> tuple[str, ...]:
    return tuple(pq.read_schema(path).names)


def table_sql(root: Path, table: str) -> str:
    """The DuckDB view standing for one lake table: its files, or an empty relation of its schema.

    Columns are only ever added to the lake's schema, so older files can lack newer columns;
    then DuckDB must read every file's footer to union them by name, on every query (a few
    hundred milliseconds over a year of files). When all files carry the same columns, which
    is the rule, it reads only the files the partition filter keeps. A column of the schema
    that no file has yet (a release added it; its files are rebuilt later) is NULL, as Athena
    reads it: the queries name every column of the schema, whichever rows they keep.
    """
    schema = catalog.SCHEMAS[table]
    partitions = catalog.PARTITIONS[table]
    glob = catalog.files_glob(table)
    files = list((root / table).glob(glob))
    if not files:
        columns = ", ".join(f"CAST(NULL AS {_duck_type(f.type)}) AS {f.name}" for f in schema)
        empty = "".join(f", CAST(NULL AS VARCHAR) AS {c}" for c in partitions if c not in schema.names)
        return f"CREATE OR REPLACE VIEW {table} AS SELECT {columns}{empty} WHERE false"
    shapes = {_columns(str(f), f.stat().st_mtime_ns) for f in files}
    present = {name for shape in shapes for name in shape}
    times = [f.name for f in schema if pa.types.is_timestamp(f.type) and f.name in present]
    replace = ", ".join(f"CAST({name} AS TIMESTAMP) AS {name}" for name in times)
    absent = "".join(f", CAST(NULL AS {_duck_type(f.type)}) AS {f.name}" for f in schema if f.name not in present)
    types = ", ".join(f"'{c}': 'VARCHAR'" for c in partitions)
    source = (
        f"read_parquet({_quote(str(root / table / glob))}, hive_partitioning = true, "
        f"hive_types = {{{types}}}, "
        f"union_by_name = {'false' if len(shapes) == 1 else 'true'})"
    )
    return f"CREATE OR REPLACE VIEW {table} AS SELECT *{f' REPLACE ({replace})' if replace else ''}{absent} FROM {source}"


@dataclass(frozen=True)
class Scan:
    """One table scan of an executed query: the files it read and the columns it projected."""

    files: tuple[str, ...]
    columns: tuple[str, ...]
    rows: int


@dataclass(frozen=True)
class Profile:
    seconds: float
    scans: tuple[Scan, ...]

    @property
    def files(self) -> set[str]:
        return {f for s in self.scans for f in s.files}


class DuckLake:
    def __init__(self, root: Path, threads: int | None = None, prepare: bool = True, cache_metadata: bool = False) -> None:
        """``cache_metadata``: keep each Parquet file's footer between queries (DuckDB's
        ``parquet_metadata_cache``), which saves reading it again at every statement's binding
        and scan (docs/performance-dashboard.md, *Binding the page*). DuckDB trusts a kept
        footer while the file's device, inode, size and modification second are the ones it
        read, so a file rewritten in place (the same inode) with the same size in the same second
        would be read with the old footer. Only for a directory whose writer rules that out: the
        mirror does (it renames files into place, each in a later second than the file that was
        at its path: clickstream.lake.mirror); a directory written by anything else leaves it off."""
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._con = duckdb.connect(":memory:", config={"threads": threads} if threads else {})
        self._con.execute("SET TimeZone = 'UTC'")
        if cache_metadata:
            self._con.execute("SET parquet_metadata_cache = true")
        self._lock = threading.RLock()
        self.prepare = prepare
        self._prepared: OrderedDict[str, str] = OrderedDict()  # DuckDB SQL -> statement name
        self._named = 0
        self._tables: dict[str, str] = {}  # the tables' views as last created
        self.refresh()

    def refresh(self, recreate: bool = False) -> None:
        """(Re)create the tables' views where their files changed what they are (a table's first
        file, its last one gone, a file with new columns), then the etl views, and drop the
        prepared statements, which were prepared over the old ones. When no table's view changes
        (an export added files of the same columns, the usual case) nothing is re-created and
        the statements stay prepared: DuckDB binds them again, listing a view's files, at each
        EXECUTE, so they read the new files. ``recreate``: every view re-created and every
        statement dropped all the same (bench_prepared: the first page after a change that
        re-creates the views)."""
        with self._lock:
            tables = {table: table_sql(self.root, table) for table in catalog.TABLES}
            if tables == self._tables and not recreate:
                return
            self._forget()
            for sql in tables.values():
                self._con.execute(sql)
            for view in catalog.view_files():
                try:
                    self._con.execute(translate.to_duckdb(view.text))
                except duckdb.Error as exc:
                    raise QueryError(f"etl/views/{view.name}.sql does not run on DuckDB: {exc}") from exc
            self._tables = tables

    def statement(self, duck_sql: str) -> None:
        """Run a statement that returns no rows (CREATE TABLE ...)."""
        with self._lock:
            try:
                self._con.execute(duck_sql)
            except duckdb.Error as exc:
                raise QueryError(f"DuckDB: {exc}") from exc

    def _forget(self, duck_sql: str | None = None) -> None:
        """Drop the prepared statement of ``duck_sql`` (None: all of them)."""
        for sql in list(self._prepared) if duck_sql is None else [duck_sql]:
            name = self._prepared.pop(sql, None)
            if name is not None:
                self._con.execute(f"DEALLOCATE {name}")

    def _plan(self, duck_sql: str) -> str | None:
        """``duck_sql`` prepared under a new name, the least recently used statement dropped past
        PREPARED_KEPT; None if DuckDB cannot prepare it."""
        name = f"lake_statement_{self._named + 1}"
        try:
            self._con.execute(f"PREPARE {name} AS {duck_sql}")
        except duckdb.Error:
            return None
        self._named += 1
        self._prepared[duck_sql] = name
        while len(self._prepared) > PREPARED_KEPT:
            self._forget(next(iter(self._prepared)))
        return name

    def _run(self, duck_sql: str, params: Mapping[str, Any]) -> pa.Table:
        """The rows of ``duck_sql`` with ``params``. The statement is prepared once per text and
        then executed with the values as literals. That keeps its parse; DuckDB binds and
        optimizes it again at every EXECUTE (a statement with parameters that scans files:
        ``PreparedStatement::CanCachePlan``), which still measured 0.5-0.9 s faster a page than
        binding it with the values (docs/performance-dashboard.md, *Prepared statements*; the
        panels' text repeats its month-arm expressions). Values without a literal here
        (``literal``), and ``prepare=False``, run as before."""
        values = {k: literal(v) for k, v in params.items()}
        name = None
        if self.prepare and all(v is not None for v in values.values()):
            name = self._prepared.get(duck_sql) or self._plan(duck_sql)
        if name is None:  # bound as before; its error, if it has one, is the statement's own
            return self._con.sql(duck_sql, params=dict(params)).to_arrow_table()
        self._prepared.move_to_end(duck_sql)
        arguments = ", ".join(f"{k} := {v}" for k, v in values.items())
        try:
            return self._con.sql(f"EXECUTE {name}({arguments})" if arguments else f"EXECUTE {name}").to_arrow_table()
        except duckdb.Error:
            self._forget(duck_sql)  # prepared afresh next time, as a failure may leave it bound to what is gone
            raise

    def execute(self, duck_sql: str, params: Mapping[str, Any] | None = None) -> pa.Table:
        with self._lock:
            try:
                return normalize(self._run(duck_sql, dict(params or {})))
            except duckdb.IOException as exc:
                raise LakeUnavailable(f"DuckDB could not read the local lake in {self.root}: {exc}") from exc
            except duckdb.Error as exc:
                raise QueryError(f"DuckDB: {exc}") from exc

    def profile(self, duck_sql: str, params: Mapping[str, Any] | None = None) -> tuple[pa.Table, Profile]:
        """Run as ``execute`` does and report which files each table scan read and which columns
        it projected."""
        with self._lock, tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "profile.json"
            self._con.execute("PRAGMA enable_profiling = 'json'")
            self._con.execute(f"PRAGMA profiling_output = {_quote(str(out))}")
            try:
                result = self._run(duck_sql, dict(params or {}))
            except duckdb.Error as exc:
                raise QueryError(f"DuckDB: {exc}") from exc
            finally:
                self._con.execute("PRAGMA disable_profiling")
            tree = json.loads(out.read_text())
        scans: list[Scan] = []
        for node in tree.get("operator", []):
            _collect_scans(node, scans)
        return normalize(result), Profile(float(tree.get("query", {}).get("total_time", 0.0)), tuple(scans))


def _lines(value: Any) -> tuple[str, ...]:
    items = value if isinstance(value, list) else str(value or "").split("\n")
    return tuple(i.strip() for i in items if i and i.strip())


def _collect_scans(node: dict[str, Any], out: list[Scan]) -> None:
    """TABLE_SCAN nodes of DuckDB's JSON profile (DuckDB 1.1+: "Filename(s)", "Projections")."""
    info = node.get("extra_info") or {}
    if node.get("type") == "TABLE_SCAN" and info.get("Function") == "READ_PARQUET":
        files, columns = _lines(info.get("Filename(s)")), _lines(info.get("Projections"))
        out.append(Scan(files=files, columns=columns, rows=int(node.get("rows_scanned") or 0)))
    for child in node.get("children", []):
        _collect_scans(child, out)


def normalize(table: pa.Table) -> pa.Table:
    """Athena's types for DuckDB's wider ones: DuckDB sums and counts some integers as HUGEINT
    (decimal(38, 0) in Arrow) where Athena answers bigint."""
    columns = []
    for field, column in zip(table.schema, table.columns):
        if pa.types.is_decimal(field.type):
            column = column.cast(pa.int64() if field.type.scale == 0 else pa.float64())
        columns.append(column)
    return pa.Table.from_arrays(columns, names=table.column_names)
