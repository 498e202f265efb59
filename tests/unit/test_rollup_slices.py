"""A large day is rebuilt in slices of visitors dealt by a hash of their id, through files on
local disk: any ids spread (not only UUIDs), a sliced rebuild equals the unsliced one, each day
is read once, and the files are gone afterwards, whether the rebuild succeeds or fails."""

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

from chalicelib.lake import parquetio, rollup, spill
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
    for style in ID_STYLES.values():
        ids = pa.array([style(v) for v in range(8_000)])
        counts = Counter(spill.slice_of(ids, 8).tolist())
        assert sorted(counts) == list(range(8))
        assert max(counts.values()) < 1.15 * 1_000 and min(counts.values()) > 0.85 * 1_000, counts


def test_the_slice_of_an_id_is_stable_whatever_the_array_around_it():
    ids = pa.array(["a", "", None, "user-1", "user-2", "ß", "0f" * 30])
    whole = spill.slice_of(ids, 5)
    # chunked, sliced (an offset into the buffers) and one by one give the same slices
    assert spill.slice_of(pa.chunked_array([ids[:3], ids[3:]]), 5).tolist() == whole.tolist()
    assert spill.slice_of(ids[2:], 5).tolist() == whole[2:].tolist()
    assert [int(spill.slice_of(ids[i : i + 1], 5)[0]) for i in range(len(ids))] == whole.tolist()
    assert whole[1] == whole[2]  # a null id hashes as the empty string
    assert spill.slice_of(ids, 1).tolist() == [0] * len(ids)


def test_the_slice_of_an_id_is_the_same_in_another_process():
    """No per-process seed (Python's str hash has one): a rerun, or the next release, deals the
    same slices (the values below are the hash's; a change to it shows here)."""
    code = "import pyarrow as pa; from chalicelib.lake import spill; "
    code += "print(spill.slice_of(pa.array(['user-1', 'abc', '']), 1000).tolist())"
    env = {**os.environ, "PYTHONHASHSEED": "random"}
    run = [sys.executable, "-c", code]
    runs = {subprocess.run(run, capture_output=True, text=True, env=env, check=True).stdout for _ in range(2)}
    assert runs == {"[527, 23, 0]\n"}
    assert spill.slice_of(pa.array(["user-1", "abc", ""]), 1000).tolist() == [527, 23, 0]


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
    add an index per row); the same key in rollup_page_days, one per page a visitor viewed,
    keeps its dictionary."""
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
    assert dictionary[("rollup_page_days", "visitor_key")] is True
    assert dictionary[("rollup_visitor_days", "browser")] is True
    # (Parquet has no dictionary for booleans.)
    boolean = {(name, f.name) for name, schema in rollup.SCHEMAS.items() for f in schema if f.type == pa.bool_()}
    plain = {key for key, has in dictionary.items() if not has} - boolean
    assert plain == {(name, column) for name, columns in rollup.PLAIN.items() for column in columns} | {
        (name, column) for name, column in dictionary if column in parquetio.NO_DICTIONARY
    }
