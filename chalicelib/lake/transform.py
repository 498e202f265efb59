"""Items' ``d`` lines → typed Arrow tables, split by (app_id, dt). No Python loop per row.

Positional lines (chalicelib.lake.rows) go through pyarrow's CSV reader, object lines
through its JSON reader, both against explicit schemas in C++. The CSV reader parses the
positional lines ~2× faster than the JSON reader parses the same rows as objects: no key
to look up per field (docs/decisions/0012); boto3's TypeDeserializer would be ~100× slower.

The export's reader hands the lines over as ``Blocks``: one bytes block per Query page, each
line ending in a newline, which the CSV reader streams as they are: no join of the whole
batch into one buffer and no Python work per line (bench transform: the join and encode of
one buffer cost ~1 µs per event; a block per page ~0.25 µs).
"""

from __future__ import annotations

import io
from typing import Iterable, Iterator, Sequence

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.json as pj

from chalicelib.lake.rows import LONG, NAMES, POSITIONAL, is_object
from chalicelib.lake.schema import JSON_SCHEMAS, JSON_TYPES, PARTITION_TIME, SCHEMAS, TS

Line = bytes | str
# 4 MiB blocks measured fastest on one core for one joined buffer; threads off: the export
# parallelises across partitions and invocations instead.
BLOCK = 4 << 20
# Streaming ``Blocks`` (about one Query page, under 1 MB, each): 1 MiB reads measured fastest.
STREAM_BLOCK = 1 << 20
# Lines per block when ``Blocks.of`` cuts a list of lines (a Query page holds ~1,200 events).
LINES_PER_BLOCK = 1024

# pyarrow's CSV reader takes SIGINT and SIGTERM from Python while it reads (to cancel the read)
# and gives them back afterwards; since Arrow moved that hand-off to a thread behind a self-pipe
# (apache/arrow#14250, pyarrow 11), a signal that lands near the end of a read can be dropped:
# measured with pyarrow 25.0.1, 23 of 300 SIGINTs sent during reads never reached Python. An
# interrupted `clickstream etl run` then went on and hung on storage instead of releasing the
# export lease. Off, a signal always reaches Python's own handler, which raises at the end of
# the read (a block is a few milliseconds of parsing). Process-wide, and what every reader here wants.
pa.enable_signal_handlers(False)


class Blocks:
    """Items' ``d`` lines in blocks of bytes, each line ending in a newline: the CSV reader's input as is.

    The export's reader adds one block per Query page (``add``); ``of`` cuts any list of lines.
    ``d`` never holds a raw newline or carriage return (orjson escapes them), so a line is a line.
    Blocks are only made by ``add``, from ``str``: their bytes are valid UTF-8 by construction.
    """

    __slots__ = ("parts", "rows")

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.rows = 0

    @classmethod
    def of(cls, lines: Iterable[str]) -> Blocks:
        blocks, batch = cls(), []
        for line in lines:
            batch.append(line)
            if len(batch) == LINES_PER_BLOCK:
                blocks.add(batch)
                batch = []
        blocks.add(batch)
        return blocks

    def add(self, lines: list[str]) -> None:
        """One block of ``lines`` (the list is consumed: an empty string is appended to end the last line)."""
        if not lines:
            return
        self.rows += len(lines)
        lines.append("")
        self.parts.append("\n".join(lines).encode("utf-8"))

    def extend(self, other: Blocks) -> None:
        self.parts.extend(other.parts)
        self.rows += other.rows

    def __len__(self) -> int:
        return self.rows


class _Stream(io.RawIOBase):
    """The blocks as one file for pyarrow, without copying them into one buffer."""

    def __init__(self, parts: list[bytes]) -> None:
        self._parts = iter(parts)
        self._part = b""
        self._at = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._at >= len(self._part):
            self._part, self._at = next(self._parts, b""), 0
        if self._at == 0 and (size < 0 or size >= len(self._part)):
            self._at = len(self._part)
            return self._part  # the usual case: a whole block, not copied
        end = len(self._part) if size < 0 else self._at + size
        out, self._at = self._part[self._at : end], min(end, len(self._part))
        return out


def _blob(lines: Sequence[Line]) -> bytes:
    if isinstance(lines[0], str):
        return "\n".join(lines).encode("utf-8")  # type: ignore[arg-type]  # one encode of the whole: cheaper than one per line
    return b"\n".join(lines)  # type: ignore[arg-type]


def lines_to_table(dataset: str, lines: Sequence[Line] | Blocks) -> pa.Table:
    """Parse ``d`` lines (one per item, either format, mixed in any order) into the dataset's lake schema.

    Rows come out in input order. The usual batch is one group (every item written by the
    same version), read in one pass; a mixed one is read group by group and put back in order.
    """
    schema = SCHEMAS[dataset]
    if not lines:
        return schema.empty_table()
    if isinstance(lines, Blocks):
        return _blocks(dataset, lines)
    if dataset not in POSITIONAL:
        return _objects(dataset, lines)
    text_head = f"{len(NAMES[dataset])},"
    head: Line = text_head.encode() if isinstance(lines[0], bytes) else text_head
    if all(line.startswith(head) for line in lines):  # type: ignore[arg-type]
        return _positional(dataset, len(NAMES[dataset]), lines)
    # Mixed formats or column counts (old items until their TTL, a row with a control character):
    # one read per group, then back into input order.
    groups: dict[int, tuple[list[Line], list[int]]] = {}
    for i, line in enumerate(lines):
        count = -1 if is_object(line) else int(line[: line.index("," if isinstance(line, str) else b",")])  # type: ignore[arg-type]
        group_lines, positions = groups.setdefault(count, ([], []))
        group_lines.append(line)
        positions.append(i)
    ordered = sorted(groups.items())
    tables = [_objects(dataset, group) if count < 0 else _positional(dataset, count, group) for count, (group, _) in ordered]
    positions = pa.array([i for _, (_, group_positions) in ordered for i in group_positions], pa.int64())
    return pa.concat_tables(tables).take(pc.sort_indices(positions))


def _blocks(dataset: str, blocks: Blocks) -> pa.Table:
    """The usual batch in one streamed pass; a block that is not all current lines, line by line."""
    if dataset not in POSITIONAL:
        return _objects(dataset, b"".join(blocks.parts))
    count = len(NAMES[dataset])
    head = f"{count},".encode()
    current = [part.startswith(head) for part in blocks.parts]  # a block of old items is skipped at once
    if all(current):
        table = _checked(dataset, count, pa.PythonFile(_Stream(blocks.parts), mode="r"), STREAM_BLOCK)
        if table is not None:
            return table
    tables = []
    for part, first_current in zip(blocks.parts, current):
        if first_current:
            table = _checked(dataset, count, pa.BufferReader(part), max(STREAM_BLOCK, len(part)))
        elif part.startswith(b"{") and part.count(b"\n{") == part.count(b"\n") - 1:
            table = _objects(dataset, part)  # a page of items written before the positional format
        else:
            table = None
        tables.append(lines_to_table(dataset, part.split(b"\n")[:-1]) if table is None else table)
    return pa.concat_tables(tables)


def _checked(dataset: str, count: int, source: pa.NativeFile, block_size: int) -> pa.Table | None:
    """The lines read as current positional lines, or None if any is not (another format or count)."""
    try:
        return _csv(dataset, count, source, block_size, checked=True)
    except pa.ArrowInvalid:
        return None  # it had another number of fields, no count first, or another count


def _positional(dataset: str, count: int, lines: Sequence[Line]) -> pa.Table:
    """Lines of ``count`` values after the count itself; values past the known columns are skipped."""
    return _csv(dataset, count, pa.BufferReader(_blob(lines)), BLOCK)


def _csv(dataset: str, count: int, source: pa.NativeFile, block_size: int, checked: bool = False) -> pa.Table:
    """Read positional lines of ``count`` values from ``source``.

    ``checked``: the lines come from ``Blocks`` and were not looked at. A line of another format
    or column count has a different number of fields (the CSV reader raises ArrowInvalid), or a
    first field that is not an integer (raises too), or another integer (checked here): only
    lines of ``count`` values pass. Their UTF-8 is not validated again: ``Blocks.add`` made
    them with ``str.encode``, which only writes valid UTF-8 (−7–11 % of the parse).
    """
    names = NAMES[dataset]
    known = list(names[:count])
    table = pcsv.read_csv(
        source,
        read_options=pcsv.ReadOptions(
            column_names=["_count", *known, *(f"_later_{i}" for i in range(len(known), count))],
            block_size=block_size,
            use_threads=False,
        ),
        # A JSON string is a CSV field quoted with " whose " and \ are escaped by a backslash.
        parse_options=pcsv.ParseOptions(quote_char='"', double_quote=False, escape_char="\\", newlines_in_values=False),
        convert_options=pcsv.ConvertOptions(
            column_types={"_count": pa.int32(), **{name: JSON_TYPES[dataset][name] for name in known}},
            include_columns=["_count", *known] if checked else known,
            null_values=["null"],  # unquoted: JSON's null; a quoted "null" stays a string
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,  # "" is the empty string, never null
            true_values=["true"],
            false_values=["false"],
            check_utf8=not checked,
        ),
    )
    if checked:
        column = table.column("_count")
        counts = pc.min_max(column).as_py()
        if column.null_count or counts["min"] != count or counts["max"] != count:
            raise pa.ArrowInvalid(f"lines with a column count other than {count}")
        table = table.drop_columns(["_count"])
    return conform(table, SCHEMAS[dataset])


def _objects(dataset: str, lines: Sequence[Line] | bytes) -> pa.Table:
    """Object lines, or a blob of them ending in newlines."""
    schema = SCHEMAS[dataset]
    blob = lines if isinstance(lines, bytes) else _blob(lines)
    table = pj.read_json(
        # In place: through a BytesIO pyarrow copied each block out via Python, which cost
        # ~5% of the parse warm and 10-30% in a fresh process (bench/bench_transform.py).
        pa.BufferReader(blob),
        read_options=pj.ReadOptions(block_size=BLOCK, use_threads=False),
        parse_options=pj.ParseOptions(explicit_schema=JSON_SCHEMAS[dataset], unexpected_field_behavior="ignore"),
    )
    return conform(table.rename_columns([LONG[dataset][name] for name in table.column_names]), schema)


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Cast to ``schema``: int64 ms → timestamps, missing (newer) columns → nulls, column order fixed."""
    columns = []
    for field in schema:
        if field.name in table.column_names:
            column = table.column(field.name)
            if field.type == TS and pa.types.is_integer(column.type):
                column = column.cast(pa.int64()).cast(TS)
            elif column.type != field.type:
                column = column.cast(field.type)
        else:
            column = pa.nulls(table.num_rows, field.type)
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=schema)


def with_dt(dataset: str, table: pa.Table) -> pa.Table:
    """Add ``dt`` (YYYY-MM-DD, UTC) from the dataset's partition time."""
    days = table.column(PARTITION_TIME[dataset]).cast(pa.date32()).cast(pa.string())
    return table.append_column("dt", days)


def _ranks(column: pa.ChunkedArray) -> tuple[list[str], pa.Array]:
    """The column's distinct values in sorted order, and each row's position among them."""
    encoded = pc.dictionary_encode(column.combine_chunks(), null_encoding="encode")
    values = encoded.dictionary.to_pylist()
    order = sorted(range(len(values)), key=lambda i: (values[i] is None, values[i] or ""))
    rank = [0] * len(values)
    for position, i in enumerate(order):
        rank[i] = position
    return [values[i] for i in order], pc.take(pa.array(rank, pa.int32()), encoded.indices)


def split_partitions(table: pa.Table) -> Iterator[tuple[str, str, pa.Table]]:
    """Yield (app_id, dt, rows without the dt column) for each partition, in sorted order.

    One stable sort by a small integer key, one ``take``, then zero-copy slices: about half
    the CPU of a filter per partition, which scans every row once per partition.
    """
    if table.num_rows == 0:
        return
    apps, app_rank = _ranks(table.column("app_id"))
    days, day_rank = _ranks(table.column("dt"))
    rows = table.drop_columns(["dt"])
    if len(apps) == 1 and len(days) == 1:
        yield apps[0], days[0], rows
        return
    key = pc.add(pc.multiply(app_rank, len(days)), day_rank)
    ordered = rows.take(pc.sort_indices(key))  # stable: rows keep their order within a partition
    counts = pc.value_counts(key)
    start = 0
    for k, n in sorted(zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist())):
        yield apps[k // len(days)], days[k % len(days)], ordered.slice(start, n)
        start += n
