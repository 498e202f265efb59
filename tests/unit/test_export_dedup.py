"""Dedup kernels on Arrow tables: the first received copy of each key survives, nothing else."""

from __future__ import annotations

import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.export import dedup


@given(st.lists(st.tuples(st.sampled_from(["a", "b"]), st.integers(0, 6), st.integers(0, 50)), max_size=40))
def test_first_received_keeps_exactly_the_earliest_copy_of_each_key(rows):
    table = pa.table(
        {
            "app_id": [r[0] for r in rows],
            "event_id": [f"e{r[1]}" for r in rows],
            "received_at": pa.array([r[2] for r in rows], pa.int64()),
            "n": list(range(len(rows))),
        }
    )
    out = dedup.first_received(table).to_pylist()
    expected = {}
    for _i, (app, eid, rec) in sorted(enumerate(rows), key=lambda x: (x[1][2], f"e{x[1][1]}", x[0])):
        expected.setdefault((app, f"e{eid}"), rec)
    assert {(r["app_id"], r["event_id"]): r["received_at"] for r in out} == expected
    assert len(out) == len(expected)


def test_drop_seen_removes_keys_exported_before_and_counts_them():
    table = pa.table({"app_id": ["a", "a", "b"], "event_id": ["1", "2", "1"]})
    seen = dedup.keys_of(pa.table({"app_id": ["a"], "event_id": ["1"]})).combine_chunks()
    kept, dropped = dedup.drop_seen(table, seen)
    assert kept.to_pylist() == [{"app_id": "a", "event_id": "2"}, {"app_id": "b", "event_id": "1"}] and dropped == 1


@given(st.lists(st.one_of(st.none(), st.integers(0, 4_102_444_800_000)), min_size=1, max_size=30))
def test_hours_of_names_each_client_hour_once_as_utc_yyyymmddhh(stamps):
    from datetime import datetime, timezone

    from chalicelib.lake.schema import TS

    table = pa.table({"client_timestamp": pa.array(stamps, pa.int64()).cast(TS)})
    want = {"none" if ms is None else datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y%m%d%H") for ms in stamps}
    assert dedup.hours_of(table) == sorted(want)
