"""The collection API as tests call it: chalice's test client plus the settings the handlers use."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from chalice.test import Client, HTTPResponse

from chalicelib import services
from chalicelib.settings import Settings, get_settings
from chalicelib.store.apps import App
from tests.factories import USER_AGENTS, body

SHOP_ORIGIN = "https://shop.example"


@dataclass
class Api:
    client: Client
    settings: Settings  # the very object the handlers got from get_settings()

    @property
    def http(self) -> Any:
        return self.client.http

    def post_events(
        self,
        payload: Any = None,
        *,
        raw: bytes | None = None,
        key: str | None = None,
        query: str = "",
        content_type: str | None = "application/json",
        headers: dict[str, str] | None = None,
    ) -> HTTPResponse:
        """POST /v1/events as a browser would: a user agent, the key in X-Api-Key unless ``query``."""
        sent: dict[str, str] = {"User-Agent": USER_AGENTS["chrome_windows"]}
        if content_type is not None:
            sent["Content-Type"] = content_type
        if key is not None:
            sent["X-Api-Key"] = key
        sent.update(headers or {})
        data = raw if raw is not None else body(payload)
        return self.client.http.post("/v1/events" + query, headers=sent, body=data)


@dataclass(frozen=True)
class AppWithKey:
    app: App
    key: str

    @property
    def app_id(self) -> str:
        return self.app.app_id


def reconfigure(monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
    """Point the handlers somewhere else, as a redeploy with other variables would."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    services.app_store.cache_clear()
