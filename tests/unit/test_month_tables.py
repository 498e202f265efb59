"""rollup_visitor_months' Athena DDL and Glue table say what chalicelib/lake/month writes, and the
month part planning of chalicelib/export/months.py (pure)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import boto3
import pyarrow as pa
import sqlglot
from botocore.stub import Stubber
from chalice.package import YAMLTemplateSerializer
from hypothesis import given
from hypothesis import strategies as st
from sqlglot import exp

from chalicelib.export import months, rollups
from chalicelib.lake import key_ranges, month
from chalicelib.lake.month.dimensions import PARTITIONS, table_columns
from chalicelib.store import keys
from clickstream.lake import catalog

ROOT = Path(__file__).resolve().parents[2]
GLUE = {
    pa.string(): "STRING",
    pa.float64(): "DOUBLE",
    pa.int64(): "BIGINT",
    pa.int32(): "INT",
    pa.int8(): "TINYINT",
    pa.date32(): "DATE",
}


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


def test_the_month_rows_bound_stops_before_the_least_month_entry_and_the_day_bound_does_not():
    days = [f"2026-11-{d:02d}" for d in range(1, 31)]
    through = rollups.covered_through(days, [days], [])
    assert through == "2026-11-30"  # a month being rebuilt does not hold back the day rollups' readers
    assert rollups.months_covered(through, [date(2026, 11, 7)]) == "2026-11-06"
    assert rollups.months_covered(through, []) == through
    # never past the day rollups (the month rows are built from them)
    through = rollups.covered_through(days, [days], [date(2026, 11, 20)])
    assert (through, rollups.months_covered(through, [date(2026, 12, 1)])) == ("2026-11-19", "2026-11-19")
    assert rollups.months_covered(rollups.NOTHING_ROLLED, [date(2026, 11, 7)]) == rollups.NOTHING_ROLLED


def test_a_month_rows_reader_takes_the_state_s_months_through_and_the_holds_days():
    tag = rollups.STATE_TAG
    state = rollups.state_table("2026-11-20", months_through="2026-11-06")
    hold = rollups.state_table("2026-11-03", vouches=None)
    assert rollups.values_of(state, "months") == [(tag, "2026-11-06")]
    assert rollups.least([*rollups.values_of(state, "months")]) == "2026-11-06"
    assert rollups.least([*rollups.values_of(state, "months"), *rollups.values_of(hold, "months")]) == "2026-11-03"
    assert rollups.least(rollups.values_of(state)) == "2026-11-20"  # the day rollups' readers
    # a state of a release before months_through vouches for no month row
    older = rollups.state_table("2026-11-20").drop_columns(["months_through"])
    assert rollups.least(rollups.values_of(older, "months")) == rollups.NOTHING_ROLLED
    assert rollups.least(rollups.values_of(older)) == "2026-11-20"


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


def test_a_month_build_resumes_only_from_parts_of_its_count_and_never_past_it():
    assert months.first_part(None, 4) == 0
    assert months.first_part(months.Resume(4, 3), 4) == 3
    assert months.first_part(months.Resume(4, 4), 4) == 4  # all written: only the clean is left
    assert months.first_part(months.Resume(2, 1), 4) == 0  # parts of another count cover other ranges


def test_the_parts_recorded_are_kept_only_while_no_entry_of_the_month_was_added_since():
    october, november = date(2026, 10, 1), date(2026, 11, 1)
    record = {"M": {"v": {"N": "3"}, "n": {"N": "4"}, "done": {"N": "2"}}}
    item = {"mver_2026-10": {"N": "3"}, "mparts_2026-10": record}
    assert rollups.resume_of(item, october) == months.Resume(4, 2)
    assert rollups.resume_of(item, november) is None  # no record of its own
    assert rollups.resume_of({**item, "mver_2026-10": {"N": "4"}}, october) is None  # a day cleaned since
    assert rollups.resume_of({"mver_2026-10": {"N": "3"}}, october) is None


def test_a_rebuilt_day_bumps_the_version_of_every_month_it_marks_in_the_write_that_cleans_it():
    """The exact UpdateItem (botocore's Stubber): the version of each month an entry is added
    to goes up in the same atomic write, so a resume can tell that a present entry was added again."""
    client = boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="x").client("dynamodb", region_name="us-east-1")
    versions = {f"#v{i}": f"mver_{m}" for i, m in enumerate(["2026-11", "2026-12", "2027-01", "2027-02", "2027-03"])}
    with Stubber(client) as stub:
        stub.add_response(
            "update_item",
            {},
            {
                "TableName": "t",
                "Key": keys.rollup_dirty_key("shop"),
                "UpdateExpression": "DELETE days :d ADD months :m" + "".join(f", {v} :one" for v in versions) + " SET stale = :t",
                "ExpressionAttributeValues": {
                    ":d": {"SS": ["2026-11-07"]},
                    ":t": {"BOOL": True},
                    ":m": {"SS": rollups.month_entries(date(2026, 11, 7))},
                    ":one": {"N": "1"},
                },
                "ExpressionAttributeNames": versions,
            },
        )
        stub.add_response(
            "update_item",
            {},
            {
                "TableName": "t",
                "Key": keys.rollup_dirty_key("shop"),
                "UpdateExpression": "ADD months :m, #v0 :one SET stale = :t",
                "ExpressionAttributeValues": {":m": {"SS": ["2026-09-01"]}, ":one": {"N": "1"}, ":t": {"BOOL": True}},
                "ExpressionAttributeNames": {"#v0": "mver_2026-09"},
            },
        )
        rollups._clean(client, "t", "shop", date(2026, 11, 7))
        rollups.mark_months(client, "t", "shop", [date(2026, 9, 1)])
        stub.assert_no_pending_responses()
