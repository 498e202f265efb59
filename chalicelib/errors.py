"""One error root with two kinds, so callers decide by kind, not by class list.

* ``TransientError``: a retry may succeed (throttling, a server that is down).
* ``TerminalError``: retrying the same input fails again; fix the data or the config.
"""

from __future__ import annotations


class ClickstreamError(Exception):
    """Root of every error this project raises on purpose."""


class TransientError(ClickstreamError):
    """A retry may help: storage throttled or unreachable, a lease held by another run."""


class TerminalError(ClickstreamError):
    """A retry will not help: bad input, bad configuration, a missing resource."""


class StorageUnavailable(TransientError):
    """DynamoDB or S3 kept failing after our retries; nothing was acknowledged."""

    def __init__(self, message: str, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class StorageRefused(TerminalError):
    """DynamoDB or S3 refused a request that a retry would not change: access denied, a missing
    table or bucket, an invalid item. Someone has to fix the deployment or the data."""


class ConfigError(TerminalError):
    """A setting is missing or malformed."""


class UnknownKey(TerminalError):
    """The write key is missing, unknown or revoked."""


class LeaseHeld(TransientError):
    """Another export run holds the lease; this run exits without exporting."""
