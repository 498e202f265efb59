"""The Parquet codecs the lake may use: only those the AWS SDK for pandas layer's pyarrow has.

The export, compaction, dedup index, backfill and erasure run in Lambda with pyarrow from the
AWS SDK for pandas managed layer. That pyarrow is built from source by
aws/aws-sdk-pandas ``building/lambda/build-lambda-layer.sh`` with::

    -DARROW_WITH_SNAPPY=ON  -DARROW_WITH_ZLIB=ON
    -DARROW_WITH_BZ2=OFF  -DARROW_WITH_ZSTD=OFF  -DARROW_WITH_LZ4=OFF  -DARROW_WITH_BROTLI=OFF

so it can neither write nor read zstd, lz4 or brotli Parquet (``ArrowNotImplementedError:
Support for codec 'zstd' not built``; aws/aws-sdk-pandas issue #2445). PyPI's pyarrow on a
laptop has every codec, so a file the CLI writes with another codec would later break
compaction or the dedup index inside Lambda. Every lake writer takes its codec from here;
tests/unit/test_codecs.py fails if any writer names another, and the artifact test's layer
emulation refuses the others for reading and writing (docs/decisions/0006-lambda-runtime-and-layer.md).
"""

from __future__ import annotations

# Parquet codec names as pyarrow spells them (ZLIB is Parquet's GZIP codec).
LAYER_CODECS: frozenset[str] = frozenset({"snappy", "gzip"})
# Built OFF in the layer: pyarrow raises for these, reading as well as writing.
LAYER_LACKS: frozenset[str] = frozenset({"zstd", "lz4", "lz4_raw", "brotli", "bz2"})

# The lake's codec: snappy (docs/decisions/0006: measured bytes/event and CPU against gzip).
LAKE_CODEC = "snappy"
# The same codec in the Athena table property 'parquet.compression' (etl/tables/*.sql).
ATHENA_CODEC = LAKE_CODEC.upper()


class CodecNotInLayer(ValueError):
    """A codec the Lambda layer's pyarrow cannot write or read."""


def check(codec: str) -> str:
    """``codec`` if the layer's pyarrow has it (or it is uncompressed), else a clear error."""
    name = codec.lower()
    if name == "none" or name in LAYER_CODECS:
        return name
    raise CodecNotInLayer(
        f"Parquet codec {codec!r} is not built into the AWS SDK for pandas layer's pyarrow "
        f"(it has {sorted(LAYER_CODECS)}); a lake file written with it cannot be read by the export in Lambda"
    )
