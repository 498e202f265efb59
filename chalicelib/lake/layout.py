"""Where things live in the lake bucket: the one partition path layout, written once.

``<prefix>/<dataset>/app_id=<app>/dt=<YYYY-MM-DD>/part-<seq>-<group>.parquet``, Hive style so
Athena, DuckDB and pyarrow all read ``app_id`` and ``dt`` from the path. Export state the
readers must not see lives under ``<prefix>/_state/``. Pure string functions, no I/O.
"""

from __future__ import annotations

import re

DATASETS: tuple[str, ...] = ("events", "rejected_events")

# Relative to a dataset's folder (S3 prefix): a data file of a day-partitioned table. (The
# readers' globs and patterns per table, the month grain's included: clickstream.lake.catalog.)
PARTITION_FILE = re.compile(r"app_id=[^/]+/dt=[^/]+/[^/]+\.parquet")


def _root(prefix: str) -> str:
    stripped = prefix.strip("/")
    return f"{stripped}/" if stripped else ""


def dataset_prefix(prefix: str, dataset: str) -> str:
    return f"{_root(prefix)}{dataset}/"


def partition_path(app_id: str, dt: str) -> str:
    """A partition's folder relative to its dataset's folder."""
    return f"app_id={app_id}/dt={dt}/"


def app_prefix(prefix: str, dataset: str, app_id: str) -> str:
    return f"{dataset_prefix(prefix, dataset)}app_id={app_id}/"


def partition_prefix(prefix: str, dataset: str, app_id: str, dt: str) -> str:
    return f"{dataset_prefix(prefix, dataset)}{partition_path(app_id, dt)}"


def data_key(prefix: str, dataset: str, app_id: str, dt: str, seq: int, group: int) -> str:
    """Deterministic: a rerun of run ``seq`` overwrites its own files instead of adding copies."""
    return f"{partition_prefix(prefix, dataset, app_id, dt)}part-{seq:010d}-{group:03d}.parquet"


def partition_of(key: str) -> tuple[str, str]:
    """(app_id, dt) of a data file key or partition folder (with or without the dataset prefix)."""
    app_id = key.split("app_id=", 1)[1].split("/", 1)[0]
    dt = key.split("/dt=", 1)[1].split("/", 1)[0]
    return app_id, dt


def state_prefix(prefix: str) -> str:
    return f"{_root(prefix)}_state/"


def staging_key(prefix: str, name: str) -> str:
    """Rows staged for a partition merge (compaction protocol); never read by queries."""
    return f"{state_prefix(prefix)}staging/{name}.parquet"


def dedup_prefix(prefix: str) -> str:
    return f"{state_prefix(prefix)}dedup/"


def dedup_hour_prefix(prefix: str, hour: str) -> str:
    """Where the index objects of one client-timestamp hour live (``hour``: YYYYMMDDHH, or ``none``)."""
    return f"{dedup_prefix(prefix)}h={hour}/"


def dedup_key(prefix: str, hi_ms: int, seq: int, group: int, hour: str | None = None) -> str:
    """An index object's key; without ``hour``, the flat layout written before the index was sharded."""
    folder = dedup_prefix(prefix) if hour is None else dedup_hour_prefix(prefix, hour)
    return f"{folder}{hi_ms:013d}-{seq:010d}-{group:03d}.parquet"


def parse_dedup_key(key: str) -> tuple[int, int, int]:
    """(hi_ms, seq, group) from a dedup index object key, flat or sharded by hour."""
    name = key.rsplit("/", 1)[-1].removesuffix(".parquet")
    hi, seq, group = name.split("-")
    return int(hi), int(seq), int(group)
