"""The visitor key: a 64-bit integer per visitor, what every distinct-visitor count counts.

visitor_key = the first 8 bytes of MD5(UTF-8 of the visitor, chalicelib/lake/visitor.py), read
as a big-endian signed 64-bit integer (two's complement). Counting distinct BIGINTs instead of 16-character strings
costs the dashboard's hash aggregates and windows less CPU (about 17 % of the 16-panel page's on
the 10-million-event bench lake; decision 0015,
docs/decisions/0015-visitor-key.md, which also bounds the chance that two visitors share a key).

Written once per engine, tested equal (tests/unit/test_visitor_key.py):

* Python (here; the rollups, chalicelib/lake/rollup.py): ``key``; ``keys`` for a column, one
  MD5 per distinct id. Standard library only: the Lambda has nothing else to hash with.
* Athena (Trino) SQL: ``SQL`` below, for the raw events' side: an etl/ file writes the
  placeholder ``@visitor_key`` (the key of ``VISITOR_SQL`` over a row of ``events``) or
  ``@session_visitor_key`` (``SESSION_SQL``: the key of the column ``anonymous_id`` of a
  sessionized row, which already holds the visitor), which clickstream.lake.catalog replaces.
  Trino's binary functions (https://trino.io/docs/current/functions/binary.html): ``md5(binary) -> varbinary``,
  ``substr(binary, start, length) -> varbinary`` (positions in bytes, from 1),
  ``from_big_endian_64(binary) -> bigint`` (a bigint from its 64-bit two's complement
  big-endian bytes); ``to_utf8(string) -> varbinary`` in its string functions
  (https://trino.io/docs/current/functions/string.html). Athena engine version 3 takes its
  functions from Trino (https://docs.aws.amazon.com/athena/latest/ug/functions-env3.html).
* DuckDB: clickstream/lake/translate.py rewrites ``SQL`` into DuckDB's own functions (DuckDB has
  no from_big_endian_64; its md5 returns the hex digest).

An event with neither id (none is accepted) has a NULL visitor and key on every engine
(count(DISTINCT) skips both).
"""

from __future__ import annotations

import hashlib

import pyarrow as pa
import pyarrow.compute as pc

from chalicelib.lake.visitor import USER_PREFIX, VISITOR_SQL

COLUMN = "visitor_key"


def key_sql(visitor: str) -> str:
    """The visitor key of the SQL string expression ``visitor`` (Athena)."""
    return f"from_big_endian_64(substr(md5(to_utf8({visitor})), 1, 8))"


SQL = key_sql(VISITOR_SQL)
SESSION_SQL = key_sql("anonymous_id")


def visitors(anonymous_ids: pa.Array | pa.ChunkedArray, user_ids: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The visitor of each event (``VISITOR_SQL``), a string column."""
    users = pc.binary_join_element_wise(pa.scalar(USER_PREFIX), pc.cast(user_ids, pa.string()), "")
    merged = pc.coalesce(pc.cast(anonymous_ids, pa.string()), users)
    return merged.combine_chunks() if isinstance(merged, pa.ChunkedArray) else merged


def key(anonymous_id: str) -> int:
    """The visitor key of one id."""
    return int.from_bytes(hashlib.md5(anonymous_id.encode("utf-8")).digest()[:8], "big", signed=True)


def keys(ids: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The key of each id (int64, NULL for NULL): the ids dictionary-encoded, each distinct id
    hashed once, the hashes taken by the indices. Linear in the rows, one MD5 per visitor."""
    array = ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids
    if len(array) == 0:
        return pa.array([], pa.int64())
    encoded = pc.dictionary_encode(array)
    hashed = pa.array([key(s) for s in encoded.dictionary.to_pylist()], pa.int64())
    return hashed.take(encoded.indices)
