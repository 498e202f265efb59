"""Items' ``d`` lines → typed Arrow tables, split by (app_id, dt). No Python loop per row.

Positional lines (chalicelib.lake.rows) go through pyarrow's CSV reader, object lines
through its JSON reader, both against explicit schemas in C++. The CSV reader parses the
positional lines ~2× faster than the JSON reader parses the same rows as objects: no key
to look up per field (docs/decisions/0012); boto3's TypeDeserializer would be ~100× slower.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.json as pj

from chalicelib.lake.rows import LONG, NAMES, POSITIONAL, is_object
from chalicelib.lake.schema import JSON_SCHEMAS, JSON_TYPES, PARTITION_TIME, SCHEMAS, TS

Line = bytes | str
# 4 MiB blocks measured fastest on one core; threads off: the export parallelises across
# partitions and invocations instead.
BLOCK = 4 << 20


def _blob(lines: Sequence[Line]) -> bytes:
    if isinstance(lines[0], str):
        return "\n".join(lines).encode("utf-8")  # type: ignore[arg-type]  # one encode of the whole: cheaper than one per line
    return b"\n".join(lines)  # type: ignore[arg-type]


def lines_to_table(dataset: str, lines: Sequence[Line]) -> pa.Table:
    """Parse ``d`` lines (one per item, either format, mixed in any order) into the dataset's lake schema.

    Rows come out in input order. The usual batch is one group (every item written by the
    same version), read in one pass; a mixed one is read group by group and put back in order.
    """
    schema = SCHEMAS[dataset]
    if not lines:
        return schema.empty_table()
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


def _positional(dataset: str, count: int, lines: Sequence[Line]) -> pa.Table:
    """Lines of ``count`` values after the count itself; values past the known columns are skipped."""
    names = NAMES[dataset]
    known = list(names[:count])
    table = pcsv.read_csv(
        pa.BufferReader(_blob(lines)),
        read_options=pcsv.ReadOptions(
            column_names=["_count", *known, *(f"_later_{i}" for i in range(len(known), count))],
            block_size=BLOCK,
            use_threads=False,
        ),
        # A JSON string is a CSV field quoted with " whose " and \ are escaped by a backslash.
        parse_options=pcsv.ParseOptions(quote_char='"', double_quote=False, escape_char="\\", newlines_in_values=False),
        convert_options=pcsv.ConvertOptions(
            column_types={name: JSON_TYPES[dataset][name] for name in known},
            include_columns=known,
            null_values=["null"],  # unquoted: JSON's null; a quoted "null" stays a string
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,  # "" is the empty string, never null
            true_values=["true"],
            false_values=["false"],
        ),
    )
    return conform(table, SCHEMAS[dataset])


def _objects(dataset: str, lines: Sequence[Line]) -> pa.Table:
    schema = SCHEMAS[dataset]
    blob = _blob(lines)
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


def split_partitions(table: pa.Table) -> Iterator[tuple[str, str, pa.Table]]:
    """Yield (app_id, dt, rows without the dt column) for each partition, in sorted order."""
    if table.num_rows == 0:
        return
    keys = table.group_by(["app_id", "dt"]).aggregate([]).sort_by([("app_id", "ascending"), ("dt", "ascending")])
    if keys.num_rows == 1:
        yield keys.column("app_id")[0].as_py(), keys.column("dt")[0].as_py(), table.drop_columns(["dt"])
        return
    rows = table.drop_columns(["dt"])  # filtered without the dt strings: one column less to copy
    for app_id, dt in zip(keys.column("app_id").to_pylist(), keys.column("dt").to_pylist()):
        mask = pc.and_(pc.equal(table.column("app_id"), app_id), pc.equal(table.column("dt"), dt))
        yield app_id, dt, rows.filter(mask)
