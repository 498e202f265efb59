"""The deployed engine: Athena through awswrangler, with execution parameters.

awswrangler 3.x offers two parameter styles for ``wr.athena.read_sql_query``:
``paramstyle="named"`` formats the values into the SQL text on the client (not what we
want), ``paramstyle="qmark"`` sends them as Athena ExecutionParameters, separate from the
text. We use qmark: ``:name`` becomes ``?`` and each value is sent as the text of a Trino
literal, in order (clickstream.lake.translate.to_qmark, clickstream.lake.params.athena_literal).
Athena accepts ``?`` only in WHERE clauses, which tests/unit/test_sql_files.py checks.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import pyarrow as pa

from chalicelib import clients
from chalicelib.errors import ClickstreamError
from chalicelib.export import rollups
from chalicelib.lake.parquetio import Lake
from chalicelib.settings import Settings
from clickstream.lake import catalog, translate
from clickstream.lake.exceptions import LakeUnavailable, QueryError, ScanCutoffReached
from clickstream.lake.params import athena_literal

ReadSql = Callable[..., Any]

# A workgroup's per-query data usage control cancels a query that scans more than its cutoff
# (https://docs.aws.amazon.com/athena/latest/ug/workgroups-setting-control-limits-cloudwatch.html:
# "If any query that runs in the workgroup exceeds the limit, it is canceled"); awswrangler raises
# QueryCancelled with the state's reason (awswrangler/athena/_executions.py, wait_query). The
# reason reads "Bytes scanned limit was exceeded" (as reported in dbt-labs/dbt-adapters#1221,
# whose adapter retried such queries silently); matched too in case a path reports it as failed.
_SCAN_LIMIT = "bytes scanned limit"


def workgroup_for(settings: Settings) -> str:
    """The stack's workgroup (deploy/resources.yaml names it like the stack)."""
    return f"clickstream-{settings.stage}"


def run(
    sql: str,
    params: Mapping[str, Any],
    settings: Settings,
    *,
    workgroup: str | None = None,
    read_sql: ReadSql | None = None,
    boto3_session: Any = None,
) -> pa.Table:
    """Run Athena SQL with ``:name`` parameters; ``read_sql`` stands in for awswrangler in tests."""
    text, names = translate.to_qmark(sql)
    values = [athena_literal(params[name]) for name in names]
    if read_sql is None:
        import awswrangler as wr  # heavy import: only when Athena is asked

        read_sql = wr.athena.read_sql_query
    try:
        frame = read_sql(
            sql=text,
            database=settings.glue_database,
            workgroup=workgroup or workgroup_for(settings),
            params=values or None,
            paramstyle="qmark",
            ctas_approach=False,
            boto3_session=boto3_session,
        )
    except Exception as exc:  # awswrangler raises QueryFailed and QueryCancelled, botocore its ClientErrors
        kind = type(exc).__name__
        if _SCAN_LIMIT in str(exc).lower():
            raise ScanCutoffReached(
                f"Athena cancelled the query ({exc}). The stack's workgroup "
                f"{workgroup or workgroup_for(settings)} cancels a query once it has scanned more than its "
                "per-query cutoff (the stack parameter AthenaBytesScannedCutoff, 1 GiB by default), and bills "
                "what it scanned: run again, it is cancelled again. A shorter range scans less, and a range "
                "ended at the last rolled-up day reads no visitor key of the month rows "
                "(docs/performance-dashboard.md)"
            ) from exc
        if kind == "QueryCancelled":  # by someone, or something, other than the scan cutoff
            raise QueryError(
                f"Athena cancelled the query ({str(exc) or 'no reason given'}) before it finished, so it "
                "returned no rows; the cancellation came from outside this run (the console, StopQueryExecution)"
            ) from exc
        if kind in ("QueryFailed", "InvalidArgumentValue", "InvalidArgument"):
            raise QueryError(f"Athena refused the query: {exc}") from exc
        raise LakeUnavailable(f"Athena could not run the query ({kind}): {exc}") from exc
    return pa.Table.from_pandas(frame, preserve_index=False)


def rolled_through(app_id: str, settings: Settings, s3: Any = None, grain: rollups.Grain = "days") -> str | None:
    """The last day Athena may read ``app_id``'s rollups for (``grain`` "months": its month
    rows): the least value of its rollup_state files (chalicelib/export/rollups.py), None when
    there are none."""
    lake = Lake(s3 or clients.s3(settings), settings.bucket)
    try:
        return rollups.read_state(lake, settings.lake_prefix, app_id, grain)
    except ClickstreamError as exc:
        raise LakeUnavailable(f"reading the rollup state of {app_id!r} failed: {exc}") from exc


def view_statements() -> list[tuple[str, str]]:
    """(view name, CREATE OR REPLACE VIEW ...) for Athena, in the order to run them."""
    return [(view.name, view.text) for view in catalog.view_files()]
