"""A local copy of the lake's tables, kept in step with S3 (s3rver locally; real S3 the same).

DuckDB's httpfs extension is a download away, and there is no download here; so the files
come to DuckDB instead. ``sync`` lists the two tables' prefixes, fetches what is new or has
a new ETag, and deletes what S3 no longer has (compaction replaces a day's small files with
one). Files land under a temporary name and are renamed into place, so a reader never sees
half a file; a lock file keeps two processes (the dev server and a CLI) from syncing at once.

A file the copy writes at a path gets a modification time in a later whole second than any
file that was at that path before it (``_stamp``; for a deleted one, the seconds of the last
hour's deletions are kept in ``.mirror-gone.json``). DuckDB keeps each Parquet file's footer
between queries (clickstream.lake.duck, ``cache_metadata``) and trusts it while the file's
version tag is the one it read: device, inode, size and modification time in whole seconds
(duckdb ``LocalFileSystem::GetVersionTag``, ``ExternalFileCache::IsValid``). A rewrite is a
rename, so a new inode; but a file deleted and put back at its path may get the freed inode
number again, and with the same size in the same second it would be read with the old footer.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.lake import layout
from clickstream.lake.catalog import TABLES, file_pattern
from clickstream.lake.exceptions import LakeUnavailable

MANIFEST = ".mirror.json"
GONE = ".mirror-gone.json"  # local relative path -> the whole second of the file deleted there
GONE_KEPT_S = 3600  # a deletion's second is kept this long (a clock set back meanwhile by less is harmless)


@dataclass(frozen=True)
class SyncReport:
    downloaded: int = 0
    deleted: int = 0
    kept: int = 0
    bytes: int = 0
    seconds: float = 0.0
    apps: frozenset[str] = frozenset()  # apps with a file fetched or deleted

    @property
    def changed(self) -> bool:
        return bool(self.downloaded or self.deleted)


class Mirror:
    def __init__(self, s3: Any, bucket: str, lake_prefix: str, root: Path, clock: Callable[[], float] = time.time) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.lake_prefix = lake_prefix
        self.root = Path(root)
        self.clock = clock  # the wall clock the files' modification times are set from

    def remote(self) -> dict[str, tuple[str, str, int]]:
        """local relative path -> (key, ETag, size) for every data file of both tables."""
        out: dict[str, tuple[str, str, int]] = {}
        for table in TABLES:
            prefix = layout.dataset_prefix(self.lake_prefix, table)
            data_file = file_pattern(table)
            try:
                for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                    for obj in page.get("Contents", []):
                        rest = obj["Key"][len(prefix) :]
                        if data_file.fullmatch(rest):
                            out[f"{table}/{rest}"] = (obj["Key"], obj["ETag"].strip('"'), int(obj["Size"]))
            except (ClientError, BotoCoreError) as exc:
                message = f"listing s3://{self.bucket}/{prefix} failed: {exc}; the local copy was not updated"
                raise LakeUnavailable(message) from exc
        return out

    def local(self) -> dict[str, str]:
        """local relative path -> ETag of what the last sync fetched."""
        try:
            return json.loads((self.root / MANIFEST).read_text())
        except (FileNotFoundError, ValueError):
            return {}

    def generation(self) -> tuple[int, int] | None:
        """Which manifest the copy has (a new file, so a new inode, at every sync that changed
        it, whichever process ran it); None before the first sync."""
        try:
            st = (self.root / MANIFEST).stat()
        except FileNotFoundError:
            return None
        return st.st_ino, st.st_mtime_ns

    def sync(self) -> SyncReport:
        started = time.monotonic()
        self.root.mkdir(parents=True, exist_ok=True)
        with self._locked():
            remote = self.remote()
            have = self.local()
            deleted = self._gone()
            downloaded = size = 0
            touched: set[str] = set()
            for rel, (key, etag, nbytes) in sorted(remote.items()):
                if have.get(rel) == etag and (self.root / rel).is_file():
                    continue
                self._fetch(key, self.root / rel, after=deleted.pop(rel, None))
                have[rel] = etag
                downloaded += 1
                size += nbytes
                touched.add(rel)
            gone = sorted(set(have) - set(remote))
            for rel in gone:
                second = _second(self.root / rel)
                if second is not None:
                    deleted[rel] = second
            if gone:  # their seconds recorded before the files go, so that no kill loses one
                self._write_gone(deleted)
            for rel in gone:
                (self.root / rel).unlink(missing_ok=True)
                have.pop(rel)
                self._prune(self.root / rel)
            if touched or gone:  # unchanged, it stays the same file (generation)
                self._write_gone(deleted)
                self._write_json(MANIFEST, have)
        apps = frozenset(rel.split("/")[1].split("=", 1)[1] for rel in touched | set(gone))
        return SyncReport(downloaded, len(gone), len(remote) - downloaded, size, round(time.monotonic() - started, 3), apps)

    def _gone(self) -> dict[str, int]:
        try:
            return {str(k): int(v) for k, v in json.loads((self.root / GONE).read_text()).items()}
        except (FileNotFoundError, ValueError, AttributeError):
            return {}

    def _write_gone(self, deleted: dict[str, int]) -> None:
        self._write_json(GONE, {r: s for r, s in deleted.items() if s > self.clock() - GONE_KEPT_S})

    def _stamp(self, previous: list[int | None]) -> float:
        """A modification time from the clock, in a later whole second than ``previous`` (the
        seconds of the files that were at the path)."""
        latest = max((s for s in previous if s is not None), default=None)
        now = self.clock()
        return now if latest is None else max(now, latest + 1.0)

    def _fetch(self, key: str, target: Path, after: int | None = None) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.part")
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"]
            with open(partial, "wb") as out:
                for chunk in iter(lambda: body.read(1 << 20), b""):
                    out.write(chunk)
        except (ClientError, BotoCoreError) as exc:
            partial.unlink(missing_ok=True)
            raise LakeUnavailable(f"reading s3://{self.bucket}/{key} failed: {exc}; the local copy is unchanged") from exc
        stamp = self._stamp([_second(target), after])
        os.utime(partial, (stamp, stamp))
        os.replace(partial, target)

    def _prune(self, path: Path) -> None:
        """Remove directories a deletion left empty, up to the table's folder."""
        for parent in list(path.parents)[:2]:
            try:
                parent.rmdir()
            except OSError:
                return

    def _write_json(self, name: str, value: dict[str, Any]) -> None:
        partial = self.root / f".{name}.part"
        partial.write_text(json.dumps(value, sort_keys=True))
        os.replace(partial, self.root / name)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self.root / ".lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _second(path: Path) -> int | None:
    """The whole second of ``path``'s modification time (as DuckDB reads it); None if absent."""
    try:
        return math.floor(path.stat().st_mtime)
    except FileNotFoundError:
        return None
