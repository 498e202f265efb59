"""The SQL written once (etl/blocks): the active-user block against a ground truth computed
in Python, and `clickstream query --print` (the expanded SQL for Athena's console)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.lake.schema import EVENTS
from chalicelib.lake.transform import conform
from clickstream.lake import catalog, translate
from clickstream.lake.duck import DuckLake
from clickstream.lake.params import bind
from clickstream.query import query

DAY0 = date(2026, 9, 1)
# The block alone: a given `active` table in (each app counted from its first to its last active
# day, as the view does), `daily` out.
BLOCK_ONLY = (
    "WITH bounds AS (SELECT app_id, min(day) AS origin, max(day) AS until FROM active GROUP BY app_id),\n"
    "-- @include active_users\nSELECT app_id, day, dau, page_views, wau, mau FROM daily"
)

# (app, visitor, day offset, page views that day): one row per visitor and active day. Days span
# several of the block's 32-day words, so masks cross word boundaries.
activity = st.dictionaries(
    st.tuples(st.sampled_from(["a", "b"]), st.integers(0, 5), st.integers(0, 140)),
    st.integers(0, 3),
    max_size=40,
)


def truth(active: dict[tuple[str, int, int], int]) -> dict[tuple[str, date], tuple[int, int, int, int]]:
    """Per (app, day with activity): dau, page views, wau, mau by their definitions, counted."""
    out = {}
    for app, _, day in active:

        def seen(lo: int, hi: int, app: str = app) -> int:
            return len({v for (a, v, d) in active if a == app and lo <= d <= hi})

        page_views = sum(pv for (a, _, d), pv in active.items() if a == app and d == day)
        out[(app, DAY0 + timedelta(days=day))] = (seen(day, day), page_views, seen(day - 6, day), seen(day - 29, day))
    return out


@settings(max_examples=150, deadline=None)
@given(activity)
def test_the_active_user_block_counts_distinct_visitors_in_each_window(active):
    table = pa.table(
        {
            "app_id": [a for a, _, _ in active],
            "visitor": [f"v{v}" for _, v, _ in active],
            "day": pa.array([DAY0 + timedelta(days=d) for _, _, d in active], pa.date32()),
            "page_views": pa.array(list(active.values()), pa.int64()),
        }
    )
    con = duckdb.connect()
    con.register("active", table)
    rows = con.sql(translate.to_duckdb(catalog.expand(BLOCK_ONLY))).fetchall()
    got = {(app, day): (int(dau), int(pv), int(wau), int(mau)) for app, day, dau, pv, wau, mau in rows if dau > 0}
    assert got == truth(active)


def _lake(root: Path, active: dict[tuple[str, int, int], int]) -> DuckLake:
    """Events that make `active`: per visitor and day, one click (bots on odd visitors of app b)
    and the given number of page views."""
    by_day: dict[tuple[str, int], list[dict]] = {}
    for (app, v, d), pv in active.items():
        t = datetime.combine(DAY0 + timedelta(days=d), datetime.min.time(), tzinfo=timezone.utc) + timedelta(hours=v)
        for i in range(pv + 1):
            by_day.setdefault((app, d), []).append(
                {
                    "event_id": f"{app}-{v}-{d}-{i}",
                    "app_id": app,
                    "anonymous_id": f"v{v}",
                    "event_type": "page_view" if i else "click",
                    "event_name": "page_view" if i else "CLICK",
                    "event_time": t + timedelta(minutes=i),
                    "path": "/p",
                    "is_bot": app == "b" and v % 2 == 1,
                }
            )
    for (app, d), rows in by_day.items():
        target = root / "events" / f"app_id={app}" / f"dt={DAY0 + timedelta(days=d)}"
        target.mkdir(parents=True)
        table = pa.Table.from_pylist(rows)
        table = table.set_column(
            table.schema.get_field_index("event_time"), "event_time", table["event_time"].cast(pa.timestamp("ms", tz="UTC"))
        )
        pq.write_table(conform(table, EVENTS), target / "part-1.parquet")
    return DuckLake(root)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(active=activity, span=st.tuples(st.integers(0, 140), st.integers(0, 80)))
def test_the_daily_metrics_view_and_query_agree_with_the_truth(tmp_path_factory, active, span):
    lake = _lake(tmp_path_factory.mktemp("lake"), active)
    people = {k: pv for k, pv in active.items() if not (k[0] == "b" and k[1] % 2 == 1)}
    expected = truth(people)
    view = {
        (r["app_id"], r["day"]): (r["dau"], r["page_views"], r["wau"], r["mau"])
        for r in lake.execute("SELECT * FROM daily_metrics").to_pylist()
    }
    assert view == expected

    first, length = span
    date_from, date_to = DAY0 + timedelta(days=first), DAY0 + timedelta(days=first + length)
    found = catalog.query_file("daily_metrics")
    assert found is not None
    for app in ("a", "b"):
        values = bind(translate.parameter_names(found.text), {"app_id": app, "date_from": date_from, "date_to": date_to})
        rows = lake.execute(translate.to_duckdb(found.text), values).to_pylist()
        got = {(app, r["day"]): (r["dau"], r["page_views"], r["wau"], r["mau"]) for r in rows}
        assert got == {k: v for k, v in expected.items() if k[0] == app and date_from <= k[1] <= date_to}


def test_print_shows_the_expanded_sql_with_the_parameters_athena_asks_for():
    result = CliRunner().invoke(query, ["overview", "--print"])
    assert result.exit_code == 0, result.output
    first, rest = result.output.split("\n", 1)
    assert first == "-- execution parameters, in order: " + ", ".join(translate.to_qmark(catalog.query_file("overview").text)[1])  # type: ignore[union-attr]
    assert "@include" not in rest and "-- etl/blocks/session_totals.sql" in rest and "ordered AS (" in rest
    assert translate.parameter_names(rest) == [] and rest.count("?") >= 9


def test_print_with_values_fills_in_literals_that_give_the_bound_answer(tmp_path: Path):
    lake = _lake(tmp_path, {("a", 1, 3): 2, ("a", 2, 4): 1, ("a", 1, 9): 0})
    args = ["--param", "app_id=a", "--param", "date_from=2026-09-01", "--param", "date_to=2026-09-30"]
    result = CliRunner().invoke(query, ["daily_metrics", "--print", *args])
    assert result.exit_code == 0, result.output
    assert "'2026-09-01'" in result.output and translate.parameter_names(result.output) == []
    printed = lake.execute(translate.to_duckdb(result.output)).to_pylist()
    found = catalog.query_file("daily_metrics")
    assert found is not None
    values = bind(translate.parameter_names(found.text), {"app_id": "a", "date_from": "2026-09-01", "date_to": "2026-09-30"})
    assert printed == lake.execute(translate.to_duckdb(found.text), values).to_pylist() and len(printed) == 3


def test_print_checks_the_values_like_a_run():
    result = CliRunner().invoke(
        query,
        [
            "overview",
            "--print",
            "--param",
            "app_id=Not An App",
            "--param",
            "date_from=2026-09-01",
            "--param",
            "date_to=2026-09-02",
        ],
    )
    assert result.exit_code == 2 and "app id" in result.output
