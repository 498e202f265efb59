"""Split rows into slices, spilled to local Parquet files; the built tables appended to files.

A rollup rebuild (chalicelib/lake/rollup.py, ``rebuild_day``) reads each of its three days once
and deals every row to the slice of its visitor (by the range of its visitor key,
chalicelib/lake/key_ranges.py); each slice is then built from its own file. Before, each slice
decoded the three days again (CPU grew with slices x day: a day of 30 million events would have
needed about 40 minutes, past Lambda's 15).

Where the files go: ``tempfile.gettempdir()`` (Lambda: ``/tmp``, the function's ephemeral
storage, 512 MB unless ``EphemeralStorage`` raises it, up to 10,240 MB:
https://docs.aws.amazon.com/lambda/latest/dg/configuration-ephemeral-storage.html). A warm
execution environment keeps ``/tmp`` between invocations, so the files are removed when a
rebuild ends, however it ends, and ``workdir`` removes what an invocation killed half way
(timeout, out of memory) left behind. Codec: the lake's (snappy), one the Lambda layer's
pyarrow has (chalicelib/lake/codecs.py): no zstd, no lz4.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Collection, Iterator, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from chalicelib.errors import TerminalError
from chalicelib.lake import parquetio
from chalicelib.lake.codecs import LAKE_CODEC

WORKDIR_PREFIX = "clickstream-rollup-"
# Rows kept in memory across all slices before a slice's buffer is written as a row group.
BUFFER_ROWS = 400_000
MIN_GROUP_ROWS = 10_000  # a row group is at least this (or what is left at the end)


class SpillFailed(TerminalError):
    """The local disk could not hold a rebuild's slices: the day stays dirty, every retry fails
    the same way until the function's ephemeral storage is larger."""


@contextlib.contextmanager
def workdir(root: str | None = None) -> Iterator[Path]:
    """A fresh directory for one rebuild's files, removed when the rebuild ends. Directories a
    killed invocation left (same process id: Lambda's runtime restarts with the same one; or a
    process that no longer runs) are removed first: a warm Lambda reuses ``/tmp``."""
    base = Path(root or tempfile.gettempdir())
    for old in base.glob(WORKDIR_PREFIX + "*"):
        pid = old.name[len(WORKDIR_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and ((int(pid) == os.getpid() and old not in _in_use) or not _alive(int(pid))):
            shutil.rmtree(old, ignore_errors=True)
    path = Path(tempfile.mkdtemp(prefix=f"{WORKDIR_PREFIX}{os.getpid()}-", dir=base))
    _in_use.add(path)
    try:
        yield path
    finally:
        _in_use.discard(path)
        shutil.rmtree(path, ignore_errors=True)


_in_use: set[Path] = set()  # this process's folders in use (another thread's rebuild)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Spill:
    """Rows dealt to ``slices`` Parquet files in ``folder`` by ``deal(rows)``: the slice
    (0 .. slices - 1) of each row."""

    def __init__(self, folder: Path, schema: pa.Schema, slices: int, deal: Callable[[pa.Table], np.ndarray]) -> None:
        self.folder, self.schema, self.slices, self.deal = folder, schema, slices, deal
        folder.mkdir(parents=True, exist_ok=True)
        self.paths = [folder / f"slice-{i:04d}.parquet" for i in range(slices)]
        self._writers: list[pq.ParquetWriter | None] = [None] * slices
        self._buffers: list[list[pa.Table]] = [[] for _ in range(slices)]
        self._rows = [0] * slices
        self._group_rows = max(MIN_GROUP_ROWS, BUFFER_ROWS // slices)
        self.rows_written = 0

    def add(self, rows: pa.Table) -> None:
        if rows.num_rows == 0:
            return
        rows = rows.select(self.schema.names).cast(self.schema)
        which = self.deal(rows)
        order = np.argsort(which, kind="stable")
        bounds = np.searchsorted(which[order], np.arange(self.slices + 1))
        dealt = rows.take(pa.array(order))
        for i in range(self.slices):
            n = int(bounds[i + 1] - bounds[i])
            if n:
                self._buffers[i].append(dealt.slice(int(bounds[i]), n))
                self._rows[i] += n
                if self._rows[i] >= self._group_rows:
                    self._flush(i)

    def _flush(self, i: int) -> None:
        if not self._buffers[i]:
            return
        table = pa.concat_tables(self._buffers[i]).combine_chunks()
        self._buffers[i], self._rows[i] = [], 0
        try:
            writer = self._writers[i]
            if writer is None:
                writer = self._writers[i] = pq.ParquetWriter(
                    self.paths[i], self.schema, compression=LAKE_CODEC, write_statistics=False
                )
            writer.write_table(table)
        except OSError as exc:
            raise SpillFailed(
                f"spilling a rebuild's slice to {self.folder} failed ({exc}); the function's ephemeral storage "
                "(EphemeralStorage) is too small for this day: it stays dirty and is retried"
            ) from exc
        self.rows_written += table.num_rows

    def close(self) -> None:
        """Write what is buffered; every slice then has a file (maybe of no rows)."""
        for i in range(self.slices):
            self._flush(i)
            writer = self._writers[i]
            if writer is None:
                writer = self._writers[i] = pq.ParquetWriter(self.paths[i], self.schema, compression=LAKE_CODEC)
            writer.close()

    def read(self, i: int) -> pa.Table:
        return pq.read_table(self.paths[i], schema=self.schema)


class TableFiles:
    """One Parquet file per table in ``folder``, appended to a part at a time, written as the
    lake writes its objects (``parquetio.options``). A table of ``key_sorted`` (its parts come
    sorted by visitor key and in key order) is written in row groups of exactly
    ``parquetio.KEY_SORTED_GROUP_ROWS`` rows but the last, whatever the parts: rows carried over
    to the next part's group, so the file is the same bytes however the rows were sliced."""

    def __init__(
        self,
        folder: Path,
        schemas: dict[str, pa.Schema],
        plain: Mapping[str, Collection[str]] | None = None,
        key_sorted: Collection[str] = (),
    ) -> None:
        self.schemas = schemas
        self.plain = plain or {}
        self.key_sorted = frozenset(key_sorted)
        self.paths = {name: folder / f"{name}.parquet" for name in schemas}
        self._writers: dict[str, pq.ParquetWriter] = {}
        self._held: dict[str, list[pa.Table]] = {name: [] for name in self.key_sorted}

    def append(self, tables: dict[str, pa.Table]) -> None:
        for name, table in tables.items():
            if table.num_rows == 0:
                continue
            table = table.cast(self.schemas[name])
            if name not in self.key_sorted:
                self._write(name, table, parquetio.ROW_GROUP_ROWS)
                continue
            held = pa.concat_tables([*self._held[name], table])
            full = held.num_rows - held.num_rows % parquetio.KEY_SORTED_GROUP_ROWS
            if full:
                self._write(name, held.slice(0, full), parquetio.KEY_SORTED_GROUP_ROWS)
            self._held[name] = [held.slice(full)] if held.num_rows > full else []

    def _write(self, name: str, table: pa.Table, group_rows: int) -> None:
        writer = self._writers.get(name)
        if writer is None:
            writer = self._writers[name] = _lake_writer(self.paths[name], self.schemas[name], self.plain.get(name, ()))
        try:
            writer.write_table(table, row_group_size=group_rows)
        except OSError as exc:
            raise SpillFailed(
                f"writing {self.paths[name]} failed ({exc}); the function's ephemeral storage (EphemeralStorage) "
                "is too small for this day: it stays dirty and is retried"
            ) from exc

    def close(self) -> dict[str, Path]:
        """The files, one per table (a table no part had rows for: a file of no rows)."""
        for name, held in self._held.items():
            if held:
                self._write(name, pa.concat_tables(held), parquetio.KEY_SORTED_GROUP_ROWS)
        self._held = {}
        for name, schema in self.schemas.items():
            writer = self._writers.pop(name, None) or _lake_writer(self.paths[name], schema, self.plain.get(name, ()))
            writer.close()
        return dict(self.paths)


def _lake_writer(path: Path, schema: pa.Schema, plain: Collection[str]) -> pq.ParquetWriter:
    return pq.ParquetWriter(path, schema, **parquetio.options(schema.names, plain))
