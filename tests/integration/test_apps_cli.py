"""`clickstream apps create|list|revoke` against the local stack; keys are only ever stored hashed."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest
from click.testing import CliRunner, Result

from chalicelib import clients
from chalicelib.errors import UnknownKey
from chalicelib.settings import Settings, from_env
from chalicelib.store.apps import AppStore
from clickstream.admin.tables import ensure_table
from clickstream.cli import main
from clickstream.target import ROOT
from tests.readback import scan_all

Cli = Callable[..., Result]


@pytest.fixture
def table(stack_env: dict[str, str]) -> Settings:
    settings = from_env(stack_env)
    ensure_table(clients.dynamodb(settings), settings.table)
    return settings


@pytest.fixture
def cli(stack_env: dict[str, str], table: Settings) -> Cli:
    """Runs the CLI the way a shell would, with the test's table in the environment (clickstream/target.py)."""
    runner = CliRunner()

    def run(*args: str) -> Result:
        return runner.invoke(main, list(args), env=stack_env, catch_exceptions=False)

    return run


def store(settings: Settings) -> AppStore:
    return AppStore(clients.dynamodb(settings), settings.table, cache_seconds=0)


def test_create_with_json_prints_the_app_id_and_a_key_that_works(cli: Cli, table: Settings) -> None:
    result = cli("apps", "create", "My Shop", "--origin", "https://shop.example", "--origin", "https://Blog.Example/", "--json")

    assert result.exit_code == 0, result.output
    created = json.loads(result.output)
    assert created["app_id"].startswith("my-shop-") and created["write_key"].startswith("cs_")
    assert created["origins"] == ["https://blog.example", "https://shop.example"]
    assert (created["name"], created["ip_mode"]) == ("My Shop", "anonymize")
    assert store(table).resolve(created["write_key"]).app_id == created["app_id"]


def test_create_without_json_prints_both_for_a_person(cli: Cli) -> None:
    result = cli("apps", "create", "Blog", "--any-origin", "--app-id", "blog", "--ip-mode", "drop")

    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0].split() == ["app_id:", "blog"]
    assert lines[1].startswith("write_key: cs_")
    assert "stored hashed" in result.output


def test_keys_are_stored_hashed_and_never_in_clear(cli: Cli, table: Settings) -> None:
    # GIVEN two apps and a second key
    first = json.loads(cli("apps", "create", "A", "--any-origin", "--json").output)
    second = json.loads(cli("apps", "create", "B", "--origin", "https://b.example", "--json").output)
    extra = store(table).add_key(second["app_id"])
    clear_keys = [first["write_key"], second["write_key"], extra]

    # WHEN everything in the table is read
    items = scan_all(table)
    text = json.dumps(items)

    # THEN no item holds a key in clear, each key is there as its SHA-256
    assert not any(key in text for key in clear_keys)
    key_items = {i["sk"]["S"]: i for i in items if i["pk"]["S"] == "keys"}
    assert set(key_items) == {hashlib.sha256(k.encode()).hexdigest() for k in clear_keys}
    assert all(len(i["prefix"]["S"]) == 8 for i in key_items.values())


def test_list_shows_apps_origins_and_key_prefixes(cli: Cli) -> None:
    created = json.loads(cli("apps", "create", "Shop", "--app-id", "shop", "--origin", "https://shop.example", "--json").output)

    text = cli("apps", "list").output
    listed = json.loads(cli("apps", "list", "--json").output)

    assert "shop" in text and "https://shop.example" in text and created["write_key"][:8] + "…" in text
    [app] = listed
    assert (app["app_id"], app["origins"], app["ip_mode"]) == ("shop", ["https://shop.example"], "anonymize")
    assert [(k["prefix"], k["revoked"]) for k in app["keys"]] == [(created["write_key"][:8], False)]


def test_list_without_apps_says_how_to_create_one(cli: Cli) -> None:
    assert cli("apps", "list").output.startswith("no apps yet")


def test_revoke_stops_the_key_and_list_shows_it(cli: Cli, table: Settings) -> None:
    created = json.loads(cli("apps", "create", "Shop", "--any-origin", "--app-id", "shop", "--json").output)

    result = cli("apps", "revoke", created["write_key"])

    assert result.exit_code == 0 and result.output.strip() == "revoked a key of shop"
    with pytest.raises(UnknownKey):
        store(table).resolve(created["write_key"])
    [app] = json.loads(cli("apps", "list", "--json").output)
    assert app["keys"][0]["revoked"] is True
    assert "keys: none" in cli("apps", "list").output


def test_revoke_accepts_the_keys_hash(cli: Cli, table: Settings) -> None:
    created = json.loads(cli("apps", "create", "Shop", "--any-origin", "--json").output)

    result = cli("apps", "revoke", hashlib.sha256(created["write_key"].encode()).hexdigest())

    assert result.exit_code == 0
    with pytest.raises(UnknownKey):
        store(table).resolve(created["write_key"])


@pytest.mark.parametrize(
    "args, message",
    [
        (["apps", "revoke", "cs_never-issued"], "error: no such write key; nothing was revoked"),
        (
            ["apps", "create", "Shop", "--origin", "shop.example"],
            "error: origin 'shop.example' must look like https://example.com",
        ),
        (["apps", "create", "Shop", "--any-origin", "--app-id", "Not Valid"], "error: app id 'Not Valid' must be lower-case"),
        (["apps", "create", "  ", "--any-origin"], "error: app name must not be empty"),
    ],
    ids=["unknown-key", "origin-without-scheme", "bad-app-id", "empty-name"],
)
def test_mistakes_are_one_line_errors_with_exit_code_2(cli: Cli, args: list[str], message: str) -> None:
    result = cli(*args)

    assert result.exit_code == 2
    assert result.stderr.startswith(message)


def test_create_requires_the_browser_origins_to_be_said_out_loud(cli: Cli, table: Settings) -> None:
    result = cli("apps", "create", "Shop")

    assert result.exit_code == 2
    assert "--origin" in result.output and "--any-origin" in result.output
    assert store(table).list_apps() == []


def test_origin_and_any_origin_together_are_refused(cli: Cli) -> None:
    result = cli("apps", "create", "Shop", "--origin", "https://shop.example", "--any-origin")

    assert result.exit_code == 2 and "not both" in result.output


def test_create_prints_the_final_app_id_and_what_it_allows(cli: Cli) -> None:
    derived = cli("apps", "create", "demo", "--any-origin")
    listed = cli("apps", "create", "Shop", "--app-id", "shop", "--origin", "https://shop.example")

    assert derived.exit_code == 0 and listed.exit_code == 0
    app_id = derived.output.splitlines()[0].split()[1]
    assert app_id.startswith("demo-") and "not `demo`" in derived.output and "--app-id" in derived.output
    assert "origins:   any (--any-origin)" in derived.output
    assert "origins:   https://shop.example" in listed.output and "not `" not in listed.output


def test_creating_an_existing_app_id_fails(cli: Cli) -> None:
    assert cli("apps", "create", "Shop", "--any-origin", "--app-id", "shop").exit_code == 0

    result = cli("apps", "create", "Shop again", "--any-origin", "--app-id", "shop")

    assert result.exit_code == 2 and "already exists" in result.stderr


def test_the_installed_command_works_end_to_end(stack_env: dict[str, str], table: Settings) -> None:
    command = Path(sys.executable).parent / "clickstream"
    env = {**os.environ, **stack_env}

    created = subprocess.run(
        [str(command), "apps", "create", "Shop", "--any-origin", "--json"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert created.returncode == 0, created.stderr
    app_id = json.loads(created.stdout)["app_id"]
    assert store(table).get_app(app_id) is not None
