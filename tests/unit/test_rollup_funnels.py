"""The funnels the export rolls up are the dashboard spec's, and etl/queries/funnel.sql knows
them: the list is in the spec and in chalicelib.lake.rollup.FUNNELS (the Lambda cannot read the
spec), kept equal here; funnel.sql's gates get FUNNELS as array literals from catalog's
``@spec_funnels`` (Athena needs a literal to prune partitions). The depth a session reaches is
the SQL's greedy rule."""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pytest
import sqlglot
from hypothesis import given
from hypothesis import strategies as st
from sqlglot import exp

from chalicelib.errors import ConfigError
from chalicelib.lake import rollup
from clickstream.dashboard import spec
from clickstream.lake import catalog


def test_the_spec_funnels_are_the_rolled_up_ones():
    assert tuple(spec.load().funnels.values()) == rollup.FUNNELS
    assert list(spec.load().parameter("steps").default) in [list(f) for f in rollup.FUNNELS]


def gates() -> list[tuple[tuple[str, ...], ...]]:
    """The funnels listed by each ``:steps IN (...)`` of funnel.sql as the engines get it."""
    text = catalog.query_file("funnel").text  # type: ignore[union-attr]
    tree = sqlglot.parse_one(text, read="athena")
    return [
        tuple(tuple(v.name for v in arr.expressions) for arr in node.expressions)
        for node in tree.find_all(exp.In)
        if isinstance(node.this, exp.Placeholder) and node.this.name == "steps"
    ]


def test_funnel_sql_lists_the_rolled_up_funnels_wherever_it_chooses_the_rollup():
    # Every place that chooses between the two sides: the ad-hoc side's three scans of events,
    # the two uses of the shared tail (events, sessions), the rollup_funnel_days scan.
    assert gates() == [rollup.FUNNELS] * 6
    raw = (catalog.QUERIES_DIR / "funnel.sql").read_text()
    assert raw.count(":steps IN (@spec_funnels)") == 6 and "ARRAY[" not in raw  # written once, in rollup


def test_the_gates_follow_rollup_funnels_whatever_they_hold(monkeypatch: pytest.MonkeyPatch):
    funnels = (("/a", "it's"), ("B",), ("/demo", "LIKE_WOOD", "CLICK_LANG"))
    monkeypatch.setattr(rollup, "FUNNELS", funnels)
    assert gates() == [funnels] * 6


def test_a_spec_funnel_is_checked_when_the_spec_loads():
    raw = {"funnels": {"bad": ["/a", "b\x1fc"]}}
    with pytest.raises(ConfigError, match="funnel 'bad'"):
        spec.parse(raw)
    with pytest.raises(ConfigError, match="funnel 'long'"):
        spec.parse({"funnels": {"long": [f"/{i}" for i in range(11)]}})
    assert spec.parse({"funnels": {"ok": ["/a", "B"]}}).funnels == {"ok": ("/a", "B")}


def greedy(keys: list[str | None], steps: list[str]) -> int:
    """etl/queries/funnel.sql's rule, one event at a time."""
    depth = 0
    for key in keys:
        if depth < len(steps) and key == steps[depth]:
            depth += 1
    return depth


@given(
    sessions=st.lists(st.lists(st.sampled_from(["/a", "/b", "X", None]), min_size=1, max_size=8), min_size=1, max_size=6),
    steps=st.lists(st.sampled_from(["/a", "/b", "X"]), min_size=1, max_size=4),
)
def test_funnel_depths_are_the_greedy_in_order_match(sessions: list[list[str | None]], steps: list[str]):
    keys = [k for s in sessions for k in s]
    starts = np.cumsum([0] + [len(s) for s in sessions[:-1]])
    session = np.repeat(np.arange(len(sessions)), [len(s) for s in sessions])
    numbered = rollup._Numbered(
        np.zeros(len(keys), dtype=np.int64), session, starts, np.ones(len(sessions), bool), np.zeros(len(sessions), bool)
    )
    depths = rollup.funnel_depths(pa.array(keys, pa.string()), numbered, steps)
    assert depths.tolist() == [greedy(s, steps) for s in sessions]


def test_funnel_key_is_what_the_sql_computes_from_the_steps():
    text = catalog.query_file("funnel").text  # type: ignore[union-attr]
    assert re.search(r"funnel = array_join\(:steps, chr\(31\)\)", text)
    assert rollup.funnel_key(["/demo", "LIKE_WOOD"]) == "/demo" + chr(31) + "LIKE_WOOD"
