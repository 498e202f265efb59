"""A random secret kept in one item, created by whoever needs it first.

Concurrent creators race with a conditional put; the loser reads and uses the winner's,
so every function instance agrees on one secret (daily salts, the ledger key).
"""

from __future__ import annotations

import secrets
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.store import keys


def get_or_create(
    client: Any, table: str, key: dict[str, Any], attr: str, extra: dict[str, Any] | None = None
) -> tuple[bytes, bool]:
    """(the 32-byte secret, whether this call created it). Boto errors propagate to the caller to wrap."""
    item = client.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
    if item:
        return bytes.fromhex(item[attr]["S"]), False
    secret = secrets.token_bytes(32)
    try:
        client.put_item(
            TableName=table,
            Item={**key, attr: {"S": secret.hex()}, **(extra or {})},
            ConditionExpression=keys.ITEM_ABSENT,
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
        return get_or_create(client, table, key, attr, extra)[0], False  # another creator won: use theirs
    return secret, True
