"""The one table from error kinds to HTTP statuses (chalicelib/http.py)."""

from __future__ import annotations

import pytest

from chalicelib.collect.ingest import MalformedBody, PayloadTooLarge
from chalicelib.errors import ClickstreamError, ConfigError, LeaseHeld, StorageRefused, StorageUnavailable, UnknownKey
from chalicelib.http import STATUS, status_of


@pytest.mark.parametrize(
    "error, status",
    [
        (UnknownKey("k"), 401),
        (PayloadTooLarge("p"), 413),
        (MalformedBody("m"), 400),
        (StorageUnavailable("s"), 503),
        (LeaseHeld("l"), 503),
        (StorageRefused("r"), 503),
        (ConfigError("c"), 503),
        (ClickstreamError("neither kind"), 503),
    ],
)
def test_each_kind_has_its_status(error: ClickstreamError, status: int) -> None:
    assert status_of(error) == status


def test_specific_kinds_come_before_the_general_ones() -> None:
    """A later row never shadows an earlier one's subclass (the first match wins)."""
    kinds = [kind for kind, _ in STATUS]
    for i, kind in enumerate(kinds):
        assert not any(issubclass(kind, earlier) for earlier in kinds[:i]), kind
