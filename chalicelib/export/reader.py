"""Reads items received in a window with DynamoDB Query, fast.

botocore parses a Query response item by item through its shape model (~15k items/s per
core). The export only needs each item's ``d`` string, so this reader sends the Query as
the ingest sends BatchWriteItem (``chalicelib.store.raw``: signed JSON over botocore's own
HTTP session, parsed with orjson): the DynamoDB API is JSON over HTTPS, nothing more.
Partitions are read in parallel threads (network waits release the GIL). Each page's lines
become one block of bytes (``transform.Blocks``) that the CSV reader streams as it is.
"""

from __future__ import annotations

import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

from botocore.exceptions import BotoCoreError

from chalicelib.errors import StorageRefused, StorageUnavailable
from chalicelib.lake.transform import Blocks
from chalicelib.store import keys
from chalicelib.store.raw import RawCallError, RawDynamoDB


@dataclass(frozen=True)
class KeyRange:
    """One partition key and a sort-key range, both ends exclusive of real keys."""

    pk: str
    sk_from: str
    sk_to: str


class RawQuery:
    """Query over signed raw HTTP, sharing the boto3 client's endpoint, region and credentials."""

    def __init__(self, client: Any, table: str, attempts: int = 8, sleep: Callable[[float], None] = time.sleep) -> None:
        self._table = table
        self._attempts = attempts
        self._sleep = sleep
        # The ingest's raw caller: its SigV4 for this one request shape (the day's signing key
        # cached) costs a fraction of botocore's general signer, which was most of the CPU of
        # a Query that finds nothing (a backlog's lookback is mostly empty hours).
        self._raw = RawDynamoDB(client)

    def _post(self, payload: dict[str, Any]) -> dict[str, Any]:
        last = ""
        for attempt in range(self._attempts):
            try:
                return self._raw.call("Query", payload)
            except BotoCoreError as exc:
                last = str(exc)
            except RawCallError as exc:
                last = str(exc)
                if not exc.retryable:
                    raise StorageRefused(f"DynamoDB Query on {self._table} failed: {last}; a retry will not help") from exc
            self._sleep(random.random() * min(2.0, 0.05 * 2**attempt))
        raise StorageUnavailable(f"DynamoDB Query on {self._table} kept failing after {self._attempts} attempts: {last}")

    def _range(self, key_range: KeyRange) -> dict[str, Any]:
        return {
            "TableName": self._table,
            **keys.range_query(key_range.pk, key_range.sk_from, key_range.sk_to),
        }

    def _pages(self, payload: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Each page of the Query, following LastEvaluatedKey (the raw call has no paginator)."""
        payload = dict(payload)
        while True:
            page = self._post(payload)
            yield page
            last_key = page.get("LastEvaluatedKey")
            if not last_key:
                return
            payload["ExclusiveStartKey"] = last_key

    def read(self, key_range: KeyRange, on_page: Callable[[int], None] | None = None) -> Blocks:
        """Every ``d`` in the range, in sort-key order."""
        out = Blocks()
        for page in self._pages({**self._range(key_range), "ProjectionExpression": keys.DATA, "ConsistentRead": True}):
            items = page.get("Items", [])
            out.add([item[keys.DATA]["S"] for item in items])
            if on_page:
                on_page(len(items))
        return out

    def count(self, key_range: KeyRange) -> int:
        return sum(int(page.get("Count", 0)) for page in self._pages({**self._range(key_range), "Select": "COUNT"}))

    def read_many(self, ranges: Iterable[KeyRange], threads: int = 8, on_page: Callable[[int], None] | None = None) -> Blocks:
        """Every ``d`` in the ranges, range after range, each in sort-key order."""
        ranges = list(ranges)
        out = Blocks()
        if not ranges:
            return out
        with ThreadPoolExecutor(max_workers=min(threads, len(ranges))) as pool:
            for part in pool.map(lambda r: self.read(r, on_page), ranges):
                out.extend(part)
        return out

    def count_many(self, ranges: Iterable[KeyRange], threads: int = 8) -> list[int]:
        ranges = list(ranges)
        if not ranges:
            return []
        with ThreadPoolExecutor(max_workers=min(threads, len(ranges))) as pool:
            return list(pool.map(self.count, ranges))
