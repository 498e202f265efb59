"""The local engine: the lake mirrored from S3 into a cache directory, queried with DuckDB."""

from __future__ import annotations

import threading
import time
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from chalicelib import clients
from chalicelib.errors import ClickstreamError
from chalicelib.export import rollups
from chalicelib.lake import layout, rollup
from chalicelib.lake.parquetio import Lake
from chalicelib.settings import Settings
from clickstream.lake import batch, month_reads, translate
from clickstream.lake.duck import DuckLake, Profile
from clickstream.lake.exceptions import LakeUnavailable
from clickstream.lake.mirror import Mirror, SyncReport
from clickstream.target import local_value


class LocalLake:
    """DuckDB over a directory, kept in step with S3 by a mirror (none for a plain directory).

    Every query runs exactly as Athena runs it; nothing is materialised after a lake change.
    Session panels are fast because the ETL rolled the closed days up (``rolled_through``).
    """

    def __init__(self, duck: DuckLake, mirror: Mirror | None = None, bind_upto: bool = True, prune_months: bool = True) -> None:
        self.duck = duck
        self.mirror = mirror
        # the month arm's last day as a parameter (month_reads.with_upto); False: written out, as
        # Athena runs it (bench.bench_footers' baseline)
        self.bind_upto = bind_upto
        # with U bound, the month arm's scans a range cannot keep left out; False: all bound and
        # planned (bench.bench_footers' baseline for it)
        self.prune_months = prune_months
        self._synced_at: float | None = None
        self._generation: tuple[int, int] | None = None
        self._lock = threading.RLock()
        # (app, grain) -> rolled_through or months_through, read at the last sync
        self._states: dict[tuple[str, rollups.Grain], str | None] = {}
        self._state_files: dict[str, tuple[str, pa.Table]] = {}  # key -> (ETag, the file's rows)

    @property
    def root(self) -> Path:
        return self.duck.root

    def sync(self, max_age_s: float = 0.0) -> SyncReport | None:
        """Fetch what changed in S3 unless the last sync is younger than ``max_age_s``."""
        if self.mirror is None:
            return None
        with self._lock:
            if self._synced_at is not None and time.monotonic() - self._synced_at < max_age_s:
                return None
            first = self._synced_at is None
            self._read_states()
            report = self.mirror.sync()
            # The manifest also changes when another process's sync of the same copy fetched
            # the files (this one then finds nothing to fetch): the views and prepared
            # statements still list the files as they were.
            generation = self.mirror.generation()
            if report.changed or first or generation != self._generation:
                self.duck.refresh()
                self._generation = generation
            self._synced_at = time.monotonic()
            return report

    def query(self, sql: str, params: Mapping[str, Any], max_age_s: float = 2.0) -> pa.Table:
        """Run Athena SQL (with bound parameters) on the local copy."""
        self.sync(max_age_s)
        sql, values = self._upto(sql, params)
        duck_sql = translate.to_duckdb(sql)
        try:
            return self.duck.execute(duck_sql, values)
        except LakeUnavailable:
            if self.mirror is None:
                raise
            # Another process's sync removed a file this query had listed (compaction): once more.
            self.sync(0.0)
            return self.duck.execute(duck_sql, values)

    def query_many(self, queries: Sequence[tuple[str, Mapping[str, Any]]], max_age_s: float = 2.0) -> list[pa.Table]:
        """Run many Athena statements (each with its bound parameters) as one DuckDB statement
        that computes the CTEs they share once (clickstream.lake.batch); each one's rows, in order,
        as ``query`` returns them. Nothing is kept afterwards. One failing query fails the batch:
        the caller runs them one by one then (clickstream.dashboard.panels.prefetch)."""
        self.sync(max_age_s)
        composed = batch.compose([self._upto(sql, params) for sql, params in queries])
        try:
            table = self.duck.execute(composed.sql, composed.params)
        except LakeUnavailable:
            if self.mirror is None:
                raise
            self.sync(0.0)  # as in query: a file listed before another process's sync removed it
            table = self.duck.execute(composed.sql, composed.params)
        return composed.split(table)

    def rolled_through(self, app_id: str, grain: rollups.Grain = "days") -> str | None:
        """The last day the rollups (``grain`` "months": the month rows) may be read for
        ``app_id``, as the export's housekeeping
        published it (chalicelib/export/rollups.py: the least value of the app's rollup_state
        files, read at the last sync; None: nothing rolled up). The rollup files alone do not
        say it: after late events, an erasure or a retention run, a day's files are stale until
        rebuilt, and only the state (held back first) says so.

        A plain directory that no export keeps (the benchmark's generated lake) has no
        rollup_state folder at all: there, the days whose files are present."""
        if self.mirror is not None:
            with self._lock:
                return self._states.get((app_id, grain))
        folder = self.root / rollups.STATE_TABLE
        if folder.is_dir():
            files = sorted((folder / f"app_id={app_id}").glob("*.parquet"))
            return rollups.least(v for f in files for v in rollups.values_of(pq.read_table(f), grain))
        if grain == "months":
            return None  # no export built month rows here

        def days(table: str) -> list[str]:
            return [
                p.name.split("=", 1)[1] for p in (self.root / table / f"app_id={app_id}").glob("dt=*") if any(p.glob("*.parquet"))
            ]

        return rollup.rolled_through(days("events"), days(rollups.WRITE_ORDER[-1]))

    def _read_states(self) -> None:
        """Every app's rolled_through from S3 (one LIST; a GET per state file that changed).
        Read before the files are synced: a snapshot no younger than the files it guards."""
        assert self.mirror is not None
        lake = Lake(self.mirror.s3, self.mirror.bucket)
        base = layout.dataset_prefix(self.mirror.lake_prefix, rollups.STATE_TABLE)
        seen: dict[str, tuple[str, pa.Table]] = {}
        try:
            for obj in lake.list(base):
                key = obj["Key"]
                if not key.endswith(".parquet") or not key[len(base) :].startswith("app_id="):
                    continue
                tag = str(obj.get("ETag", ""))
                cached = self._state_files.get(key)
                seen[key] = (tag, cached[1] if cached and cached[0] == tag else lake.read_table(key))
        except ClickstreamError as exc:
            raise LakeUnavailable(f"reading the rollup state under s3://{lake.bucket}/{base} failed: {exc}") from exc
        self._state_files = seen
        per_app: dict[str, list[pa.Table]] = {}
        for key, (_, table) in seen.items():
            per_app.setdefault(key[len(base) :].split("/", 1)[0].removeprefix("app_id="), []).append(table)
        grains: tuple[rollups.Grain, ...] = ("days", "months")
        self._states = {
            (app, grain): rollups.least(v for t in tables for v in rollups.values_of(t, grain))
            for app, tables in per_app.items()
            for grain in grains
        }

    def profile(self, sql: str, params: Mapping[str, Any]) -> tuple[pa.Table, Profile]:
        """Run as Athena would and report the files each scan read."""
        self.sync(0.0)
        sql, values = self._upto(sql, params)
        return self.duck.profile(translate.to_duckdb(sql), values)

    def _upto(self, sql: str, params: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        return month_reads.with_upto(sql, params, prune=self.prune_months) if self.bind_upto else (sql, dict(params))


def default_cache_dir(settings: Settings) -> Path:
    prefix = settings.lake_prefix.strip("/").replace("/", "_") or "_"
    return Path(local_value("data_dir")) / "lake-cache" / settings.bucket / prefix


_LAKES = threading.Lock()


def local_lake(settings: Settings, cache_dir: Path | None = None) -> LocalLake:
    """One mirror and DuckDB database per stack and cache directory, per process.

    Under a lock: two threads asking first at once (``make run``'s dashboard warm-up and a page's
    request) would otherwise each build one, and what one of them prepared would go with the
    copy the cache does not keep."""
    with _LAKES:
        return _local_lake(settings, cache_dir)


@lru_cache(maxsize=8)
def _local_lake(settings: Settings, cache_dir: Path | None) -> LocalLake:
    root = cache_dir or default_cache_dir(settings)
    return mirrored_lake(Mirror(clients.s3(settings), settings.bucket, settings.lake_prefix, root))


def mirrored_lake(mirror: Mirror) -> LocalLake:
    """DuckDB over a mirror's copy, with the Parquet footers kept between queries: the mirror
    never puts a file at a path in the second of the file that was there (DuckLake,
    ``cache_metadata``)."""
    return LocalLake(DuckLake(mirror.root, cache_metadata=True), mirror)


def directory_lake(
    root: Path,
    threads: int | None = None,
    prepare: bool = True,
    cache_metadata: bool = False,
    bind_upto: bool = True,
    prune_months: bool = True,
) -> LocalLake:
    """DuckDB over a directory already in the lake's layout (the benchmark's generated lake);
    ``prepare=False``: every statement parsed and bound on every run; ``cache_metadata``: the
    Parquet footers kept between queries, for a directory whose files are not rewritten while
    it is read (DuckLake); ``bind_upto=False``: the month arm's last day written out,
    ``prune_months=False``: its every scan bound (LocalLake)."""
    duck = DuckLake(root, threads=threads, prepare=prepare, cache_metadata=cache_metadata)
    return LocalLake(duck, bind_upto=bind_upto, prune_months=prune_months)
