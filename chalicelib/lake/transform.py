"""Items' ``d`` JSON lines → typed Arrow tables, split by (app_id, dt). No Python loop per row.

pyarrow's JSON reader parses the lines against the explicit schema in C++ (hundreds of
thousands of events a second); boto3's TypeDeserializer would be ~100× slower.
"""

from __future__ import annotations

from typing import Iterator, Sequence, cast

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from chalicelib.lake.rows import LONG
from chalicelib.lake.schema import JSON_SCHEMAS, PARTITION_TIME, SCHEMAS, TS


def lines_to_table(dataset: str, lines: Sequence[bytes | str]) -> pa.Table:
    """Parse newline-free JSON documents (one per item) into the dataset's lake schema."""
    schema = SCHEMAS[dataset]
    if not lines:
        return schema.empty_table()
    if isinstance(lines[0], str):
        blob = "\n".join(cast("Sequence[str]", lines)).encode("utf-8")  # one encode of the whole: cheaper than one per line
    else:
        blob = b"\n".join(cast("Sequence[bytes]", lines))
    table = pj.read_json(
        # In place: through a BytesIO pyarrow copied each block out via Python, which cost
        # ~5% of the parse warm and 10-30% in a fresh process (bench/bench_transform.py).
        pa.BufferReader(blob),
        # 4 MiB blocks measured fastest on one core; threads off: the export parallelises
        # across partitions and invocations instead.
        read_options=pj.ReadOptions(block_size=4 << 20, use_threads=False),
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
    for app_id, dt in zip(keys.column("app_id").to_pylist(), keys.column("dt").to_pylist()):
        mask = pc.and_(pc.equal(table.column("app_id"), app_id), pc.equal(table.column("dt"), dt))
        yield app_id, dt, table.filter(mask).drop_columns(["dt"])
