"""Test helpers for the export: store events as the API does, read the lake back."""

from __future__ import annotations

import io
import uuid
from typing import Any, Callable, Iterable, Literal

import pyarrow as pa
import pyarrow.parquet as pq

from chalicelib import clients
from chalicelib.collect.enrich import request_facts
from chalicelib.collect.ingest import plan_batch
from chalicelib.export.run import Exporter, Tuning
from chalicelib.lake import layout, rows
from chalicelib.settings import Settings
from chalicelib.store import keys
from chalicelib.store.events import put_items
from tests.factories import clicked

CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"


event = clicked  # the one event factory (tests/factories.py), preset for the export tests


def cli_env(settings: Settings) -> dict[str, str]:
    """The environment that points the ``clickstream`` CLI at ``settings``' table and bucket."""
    return {
        "CLICKSTREAM_DYNAMODB_ENDPOINT": settings.dynamodb_endpoint,
        "CLICKSTREAM_S3_ENDPOINT": settings.s3_endpoint,
        "CLICKSTREAM_TABLE": settings.table,
        "CLICKSTREAM_BUCKET": settings.bucket,
        "CLICKSTREAM_SETTLE_SECONDS": "0",
        "CLICKSTREAM_WRITE_SHARDS": str(settings.write_shards),
    }


def store(
    settings: Settings,
    events: Iterable[dict[str, Any]],
    received_ms: int,
    app_id: str = "app-a",
    request_id: str | None = None,
    item_format: Literal["current", "object"] = "current",
) -> int:
    """Store a batch exactly as POST /v1/events would at ``received_ms``. Returns accepted count.

    ``item_format="object"``: as the API wrote event items before the positional format
    (docs/decisions/0012), i.e. items still in the table from the version before.
    """
    facts = request_facts(app_id, received_ms, "81.2.69.142", {"user-agent": CHROME, "cloudfront-viewer-country": "de"})
    plan = plan_batch(list(events), facts, settings.with_(max_event_age_days=3650), request_id or uuid.uuid4().hex)
    if item_format == "object":
        for item in plan.items:
            if item[keys.PK]["S"].startswith("e#"):
                item[keys.DATA]["S"] = rows.encode_object(rows.decode_row(item[keys.DATA]["S"]))
    put_items(clients.dynamodb(settings), settings.table, plan.items, attempts=3)
    return plan.accepted


def lake_files(settings: Settings, dataset: str = "events") -> list[str]:
    s3 = clients.s3(settings)
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=settings.bucket, Prefix=layout.dataset_prefix(settings.lake_prefix, dataset)
    ):
        keys.extend(o["Key"] for o in page.get("Contents", []))
    return sorted(keys)


def read_lake(settings: Settings, dataset: str = "events") -> pa.Table:
    s3 = clients.s3(settings)
    tables = []
    for key in lake_files(settings, dataset):
        body = s3.get_object(Bucket=settings.bucket, Key=key)["Body"].read()
        table = pq.read_table(io.BytesIO(body))
        dt = layout.partition_of(key)[1]
        tables.append(table.append_column("dt", pa.array([dt] * table.num_rows)))
    if not tables:
        return pa.table({})
    return pa.concat_tables(tables, promote_options="default")


def rollup_exporter(settings: Settings, now_ms: int, crash: Callable[[str], None] = lambda _: None) -> Exporter:
    """An exporter over the local servers whose clock stands at ``now_ms``: no settle delay (the
    tests export only after every write returned), a short lease, ``crash`` at its crash points."""
    return Exporter(
        settings.with_(settle_seconds=0),
        clients.dynamodb(settings),
        clients.s3(settings),
        clock=lambda: now_ms / 1000,
        crash=crash,
        tuning=Tuning(lease_ms=2_000),
    )
