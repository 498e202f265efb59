"""Panel data for the local dashboard: each dataset's SQL once, then each panel's aggregation.

QuickSight runs a dataset's custom SQL and then aggregates it the way the visual's field
wells say (SUM, DISTINCT_COUNT, ...). Here DuckDB does that second step over the Arrow
result, from the same spec, so the two renderers differ only in who draws.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import logging
import math
from typing import Any, Callable, Mapping, Protocol, Sequence, runtime_checkable

import duckdb
import pyarrow as pa

from clickstream.dashboard.spec import Dataset, Field, Panel, Spec

_log = logging.getLogger(__name__)
# (dataset, bound parameter values) -> its rows. Production: clickstream.lake.run_query on DuckDB.
Runner = Callable[[Dataset, Mapping[str, Any]], pa.Table]
Request = tuple[Dataset, Mapping[str, Any]]


@runtime_checkable
class BatchRunner(Protocol):
    """A runner that can also run many requests at once (clickstream.dashboard.pages.LakeRunner:
    one DuckDB statement for a page's unfiltered datasets)."""

    def __call__(self, dataset: Dataset, params: Mapping[str, Any]) -> pa.Table: ...

    def many(self, requests: Sequence[Request]) -> dict[int, pa.Table]:
        """The rows of the requests it ran together, by position; the others it leaves to ``__call__``."""
        ...


class Memo:
    """One request runs each (dataset, parameters) once, however many blocks need it; ``prefetch``
    fills it with one batch where the runner can batch (BatchRunner). If the batch fails, nothing
    is kept and each dataset runs alone when asked: a failing dataset blanks only its panels.
    Lives as long as one HTTP answer: nothing is kept across lake changes."""

    def __init__(self, run: Runner) -> None:
        self.run = run
        self._seen: dict[str, pa.Table | Exception] = {}
        self._offered: set[str] = set()  # keys a batch was asked for: once per request, whatever it answered

    @staticmethod
    def key(dataset: Dataset, params: Mapping[str, Any]) -> str:
        used = {k: v for k, v in params.items() if v is not None and v != {} and (k != "now" or dataset.compare)}
        return dataset.name + json.dumps({k: str(v) for k, v in used.items()}, sort_keys=True)

    def prefetch(self, requests: Sequence[Request]) -> None:
        if not isinstance(self.run, BatchRunner):
            return
        todo = {
            self.key(d, p): (d, p)
            for d, p in requests
            if self.key(d, p) not in self._seen and self.key(d, p) not in self._offered
        }
        if len(todo) < 2:
            return  # nothing to share
        keys = list(todo)
        self._offered.update(keys)
        try:
            tables = self.run.many([todo[k] for k in keys])
        except Exception as exc:  # each dataset runs alone when asked, and fails alone
            _log.warning("the page's batch of %d datasets failed, running them one by one: %s", len(keys), exc)
            return
        for index, table in tables.items():
            self._seen[keys[index]] = table

    def __call__(self, dataset: Dataset, params: Mapping[str, Any]) -> pa.Table:
        key = self.key(dataset, params)
        if key not in self._seen:
            try:
                self._seen[key] = self.run(dataset, params)
            except Exception as exc:  # a failing dataset fails once per request, not once per block
                self._seen[key] = exc
        hit = self._seen[key]
        if isinstance(hit, Exception):
            raise hit
        return hit


def memoized(run: Runner) -> Memo:
    return run if isinstance(run, Memo) else Memo(run)


def prefetch(run: Runner, requests: Sequence[Request]) -> None:
    """Run ``requests`` as one batch ahead of their one-by-one calls, where ``run`` keeps results (Memo)."""
    if isinstance(run, Memo):
        run.prefetch(requests)


def requests(spec: Spec, params: Mapping[str, Any]) -> list[Request]:
    """What ``compute`` runs: every dataset a panel shows, with the page's parameters."""
    return [(dataset, params) for dataset in spec.used_datasets()]


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


def aggregate(panel: Panel, table: pa.Table, con: duckdb.DuckDBPyConnection | None = None) -> dict[str, Any]:
    """The panel's rows from its dataset's; ``con``: a connection to reuse (opening one costs
    tens of milliseconds, a page has twenty panels)."""
    own = con is None
    con = duckdb.connect() if con is None else con
    try:
        con.register("t", table)
        result = con.execute(aggregation_sql(panel)).fetchall()
        con.unregister("t")
    finally:
        if own:
            con.close()
    fields: list[Field] = [*panel.dimensions, *panel.measures]
    return {"columns": [f.column for f in fields], "rows": [[_json_value(v) for v in row] for row in result]}


def compute(spec: Spec, params: Mapping[str, Any], run: Runner) -> dict[str, Any]:
    """{panel id: {columns, rows} or {error}}: a failing dataset blanks its panels, not the page."""
    prefetch(run, requests(spec, params))
    tables: dict[str, pa.Table | Exception] = {}
    for dataset in spec.used_datasets():
        try:
            tables[dataset.name] = run(dataset, params)
        except Exception as exc:  # shown in the panel; the other datasets still render
            tables[dataset.name] = exc
    out: dict[str, Any] = {}
    con = duckdb.connect()
    try:
        for panel in spec.panels:
            table = tables[panel.dataset]
            if isinstance(table, Exception):
                out[panel.id] = {"error": f"dataset {panel.dataset}: {table}"}
                continue
            out[panel.id] = aggregate(panel, table, con)
    finally:
        con.close()
    return out
