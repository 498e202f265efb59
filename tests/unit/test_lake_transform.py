"""The export's Arrow steps around the row format: streaming ``Blocks`` and the partition split."""

from __future__ import annotations

import ctypes
import os
import signal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.lake import rows, transform
from chalicelib.lake.columns import EVENT_COLUMNS
from chalicelib.lake.transform import Blocks, _Stream, lines_to_table, split_partitions

NAMES = [c.name for c in EVENT_COLUMNS]


def row(i: int, app_id: str = "shop", event_time: int = 1_764_570_000_000) -> dict[str, Any]:
    return dict.fromkeys(NAMES) | {
        "event_id": f"e{i:05d}",
        "app_id": app_id,
        "event_time": event_time,
        "received_at": event_time,
        "title": "x" * (i % 50),
        "properties": '{"k":"a,b\\\\n"}',
    }


@given(st.lists(st.binary(min_size=1, max_size=40), max_size=6), st.lists(st.integers(1, 50), min_size=1, max_size=20))
def test_the_stream_returns_the_blocks_bytes_in_order_for_any_read_size(parts: list[bytes], sizes: list[int]) -> None:
    stream, got = _Stream(parts), []
    for i in range(1000):
        chunk = stream.read(sizes[i % len(sizes)])
        if not chunk:
            break
        assert len(chunk) <= sizes[i % len(sizes)]
        got.append(chunk)
    assert b"".join(got) == b"".join(parts)


def test_blocks_larger_than_a_read_are_streamed_in_slices(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = [rows.encode_row(row(i)) for i in range(300)]
    blocks = Blocks.of(lines)
    monkeypatch.setattr(transform, "LINES_PER_BLOCK", 120)
    small = Blocks.of(lines)
    monkeypatch.setattr(transform, "STREAM_BLOCK", 4096)  # a block of 120 lines spans several reads
    assert len(small.parts) == 3 and min(len(p) for p in small.parts) > 4096
    assert lines_to_table("events", small).equals(lines_to_table("events", lines))
    assert lines_to_table("events", blocks).column("event_id").to_pylist() == [f"e{i:05d}" for i in range(300)]


def test_an_empty_batch_and_an_empty_page() -> None:
    blocks = Blocks()
    blocks.add([])
    assert len(blocks) == 0 and lines_to_table("events", blocks).num_rows == 0


def partitioned(table: pa.Table) -> list[tuple[str, str, list[str]]]:
    return [(app, dt, part.column("event_id").to_pylist()) for app, dt, part in split_partitions(table)]


@settings(max_examples=60)
@given(st.lists(st.tuples(st.sampled_from(["shop", "blog", "a", "Z", ""]), st.integers(0, 3)), min_size=1, max_size=60))
def test_split_gives_each_partition_once_sorted_with_its_rows_in_order(keys: list[tuple[str, int]]) -> None:
    day = 86_400_000
    lines = [rows.encode_row(row(i, app, 1_764_500_000_000 + d * day)) for i, (app, d) in enumerate(keys)]
    table = transform.with_dt("events", lines_to_table("events", Blocks.of(lines)))
    got = partitioned(table)
    assert [(app, dt) for app, dt, _ in got] == sorted({(app, dt) for app, dt, _ in got})
    for app, dt, ids in got:
        mask = pc.and_(pc.equal(table.column("app_id"), app), pc.equal(table.column("dt"), dt))
        assert ids == table.filter(mask).column("event_id").to_pylist()  # every row of it, in table order
    assert sum(len(ids) for _, _, ids in got) == table.num_rows
    for _, _, part in split_partitions(table):
        assert "dt" not in part.column_names and part.schema == transform.SCHEMAS["events"]


def test_a_page_of_old_object_items_a_mixed_page_and_a_current_page_read_back_in_order() -> None:
    objects = [rows.encode_object(row(i)) for i in range(0, 5)]
    mixed = [rows.encode_row(row(5)), rows.encode_object(row(6)), rows.encode_row(row(7))]
    current = [rows.encode_row(row(i)) for i in range(8, 12)]
    blocks = Blocks()
    for page in (objects, mixed, current):
        blocks.add(list(page))
    got = lines_to_table("events", blocks)
    assert got.equals(lines_to_table("events", objects + mixed + current))
    assert got.column("event_id").to_pylist() == [f"e{i:05d}" for i in range(12)]


def kernel_sigint_handler() -> int | None:
    """The SIGINT handler the kernel would run (sigaction), not Python's view of it (signal.getsignal)."""
    libc = ctypes.CDLL(None, use_errno=True)
    action = ctypes.create_string_buffer(256)  # struct sigaction; its first member is the handler
    assert libc.sigaction(signal.SIGINT, None, action) == 0, os.strerror(ctypes.get_errno())
    return ctypes.c_void_p.from_buffer(action).value


def test_a_ctrl_c_while_the_export_parses_lines_goes_to_python(monkeypatch: pytest.MonkeyPatch) -> None:
    # Ctrl-C or SIGTERM (the CLI turns both into KeyboardInterrupt) sent while `clickstream etl run`
    # parses what it read must end the run, which then releases the export lease. pyarrow's CSV
    # reader put its own handler in place during reads and dropped some of the signals it took
    # (chalicelib/lake/transform.py): the run went on and hung on a silent S3 instead
    # (tests/integration/test_export_interrupt.py failed about once in 60). The handler in place
    # while the reader pulls the items' blocks must be Python's own.
    during: list[int | None] = []
    read = transform._Stream.read

    def watched(self: Any, size: int = -1) -> bytes:
        during.append(kernel_sigint_handler())
        return read(self, size)

    monkeypatch.setattr(transform._Stream, "read", watched)
    before = kernel_sigint_handler()
    table = lines_to_table("events", Blocks.of([rows.encode_row(row(i)) for i in range(3000)]))
    assert table.num_rows == 3000 and during
    assert set(during) == {before}, "a signal sent during the read would go to pyarrow's handler, not Python's"
