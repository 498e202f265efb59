"""The deletion ledger: who erased what, when, and how much — never the identifier in clear.

The identifier is kept as HMAC-SHA256 under a random ledger key created once per deployment
(item ``privacy#ledger-key``): equal requests are recognisable (idempotency, audits), but the
ledger alone does not reveal whom they were about.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.store import keys, random_secret, retry


@dataclass
class LedgerEntry:
    request_id: str
    app_id: str
    kind: str  # user_id | anonymous_id
    actor: str
    started_at: int
    finished_at: int = 0
    store_rows_removed: int = 0
    store_rejected_removed: int = 0
    lake_rows_removed: int = 0
    lake_rejected_removed: int = 0
    files_rewritten: list[str] = field(default_factory=list)
    status: str = "started"


class Ledger:
    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def _key(self) -> bytes:
        try:
            return random_secret.get_or_create(self._client, self._table, keys.LEDGER_SECRET_KEY, "secret")[0]
        except (ClientError, BotoCoreError) as exc:
            raise retry.storage_error(f"privacy ledger key unreadable: {exc}", exc) from exc

    def request_id(self, app_id: str, kind: str, value: str) -> str:
        return hmac.new(self._key(), f"{app_id}\x1f{kind}\x1f{value}".encode(), hashlib.sha256).hexdigest()

    def record(self, entry: LedgerEntry) -> None:
        item = {
            **keys.ledger_entry_key(entry.started_at, entry.request_id),
            "entry": {"S": json.dumps(asdict(entry), sort_keys=True)},
        }
        try:
            self._client.put_item(TableName=self._table, Item=item)
        except (ClientError, BotoCoreError) as exc:
            raise retry.storage_error(f"privacy ledger write failed: {exc}", exc) from exc

    def entries(self) -> list[LedgerEntry]:
        out: list[LedgerEntry] = []
        kwargs: dict[str, Any] = {"TableName": self._table, **keys.partition_query(keys.LEDGER_PK)}
        while True:
            try:
                resp = self._client.query(**kwargs)
            except (ClientError, BotoCoreError) as exc:
                raise retry.storage_error(f"privacy ledger unreadable: {exc}", exc) from exc
            out.extend(LedgerEntry(**json.loads(i["entry"]["S"])) for i in resp.get("Items", []))
            if "LastEvaluatedKey" not in resp:
                return out
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]


def now_ms() -> int:
    return int(time.time() * 1000)
