"""Fixtures for the collection API tests: a chalice test client bound to a fresh table, and apps.

The handlers read their settings through ``get_settings()`` (the environment, as on
Lambda); ``api`` pins that cached object before the first request, so the test reads
back with exactly the settings the handler wrote with (table, shard count) even though
chalice's test client adds the stage's variables from .chalice/config.json.
"""

from __future__ import annotations

from typing import Iterator

import pytest
from chalice.test import Client

from app import app as chalice_app
from chalicelib import clients, services
from chalicelib.settings import get_settings
from chalicelib.store.apps import AppStore
from clickstream.admin.tables import ensure_table
from clickstream.target import ROOT
from tests.apiclient import SHOP_ORIGIN, Api, AppWithKey


@pytest.fixture
def api(stack_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    """Like ``use_settings`` without the lake bucket, which the API never touches."""
    for name, value in stack_env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    services.app_store.cache_clear()
    settings = get_settings()  # pinned: the handlers now use this very object
    ensure_table(clients.dynamodb(settings), settings.table)
    with Client(chalice_app, stage_name="local", project_dir=str(ROOT)) as client:
        yield Api(client, settings)
    get_settings.cache_clear()
    services.app_store.cache_clear()


@pytest.fixture
def app_store(api: Api) -> AppStore:
    return AppStore(clients.dynamodb(api.settings), api.settings.table, cache_seconds=0)


@pytest.fixture
def shop(app_store: AppStore) -> AppWithKey:
    """An app that allows one browser origin."""
    return AppWithKey(*app_store.create_app("Shop", [SHOP_ORIGIN]))


@pytest.fixture
def open_app(app_store: AppStore) -> AppWithKey:
    """An app without an allow-list: every origin may send."""
    return AppWithKey(*app_store.create_app("Open"))
