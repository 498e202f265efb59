"""A seekable view of one S3 object for pyarrow, every read a ranged GET: how the housekeeping
reads a large lake file's footer and only the column chunks (or row groups) it needs."""

from __future__ import annotations

import io
from typing import Any

from chalicelib.lake.parquetio import Lake

# Objects above this are read by ranges (the footer, then the column chunks of the columns a
# rebuild needs, a row group at a time), never whole: a compacted day of tens of millions of
# events is a file of a gigabyte. Smaller ones are one GET.
RANGED_ABOVE = 32 * 1024 * 1024


class RangedObject(io.RawIOBase):
    """A seekable, read-only view of one S3 object for pyarrow: every read is a ranged GET."""

    def __init__(self, lake: Lake, key: str, size: int) -> None:
        self.lake, self.key, self.size, self.pos = lake, key, size, 0
        self.gets = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.size}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self.size - self.pos)
        if n <= 0:
            return 0
        data = self.lake.read_range(self.key, self.pos, self.pos + n - 1)
        self.gets += 1
        buffer[: len(data)] = data
        self.pos += len(data)
        return len(data)
