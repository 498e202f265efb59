"""The geo grid's cells are the same on DuckDB as on Athena.

Trino's `round(double, 1)` (Athena engine 3, io.trino.operator.scalar.MathFunctions.round) is
`Math.round(x * 10) / 10` on the double product, half away from zero (negatives by symmetry).
DuckDB's `round(double, 1)` rounds the exact binary value instead: 37.65 is 37.6499999...,
so DuckDB gave 37.6 where Athena gives 37.7. A position sent with two decimals (an SDK that
rounds them) landed in another cell on the local dashboard than in QuickSight. The panels now
write the cell as `round(x * 10) / 10`: the product is one IEEE multiplication on both engines
and `round(double)` is half away from zero on both, so the cells agree by construction.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from fractions import Fraction
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from chalicelib.lake import rollup
from chalicelib.lake.schema import EVENTS
from chalicelib.lake.transform import conform
from clickstream.lake import catalog, translate
from clickstream.lake.duck import DuckLake
from clickstream.lake.params import bind

DAY = datetime(2026, 11, 2, 12, 0, tzinfo=timezone.utc)
# Every two-decimal edge of one degree on both sides of 0, a few far ones, and the equator's.
EDGES = [sign * (base + k / 100) for sign in (1, -1) for base in (0, 37, 52, 89) for k in range(5, 100, 10)]


def athena_cell(x: float) -> float:
    """Trino's round(x, 1) for a double: Math.round(x * 10) / 10, negatives by symmetry; Java's
    Math.round is floor(v + 1/2) on the exact value of v."""
    if x < 0:
        return -athena_cell(-x)
    return math.floor(Fraction(x * 10) + Fraction(1, 2)) / 10


def test_athena_and_duckdb_differed_on_these_edges_with_round_x_1(tmp_path: Path):
    duck = DuckLake(tmp_path)
    local = duck.execute("SELECT x, round(x, 1) AS cell FROM unnest($xs::DOUBLE[]) AS t(x)", {"xs": EDGES}).to_pylist()
    assert any(row["cell"] != athena_cell(row["x"]) for row in local)  # the bug the panels avoid


def _lake(root: Path) -> None:
    n = len(EDGES)
    table = pa.table(
        {
            "event_id": [f"e{i}" for i in range(n)],
            "app_id": ["demo"] * n,
            "event_type": ["click"] * n,
            "event_name": ["GEO_LOC"] * n,
            "event_time": pa.array([DAY + timedelta(seconds=i) for i in range(n)], pa.timestamp("ms", tz="UTC")),
            "anonymous_id": [f"v{i}" for i in range(n)],
            "geo_lat": EDGES,
            "geo_lon": list(reversed(EDGES)),
        }
    )
    target = root / "events" / "app_id=demo" / f"dt={DAY:%Y-%m-%d}"
    target.mkdir(parents=True)
    pq.write_table(conform(table, EVENTS), target / "part-1.parquet")


def test_the_geo_grid_panel_and_view_put_each_position_in_athenas_cell(tmp_path: Path):
    _lake(tmp_path)
    duck = DuckLake(tmp_path)
    expected = sorted((athena_cell(lat), athena_cell(lon)) for lat, lon in zip(EDGES, reversed(EDGES)))

    text = catalog.expand((catalog.QUERIES_DIR / "geo_grid.sql").read_text(), origin="geo_grid.sql")
    values = {"app_id": "demo", "date_from": "2026-11-02", "date_to": "2026-11-02", "include_bots": False}
    names = translate.parameter_names(text)
    panel = duck.execute(translate.to_duckdb(text), bind(names, {k: v for k, v in values.items() if k in names}))
    assert sorted(zip(panel["lat_cell"].to_pylist(), panel["lon_cell"].to_pylist())) == expected
    assert panel["visitors"].to_pylist() == [1] * len(EDGES)  # no two positions share a cell

    view = duck.execute("SELECT lat_cell, lon_cell FROM geo_grid WHERE app_id = 'demo'")
    assert sorted(zip(view["lat_cell"].to_pylist(), view["lon_cell"].to_pylist())) == expected


def test_the_export_computes_the_same_cells_for_rollup_geo_totals():
    """rollup_geo_totals holds the cell, computed in pyarrow/numpy by the export (no SQL engine
    in the Lambda): Athena's on every edge, so a rolled-up day and a raw one share their cells."""
    got = rollup.geo_cell(pa.array(EDGES, pa.float64())).to_pylist()
    assert got == [athena_cell(x) + 0.0 for x in EDGES]
