"""A large day is rebuilt in slices of visitors dealt by ranges of their key, through files on
local disk: any ids spread (not only UUIDs), a sliced rebuild equals the unsliced one (the keyed
files byte for byte: sorted by key in fixed row groups), each day is read once, and the files
are gone afterwards, whether the rebuild succeeds or fails."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator, Sequence

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.lake import key_ranges, parquetio, rollup, spill, visitor_key
from chalicelib.lake.parquetio import parquet_bytes
from tests.rollup_helpers import APP, DAY0, DAYS, Lake, visits

# Visitor ids as the SDKs send them: Segment's anonymousId is any string.
ID_STYLES = {
    "uuid": lambda v: f"{(v * 0x9E3779B97F4A7C15) % 2**128:032x}",
    "one_first_character": lambda v: f"user-{v}",
    "email_like": lambda v: f"visitor{v}@example.com",
    "unicode": lambda v: f"ß–訪問者{v}",
    "same_but_last": lambda v: "x" * 40 + str(v),
}


def test_ids_that_share_their_first_characters_spread_over_the_slices():
    """Slices are ranges of the visitor key, an MD5 of the id: any ids spread, not only UUIDs."""
    for style in ID_STYLES.values():
        keys = visitor_key.keys(pa.array([style(v) for v in range(8_000)]))
        counts = Counter(key_ranges.slice_of(keys, 8).tolist())
        assert sorted(counts) == list(range(8))
        assert max(counts.values()) < 1.15 * 1_000 and min(counts.values()) > 0.85 * 1_000, counts


def test_the_slice_of_an_id_is_the_same_in_another_process():
    """No per-process seed (Python's str hash has one): a rerun, or the next release, deals the
    same slices (the values below are the key's; a change to it shows here)."""
    code = "import pyarrow as pa; from chalicelib.lake import key_ranges, visitor_key; "
    code += "print(key_ranges.slice_of(visitor_key.keys(pa.array(['user-1', 'abc', ''])), 1000).tolist())"
    env = {**os.environ, "PYTHONHASHSEED": "random"}
    run = [sys.executable, "-c", code]
    runs = {subprocess.run(run, capture_output=True, text=True, env=env, check=True).stdout for _ in range(2)}
    expected = key_ranges.slice_of(visitor_key.keys(pa.array(["user-1", "abc", ""])), 1000).tolist()
    assert runs == {f"{expected}\n"}
    assert expected == [int((visitor_key.key(i) + 2**63) * 1000 // 2**64) for i in ("user-1", "abc", "")]


def _key(table: pa.Table) -> list[tuple[str, str]]:
    return [(c, "ascending") for c in table.column_names]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    visitors=st.lists(st.integers(0, 40), min_size=1, max_size=9, unique=True).flatmap(
        lambda vs: st.tuples(*[visits(v, [v * 1000]) for v in vs])
    ),
    style=st.sampled_from(sorted(ID_STYLES)),
    rows_per_slice=st.integers(1, 6),
)
def test_a_sliced_rebuild_equals_the_unsliced_one_for_any_ids(tmp_path_factory, visitors, style, rows_per_slice):
    lake = Lake(tmp_path_factory.mktemp("lake"))

    def restyled(e: dict) -> dict:
        return {**e, "anonymous_id": ID_STYLES[style](int(e["anonymous_id"][1:]))} if e["anonymous_id"] else e

    lake.events = [
        restyled(e) for v in visitors for e in v
    ]  # userId-only visitors (no anonymous_id) stay so: sliced by their visitor, 'user:' || user_id
    lake.write_events(lake.days())
    for day in sorted(lake.days()):
        whole = rollup.rebuild_day(lake, APP, day)
        sliced = rollup.rebuild_day(lake, APP, day, rows_per_slice=rows_per_slice)
        for name in rollup.SCHEMAS:
            assert whole[name].sort_by(_key(whole[name])).equals(sliced[name].sort_by(_key(sliced[name]))), (name, day)
        for name in rollup.KEY_SORTED:  # key-sorted whatever the slices: the same rows in the same order
            assert whole[name].equals(sliced[name]), (name, day)
        again = rollup.rebuild_day(lake, APP, day, rows_per_slice=rows_per_slice)
        assert all(parquet_bytes(sliced[n]) == parquet_bytes(again[n]) for n in rollup.SCHEMAS)  # deterministic


class Counting:
    """A DaySource that counts the batches it gives per day (and can fail half way)."""

    def __init__(self, lake: Lake, fail_on: date | None = None) -> None:
        self.lake, self.fail_on = lake, fail_on
        self.reads: Counter[date] = Counter()

    def count(self, app_id: str, day: date) -> int:
        return self.lake.count(app_id, day)

    def batches(self, app_id: str, day: date, columns: Sequence[str]) -> Iterator[pa.RecordBatch]:
        self.reads[day] += 1
        if day == self.fail_on:
            raise OSError("the lake went away")
        yield from self.lake.batches(app_id, day, columns)


def _busy_lake(root: Path) -> Lake:
    lake = Lake(root)
    lake.events = [{**e, "anonymous_id": f"user-{e['anonymous_id']}"} for v in range(30) for e in _across_midnight(v)]
    lake.write_events(lake.days())
    return lake


def _across_midnight(v: int) -> list[dict[str, Any]]:
    base = datetime.combine(DAY0 + timedelta(days=v % DAYS), datetime.min.time(), tzinfo=timezone.utc)
    return [
        {
            "event_id": f"e{v:03d}{i:02d}",
            "app_id": APP,
            "anonymous_id": str(v),
            "event_time": base + timedelta(hours=23, minutes=40 + 7 * i),  # across midnight
            "event_type": "page_view",
            "event_name": "page_view",
            "path": "/demo",
            "is_bot": False,
        }
        for i in range(5)
    ]


def test_each_day_is_read_once_whatever_the_slices(tmp_path: Path):
    lake = _busy_lake(tmp_path)
    day = DAY0 + timedelta(days=2)
    source = Counting(lake)
    tables = rollup.rebuild_day(source, APP, day, rows_per_slice=1)
    assert rollup.visitor_slices(lake.count(APP, day), 1) > 3
    assert source.reads == Counter({day - timedelta(days=1): 1, day: 1, day + timedelta(days=1): 1})
    # the sessions that run past midnight were built from the day after's rows
    assert tables["rollup_sessions"].num_rows > 0
    assert set(tables["rollup_sessions"]["event_count"].to_pylist()) == {5}


def test_the_files_are_removed_after_a_rebuild_and_after_a_failed_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    spill_root = tmp_path / "tmp"
    spill_root.mkdir()
    monkeypatch.setenv("TMPDIR", str(spill_root))
    monkeypatch.setattr("tempfile.tempdir", None)  # gettempdir() reads TMPDIR again
    lake = _busy_lake(tmp_path / "lake")
    day = DAY0 + timedelta(days=2)
    rollup.rebuild_day(lake, APP, day, rows_per_slice=1)
    assert list(spill_root.iterdir()) == []
    with pytest.raises(OSError, match="went away"):  # the day after fails: the slices are on disk by then
        rollup.rebuild_day(Counting(lake, fail_on=day + timedelta(days=1)), APP, day, rows_per_slice=1)
    assert list(spill_root.iterdir()) == []


def test_a_folder_a_killed_invocation_left_is_removed_and_a_running_ones_is_not(tmp_path: Path):
    """A warm Lambda keeps /tmp: a rebuild killed half way (timeout, out of memory) left its
    folder. The runtime restarts with the same process id, or another that is not running."""
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    left = [tmp_path / f"{spill.WORKDIR_PREFIX}{pid}-x" for pid in (os.getpid(), int(dead.stdout))]
    running = tmp_path / f"{spill.WORKDIR_PREFIX}{os.getppid()}-y"  # another process's rebuild
    for folder in [*left, running]:
        (folder / "events").mkdir(parents=True)
        (folder / "events" / "slice-0000.parquet").write_bytes(b"x" * 1000)
    with spill.workdir(str(tmp_path)) as mine:
        assert mine.exists() and all(not f.exists() for f in left) and running.exists()
        with spill.workdir(str(tmp_path)) as other:  # another thread's rebuild in this process
            assert mine.exists() and other != mine
    assert not mine.exists() and not other.exists()


def test_the_tables_files_keep_a_dictionary_only_for_columns_whose_values_repeat(tmp_path: Path):
    """rollup.PLAIN: a visitor-day's key is written plain (a dictionary would hold every key and
    add an index per row), and so is the key of every key-sorted file (a visitor's repeated key
    is adjacent there: the codec compresses it); a browser keeps its dictionary."""
    lake = _busy_lake(tmp_path / "lake")
    with spill.workdir() as folder:
        files = rollup.rebuild_day_files(lake, APP, DAY0 + timedelta(days=2), folder, rows_per_slice=50)
        dictionary = {
            (name, meta.row_group(0).column(c).path_in_schema): meta.row_group(0).column(c).has_dictionary_page
            for name, path in files.items()
            if (meta := pq.ParquetFile(path).metadata).num_row_groups
            for c in range(meta.num_columns)
        }
    assert dictionary[("rollup_visitor_days", "visitor_key")] is False
    assert dictionary[("rollup_sessions", "session_id")] is False
    assert dictionary[("rollup_page_days", "visitor_key")] is False
    assert {name for name in rollup.KEY_SORTED if visitor_key.COLUMN in rollup.PLAIN[name]} == set(rollup.KEY_SORTED)
    assert dictionary[("rollup_visitor_days", "browser")] is True
    # (Parquet has no dictionary for booleans.)
    boolean = {(name, f.name) for name, schema in rollup.SCHEMAS.items() for f in schema if f.type == pa.bool_()}
    plain = {key for key, has in dictionary.items() if not has} - boolean
    written = {name for name, _ in dictionary}  # (this day has no custom events, no positions)
    assert plain == {(name, column) for name, columns in rollup.PLAIN.items() if name in written for column in columns} | {
        (name, column) for name, column in dictionary if column in parquetio.NO_DICTIONARY
    }


def _many_visitors(root: Path, visitors: int) -> Lake:
    """A day of ``visitors`` visitors, each with page views, clicks and positions, some across midnight."""
    lake = Lake(root)
    day = datetime.combine(DAY0 + timedelta(days=1), datetime.min.time(), tzinfo=timezone.utc)
    kinds = [
        ("page_view", "page_view", "/demo"),
        ("click", "LIKE_WOOD", None),
        ("page_view", "page_view", "/b"),
        ("click", "GEO_LOC", None),
    ]
    for v in range(visitors):
        start = day + timedelta(minutes=(v * 37) % 1440)
        for i in range(1 + v % 4):
            kind, name, path = kinds[(v + i) % 4]
            lake.events.append(
                {"event_id": f"e{v:04d}{i}", "app_id": APP, "anonymous_id": f"visitor{v}@example.com",
                 "event_time": start + timedelta(minutes=11 * i), "event_type": kind, "event_name": name, "path": path,
                 "geo_lat": 48.15 if name == "GEO_LOC" else None, "geo_lon": 11.55 if name == "GEO_LOC" else None,
                 "browser": ["Firefox", "Chrome"][v % 2], "country": ["DE", "FR"][i % 2], "is_bot": v % 9 == 0}
            )  # fmt: skip
    lake.write_events(lake.days())
    return lake


def test_a_sliced_rebuilds_keyed_files_are_sorted_by_key_in_fixed_row_groups_with_key_statistics(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # GIVEN a day of 150 visitors rebuilt in many slices, in row groups of 7 rows (25,000 in the lake)
    monkeypatch.setattr(parquetio, "KEY_SORTED_GROUP_ROWS", 7)
    lake = _many_visitors(tmp_path / "lake", 150)
    day = DAY0 + timedelta(days=1)
    assert rollup.visitor_slices(lake.count(APP, day), 20) > 10
    with spill.workdir() as folder, spill.workdir() as alone:
        files = rollup.rebuild_day_files(lake, APP, day, folder, rows_per_slice=20)
        unsliced = rollup.rebuild_day_files(lake, APP, day, alone)
        for name, columns in rollup.KEY_SORTED.items():
            parquet = pq.ParquetFile(files[name])
            table, meta = parquet.read(), parquet.metadata
            # THEN the file is sorted by its KEY_SORTED columns: the key first, across the slices
            assert table.num_rows > 3 * 7, name
            assert table.equals(table.sort_by([(c, "ascending") for c in columns])), name
            # in groups of exactly 7 rows but the last, each with its key's min and max
            sizes = [meta.row_group(g).num_rows for g in range(meta.num_row_groups)]
            assert sizes[:-1] == [7] * (len(sizes) - 1) and 0 < sizes[-1] <= 7, (name, sizes)
            at = meta.schema.to_arrow_schema().get_field_index(visitor_key.COLUMN)
            for g, start in enumerate(range(0, table.num_rows, 7)):
                keys = table[visitor_key.COLUMN].slice(start, 7).to_pylist()
                stats = meta.row_group(g).column(at).statistics
                assert (stats.min, stats.max) == (min(keys), max(keys)), (name, g)
            # and statistics on no column readers do not filter on (footer bytes)
            with_stats = {meta.row_group(0).column(c).path_in_schema for c in range(meta.num_columns)
                          if meta.row_group(0).column(c).is_stats_set}  # fmt: skip
            assert with_stats == set(parquetio.STATISTICS) & set(table.column_names), (name, with_stats)
            # a key range's reader gets exactly its rows, reading fewer groups than all
            for n in (1, 3, 8):
                for key_range in key_ranges.plan_ranges(n):
                    assert key_ranges.read(parquet, key_range).equals(key_ranges.select(table, key_range)), (name, n)
            assert len(key_ranges.row_groups(meta, key_ranges.plan_ranges(8)[3])) < meta.num_row_groups / 2, name
            # the same bytes as the unsliced rebuild's file
            assert files[name].read_bytes() == unsliced[name].read_bytes(), name
