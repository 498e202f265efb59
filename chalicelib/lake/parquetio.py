"""S3 I/O for the lake: Parquet objects in, Parquet objects out, listings. Errors wrapped once."""

from __future__ import annotations

import io
from typing import Any, Collection, Iterator, Sequence

import pyarrow as pa
import pyarrow.parquet as pq
from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.errors import StorageUnavailable
from chalicelib.lake.codecs import LAKE_CODEC
from chalicelib.store import retry

COMPRESSION = LAKE_CODEC  # only a codec the Lambda layer's pyarrow has (chalicelib/lake/codecs.py)
# Unique per row: a dictionary page would only be written and then abandoned.
NO_DICTIONARY = frozenset({"event_id", "event_time", "received_at", "client_timestamp", "sent_at", "geo_lat", "geo_lon", "raw"})
# What readers filter on inside a partition; other columns' min/max would only cost time and
# footer bytes. visitor_key: a key range's rows of a key-sorted file (KEY_SORTED_GROUP_ROWS).
STATISTICS = ("event_time", "received_at", "app_id", "event_type", "event_name", "visitor_key")
ROW_GROUP_ROWS = 1_000_000
# Row groups of a file sorted by visitor_key (the keyed day rollups: chalicelib/lake/rollup.py
# KEY_SORTED, spill.TableFiles): a build of one key range reads only the groups whose key
# statistics overlap it (chalicelib/lake/key_ranges.py). 25,000 rows: a slice of 130 reads
# 1.2-2.9x its own rows of a day at a billion events a month, 13-74x with 1 M-row groups, for a
# footer of about 140 KiB on a day's 4.4 M visitor-days (docs/performance-dashboard.md,
# *Key-sorted rollups*).
KEY_SORTED_GROUP_ROWS = 25_000


def options(names: Sequence[str], plain: Collection[str] = ()) -> dict[str, Any]:
    """The lake's writer settings for a table of columns ``names``: the lake codec; a dictionary
    for every column but those with about one row per value (``NO_DICTIONARY``, and ``plain``:
    such columns of one table, e.g. ``rollup.PLAIN``), where a dictionary would hold every value
    and add an index to each row; min/max statistics only where queries filter."""
    return {
        "compression": COMPRESSION,
        "use_dictionary": [c for c in names if c not in NO_DICTIONARY and c not in plain],
        "write_statistics": [c for c in STATISTICS if c in names],
    }


def parquet_bytes(table: pa.Table, plain: Collection[str] = ()) -> bytes:
    """Parquet in the lake codec; dictionary encoding and statistics only where they pay
    (``options``).

    (bench transform: −27 % time, −11 % bytes.)
    """
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=ROW_GROUP_ROWS, **options(table.column_names, plain))
    return sink.getvalue()


class Lake:
    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    def put_table(self, key: str, table: pa.Table) -> int:
        body = parquet_bytes(table)
        self.put_bytes(key, body)
        return len(body)

    def put_bytes(self, key: str, body: bytes) -> None:
        try:
            # One PUT is atomic: readers see the whole object or none of it, never a torn file.
            self.client.put_object(Bucket=self.bucket, Key=key, Body=body)
        except (ClientError, BotoCoreError) as exc:
            raise retry.storage_error(f"writing s3://{self.bucket}/{key} failed: {exc}", exc) from exc

    def read_bytes(self, key: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except (ClientError, BotoCoreError) as exc:
            raise StorageUnavailable(f"reading s3://{self.bucket}/{key} failed: {exc}") from exc

    def read_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes ``start`` to ``end`` (inclusive) of an object: one ranged GET."""
        try:
            return self.client.get_object(Bucket=self.bucket, Key=key, Range=f"bytes={start}-{end}")["Body"].read()
        except (ClientError, BotoCoreError) as exc:
            raise StorageUnavailable(f"reading s3://{self.bucket}/{key} bytes {start}-{end} failed: {exc}") from exc

    def read_table(self, key: str) -> pa.Table:
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except (ClientError, BotoCoreError) as exc:
            raise retry.storage_error(f"reading s3://{self.bucket}/{key} failed: {exc}", exc) from exc
        return pq.read_table(io.BytesIO(body))

    def exists(self, key: str) -> bool:
        # A LIST, not a HEAD: without an unconditioned s3:ListBucket, S3 answers a HEAD of a
        # missing key with 403, not 404; our policy scopes ListBucket to the lake prefix.
        try:
            resp = self.client.list_objects_v2(Bucket=self.bucket, Prefix=key, MaxKeys=1)
        except (ClientError, BotoCoreError) as exc:
            raise retry.storage_error(f"checking s3://{self.bucket}/{key} failed: {exc}", exc) from exc
        return any(o["Key"] == key for o in resp.get("Contents", []))

    def list(self, prefix: str, delimiter: str | None = None) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        if delimiter:
            kwargs["Delimiter"] = delimiter
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(**kwargs):
                if delimiter:
                    yield from ({"Prefix": p["Prefix"]} for p in page.get("CommonPrefixes", []))
                yield from page.get("Contents", [])
        except (ClientError, BotoCoreError) as exc:
            raise retry.storage_error(f"listing s3://{self.bucket}/{prefix} failed: {exc}", exc) from exc

    def delete(self, keys: Sequence[str]) -> None:
        for start in range(0, len(keys), 1000):
            chunk = keys[start : start + 1000]
            try:
                resp = self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True}
                )
            except (ClientError, BotoCoreError) as exc:
                raise retry.storage_error(f"deleting {len(chunk)} objects in s3://{self.bucket} failed: {exc}", exc) from exc
            if resp.get("Errors"):
                raise StorageUnavailable(f"deleting objects in s3://{self.bucket} failed: {resp['Errors'][:3]}")
