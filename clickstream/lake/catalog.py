"""The lake's SQL files: etl/views/<name>.sql (one CREATE OR REPLACE VIEW each) and
etl/queries/<panel>.sql (one SELECT each, with named parameters). Athena SQL is the source;
clickstream.lake.translate makes the DuckDB form.

SQL used by more than one file is written once, in etl/blocks/<name>.sql: a comma-separated
list of CTEs. A file takes it with a line of its own, ``-- @include <name>``, inside its WITH
clause; the loader replaces that line with the block (blocks may include blocks). Every
reader goes through here (DuckDB, Athena, the QuickSight datasets), so the expanded text is
the only SQL any engine sees; ``clickstream query --print NAME`` shows it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import sqlglot
from sqlglot import exp

from clickstream.lake.exceptions import QueryError
from clickstream.target import ROOT

ETL_DIR = ROOT / "etl"
VIEWS_DIR = ETL_DIR / "views"
QUERIES_DIR = ETL_DIR / "queries"
BLOCKS_DIR = ETL_DIR / "blocks"
TABLES = ("events", "rejected_events")
_NAME = re.compile(r"[a-z_][a-z0-9_]*")
_INCLUDE = re.compile(r"^[ \t]*--[ \t]*@include[ \t]+(\S+)[ \t]*$", re.MULTILINE)


@dataclass(frozen=True)
class SqlFile:
    name: str
    path: Path
    text: str


def block_names() -> list[str]:
    return sorted(p.stem for p in BLOCKS_DIR.glob("*.sql"))


def expand(text: str, *, origin: str = "the SQL", _stack: tuple[str, ...] = ()) -> str:
    """``text`` with every ``-- @include <name>`` line replaced by etl/blocks/<name>.sql, recursively."""

    def block(match: re.Match[str]) -> str:
        name = match.group(1)
        path = BLOCKS_DIR / f"{name}.sql"
        if not _NAME.fullmatch(name) or not path.is_file():
            raise QueryError(f"{origin} includes {name!r}, which is not in etl/blocks; known: {', '.join(block_names())}")
        if name in _stack:
            raise QueryError(f"etl/blocks include each other in a cycle: {' -> '.join(_stack + (name,))}")
        body = expand(path.read_text(), origin=f"etl/blocks/{name}.sql", _stack=_stack + (name,))
        return f"-- etl/blocks/{name}.sql\n{body.strip()}"

    return _INCLUDE.sub(block, text)


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
