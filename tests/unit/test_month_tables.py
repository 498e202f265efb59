"""rollup_visitor_months' Athena DDL and Glue table say what chalicelib/lake/month writes, and the
month part planning of chalicelib/export/months.py (pure)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow as pa
import sqlglot
from chalice.package import YAMLTemplateSerializer
from hypothesis import given
from hypothesis import strategies as st
from sqlglot import exp

from chalicelib.export import months, rollups
from chalicelib.lake import key_ranges, month
from chalicelib.lake.month.dimensions import PARTITIONS, table_columns
from clickstream.lake import catalog

ROOT = Path(__file__).resolve().parents[2]
GLUE = {pa.string(): "STRING", pa.float64(): "DOUBLE", pa.int64(): "BIGINT", pa.int32(): "INT", pa.date32(): "DATE"}


def test_the_ddl_lists_every_dimension_s_columns_and_projects_app_dim_and_month():
    text = (catalog.ETL_DIR / "tables" / f"{months.MONTH_TABLE}.sql").read_text()
    create = sqlglot.parse_one(text.replace("${DATABASE}", "db").replace("${LAKE}", "s3://b/p"), read="hive")
    columns = [(c.name, c.args["kind"].sql("hive").upper()) for c in create.this.expressions if isinstance(c, exp.ColumnDef)]
    assert columns == [(f.name, GLUE[f.type]) for f in table_columns()]
    assert "PARTITIONED BY (`app_id` string, `dim` string, `month` string)" in text
    assert f"'projection.dim.values' = '{','.join(d.name for d in month.DIMENSIONS)}'" in text
    assert "'${LAKE}/rollup_visitor_months/app_id=${app_id}/dim=${dim}/month=${month}/'" in text
    assert months.month_key("lake", "a", "geo", date(2026, 11, 1), 0, 1).endswith(
        "rollup_visitor_months/app_id=a/dim=geo/month=2026-11/part-0-of-1.parquet"
    )


def test_the_glue_table_holds_the_same_columns_and_partitions():
    path = ROOT / "deploy" / "resources.yaml"
    template = YAMLTemplateSerializer().load_template(path.read_text(), str(path))
    table = template["Resources"]["RollupVisitorMonthsGlueTable"]["Properties"]["TableInput"]
    assert table["Name"] == months.MONTH_TABLE
    assert [k["Name"] for k in table["PartitionKeys"]] == list(PARTITIONS)
    glue = [(c["Name"], c["Type"].upper()) for c in table["StorageDescriptor"]["Columns"]]
    assert glue == [(f.name, GLUE[f.type]) for f in table_columns()]
    assert table["Parameters"]["projection.dim.values"] == ",".join(d.name for d in month.DIMENSIONS)


def test_a_rebuilt_day_marks_its_month_from_that_day_and_the_four_months_after():
    assert rollups.month_entries(date(2026, 11, 7)) == ["2026-11-07", "2026-12-01", "2027-01-01", "2027-02-01", "2027-03-01"]


def test_the_state_bound_stops_before_the_least_month_entry():
    days = [f"2026-11-{d:02d}" for d in range(1, 31)]
    assert rollups.covered_through(days, [days], [], [date(2026, 11, 7)]) == "2026-11-06"
    assert rollups.covered_through(days, [days], [date(2026, 11, 20)], [date(2026, 12, 1)]) == "2026-11-19"
    assert rollups.covered_through(days, [days], []) == "2026-11-30"


@given(rows=st.integers(0, 10**10), days=st.integers(1, 31))
def test_a_month_s_part_count_grows_with_its_rows_and_a_small_app_has_one(rows: int, days: int):
    n = months.part_count(rows, days, date(2026, 11, 1))
    assert 1 <= n <= key_ranges.MAX_RANGES
    assert months.part_count(rows + 10**7, days, date(2026, 11, 1)) >= n
    if rows * 30 * months.HEADROOM // days <= months.ROWS_PER_PART:
        assert n == 1


@given(rows=st.integers(0, 10**9), per=st.integers(1, 10**7))
def test_a_part_is_built_in_sub_ranges_of_at_most_the_rows_per_build(rows: int, per: int):
    m = months.builds_in(rows, per)
    assert m >= 1 and (m - 1) * per < max(rows, 1) and rows <= m * per


def test_part_names_parse_back():
    assert months.parse_part(months.carry_key("p", "a", date(2026, 1, 1), "utm", 3, 7)) == (3, 7)
    assert months.month_of(months.carry_key("p", "a", date(2026, 1, 1), "utm", 3, 7)) == date(2026, 1, 1)
    assert months.parse_part("p/rollup_visitor_months/app_id=a/dim=utm/month=2026-01/other.parquet") is None
