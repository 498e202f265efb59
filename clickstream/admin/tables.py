"""Creates the table and the lake bucket when they are missing (local stack and tests).

In AWS the deploy template owns both; these functions are then no-ops that only check.
"""

from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.store.keys import PK, SK


def ensure_table(client: Any, table: str, wait_s: float = 30.0) -> bool:
    """Create the single table if missing; True if it was created."""
    try:
        client.describe_table(TableName=table)
        return False
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
    try:
        client.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": PK, "KeyType": "HASH"}, {"AttributeName": SK, "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": PK, "AttributeType": "S"},
                {"AttributeName": SK, "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceInUseException":
            raise
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if client.describe_table(TableName=table)["Table"]["TableStatus"] == "ACTIVE":
            return True
        time.sleep(0.05)
    raise TimeoutError(f"table {table} did not become ACTIVE within {wait_s}s")


def ensure_bucket(client: Any, bucket: str) -> bool:
    try:
        client.head_bucket(Bucket=bucket)
        return False
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in ("404", "NoSuchBucket", "NotFound"):
            raise
    client.create_bucket(Bucket=bucket)
    return True
