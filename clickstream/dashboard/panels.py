"""Panel data for the local dashboard: each dataset's SQL once, then each panel's aggregation.

QuickSight runs a dataset's custom SQL and then aggregates it the way the visual's field
wells say (SUM, DISTINCT_COUNT, ...). Here DuckDB does that second step over the Arrow
result, from the same spec, so the two renderers differ only in who draws.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
from typing import Any, Callable, Mapping

import duckdb
import pyarrow as pa

from clickstream.dashboard.spec import Dataset, Field, Panel, Spec

# (dataset, bound parameter values) -> its rows. Production: clickstream.lake.run_query on DuckDB.
Runner = Callable[[Dataset, Mapping[str, Any]], pa.Table]

_AGG_SQL = {
    "sum": "SUM({c})",
    "count": "COUNT({c})",
    "distinct_count": "COUNT(DISTINCT {c})",
    "avg": "AVG(CAST({c} AS DOUBLE))",  # booleans average to a share
    "min": "MIN({c})",
    "max": "MAX({c})",
}


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def aggregation_sql(panel: Panel, relation: str = "t") -> str:
    """The GROUP BY a QuickSight visual does implicitly, written out for DuckDB."""
    dims = [_q(f.column) for f in panel.dimensions]
    measures = [f"{_AGG_SQL[f.agg].format(c=_q(f.column))} AS {_q(f.column)}" for f in panel.measures]
    sql = f"SELECT {', '.join(dims + measures)} FROM {relation}"
    if dims and measures:
        sql += f" GROUP BY {', '.join(dims)}"
    if panel.sort:
        s = panel.sort
        key = _q(s.column) if s.agg == "none" else _AGG_SQL[s.agg].format(c=_q(s.column))
        sql += f" ORDER BY {key} {s.direction.upper()} NULLS LAST"
        sql += "".join(f", {d}" for d in dims)  # stable order among ties
    elif dims:
        sql += f" ORDER BY {', '.join(dims)}"
    if panel.limit:
        sql += f" LIMIT {int(panel.limit)}"
    return sql


def _json_value(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()[:10] if not isinstance(value, dt.datetime) or value.time() == dt.time() else value.isoformat()
    if isinstance(value, decimal.Decimal):
        value = float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def aggregate(panel: Panel, table: pa.Table) -> dict[str, Any]:
    con = duckdb.connect()
    try:
        con.register("t", table)
        result = con.execute(aggregation_sql(panel)).fetchall()
    finally:
        con.close()
    fields: list[Field] = [*panel.dimensions, *panel.measures]
    return {"columns": [f.column for f in fields], "rows": [[_json_value(v) for v in row] for row in result]}


def compute(spec: Spec, params: Mapping[str, Any], run: Runner) -> dict[str, Any]:
    """{panel id: {columns, rows} or {error}}: a failing dataset blanks its panels, not the page."""
    tables: dict[str, pa.Table | Exception] = {}
    for dataset in spec.used_datasets():
        try:
            tables[dataset.name] = run(dataset, params)
        except Exception as exc:  # shown in the panel; the other datasets still render
            tables[dataset.name] = exc
    out: dict[str, Any] = {}
    for panel in spec.panels:
        table = tables[panel.dataset]
        if isinstance(table, Exception):
            out[panel.id] = {"error": f"dataset {panel.dataset}: {table}"}
            continue
        out[panel.id] = aggregate(panel, table)
    return out
