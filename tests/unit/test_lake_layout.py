"""The lake's one path layout (chalicelib/lake/layout.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from chalicelib.lake import layout

apps = st.from_regex(r"[a-z0-9][a-z0-9-]{0,47}", fullmatch=True)
days = st.dates().map(lambda d: d.isoformat())
prefixes = st.sampled_from(["", "/", "lake", "lake/", "/a/b/"])


@given(prefixes, st.sampled_from(layout.DATASETS), apps, days, st.integers(0, 10**9), st.integers(0, 999))
def test_a_data_key_names_its_partition(prefix: str, dataset: str, app_id: str, dt: str, seq: int, group: int) -> None:
    key = layout.data_key(prefix, dataset, app_id, dt, seq, group)
    assert key.startswith(layout.partition_prefix(prefix, dataset, app_id, dt))
    assert key.startswith(layout.app_prefix(prefix, dataset, app_id)) and key.startswith(layout.dataset_prefix(prefix, dataset))
    assert layout.partition_of(key) == (app_id, dt)
    assert layout.PARTITION_FILE.fullmatch(key[len(layout.dataset_prefix(prefix, dataset)) :])
    assert not key.startswith("/") and "//" not in key


def test_the_layout_is_hive_style() -> None:
    key = layout.data_key("lake", "events", "demo", "2026-11-02", 7, 3)
    assert key == "lake/events/app_id=demo/dt=2026-11-02/part-0000000007-003.parquet"
    assert layout.dataset_prefix("", "rejected_events") == "rejected_events/"
    assert layout.staging_key("/lake/", "abc") == "lake/_state/staging/abc.parquet"
    assert layout.partition_of("app_id=demo/dt=2026-11-02/") == ("demo", "2026-11-02")


@given(prefixes, st.integers(0, 10**13 - 1), st.integers(0, 10**10 - 1), st.integers(0, 999))
def test_dedup_keys_parse_back(prefix: str, hi_ms: int, seq: int, group: int) -> None:
    key = layout.dedup_key(prefix, hi_ms, seq, group)
    assert key.startswith(layout.dedup_prefix(prefix)) and key.startswith(layout.state_prefix(prefix))
    assert layout.parse_dedup_key(key) == (hi_ms, seq, group)
