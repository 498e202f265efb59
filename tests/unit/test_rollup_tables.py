"""The rollup tables' DDL (etl/tables/rollup_*.sql) says what chalicelib/lake/rollup.py writes."""

from __future__ import annotations

import pyarrow as pa
import pytest
import sqlglot
from sqlglot import exp

from chalicelib.lake import rollup
from clickstream.lake import catalog

GLUE = {pa.string(): "STRING", pa.float64(): "DOUBLE", pa.int64(): "BIGINT", pa.bool_(): "BOOLEAN"}


@pytest.mark.parametrize("name", sorted(rollup.SCHEMAS))
def test_the_ddl_lists_the_written_columns_and_projects_the_partitions(name: str):
    text = (catalog.ETL_DIR / "tables" / f"{name}.sql").read_text()
    create = sqlglot.parse_one(text.replace("${DATABASE}", "db").replace("${LAKE}", "s3://b/p"), read="hive")
    columns = [(c.name, c.args["kind"].sql("hive").upper()) for c in create.this.expressions if isinstance(c, exp.ColumnDef)]
    expected = [
        (f.name, "TIMESTAMP" if pa.types.is_timestamp(f.type) else GLUE[f.type])
        for f in rollup.SCHEMAS[name]
        if f.name != "app_id"
    ]
    assert columns == expected
    assert f"'${{LAKE}}/{name}/app_id=${{app_id}}/dt=${{dt}}/'" in text and "'projection.app_id.type' = 'injected'" in text
