"""Durable writes of event items: BatchWriteItem in chunks of 25, retried until stored or given up.

The requests go out through ``store.raw`` (signed JSON over the boto3 client's HTTP pool),
not through botocore's shape model, which cost more CPU than the rest of ingest
(docs/decisions/0012). Retries, UnprocessedItems and the 503 are the same either way.

A 200 is only answered after this returns; if it raises ``StorageUnavailable`` the API
answers 503 and the client retries the whole batch with the same event_ids (the
export deduplicates by (app_id, event_id)).
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Sequence

from botocore.exceptions import BotoCoreError

from chalicelib.errors import StorageRefused, StorageUnavailable
from chalicelib.store import retry
from chalicelib.store.raw import RawCallError, RawDynamoDB

log = logging.getLogger(__name__)
BATCH = 25
Item = dict[str, Any]


def _chunks(items: Sequence[Item], size: int = BATCH) -> list[list[Item]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def write_chunk(
    client: Any,
    table: str,
    chunk: list[Item],
    attempts: int,
    sleep: Callable[[float], None] = retry.sleep,
) -> None:
    _batch_write(client, table, [{"PutRequest": {"Item": item}} for item in chunk], attempts, sleep, "nothing was acknowledged")


def delete_keys(
    client: Any, table: str, item_keys: Sequence[Item], attempts: int = 8, sleep: Callable[[float], None] = retry.sleep
) -> None:
    """Delete every key, 25 per BatchWriteItem, with the same retries as writes."""
    for chunk in _chunks(item_keys):
        _batch_write(
            client,
            table,
            [{"DeleteRequest": {"Key": key}} for key in chunk],
            attempts,
            sleep,
            "some items may remain; run it again",
        )


def _batch_write(
    client: Any,
    table: str,
    requests: list[Item],
    attempts: int,
    sleep: Callable[[float], None],
    consequence: str,
) -> None:
    """One BatchWriteItem of ≤ 25 requests, retrying UnprocessedItems and throttling with backoff."""
    pending = requests
    delays = retry.backoff_delays(attempts)
    last_error = "unprocessed items"
    raw = RawDynamoDB(client)
    for attempt in range(attempts):
        try:
            response = raw.call("BatchWriteItem", {"RequestItems": {table: pending}})
        except (RawCallError, BotoCoreError) as exc:
            if not retry.is_retryable(exc):
                raise StorageRefused(f"DynamoDB refused the write to {table}: {exc}; {consequence}") from exc
            last_error = str(exc)
        else:
            pending = response.get("UnprocessedItems", {}).get(table, [])
            if not pending:
                return
            last_error = f"{len(pending)} unprocessed items"
        if attempt < len(delays):
            sleep(delays[attempt])
    raise StorageUnavailable(
        f"DynamoDB table {table} still failing after {attempts} attempts ({last_error}); {consequence}",
        retry_after_s=2,
    )


def put_items(
    client: Any,
    table: str,
    items: Sequence[Item],
    attempts: int = 6,
    sleep: Callable[[float], None] = retry.sleep,
    parallel: int = 4,
) -> None:
    """Store every item or raise ``StorageUnavailable``. Chunks run in parallel threads."""
    chunks = _chunks(items)
    if len(chunks) <= 1 or parallel <= 1:
        for chunk in chunks:
            write_chunk(client, table, chunk, attempts, sleep)
        return
    with ThreadPoolExecutor(max_workers=min(parallel, len(chunks))) as pool:
        futures = [pool.submit(write_chunk, client, table, chunk, attempts, sleep) for chunk in chunks]
        errors = [f.exception() for f in futures]
    failed = [e for e in errors if e is not None]
    if failed:
        raise failed[0]
