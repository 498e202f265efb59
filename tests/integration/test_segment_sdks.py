"""The real Segment and RudderStack SDKs, unmodified but for their host, against the dev server.

segment-analytics-python (Basic auth, JSON), rudder-sdk-python (its default gzip body) and
@segment/analytics-node (batches of 15) each send every kind of message; after one export,
`clickstream query` finds each message exactly once with its messageId as event_id.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from chalicelib import clients, services
from chalicelib.export.run import Exporter
from chalicelib.settings import Settings, from_env, get_settings
from chalicelib.store.apps import AppStore
from clickstream.localstack import free_port
from clickstream.query import query
from clickstream.target import ROOT

TRACKS = 36  # "a batch of dozens of tracks"


@pytest.fixture
def server(
    settings: Settings, stack_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, str, Settings]]:
    """`make run`'s server (clickstream.devserver.serve) on a free port, and a key of a fresh app."""
    from app import app as chalice_app
    from clickstream.devserver import serve

    env = {**stack_env, "CLICKSTREAM_DATA_DIR": str(tmp_path)}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    services.app_store.cache_clear()
    cli_settings = from_env(env)
    _, key = AppStore(clients.dynamodb(cli_settings), cli_settings.table, cache_seconds=0).create_app("SDKs", app_id="sdks")
    port = free_port()
    httpd = serve(chalice_app, "127.0.0.1", port, {})
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}", key, cli_settings
    httpd.shutdown()
    get_settings.cache_clear()
    services.app_store.cache_clear()


def _python_sdk(client: Any, prefix: str) -> list[str]:
    """Every kind of message through a Python SDK client; returns the messageIds sent."""
    ids = [f"{prefix}-{kind}-{uuid.uuid4().hex[:8]}" for kind in ("identify", "group", "alias", "page", "screen")]
    client.identify("user-1", {"email": "ada@example.com", "plan": "pro"}, message_id=ids[0])
    client.group("user-1", "acme", {"name": "Acme Inc."}, message_id=ids[1])
    client.alias("anon-1", "user-1", message_id=ids[2])
    client.page(
        "user-1",
        "Docs",
        "Getting started",
        {"url": "https://shop.example/docs?utm_source=sdk", "title": "Docs"},
        message_id=ids[3],
    )
    client.screen("user-1", "Checkout", "Cart", {"items": 2}, message_id=ids[4])
    for i in range(TRACKS):
        ids.append(f"{prefix}-track-{i}-{uuid.uuid4().hex[:8]}")
        client.track("user-1", "Item Viewed", {"i": i}, message_id=ids[-1])
    client.flush()
    client.join()
    return ids


def _query(sql: str) -> list[dict[str, Any]]:
    result = CliRunner().invoke(query, [sql, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _export_and_check(settings: Settings, ids: list[str]) -> list[dict[str, Any]]:
    Exporter(
        settings.with_(settle_seconds=0), clients.dynamodb(settings), clients.s3(settings), clock=lambda: time.time() + 1
    ).run_once()
    found = _query(
        "SELECT event_id, event_type, event_name, user_id, group_id, previous_id, traits, path, utm_source, is_bot "
        "FROM events WHERE app_id = 'sdks' ORDER BY event_id"
    )
    assert sorted(r["event_id"] for r in found) == sorted(ids)  # each message once, messageId as event_id
    by_type = {r["event_type"] for r in found}
    assert by_type == {"identify", "group", "alias", "page_view", "screen_view", "custom"}
    assert not any(r["is_bot"] for r in found)  # a server-side SDK's HTTP client is no bot
    return found


def test_segment_analytics_python_sends_every_kind_of_message(server: tuple[str, str, Settings]) -> None:
    from segment.analytics.client import Client

    url, key, settings = server
    errors: list[Any] = []
    client = Client(key, host=url, on_error=lambda e, batch: errors.append(e), max_retries=1)

    ids = _python_sdk(client, "seg")

    assert errors == []
    found = _export_and_check(settings, ids)
    group = next(r for r in found if r["event_type"] == "group")
    assert (group["group_id"], json.loads(group["traits"])) == ("acme", {"name": "Acme Inc."})
    page = next(r for r in found if r["event_type"] == "page_view")
    assert (page["path"], page["utm_source"], page["event_name"]) == ("/docs", "sdk", "Getting started")
    alias = next(r for r in found if r["event_type"] == "alias")
    assert alias["previous_id"] == "anon-1"
    # The users view: each user_id's latest traits.
    [user] = _query("SELECT user_id, traits FROM users WHERE app_id = 'sdks'")
    assert (user["user_id"], json.loads(user["traits"])) == ("user-1", {"email": "ada@example.com", "plan": "pro"})


def test_rudder_sdk_python_sends_gzip_by_default(server: tuple[str, str, Settings]) -> None:
    from rudderstack.analytics.client import Client

    url, key, settings = server
    errors: list[Any] = []
    client = Client(key, host=url, on_error=lambda e, batch: errors.append(e), max_retries=1)
    assert client.gzip is True  # the default this test is about

    ids = _python_sdk(client, "rud")

    assert errors == []
    _export_and_check(settings, ids)


NODE_SCRIPT = r"""
const { Analytics } = require('@segment/analytics-node')
const [host, writeKey, prefix, tracks] = process.argv.slice(1)
const analytics = new Analytics({ writeKey, host, maxRetries: 1, flushInterval: 200 })
const ids = []
const errors = []
analytics.on('error', (e) => errors.push(String(e && (e.reason || e.message || e.code))))
const id = (kind) => { const m = `${prefix}-${kind}-${ids.length}`; ids.push(m); return m }
analytics.identify({ userId: 'user-1', traits: { plan: 'pro' }, messageId: id('identify') })
analytics.group({ userId: 'user-1', groupId: 'acme', traits: { name: 'Acme' }, messageId: id('group') })
analytics.alias({ userId: 'user-1', previousId: 'anon-1', messageId: id('alias') })
analytics.page({ userId: 'user-1', name: 'Home', properties: { url: 'https://shop.example/' }, messageId: id('page') })
analytics.screen({ userId: 'user-1', name: 'Cart', messageId: id('screen') })
for (let i = 0; i < Number(tracks); i++) {
  analytics.track({ anonymousId: 'anon-1', event: 'Item Viewed', properties: { i }, messageId: id('track') })
}
analytics.closeAndFlush({ timeout: 20000 }).then(() => { console.log(JSON.stringify({ ids, errors })) })
"""


def test_segment_analytics_node_sends_every_kind_of_message(server: tuple[str, str, Settings]) -> None:
    url, key, settings = server

    done = subprocess.run(
        ["node", "-e", NODE_SCRIPT, url, key, "node", str(TRACKS)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["errors"] == []
    _export_and_check(settings, result["ids"])


IMPORT_SCRIPT = r"""
const { Analytics } = require('@segment/analytics-node')
const [host, writeKey, timestamp] = process.argv.slice(1)
const analytics = new Analytics({ writeKey, host, path: '/v1/import', maxRetries: 1 })
const errors = []
analytics.on('error', (e) => errors.push(String(e && (e.reason || e.message || e.code))))
analytics.track({ userId: 'user-1', event: 'Order Completed', timestamp: new Date(timestamp), messageId: 'import-old-1' })
analytics.closeAndFlush({ timeout: 20000 }).then(() => console.log(JSON.stringify({ errors })))
"""


def test_history_through_v1_import_lands_in_its_own_day(server: tuple[str, str, Settings]) -> None:
    url, key, settings = server
    old = datetime.now(UTC) - timedelta(days=40)

    done = subprocess.run(
        ["node", "-e", IMPORT_SCRIPT, url, key, old.isoformat()],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1])["errors"] == []
    Exporter(
        settings.with_(settle_seconds=0), clients.dynamodb(settings), clients.s3(settings), clock=lambda: time.time() + 1
    ).run_once()
    [row] = _query("SELECT event_id, dt, event_time, received_at FROM events WHERE app_id = 'sdks'")
    assert (row["event_id"], row["dt"]) == ("import-old-1", old.strftime("%Y-%m-%d"))
