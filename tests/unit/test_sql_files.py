"""Every file in etl/views and etl/queries: Trino SQL that sqlglot parses, that runs on DuckDB,
and that keeps the rules Athena imposes on it.

Athena's rules: an injected partition (app_id) needs a static equality in every scan; dt must
be bounded so a day reads a day; execution parameters (``?``) may only appear in WHERE.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlglot
from sqlglot import exp

from chalicelib.lake.schema import EVENTS
from chalicelib.lake.transform import conform
from clickstream.lake import billing, catalog, prepare, translate
from clickstream.lake.duck import DuckLake
from clickstream.lake.exceptions import QueryError
from clickstream.lake.params import bind

VIEWS = sorted(catalog.VIEWS_DIR.glob("*.sql"))
QUERIES = sorted(catalog.QUERIES_DIR.glob("*.sql"))
# The CTEs each block defines (range_sessions defines `scoped`, the input of sessionize that
# session_events defines too: its text, the 30-minute margin, is checked instead).
BLOCK_CTES = {
    "sessionize": ("ordered", "flagged", "numbered"),
    "range_sessions": (),
    "tail_sessions": (),
    "visits": ("visits",),
    "active_users": ("offsets", "words", "patterns", "counted_days", "viewed", "daily"),
    "session_rows": ("session_rows",),
    "session_totals": ("session_totals",),
    "visitor_rows": ("visitor_rows",),
}
SAMPLE = {
    "app_id": "demo",
    "date_from": "2026-11-02",
    "date_to": "2026-11-03",
    "steps": ["/demo", "LIKE_WOOD"],
    "include_bots": False,
}


def _sql(path: Path) -> str:
    """The file as every engine sees it: etl/blocks expanded."""
    return catalog.expand(path.read_text(), origin=path.name)


def test_the_dashboard_contract_is_there():
    assert {p.stem for p in VIEWS} >= {"sessions", "daily_metrics", "retention", "session_events"}
    assert {p.stem for p in QUERIES} >= {
        "overview",
        "daily_metrics",
        "top_pages",
        "entry_pages",
        "exit_pages",
        "referrers",
        "utm_campaigns",
        "devices",
        "browsers",
        "operating_systems",
        "countries",
        "geo_grid",
        "custom_events",
        "funnel",
        "retention",
    }


@pytest.mark.parametrize("path", VIEWS + QUERIES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_parses_as_one_trino_statement(path: Path):
    statements = [s for s in sqlglot.parse(_sql(path), read="trino") if s is not None]
    assert len(statements) == 1
    assert translate.to_duckdb(_sql(path))


@pytest.mark.parametrize("path", VIEWS, ids=lambda p: p.name)
def test_a_view_file_replaces_the_view_it_is_named_after(path: Path):
    create = sqlglot.parse_one(_sql(path), read="trino")
    assert isinstance(create, exp.Create) and create.kind == "VIEW" and create.args.get("replace")
    assert create.this.name == path.stem
    assert translate.parameter_names(_sql(path)) == []


@pytest.mark.parametrize("path", QUERIES, ids=lambda p: p.name)
def test_a_query_is_one_select_with_contract_parameters(path: Path):
    text = _sql(path)
    assert isinstance(sqlglot.parse_one(text, read="trino"), exp.Query)
    engine = {"rolled_through", "months_through"}
    assert set(translate.parameter_names(text)) <= {"app_id", "date_from", "date_to", "include_bots", "steps", *engine}
    assert {"app_id", "date_from", "date_to"} <= set(translate.parameter_names(text))


@pytest.mark.parametrize("path", QUERIES, ids=lambda p: p.name)
def test_every_scan_names_the_app_by_equality_and_bounds_its_days(path: Path):
    scans = billing.scans(_sql(path))
    assert scans
    for scan in scans:
        conjuncts = scan.partition_filter or ""
        assert "(app_id = :app_id)" in conjuncts, scan
        time = catalog.PARTITIONS[scan.table][-1]  # dt, or month for the month rows
        assert time in conjuncts and (":date_from" in conjuncts or ":date_to" in conjuncts), scan
        assert " OR " not in conjuncts.upper(), "an OR over partitions would not prune"


@pytest.mark.parametrize("bots", [False, True])
def test_the_bill_reads_the_month_columns_of_the_bot_setting_only(bots: bool):
    """Athena plans a prepared statement with its values bound and folds the CASE on
    :include_bots (billing._fold_flags), so a panel reads the mask and prev of people or of all
    rows, not both; the SQL alone (no values) names both."""
    given = {"app_id": "a", "date_from": "2026-11-01", "date_to": "2026-11-07", "include_bots": bots}
    sql, values = prepare("browsers", given)

    def month_columns(found: list[billing.ScanSpec]) -> set[str]:
        return {c for scan in found if scan.table == "rollup_visitor_months" for c in scan.columns}

    mine, other = ("all", "people") if bots else ("people", "all")
    read = month_columns(billing.scans(sql, values))
    assert {f"mask_{mine}", f"prev_{mine}", "visitor_key"} <= read and not {f"mask_{other}", f"prev_{other}"} & read
    assert {"mask_all", "mask_people", "prev_all", "prev_people"} <= month_columns(billing.scans(sql))


@pytest.mark.parametrize("path", QUERIES, ids=lambda p: p.name)
def test_parameters_appear_only_in_where_clauses(path: Path):
    assert translate.placeholders_outside_where(_sql(path)) == []


def _ctes(path: Path) -> dict[str, str]:
    tree = sqlglot.parse_one(_sql(path), read="trino")
    return {cte.alias: cte.this.sql("trino", comments=False) for cte in tree.find_all(exp.CTE)}


@pytest.mark.parametrize("block", sorted(BLOCK_CTES))
def test_a_block_is_written_once(block: str):
    """Its CTEs are defined in etl/blocks/<block>.sql and in no other file under etl/."""
    for path in sorted(catalog.ETL_DIR.glob("*/*.sql")):
        raw = path.read_text()
        for cte in BLOCK_CTES[block]:
            defines = re.search(rf"(^|[\s,(]){cte} AS \(", raw, re.IGNORECASE) is not None
            assert defines == (path == catalog.BLOCKS_DIR / f"{block}.sql"), f"{path}: CTE {cte}"
        if block == "range_sessions":
            margin = "date_add('minute', -30" in raw
            assert margin == (path == catalog.BLOCKS_DIR / "range_sessions.sql"), f"{path}: the 30-minute margin"


def test_the_blocks_are_used_where_the_rules_apply():
    includes = {p: set(re.findall(r"@include (\w+)", p.read_text())) for p in VIEWS + QUERIES}
    assert includes[catalog.VIEWS_DIR / "session_events.sql"] == {"sessionize"}
    assert includes[catalog.VIEWS_DIR / "daily_metrics.sql"] == {"active_users"}
    assert includes[catalog.QUERIES_DIR / "daily_metrics.sql"] == {"session_totals", "active_users"}
    # A spec funnel's tail is the session panels' (shared in a batch); an ad-hoc funnel numbers the
    # whole range by the same rules under the prefix adhoc_.
    assert includes[catalog.QUERIES_DIR / "funnel.sql"] == {"tail_sessions", "visits", "sessionize"}
    assert re.findall(r"@include (?:sessionize|visits).*", (catalog.QUERIES_DIR / "funnel.sql").read_text()) == [
        "@include visits",
        "@include sessionize as adhoc",
        "@include visits as adhoc",
    ]
    assert includes[catalog.QUERIES_DIR / "overview.sql"] == {"session_totals", "visitor_rows"}
    for name in ("entry_pages", "exit_pages", "referrers", "utm_campaigns"):
        assert includes[catalog.QUERIES_DIR / f"{name}.sql"] == {"session_rows"}
    for name in ("browsers", "devices", "operating_systems", "countries", "bot_traffic"):
        assert includes[catalog.QUERIES_DIR / f"{name}.sql"] == {"visitor_rows"}


def test_an_unknown_block_is_named_in_the_error():
    with pytest.raises(QueryError, match=r"top_pages.sql includes 'nope', which is not in etl/blocks; known: active_users"):
        catalog.expand("WITH\n-- @include nope\nSELECT 1", origin="top_pages.sql")


def test_blocks_that_include_each_other_fail_with_the_cycle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "a.sql").write_text("a AS (SELECT 1),\n-- @include b\n")
    (tmp_path / "b.sql").write_text("b AS (SELECT 2),\n  --  @include a  \n")
    monkeypatch.setattr(catalog, "BLOCKS_DIR", tmp_path)
    with pytest.raises(QueryError, match="a cycle: a -> b -> a"):
        catalog.expand("WITH\n-- @include a\nSELECT 1")


def test_nested_blocks_expand_in_place_and_other_comments_stay():
    text = catalog.expand(
        "-- @include is a directive only on a line of its own\nWITH\n-- @include range_sessions\nSELECT * FROM numbered"
    )
    assert text.startswith("-- @include is a directive")
    assert "-- etl/blocks/range_sessions.sql\n" in text and "-- etl/blocks/sessionize.sql\n" in text
    assert "@include range_sessions" not in text and "@include sessionize" not in text
    assert (
        text.index("scoped AS (")
        < text.index("ordered AS (")
        < text.index("numbered AS (")
        < text.index("SELECT * FROM numbered")
    )


def test_a_block_included_under_a_prefix_renames_its_ctes_and_the_ctes_it_reads():
    text = catalog.expand(
        "WITH\n-- @include tail_sessions\n,\nadhoc_scoped AS (SELECT * FROM scoped),\n"
        "  -- @include sessionize as adhoc  \n"
        "SELECT * FROM numbered JOIN adhoc_numbered USING (anonymous_id)"
    )
    ctes = [c.alias for c in sqlglot.parse_one(text, read="athena").find_all(exp.CTE)]
    chain = ["scoped", "ordered", "flagged", "numbered"]
    assert ctes == chain + [f"adhoc_{name}" for name in chain]
    assert "-- etl/blocks/sessionize.sql as adhoc: ordered, flagged, numbered, scoped renamed adhoc_<name>\n" in text
    renamed = text[text.index("as adhoc:") :]
    assert "FROM adhoc_scoped\n" in renamed and "FROM adhoc_ordered\n" in renamed and "FROM adhoc_flagged\n" in renamed
    # Comments, columns and lake tables keep their names; the rule is the same text but for the names.
    assert "over a CTE `scoped`" in renamed and " AS prev_time" in renamed
    plain = catalog.expand("WITH\n-- @include sessionize\nSELECT 1")
    body = plain[plain.index("ordered AS (") : plain.index("SELECT 1")]
    assert (
        body.replace("ordered", "adhoc_ordered")
        .replace("flagged", "adhoc_flagged")
        .replace("numbered", "adhoc_numbered")
        .replace("FROM scoped", "FROM adhoc_scoped")
        in renamed
    )
    nested = catalog.expand("WITH\n-- @include range_sessions as r\nSELECT * FROM r_numbered")
    tree = sqlglot.parse_one(nested, read="athena")
    assert [c.alias for c in tree.find_all(exp.CTE)] == ["r_scoped", "r_ordered", "r_flagged", "r_numbered"]
    assert {t.name for t in tree.find_all(exp.Table)} == {"events", "r_scoped", "r_ordered", "r_flagged", "r_numbered"}


def test_a_prefixed_include_refuses_a_bad_prefix_and_a_name_used_as_a_column(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    with pytest.raises(QueryError, match="includes 'sessionize' as 'Bad-1': a prefix is a lower-case SQL name"):
        catalog.expand("WITH\n-- @include sessionize as Bad-1\nSELECT 1", origin="funnel.sql")
    (tmp_path / "clash.sql").write_text("seq AS (SELECT seq FROM scoped)\n")
    monkeypatch.setattr(catalog, "BLOCKS_DIR", tmp_path)
    with pytest.raises(QueryError, match="clash.sql uses seq as a column and a CTE"):
        catalog.expand("WITH\n-- @include clash as x\nSELECT 1")


def _write_day(root: Path, app: str, day: datetime, n: int) -> None:
    times = [day + timedelta(minutes=7 * i) for i in range(n)]
    table = pa.table(
        {
            "event_id": [f"{app}-{day:%d}-{i}" for i in range(n)],
            "app_id": [app] * n,
            "event_type": ["page_view" if i % 3 else "click" for i in range(n)],
            "event_name": ["page_view" if i % 3 else "LIKE_WOOD" for i in range(n)],
            "event_time": pa.array(times, pa.timestamp("ms", tz="UTC")),
            "anonymous_id": [f"v{i % 4}" for i in range(n)],
            "user_id": ["u-1" if i == 0 else None for i in range(n)],
            "path": ["/demo", "/demo/about"] * (n // 2) + ["/demo"] * (n % 2),
            "is_bot": [i % 4 == 3 for i in range(n)],
            "utm_source": ["newsletter" if i == 0 else None for i in range(n)],
            "geo_lat": [52.51] * n,
            "geo_lon": [13.41] * n,
        }
    )
    target = root / "events" / f"app_id={app}" / f"dt={day:%Y-%m-%d}"
    target.mkdir(parents=True)
    pq.write_table(conform(table, EVENTS), target / "part-1.parquet")


@pytest.fixture(scope="module")
def small_lake(tmp_path_factory) -> DuckLake:
    root = tmp_path_factory.mktemp("lake")
    for d in range(4):
        _write_day(root, "demo", datetime(2026, 11, 1, 23, 0, tzinfo=timezone.utc) + timedelta(days=d), 9)
    return DuckLake(root)


@pytest.mark.parametrize("path", VIEWS, ids=lambda p: p.name)
def test_every_view_runs_on_duckdb(small_lake: DuckLake, path: Path):
    rows = small_lake.execute(f"SELECT * FROM {path.stem} WHERE app_id = 'demo'").to_pylist()
    assert rows


@pytest.mark.parametrize("path", QUERIES, ids=lambda p: p.name)
def test_every_query_runs_on_duckdb_with_bound_parameters(small_lake: DuckLake, path: Path):
    text = _sql(path)
    duck = translate.to_duckdb(text)
    assert ":app_id" not in duck and "$app_id" in duck
    rows = small_lake.execute(
        duck, bind(translate.parameter_names(text), {k: v for k, v in SAMPLE.items() if k in translate.parameter_names(text)})
    )
    assert rows.num_rows >= 1


@pytest.mark.parametrize("path", VIEWS + QUERIES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_divisions_are_in_double(path: Path):
    # Trino divides integers as integers and 1.0 is a DECIMAL; DuckDB divides both as doubles.
    # Casting the dividend to double makes both engines agree.
    tree = sqlglot.parse_one(_sql(path), read="trino")
    for div in tree.find_all(exp.Div):
        assert isinstance(div.this, exp.Cast) and div.this.to.this == exp.DataType.Type.DOUBLE, div.sql("trino")
    assert not any(isinstance(lit, exp.Literal) and not lit.is_string and "." in lit.this for lit in tree.find_all(exp.Literal))
