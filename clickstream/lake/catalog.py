"""The lake's SQL files: etl/views/<name>.sql (one CREATE OR REPLACE VIEW each) and
etl/queries/<panel>.sql (one SELECT each, with named parameters). Athena SQL is the source;
clickstream.lake.translate makes the DuckDB form.

SQL used by more than one file is written once, in etl/blocks/<name>.sql: a comma-separated
list of CTEs. A file takes it with a line of its own, ``-- @include <name>``, inside its WITH
clause; the loader replaces that line with the block (blocks may include blocks). A file that
needs a block twice takes it a second time under a prefix, ``-- @include <name> as <prefix>``:
every CTE the expanded block defines, and every CTE it reads from the includer (``scoped`` for
sessionize), is named ``<prefix>_<cte>`` (``adhoc_scoped``, ``adhoc_numbered``); lake tables and
views keep their names. The rule stays written once.

An expression defined in Python is written once too: a placeholder ``@<name>`` in the SQL (never
valid Athena SQL, so it cannot be mistaken for any) is replaced by its text wherever it stands
outside comments and string literals, in every file and block:

* ``@visitor``: ``chalicelib.lake.visitor.VISITOR_SQL``, the visitor of a row of ``events``
  (its anonymous_id, else ``'user:' || user_id``; decision 0016).
* ``@visitor_key``: ``chalicelib.lake.visitor_key.SQL``, the visitor key of ``@visitor``
  (decision 0015; clickstream.lake.translate rewrites the expanded expression for DuckDB).
* ``@session_visitor_key``: ``chalicelib.lake.visitor_key.SESSION_SQL``, the visitor key of the
  column ``anonymous_id`` of a sessionized row (etl/blocks/visits.sql), which holds ``@visitor``.
* ``@spec_funnels``: the dashboard spec's funnels, ``chalicelib.lake.rollup.FUNNELS``, as array
  literals separated by commas (``ARRAY['/demo', 'LIKE_WOOD', 'CLICK_LANG']``), for the constant
  gates ``:steps IN (@spec_funnels)`` of etl/queries/funnel.sql.
* ``@months_upto``, ``@month_rows_<dim>``, ``@month_seen`` (and its ``_all`` and ``_people``
  forms), ``@month_later``: how a panel reads the month rows and the days after them
  (clickstream/lake/month_reads.py).

An unknown placeholder is an error naming it. Every reader goes through here (DuckDB, Athena,
the QuickSight datasets), so the expanded text is the only SQL any engine sees;
``clickstream query --print NAME`` shows it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pyarrow as pa
import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from chalicelib.lake import rollup, visitor, visitor_key
from chalicelib.lake.month import dimensions as month
from chalicelib.lake.schema import SCHEMAS as EXPORTED
from clickstream.lake import month_reads
from clickstream.lake.exceptions import QueryError
from clickstream.lake.params import athena_literal
from clickstream.target import ROOT

ETL_DIR = ROOT / "etl"
VIEWS_DIR = ETL_DIR / "views"
QUERIES_DIR = ETL_DIR / "queries"
BLOCKS_DIR = ETL_DIR / "blocks"
# The lake's tables: what the export writes, then the rollups its housekeeping derives (the
# visitor-month grain of decision 0017 last).
SCHEMAS = {**EXPORTED, **rollup.SCHEMAS, month.TABLE: pa.schema(month.table_columns())}
TABLES = tuple(SCHEMAS)
# Their partition columns, in the path (Hive style), not in the files: app_id and dt, but the
# month grain's app_id, dim and month (etl/tables/*.sql say the same to Athena).
DAY_PARTITIONS = ("app_id", "dt")
PARTITIONS: dict[str, tuple[str, ...]] = {table: DAY_PARTITIONS for table in SCHEMAS} | {month.TABLE: month.PARTITIONS}


def files_glob(table: str) -> str:
    """Every data file of ``table``, relative to its folder."""
    return "/".join(f"{c}=*" for c in PARTITIONS[table]) + "/*.parquet"


def partitions_glob(table: str) -> str:
    """Every partition folder of ``table``, relative to its folder."""
    return "/".join(f"{c}=*" for c in PARTITIONS[table])


def file_pattern(table: str) -> re.Pattern[str]:
    """A data file's path relative to the table's folder (``fullmatch``)."""
    return re.compile("/".join(f"{c}=[^/]+" for c in PARTITIONS[table]) + r"/[^/]+\.parquet")


def partition_values(table: str, relative: str) -> tuple[str, ...]:
    """The partition values of a path relative to the table's folder (``app_id=a/dt=d/...``)."""
    parts = relative.split("/")
    return tuple(part.split("=", 1)[1] for part in parts[: len(PARTITIONS[table])])


_NAME = re.compile(r"[a-z_][a-z0-9_]*")
_INCLUDE = re.compile(r"^[ \t]*--[ \t]*@include[ \t]+(\S+)(?:[ \t]+as[ \t]+(\S+))?[ \t]*$", re.MULTILINE)
# A placeholder, after the comments, string literals and quoted identifiers it may not stand in
# (matched first and kept as they are: `-- @include` prose, 'a@b' stay).
_PLACEHOLDER = re.compile(r"(--[^\n]*|/\*.*?\*/|'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\")|@(\w*)", re.DOTALL)


@dataclass(frozen=True)
class SqlFile:
    name: str
    path: Path
    text: str


def block_names() -> list[str]:
    return sorted(p.stem for p in BLOCKS_DIR.glob("*.sql"))


def expand(text: str, *, origin: str = "the SQL", _stack: tuple[str, ...] = ()) -> str:
    """``text`` with every ``-- @include <name>`` line replaced by etl/blocks/<name>.sql, recursively
    (``-- @include <name> as <prefix>``: its CTEs renamed, ``prefixed``), then every placeholder
    ``@<name>`` by its SQL (``substitute``)."""

    def block(match: re.Match[str]) -> str:
        name, prefix = match.group(1), match.group(2)
        path = BLOCKS_DIR / f"{name}.sql"
        if not _NAME.fullmatch(name) or not path.is_file():
            raise QueryError(f"{origin} includes {name!r}, which is not in etl/blocks; known: {', '.join(block_names())}")
        if name in _stack:
            raise QueryError(f"etl/blocks include each other in a cycle: {' -> '.join(_stack + (name,))}")
        body = expand(path.read_text(), origin=f"etl/blocks/{name}.sql", _stack=_stack + (name,)).strip()
        if prefix is None:
            return f"-- etl/blocks/{name}.sql\n{body}"
        if not _NAME.fullmatch(prefix):
            raise QueryError(f"{origin} includes {name!r} as {prefix!r}: a prefix is a lower-case SQL name")
        renamed, names = prefixed(body, prefix, origin=f"etl/blocks/{name}.sql")
        return f"-- etl/blocks/{name}.sql as {prefix}: {', '.join(names)} renamed {prefix}_<name>\n{renamed}"

    return substitute(_INCLUDE.sub(block, text), origin=origin)


def funnel_arrays(funnels: Sequence[Sequence[str]]) -> str:
    """The list for ``:steps IN (...)``: an array literal per funnel, separated by commas. No
    funnel: an empty array, which no :steps (1 to 10 steps) equals, so every gate stays valid SQL
    and says "not a spec funnel"."""
    if not funnels:
        return "CAST(ARRAY[] AS array(varchar))"
    return ", ".join(athena_literal(list(steps)) for steps in funnels)  # ARRAY['a', 'b'], a quote doubled


def placeholders() -> dict[str, str]:
    """Each placeholder's name and the SQL that replaces it (the module docstring says which)."""
    return {
        "visitor": visitor.VISITOR_SQL,
        "visitor_key": visitor_key.SQL,
        "session_visitor_key": visitor_key.SESSION_SQL,
        "spec_funnels": funnel_arrays(rollup.FUNNELS),
        **month_reads.placeholders(),
    }


def substitute(text: str, *, origin: str = "the SQL") -> str:
    """``text`` with every ``@<name>`` outside comments and literals replaced by its SQL."""
    known = placeholders()

    def one(match: re.Match[str]) -> str:
        if match.group(1) is not None:
            return match.group(1)
        name = match.group(2)
        if name not in known:
            names = ", ".join(f"@{n}" for n in sorted(known))
            raise QueryError(f"{origin} uses the placeholder @{name}, which catalog does not define; known: {names}")
        return known[name]

    return _PLACEHOLDER.sub(one, text)


# Parsing a block is most of the cost of expanding a query that includes it under a prefix (about
# 10 ms each), and every dashboard request expands its panels again: one parse per block text.
@lru_cache(maxsize=128)
def _names_in(block: str) -> tuple[tuple[str, ...], tuple[str, ...], frozenset[str]]:
    """The CTEs a block (a comma-separated list of CTEs) defines, the tables it reads (no schema),
    and the column names it uses."""
    tree = sqlglot.parse_one(f"WITH {block.rstrip().rstrip(',')} SELECT 1", read="athena")
    defined = tuple(cte.alias_or_name for cte in tree.find_all(exp.CTE))
    read = tuple(t.name for t in tree.find_all(exp.Table) if not t.args.get("db"))
    return defined, read, frozenset(c.name for c in tree.find_all(exp.Column))


def prefixed(block: str, prefix: str, *, origin: str = "the block") -> tuple[str, list[str]]:
    """(``block`` with its CTEs named ``<prefix>_<name>``, those names): the CTEs it defines and
    those it reads but neither defines nor finds in the lake (tables, views), which the includer
    defines. A name also used as a column would be renamed with it: that is refused."""
    views = {p.stem for p in VIEWS_DIR.glob("*.sql")}
    try:
        defined, read, columns = _names_in(block)
    except SqlglotError as exc:
        raise QueryError(f"{origin} is not a list of CTEs, so it cannot be included under a prefix: {exc}") from exc
    names = list(dict.fromkeys(defined + tuple(n for n in read if n not in defined and n not in SCHEMAS and n not in views)))
    clashes = sorted(columns & set(names))
    if clashes:
        raise QueryError(f"{origin} uses {', '.join(clashes)} as a column and a CTE; it cannot be included under a prefix")
    if not names:
        return block, names
    # Identifiers only: comments and string literals are matched first and kept as they are.
    alternatives = "|".join(map(re.escape, sorted(names, key=len, reverse=True)))
    pattern = re.compile(rf"(--[^\n]*|'(?:[^']|'')*')|(?<![\w.\"])({alternatives})(?![\w\"])")
    return pattern.sub(lambda m: m.group(1) or f"{prefix}_{m.group(2)}", block), names


def _read(path: Path) -> SqlFile:
    return SqlFile(path.stem, path, expand(path.read_text(), origin=f"{path.parent.name}/{path.name}"))


def query_names() -> list[str]:
    return sorted(p.stem for p in QUERIES_DIR.glob("*.sql"))


def query_file(name: str) -> SqlFile | None:
    if not _NAME.fullmatch(name):
        return None
    path = QUERIES_DIR / f"{name}.sql"
    return _read(path) if path.is_file() else None


def resolve(sql_or_name: str) -> tuple[str, str | None]:
    """(SQL text, query name or None): a bare word names a file in etl/queries, anything else is SQL."""
    text = sql_or_name.strip()
    if _NAME.fullmatch(text):
        found = query_file(text)
        if found is None:
            raise QueryError(f"no query named {text!r} in etl/queries; known: {', '.join(query_names())}")
        return found.text, found.name
    return sql_or_name, None


def referenced_tables(sql: str) -> set[str]:
    """Names of the tables and views a statement reads (its own CTEs left out)."""
    tree = sqlglot.parse_one(sql, read="athena")
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    return {t.name for t in tree.find_all(exp.Table) if t.name and t.name not in ctes}


@lru_cache(maxsize=1)
def _view_files() -> tuple[SqlFile, ...]:
    files = {p.stem: _read(p) for p in sorted(VIEWS_DIR.glob("*.sql"))}
    deps = {name: referenced_tables(f.text) & set(files) - {name} for name, f in files.items()}
    ordered: list[SqlFile] = []
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in done:
            return
        if name in path:
            raise QueryError(f"views depend on each other in a cycle: {' -> '.join(path + (name,))}")
        for dep in sorted(deps[name]):
            visit(dep, path + (name,))
        done.add(name)
        ordered.append(files[name])

    for name in files:
        visit(name, ())
    return tuple(ordered)


def view_files() -> list[SqlFile]:
    """Every view, each after the views it reads (the order to create them in)."""
    return list(_view_files())
