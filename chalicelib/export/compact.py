"""Compaction: merge a closed day's small files into one, without ever losing or doubling a row
once it has finished (or been resumed).

Protocol, for one partition (an intent item makes every step redoable)::

    1. put intent {inputs: [files], output: compacted-<hash(inputs)>.parquet}
    2. write output = dedup(concat(inputs))        ← crash: output absent → redo from inputs
    3. delete inputs                               ← crash: output present → delete the rest
    4. delete intent

Between 2 and 3 a reader can briefly see both the output and its inputs; the next holder of
the lease (``resume``, called first by every run and by ``Exporter.exclusive`` before it hands
out a session) always completes the intent. The same
protocol merges backfilled rows into a partition: they are staged under ``_state/``
(outside the tables' locations) and listed as one more input.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime, timezone
from typing import Any, Callable

import pyarrow as pa
import pyarrow.compute as pc
from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.export import dedup
from chalicelib.lake import layout, transform
from chalicelib.lake.parquetio import Lake
from chalicelib.lake.schema import SCHEMAS
from chalicelib.settings import Settings
from chalicelib.store import keys, retry

log = logging.getLogger("clickstream.export")


def _ddb(call: Callable[..., Any], **kwargs: Any) -> Any:
    try:
        return call(**kwargs)
    except (ClientError, BotoCoreError) as exc:
        raise retry.storage_error(f"compaction state: {exc}", exc) from exc


def mark_dirty(client: Any, table: str, partitions: set[str]) -> None:
    """Remember partitions that got new files, so compaction never lists the whole lake."""
    if partitions:
        _ddb(
            client.update_item,
            TableName=table,
            Key=keys.DIRTY_PARTITIONS_KEY,
            UpdateExpression="ADD parts :p",
            ExpressionAttributeValues={":p": {"SS": sorted(partitions)}},
        )


def dirty_partitions(client: Any, table: str) -> list[str]:
    item = _ddb(client.get_item, TableName=table, Key=keys.DIRTY_PARTITIONS_KEY, ConsistentRead=True).get("Item", {})
    return sorted(item.get("parts", {}).get("SS", []))


def _clean(client: Any, table: str, partition: str) -> None:
    _ddb(
        client.update_item,
        TableName=table,
        Key=keys.DIRTY_PARTITIONS_KEY,
        UpdateExpression="DELETE parts :p",
        ExpressionAttributeValues={":p": {"SS": [partition]}},
    )


def dedup_keys(dataset: str, table: pa.Table) -> Any:
    if dataset == "events":
        return dedup.keys_of(table)
    cols = [pc.cast(table.column(c), pa.string()) for c in ("app_id", "received_at", "event_index", "raw")]
    return pc.binary_join_element_wise(*[pc.fill_null(c, "") for c in cols], dedup.SEP)


def merged(dataset: str, tables: list[pa.Table]) -> pa.Table:
    schema = SCHEMAS[dataset]
    table = pa.concat_tables([transform.conform(t, schema) for t in tables])
    if table.num_rows == 0:
        return table
    # One row per identity, the earliest received; then in time order for good row-group stats.
    ordered = table.sort_by([("received_at", "ascending")])
    out = dedup.first_per_key(ordered, dedup_keys(dataset, ordered))
    time_col = "event_time" if dataset == "events" else "received_at"
    return out.sort_by([(time_col, "ascending")])


def _output_key(partition_prefix: str, inputs: list[str]) -> str:
    digest = hashlib.sha256("\n".join(sorted(inputs)).encode()).hexdigest()[:16]
    return f"{partition_prefix}compacted-{digest}.parquet"


def _dataset_of(partition_prefix: str, prefix: str) -> str:
    for dataset in layout.DATASETS:
        if partition_prefix.startswith(layout.dataset_prefix(prefix, dataset)):
            return dataset
    raise ValueError(f"{partition_prefix!r} is not under a dataset of the lake prefix {prefix!r}")


def merge_into(
    lake: Lake, client: Any, settings: Settings, partition_prefix: str, inputs: list[str], crash: Callable[[str], None]
) -> str:
    """Run the intent protocol for ``inputs`` → one output in ``partition_prefix``."""
    output = _output_key(partition_prefix, inputs)
    _ddb(
        client.put_item,
        TableName=settings.table,
        Item={
            **keys.compaction_intent_key(partition_prefix),
            "inputs": {"S": json.dumps(sorted(inputs))},
            "output": {"S": output},
        },
    )
    crash("compact_after_intent")
    _complete(lake, client, settings, partition_prefix, sorted(inputs), output, crash)
    return output


def _complete(
    lake: Lake,
    client: Any,
    settings: Settings,
    partition_prefix: str,
    inputs: list[str],
    output: str,
    crash: Callable[[str], None],
) -> None:
    dataset = _dataset_of(partition_prefix, settings.lake_prefix)
    if not lake.exists(output):
        present = [k for k in inputs if lake.exists(k)]
        if present:
            lake.put_table(output, merged(dataset, [lake.read_table(k) for k in present]))
        else:
            # Neither the output nor any input: the output was written and every input deleted
            # (step 3 done), then work under the lease moved or removed the output's rows (an
            # erasure's rewrite, retention's removal of the day). Those rows are where that work
            # left them; writing anything here would bring back or double them. Only the intent
            # is left to finish, so a later run never stops on it.
            log.warning(json.dumps({"msg": "compaction intent with neither output nor inputs; dropped", "output": output}))
    crash("compact_after_output")
    to_delete = [k for k in inputs if k != output]
    if to_delete:
        lake.delete(to_delete)
    crash("compact_after_delete")
    _ddb(client.delete_item, TableName=settings.table, Key=keys.compaction_intent_key(partition_prefix))


def resume(lake: Lake, client: Any, settings: Settings, crash: Callable[[str], None]) -> int:
    """Complete every intent a crashed run left behind. Returns how many."""
    resp = _ddb(
        client.query,
        TableName=settings.table,
        **keys.partition_query(keys.COMPACTION_PK),
        ConsistentRead=True,
    )
    for item in resp.get("Items", []):
        _complete(lake, client, settings, keys.sort_value(item), json.loads(item["inputs"]["S"]), item["output"]["S"], crash)
    return len(resp.get("Items", []))


def compact_closed(
    lake: Lake, client: Any, settings: Settings, now_ms: int, crash: Callable[[str], None], min_files: int = 2
) -> int:
    """Merge the files of each dirty partition whose day (UTC) is over. Returns partitions merged."""
    today = datetime.fromtimestamp(now_ms / 1000, tz=timezone.utc).date()
    merged_count = 0
    for partition in dirty_partitions(client, settings.table):
        dataset, app_id, dt = partition.split("/")
        if datetime.strptime(dt, "%Y-%m-%d").date() >= today:
            continue
        prefix = layout.partition_prefix(settings.lake_prefix, dataset, app_id, dt)
        files = sorted(o["Key"] for o in lake.list(prefix) if o["Key"].endswith(".parquet"))
        if len(files) >= min_files:
            merge_into(lake, client, settings, prefix, files, crash)
            merged_count += 1
        _clean(client, settings.table, partition)
    return merged_count
