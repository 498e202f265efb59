"""The keyless per-day totals (decision 0017 step 1) are the sums of the keyed rollups' rows,
whatever the slicing: a rebuild in several slices of visitors sums each slice's totals, and the
result is the keyed tables (themselves equal to the unsliced build's) summed per bot flag and value."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.lake import rollup
from tests.rollup_helpers import APP, Lake, visits

# sessions and bounces per session row; the other totals sum a keyed table's measure
_SESSION_MEASURES = {"sessions": lambda row: 1, "bounces": lambda row: int(row["is_bounce"])}


def _cell(x: float | None) -> float | None:
    return None if x is None else rollup.geo_cell(pa.array([x], pa.float64()))[0].as_py()


def expected_totals(keyed: dict[str, pa.Table], name: str) -> Counter[tuple[Any, ...]]:
    """The totals ``name`` as Python sums over the rows of the keyed table it is built from."""
    source, schema = rollup.TOTALS[name]
    measures = [f.name for f in schema if f.type == pa.int64()]
    keys = [n for n in schema.names if n not in measures]
    sums: Counter[tuple[Any, ...]] = Counter()
    for row in keyed[source].to_pylist():
        row = {**row, "lat_cell": _cell(row.get("geo_lat")), "lon_cell": _cell(row.get("geo_lon"))}
        for m in measures:
            value = _SESSION_MEASURES[m](row) if source == "rollup_sessions" else row[m]
            sums[(*[row[k] for k in keys], m)] += value
    return sums


def totals_of(table: pa.Table) -> Counter[tuple[Any, ...]]:
    measures = [f.name for f in table.schema if f.type == pa.int64()]
    keys = [n for n in table.column_names if n not in measures]
    out: Counter[tuple[Any, ...]] = Counter()
    for row in table.to_pylist():
        for m in measures:
            assert (*[row[k] for k in keys], m) not in out, f"{keys} repeat in a keyless total: rows are not summed"
            out[(*[row[k] for k in keys], m)] = row[m]
    return out


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    lake_visits=st.lists(st.integers(0, 30), min_size=2, max_size=10, unique=True).flatmap(
        lambda vs: st.tuples(*[visits(v, [v * 1000]) for v in vs])
    ),
    rows_per_slice=st.integers(1, 4),
)
def test_a_sliced_build_sums_the_keyed_rollups_into_the_totals(tmp_path_factory, lake_visits, rows_per_slice):
    # GIVEN a lake of a few visitors over a few days
    lake = Lake(tmp_path_factory.mktemp("lake"))
    lake.events = [e for v in lake_visits for e in v]
    lake.write_events(lake.days())
    for day in sorted(lake.days()):
        # WHEN a day is rebuilt in slices of a few events each (several slices)
        tables = rollup.rebuild_day(lake, APP, day, rows_per_slice=rows_per_slice)
        for name in rollup.TOTALS:
            # THEN each total is its keyed table's rows summed per bot flag and value, one row each
            assert totals_of(tables[name]) == expected_totals(tables, name), (name, day)
            assert tables[name].schema == rollup.SCHEMAS[name]
        # AND they hold every user action, page view and session starting on the day once
        actions = [e for e in lake.events if e["event_time"].date() == day and e["event_type"] not in rollup.NOT_ACTIONS]
        page_views = sum(1 for e in actions if e["event_type"] == "page_view")
        assert sum(tables["rollup_visitor_totals"]["events"].to_pylist()) == len(actions)
        assert sum(tables["rollup_visitor_totals"]["page_views"].to_pylist()) == page_views
        assert sum(tables["rollup_page_totals"]["page_views"].to_pylist()) == page_views
        assert sum(tables["rollup_event_totals"]["events"].to_pylist()) == len(actions) - page_views
        geo = sum(1 for e in actions if e["geo_lat"] is not None)
        assert sum(tables["rollup_geo_totals"]["events"].to_pylist()) == geo
        for name in ("rollup_entry_totals", "rollup_exit_totals", "rollup_referrer_totals", "rollup_utm_totals"):
            assert sum(tables[name]["sessions"].to_pylist()) == tables["rollup_sessions"].num_rows, name
        bounces = sum(tables["rollup_sessions"]["is_bounce"].to_pylist())
        assert sum(tables["rollup_entry_totals"]["bounces"].to_pylist()) == bounces


def test_the_geo_cell_rounds_half_away_from_zero_on_the_product():
    xs = [48.15, 48.25, -0.05, -33.86, 151.2, 37.65, -37.65, 0.04, -0.04, None]
    cells = rollup.geo_cell(pa.array(xs, pa.float64())).to_pylist()
    assert cells == [48.2, 48.3, -0.1, -33.9, 151.2, 37.7, -37.7, 0.0, 0.0, None]
