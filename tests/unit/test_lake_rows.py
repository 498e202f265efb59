"""Both item formats of ``d`` (chalicelib/lake/rows.py) read back exactly, alone or mixed, through
the export's Arrow reader and through ``decode_row``: nulls apart from empty strings, control
characters, quotes and backslashes, columns appended later, rows of a newer writer."""

from __future__ import annotations

from typing import Any

import orjson
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.lake import rows
from chalicelib.lake.columns import EVENT_COLUMNS
from chalicelib.lake.schema import SCHEMAS
from chalicelib.lake.transform import Blocks, conform, lines_to_table

NAMES = [c.name for c in EVENT_COLUMNS]
text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
tricky = st.sampled_from(
    ["", "null", "true", "0", '"', "\\", "\\n", "\\\\n", "a,b", '\\"', "\n", "\t", "\x00", "\x1f", "\r\n", "é€😀", '{"k":"v\\n"}']
)
VALUES: dict[str, Any] = {
    "string": st.none() | tricky | text,
    "int32": st.none() | st.integers(-(2**31), 2**31 - 1),
    "int64": st.none() | st.integers(-(2**53), 2**53),
    "time": st.none() | st.integers(0, 4_102_444_800_000),
    "float64": st.none() | st.floats(allow_nan=False, allow_infinity=False, width=64),
    "bool": st.none() | st.booleans(),
}


def row_strategy() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({c.name: VALUES[c.kind] for c in EVENT_COLUMNS})


def expected_table(row_list: list[dict[str, Any]]) -> pa.Table:
    from chalicelib.lake.schema import EVENTS_JSON

    return conform(pa.Table.from_pylist(row_list, schema=EVENTS_JSON), SCHEMAS["events"])


def in_blocks(lines: list[str], cuts: list[int]) -> Blocks:
    """``lines`` as the export's reader hands them over: one block per Query page, pages cut at ``cuts``."""
    blocks, start = Blocks(), 0
    for cut in sorted({min(c, len(lines)) for c in cuts}) + [len(lines)]:
        blocks.add(lines[start:cut])
        start = max(start, cut)
    assert blocks.rows == len(lines)
    return blocks


def older_writer(row: dict[str, Any], count: int) -> str:
    """``d`` as a version that knew only the first ``count`` columns wrote it."""
    known = {n: row[n] for n in NAMES[:count]}
    return (
        rows.positional((count, *known.values()))
        or orjson.dumps({rows.EVENT_KEYS[k]: v for k, v in known.items() if v is not None}).decode()
    )


def newer_writer(row: dict[str, Any], extra: list[Any]) -> str:
    """``d`` as a version with columns appended after ours wrote it (its objects have keys we do not know)."""
    line = rows.positional((len(NAMES) + len(extra), *[row[n] for n in NAMES], *extra))
    return line or orjson.dumps({**{rows.EVENT_KEYS[k]: v for k, v in row.items() if v is not None}, "zz": extra}).decode()


@settings(max_examples=150)
@given(st.lists(row_strategy(), min_size=1, max_size=6), st.lists(st.integers(0, 6), max_size=3))
def test_new_items_read_back_exactly(row_list: list[dict[str, Any]], cuts: list[int]) -> None:
    lines = [rows.encode_row(r) for r in row_list]
    assert lines_to_table("events", lines).equals(expected_table(row_list))
    assert lines_to_table("events", in_blocks(lines, cuts)).equals(expected_table(row_list))
    assert [rows.decode_row(line) for line in lines] == row_list


def test_a_typical_row_is_positional_and_a_control_character_falls_back_to_an_object() -> None:
    row = dict.fromkeys(NAMES) | {"event_id": "e1", "app_id": "shop", "title": "", "properties": '{"note":"a\\nb"}'}
    line = rows.encode_row(row)
    assert line.startswith(f"{len(NAMES)},") and ',"",' in line and ",null," in line
    assert rows.is_object(rows.encode_row(row | {"title": "tab\there"}))
    assert not rows.is_object(rows.encode_row(row | {"title": "back\\slash \\n not a newline"}))


Kind = st.sampled_from(["new", "object", "older", "newer"])


@settings(max_examples=150)
@given(
    st.lists(st.tuples(row_strategy(), Kind, st.integers(1, len(NAMES) - 1)), min_size=1, max_size=8),
    st.lists(st.integers(0, 8), max_size=3),
)
def test_old_new_shorter_and_longer_rows_mixed_in_one_batch(
    mixed: list[tuple[dict[str, Any], str, int]], cuts: list[int]
) -> None:
    lines, want = [], []
    for row, kind, count in mixed:
        if kind == "new":
            lines.append(rows.encode_row(row))
            want.append(row)
        elif kind == "object":  # an item written before the positional format
            lines.append(rows.encode_object(row))
            want.append(row)
        elif kind == "older":
            lines.append(older_writer(row, count))
            want.append({n: (row[n] if i < count else None) for i, n in enumerate(NAMES)})
        else:
            lines.append(newer_writer(row, ["later", None, 3][: 1 + count % 3]))
            want.append(row)
    got = lines_to_table("events", lines)
    assert got.equals(expected_table(want))  # every row back, in input order
    assert got.num_rows == len(lines) and got.schema == SCHEMAS["events"]
    # The same lines as the export's reader hands them over, pages cut anywhere: each block of
    # current lines in one pass, a block holding any other line read line by line, order kept.
    assert lines_to_table("events", in_blocks(lines, cuts)).equals(got)
    assert [rows.decode_row(line) for line in lines] == want


def test_rejected_events_stay_objects() -> None:
    row = {
        "app_id": "a",
        "received_at": 1,
        "reason": "invalid",
        "error": "e\n",
        "event_index": 0,
        "event_id": None,
        "raw": "{\x00}",
        "user_agent": "",
    }
    line = rows.encode_row(row, "rejected_events")
    assert rows.is_object(line) and rows.decode_row(line, "rejected_events") == row
    assert lines_to_table("rejected_events", [line]).to_pylist()[0]["raw"] == "{\x00}"
    assert lines_to_table("rejected_events", Blocks.of([line, line])).to_pylist()[1]["raw"] == "{\x00}"
