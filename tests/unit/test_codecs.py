"""Every lake writer uses a codec the Lambda layer's pyarrow has (chalicelib/lake/codecs.py).

A scan of the source, not a sample run: a writer added later with ``compression="zstd"`` (or
an Athena table with ``'parquet.compression' = 'ZSTD'``) fails here before it ships. The
artifact test (tests/artifact/) checks the same at run time with the layer's codec set enforced.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pyarrow as pa
import pytest

from chalicelib.lake import codecs

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("chalicelib", "clickstream", "bench", "deploy", "app.py")
# Keyword arguments that choose a Parquet codec in pyarrow, pandas, awswrangler and duckdb.
CODEC_KEYWORDS = {"compression", "codec", "compression_codec"}
KNOWN_CODECS = codecs.LAYER_CODECS | codecs.LAYER_LACKS | {"lzo", "zlib", "deflate"}
SQL_CODEC = re.compile(r"""(?:parquet\.compression'?\s*=\s*'|COMPRESSION\s*'?)(\w+)""", re.IGNORECASE)


def python_files() -> list[Path]:
    out: list[Path] = []
    for name in SCANNED:
        path = ROOT / name
        out.extend([path] if path.is_file() else sorted(path.rglob("*.py")))
    return out


def codec_literals(path: Path) -> list[tuple[int, str]]:
    """(line, value) of every string literal passed as a codec keyword or assigned to a *COMPRESSION* name."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg in CODEC_KEYWORDS:
            if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                found.append((node.value.lineno, node.value.value))
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            if any("COMPRESSION" in n.upper() or "CODEC" in n.upper() for n in names) and node.value.value.lower() in (
                codecs.LAYER_CODECS | codecs.LAYER_LACKS
            ):
                found.append((node.lineno, node.value.value))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL_CODEC.search(node.value):
            # Only codec names: prose that mentions "compression" is not a writer.
            found.extend((node.lineno, m.group(1)) for m in SQL_CODEC.finditer(node.value) if m.group(1).lower() in KNOWN_CODECS)
    return found


def test_the_lake_codec_is_one_the_layer_has() -> None:
    assert codecs.LAKE_CODEC in codecs.LAYER_CODECS
    assert not codecs.LAYER_CODECS & codecs.LAYER_LACKS


def test_no_python_writer_asks_for_a_codec_the_layer_lacks() -> None:
    bad = [
        f"{path.relative_to(ROOT)}:{line} {value!r}"
        for path in python_files()
        for line, value in codec_literals(path)
        if value.lower() not in codecs.LAYER_CODECS and value.lower() != "none"
    ]
    assert not bad, "codec the AWS SDK for pandas layer cannot read (use chalicelib.lake.codecs.LAKE_CODEC): " + ", ".join(bad)


def test_athena_tables_write_the_lake_codec() -> None:
    for sql in sorted((ROOT / "etl").rglob("*.sql")):
        for value in re.findall(r"'parquet\.compression'\s*=\s*'(\w+)'", sql.read_text(encoding="utf-8"), re.IGNORECASE):
            assert value.upper() == codecs.ATHENA_CODEC, f"{sql.relative_to(ROOT)}: parquet.compression={value}"


def test_the_scan_finds_a_writer_that_asks_for_zstd(tmp_path: Path) -> None:
    """The scan can fail: a zstd writer in any of the forms it knows is reported."""
    source = tmp_path / "writer.py"
    source.write_text(
        "import pyarrow.parquet as pq\n"
        "COMPRESSION = 'zstd'\n"
        "pq.write_table(t, sink, compression='zstd')\n"
        "df.to_parquet(sink, compression='brotli')\n"
        "con.execute(\"COPY t TO 'x.parquet' (FORMAT PARQUET, COMPRESSION 'zstd')\")\n"
    )
    values = [v for _, v in codec_literals(source)]
    assert values.count("zstd") == 3 and "brotli" in values


@pytest.mark.parametrize("codec", sorted(codecs.LAYER_LACKS))
def test_check_refuses_what_the_layer_lacks(codec: str) -> None:
    with pytest.raises(codecs.CodecNotInLayer, match=codec):
        codecs.check(codec)


def test_the_lake_writer_writes_the_lake_codec() -> None:
    import io

    import pyarrow.parquet as pq

    from chalicelib.lake import parquetio as lakeio

    body = lakeio.parquet_bytes(pa.table({"event_id": ["a", "b"], "app_id": ["x", "x"]}))
    meta = pq.ParquetFile(io.BytesIO(body)).metadata
    assert {meta.row_group(0).column(i).compression for i in range(meta.num_columns)} == {codecs.LAKE_CODEC.upper()}
