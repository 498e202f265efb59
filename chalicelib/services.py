"""Cached factories for what the handlers need, built on first use (no module-level singletons)."""

from __future__ import annotations

from functools import lru_cache

from chalicelib import clients
from chalicelib.privacy.cookieless import SaltStore
from chalicelib.settings import Settings, get_settings
from chalicelib.store.apps import AppStore


@lru_cache(maxsize=4)
def app_store(settings: Settings | None = None) -> AppStore:
    settings = settings or get_settings()
    return AppStore(clients.dynamodb(settings), settings.table, cache_seconds=settings.key_cache_seconds)


@lru_cache(maxsize=4)
def salt_store(settings: Settings | None = None) -> SaltStore:
    settings = settings or get_settings()
    return SaltStore(clients.dynamodb(settings), settings.table)
