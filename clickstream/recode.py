"""Rewrite lake files whose Parquet codec the Lambda layer cannot read (off Lambda only).

Before the codec rule (chalicelib/lake/codecs.py) the lake was written with zstd. The AWS SDK for
pandas layer's pyarrow cannot read zstd, so inside Lambda such a file breaks compaction of its
partition and the dedup index load of every run (docs/deploy.md, "Lakes written before the codec
rule"). This runs where pyarrow has every codec (the CLI's), reads each such file and writes the
same rows back to the same key in the lake codec: one PUT, so a reader sees the old or the new
file, never a torn one, and the names the export's state refers to do not change.

It holds the export lease (``Exporter.exclusive``) while it works, so no export run, compaction,
erasure or backfill can delete or merge a file between our read and our write.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyarrow.parquet as pq

from chalicelib.lake.codecs import LAKE_CODEC, LAYER_CODECS
from chalicelib.lake.parquetio import parquet_bytes


@dataclass
class RecodeReport:
    scanned: int = 0
    rewritten: list[str] = field(default_factory=list)
    codecs_found: dict[str, int] = field(default_factory=dict)  # codec -> files


def codecs_of(body: bytes) -> set[str]:
    meta = pq.ParquetFile(io.BytesIO(body)).metadata
    return {meta.row_group(g).column(c).compression.lower() for g in range(meta.num_row_groups) for c in range(meta.num_columns)}


def rewrite_unreadable(
    lake: Any, prefix: str, *, dry_run: bool = False, progress: Callable[[str], None] = lambda key: None
) -> RecodeReport:
    """Rewrite every ``*.parquet`` under ``prefix`` with a codec outside the layer's set into the lake codec."""
    report = RecodeReport()
    for obj in list(lake.list(prefix.rstrip("/") + "/")):
        key = obj["Key"]
        if not key.endswith(".parquet"):
            continue
        report.scanned += 1
        body = lake.client.get_object(Bucket=lake.bucket, Key=key)["Body"].read()
        found = codecs_of(body) - {"uncompressed"}
        for codec in found:
            report.codecs_found[codec] = report.codecs_found.get(codec, 0) + 1
        if found <= LAYER_CODECS:
            continue
        report.rewritten.append(key)
        progress(key)
        if not dry_run:
            table = pq.read_table(io.BytesIO(body))
            lake.put_bytes(key, parquet_bytes(table))
    return report


__all__ = ["LAKE_CODEC", "RecodeReport", "codecs_of", "rewrite_unreadable"]
