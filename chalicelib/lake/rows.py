r"""How a lake row is stored in a DynamoDB item's ``d`` attribute.

Two formats, told apart by the first character (docs/decisions/0012):

* **positional** (events, written since 0012): the body of a JSON array, without its
  brackets, whose first element is the number of columns that follow, then the values in
  the order of the one column list (chalicelib.lake.columns)::

      40,"3f1c…","shop","page_view",null,1764570000000,…,"{\"sku\":\"A-1\"}",null

  Nulls are ``null``, empty strings ``""``. Positions are append-only: a row written before
  a column was appended has fewer values, and the missing trailing ones read as null. The
  export reads these lines with pyarrow's CSV reader (a JSON string with ``\"`` and ``\\``
  escapes is a CSV field with a backslash escape character), which is why a row whose
  top-level string values hold control characters (JSON escapes ``\n``, ``\t``, ``\u00XX``…,
  which a CSV reader would not decode) is written in the other format instead;
* **object** (rejected events, those rows, and every event item written before 0012, which
  stays readable until its TTL): compact JSON with short keys and no nulls.

This module is the one contract between the writer (chalicelib.collect) and the readers
(chalicelib.lake.transform, privacy's erasure, the tests). Pure Python: the API imports it.
"""

from __future__ import annotations

import re
from operator import itemgetter
from typing import Any

import orjson

from chalicelib.lake.columns import COLUMNS, EVENT_COLUMNS, REJECTED_COLUMNS

# long column name -> short key in ``d``, from the one column list
EVENT_KEYS: dict[str, str] = {c.name: c.short for c in EVENT_COLUMNS}
REJECTED_KEYS: dict[str, str] = {c.name: c.short for c in REJECTED_COLUMNS}
KEYS = {"events": EVENT_KEYS, "rejected_events": REJECTED_KEYS}
# short key in ``d`` -> long column name: the one reverse map, for decode_row and the Arrow reader
LONG = {dataset: {v: k for k, v in keys.items()} for dataset, keys in KEYS.items()}

NAMES: dict[str, tuple[str, ...]] = {dataset: tuple(c.name for c in cols) for dataset, cols in COLUMNS.items()}
# Datasets stored positionally. Rejected events stay objects: rare, and their raw text is
# exactly where control characters turn up.
POSITIONAL = frozenset({"events"})
_VALUES = {dataset: itemgetter(*NAMES[dataset]) for dataset in POSITIONAL}
_COUNT = {dataset: len(NAMES[dataset]) for dataset in POSITIONAL}
# orjson escapes a control character as \b, \f, \n, \r, \t or \u00XX. Inside properties and
# context (JSON text themselves) such an escape is doubled, ``\\n``, and reads back right
# through the CSV reader; only one at the top level of the array must not go that way.
_ESCAPE = re.compile(rb"\\[bfnrtu]")


def encode_row(row: dict[str, Any], dataset: str = "events") -> str:
    """``d`` for a new item: positional where the dataset is, else (and for control characters) an object."""
    if dataset in POSITIONAL:
        line = positional((_COUNT[dataset], *_VALUES[dataset](row)))
        if line is not None:
            return line
    return encode_object(row, dataset)


def positional(values: tuple[Any, ...]) -> str | None:
    """(count, *values) as a positional line, or None if a top-level string holds a control character."""
    text = orjson.dumps(values)
    # The first search is the cheap test (0.5 µs; bytes' own 2-byte ``in`` is ~8 µs here); on a
    # hit, drop the escaped backslashes (left to right, as a JSON parser pairs them) and look again.
    if _ESCAPE.search(text) is not None and _ESCAPE.search(text.replace(b"\\\\", b"")) is not None:
        return None
    return text[1:-1].decode()


def encode_object(row: dict[str, Any], dataset: str = "events") -> str:
    keys = KEYS[dataset]
    return orjson.dumps({keys[k]: v for k, v in row.items() if v is not None}).decode()


def is_object(text: str | bytes) -> bool:
    return text[:1] in ("{", b"{")


def decode_row(text: str | bytes, dataset: str = "events") -> dict[str, Any]:
    """The row with long names and every column (absent ones as None), from either format."""
    names = NAMES[dataset]
    row: dict[str, Any] = dict.fromkeys(names)
    if is_object(text):
        long = LONG[dataset]
        row.update({long[k]: v for k, v in orjson.loads(text).items() if k in long})
        return row
    raw = text.encode() if isinstance(text, str) else text
    count, *values = orjson.loads(b"[" + raw + b"]")
    row.update(zip(names, values[:count]))  # values of columns this reader does not know yet are ignored
    return row
