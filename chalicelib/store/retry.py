"""Retry with capped exponential backoff and full jitter, and the boto error triage.

``is_retryable`` is the one classification of AWS failures; ``storage_error`` turns a boto
failure into our kind of error at the storage boundary, so callers decide by kind: a
``StorageUnavailable`` (transient) is worth another try, a ``StorageRefused`` (terminal) is not.
"""

from __future__ import annotations

import random
import time
from typing import Callable

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.errors import StorageRefused, StorageUnavailable

RETRYABLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "InternalFailure",
        "ServiceUnavailable",
        "TransactionInProgressException",
        "LimitExceededException",
        "SlowDown",
        "InternalError",  # S3's 500
        "RequestTimeout",  # S3: the upload was too slow
        "503",
        "500",
    }
)


def is_retryable(exc: BaseException) -> bool:
    if isinstance(getattr(exc, "retryable", None), bool):  # store.raw.RawCallError: classified where raised
        return bool(exc.retryable)  # type: ignore[attr-defined]
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code", "") in RETRYABLE_CODES
    return isinstance(exc, BotoCoreError)  # connection refused, timeouts, broken responses


def storage_error(message: str, exc: BaseException, retry_after_s: int = 1) -> StorageUnavailable | StorageRefused:
    """``message`` (what failed and its consequence) as the kind of error ``exc`` is; raise it ``from exc``."""
    if is_retryable(exc):
        return StorageUnavailable(message, retry_after_s=retry_after_s)
    return StorageRefused(message)


def backoff_delays(
    attempts: int, base_s: float = 0.05, cap_s: float = 1.0, rng: Callable[[], float] = random.random
) -> list[float]:
    """Sleeps between ``attempts`` tries: full jitter over min(cap, base * 2**n)."""
    return [rng() * min(cap_s, base_s * 2**n) for n in range(max(0, attempts - 1))]


def sleep(seconds: float) -> None:  # a seam so tests can run without waiting
    time.sleep(seconds)
