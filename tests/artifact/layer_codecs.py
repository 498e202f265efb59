"""Installed into the emulated layer as ``_emulated_layer_codecs.py``: pyarrow with the layer's codecs only.

The AWS SDK for pandas layer builds pyarrow with ARROW_WITH_ZSTD/LZ4/BROTLI/BZ2=OFF
(aws/aws-sdk-pandas building/lambda/build-lambda-layer.sh), so writing or reading a Parquet file
with those codecs raises ``ArrowNotImplementedError: Support for codec 'zstd' not built``. PyPI's
pyarrow has them all; this makes the emulation's pyarrow refuse them the same way, at the Parquet
entry points: ``ParquetWriter`` (behind ``pq.write_table``, pandas and awswrangler writes),
``ParquetFile`` (``read_metadata``, ``read_schema``, row-group reads) and ``pq.read_table``.
"""

import functools
import io

_ENFORCED = False


def enforce(available):
    global _ENFORCED
    if _ENFORCED:
        return
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyarrow.lib import ArrowNotImplementedError

    def refuse(codec):
        raise ArrowNotImplementedError(f"Support for codec '{codec.lower()}' not built")

    def check(codec):
        if codec is not None and str(codec).lower() not in available and str(codec).lower() not in ("none", "uncompressed"):
            refuse(str(codec))

    def check_compression(compression):
        for codec in compression.values() if isinstance(compression, dict) else [compression]:
            check(codec)

    writer_init = pq.ParquetWriter.__init__

    @functools.wraps(writer_init)
    def writer(self, where, schema, *args, compression="snappy", **kwargs):
        check_compression(compression)
        writer_init(self, where, schema, *args, compression=compression, **kwargs)

    pq.ParquetWriter.__init__ = writer

    file_init = pq.ParquetFile.__init__

    @functools.wraps(file_init)
    def parquet_file(self, source, *args, **kwargs):
        file_init(self, source, *args, **kwargs)
        meta = self.metadata
        for g in range(meta.num_row_groups):
            for c in range(meta.num_columns):
                check(meta.row_group(g).column(c).compression)

    pq.ParquetFile.__init__ = parquet_file

    original_read_table = pq.read_table

    @functools.wraps(original_read_table)
    def read_table(source, *args, **kwargs):
        if isinstance(source, (bytes, bytearray, memoryview)):
            source = pa.BufferReader(source)
        if isinstance(source, (io.IOBase, pa.NativeFile)) or hasattr(source, "seek"):
            at = source.tell()
            pq.ParquetFile(source)  # refuses a codec the layer lacks
            source.seek(at)
        elif isinstance(source, str) and not any(ch in source for ch in "*?") and not source.endswith("/"):
            try:
                pq.ParquetFile(source)
            except (IsADirectoryError, FileNotFoundError, OSError) as exc:
                if "not built" in str(exc):
                    raise
        return original_read_table(source, *args, **kwargs)

    pq.read_table = read_table
    if hasattr(pq, "core"):
        pq.core.read_table = read_table
    _ENFORCED = True
