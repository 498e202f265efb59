"""Query the lake: one SQL source (etl/), two engines.

    run_query("top_pages", {"app_id": "demo", "date_from": "2026-11-01", "date_to": "2026-11-07"}, settings=s)

* ``engine="duckdb"``: the lake's files mirrored from S3 (s3rver locally) into a cache
  directory and queried with DuckDB; the Athena SQL translated by sqlglot, parameters bound
  in a prepared statement.
* ``engine="athena"``: the SQL as written, through awswrangler, parameters sent as Athena
  execution parameters.

``sql_or_name`` is SQL, or the name of a file in etl/queries. Tables: events,
rejected_events; views: every etl/views/*.sql (docs/lake.md lists them with their columns).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Mapping, Sequence

import pyarrow as pa

from chalicelib.settings import Settings
from clickstream.lake import athena, catalog, translate
from clickstream.lake import params as params_mod
from clickstream.lake.exceptions import LakeUnavailable, ParamError, QueryError
from clickstream.lake.local import LocalLake, directory_lake, local_lake, mirrored_lake

Engine = Literal["duckdb", "athena"]

__all__ = [
    "Engine",
    "LakeUnavailable",
    "LocalLake",
    "ParamError",
    "QueryError",
    "directory_lake",
    "local_lake",
    "mirrored_lake",
    "prepare",
    "query_names",
    "run_queries",
    "run_query",
]


def query_names() -> list[str]:
    """The dashboard's panel queries (etl/queries/*.sql)."""
    return catalog.query_names()


def prepare(sql_or_name: str, params: Mapping[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    """(Athena SQL, checked parameter values) for SQL or a query name."""
    sql, _ = catalog.resolve(sql_or_name)
    return sql, params_mod.bind(translate.parameter_names(sql), params or {})


def run_query(
    sql_or_name: str,
    params: Mapping[str, Any] | None = None,
    *,
    settings: Settings,
    engine: Engine = "duckdb",
    lake: LocalLake | None = None,
    cache_dir: Path | None = None,
    max_age_s: float = 2.0,
    read_sql: athena.ReadSql | None = None,
) -> pa.Table:
    """Run one statement and return its rows as an Arrow table (``.to_pylist()`` for dicts).

    DuckDB re-lists S3 at most every ``max_age_s`` seconds (a dashboard's panels share one
    sync); pass ``lake`` to query a given LocalLake (tests, the benchmark), ``read_sql`` to
    stand in for awswrangler on Athena (tests).
    """
    if engine not in ("duckdb", "athena"):
        raise QueryError(f"engine {engine!r}: expected duckdb or athena")
    sql, values = prepare(sql_or_name, params)
    engine_fills = _engine_fills(values, params)
    if engine == "athena":
        for name in engine_fills:
            # The rollups' published state, read from S3 (one LIST, a GET per state file) and
            # bound as a literal: Athena prunes the partitions on both sides of the switch.
            grain = params_mod.GRAINS[name]
            values[name] = athena.rolled_through(values["app_id"], settings, grain=grain) or values[name]
        return athena.run(sql, values, settings, read_sql=read_sql)
    target = lake or local_lake(settings, cache_dir)
    return target.query(sql, _fill_locally(target, values, engine_fills, max_age_s), max_age_s=max_age_s)


def _engine_fills(values: Mapping[str, Any], params: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The engine's parameters (``rolled_through``, ``months_through``) that the SQL takes and
    the caller left to the engine."""
    return tuple(n for n in params_mod.ENGINE_FILLED if n in values and n not in (params or {}))


def _fill_locally(target: LocalLake, values: dict[str, Any], engine_fills: Sequence[str], max_age_s: float) -> dict[str, Any]:
    """``values`` with the engine's part of the contract on DuckDB: ``rolled_through``, the last
    day the rollups cover, and ``months_through``, the month rows', from the lake itself (when
    the caller did not bind them)."""
    if engine_fills:
        target.sync(max_age_s)
    for name in engine_fills:
        values[name] = target.rolled_through(values["app_id"], params_mod.GRAINS[name]) or values[name]
    return values


def run_queries(
    queries: Sequence[tuple[str, Mapping[str, Any]]],
    *,
    settings: Settings,
    lake: LocalLake | None = None,
    cache_dir: Path | None = None,
    max_age_s: float = 2.0,
) -> list[pa.Table]:
    """Many statements on DuckDB as one (LocalLake.query_many: the CTEs they share run once);
    each one's rows as ``run_query`` returns them, in the order given. One failing statement
    fails them all: run them one by one then."""
    target = lake or local_lake(settings, cache_dir)
    prepared = []
    for sql_or_name, params in queries:
        sql, values = prepare(sql_or_name, params)
        prepared.append((sql, _fill_locally(target, values, _engine_fills(values, params), max_age_s)))
    return target.query_many(prepared, max_age_s=max_age_s)
