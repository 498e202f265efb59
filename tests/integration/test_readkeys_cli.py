"""`clickstream apps read-key create|list|revoke` against the local stack: shown once, stored hashed."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

import pytest
from click.testing import CliRunner, Result

from chalicelib import clients
from chalicelib.errors import UnknownKey
from chalicelib.settings import Settings, from_env
from chalicelib.store.readkeys import KeyRefused, ReadKeyStore
from clickstream.admin.tables import ensure_table
from clickstream.cli import main
from tests.readback import scan_all

Cli = Callable[..., Result]


@pytest.fixture
def table(stack_env: dict[str, str]) -> Settings:
    settings = from_env(stack_env)
    ensure_table(clients.dynamodb(settings), settings.table)
    return settings


@pytest.fixture
def cli(stack_env: dict[str, str], table: Settings) -> Cli:
    runner = CliRunner()
    return lambda *args: runner.invoke(main, list(args), env=stack_env, catch_exceptions=False)


def test_create_list_revoke(cli: Cli, table: Settings) -> None:
    # GIVEN an app and a read key for it that expires in a day
    app_id = json.loads(cli("apps", "create", "Shop", "--origin", "https://shop.example", "--json").output)["app_id"]
    created = cli("apps", "read-key", "create", app_id, "--expires-in", "1d", "--label", "wall screen", "--json")
    assert created.exit_code == 0, created.output
    key = json.loads(created.output)
    store = ReadKeyStore(clients.dynamodb(table), table.table, cache_seconds=0)

    # THEN it reads the app's live view, and only its SHA-256 is stored
    assert store.resolve(key["read_key"], "live", app_id).app_id == app_id
    stored = json.dumps(scan_all(table))
    assert key["read_key"] not in stored and hashlib.sha256(key["read_key"].encode()).hexdigest() in stored
    listed = json.loads(cli("apps", "read-key", "list", app_id, "--json").output)
    assert [(k["prefix"], k["label"], k["revoked_at"]) for k in listed] == [(key["prefix"], "wall screen", None)]
    assert listed[0]["expires_at"] - listed[0]["created_at"] == 86_400_000

    # WHEN it is revoked by its listed prefix
    revoked = cli("apps", "read-key", "revoke", key["prefix"])

    # THEN it is refused, and the list says so
    assert revoked.exit_code == 0 and app_id in revoked.output
    with pytest.raises(KeyRefused, match="revoked"):
        store.resolve(key["read_key"], "live", app_id)
    assert "revoked" in cli("apps", "read-key", "list").output


def test_a_key_for_a_missing_app_or_with_a_bad_expiry_is_an_error(cli: Cli) -> None:
    missing = cli("apps", "read-key", "create", "no-such-app")
    assert missing.exit_code == 2 and "no app 'no-such-app'" in missing.output
    app_id = json.loads(cli("apps", "create", "Blog", "--any-origin", "--json").output)["app_id"]
    bad = cli("apps", "read-key", "create", app_id, "--expires-in", "soon")
    assert bad.exit_code == 2 and "30m, 12h or 7d" in bad.output


def test_a_write_key_never_resolves_as_a_read_key(cli: Cli, table: Settings) -> None:
    write_key = json.loads(cli("apps", "create", "Docs", "--any-origin", "--json").output)["write_key"]
    with pytest.raises(UnknownKey, match="never a write key"):
        ReadKeyStore(clients.dynamodb(table), table.table).resolve(write_key, "live")
