"""How a lake row is stored in a DynamoDB item's ``d`` attribute: compact JSON.

Short keys and no nulls keep a typical event under 1 KB (one write unit) and halve what
the export has to parse. The short keys (chalicelib.lake.columns) are the one contract between the writer
(chalicelib.collect) and the reader (chalicelib.lake.schema and transform); columns are only added.
"""

from __future__ import annotations

from typing import Any

import orjson

from chalicelib.lake.columns import EVENT_COLUMNS, REJECTED_COLUMNS

# long column name -> short key in ``d``, from the one column list
EVENT_KEYS: dict[str, str] = {c.name: c.short for c in EVENT_COLUMNS}
REJECTED_KEYS: dict[str, str] = {c.name: c.short for c in REJECTED_COLUMNS}
KEYS = {"events": EVENT_KEYS, "rejected_events": REJECTED_KEYS}
# short key in ``d`` -> long column name: the one reverse map, for decode_row and the Arrow reader
LONG = {dataset: {v: k for k, v in keys.items()} for dataset, keys in KEYS.items()}


def encode_row(row: dict[str, Any], dataset: str = "events") -> str:
    keys = KEYS[dataset]
    return orjson.dumps({keys[k]: v for k, v in row.items() if v is not None}).decode()


def decode_row(text: str | bytes, dataset: str = "events") -> dict[str, Any]:
    """The row with long names and every column (absent ones as None)."""
    short = orjson.loads(text)
    long = LONG[dataset]
    row = {name: None for name in KEYS[dataset]}
    row.update({long[k]: v for k, v in short.items() if k in long})
    return row
