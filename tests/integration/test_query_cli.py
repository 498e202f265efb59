"""`clickstream query` and `clickstream demo-traffic` against the local stack.

The commands read the stack from the environment, as they do under `make run`: the
endpoints, table and bucket of the test's own stack, and a data dir (the lake cache and
the saved demo key) in the test's tmp_path.
"""

from __future__ import annotations

import csv
import io
import json
import re
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import pytest
from click.testing import CliRunner

from chalicelib import clients, services
from chalicelib.export.run import Exporter
from chalicelib.settings import Settings, from_env, get_settings
from chalicelib.store.apps import AppStore
from clickstream.localstack import free_port
from clickstream.query import query
from clickstream.traffic import demo_traffic
from tests.lake_helpers import event, store

NOW = int(datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc).timestamp() * 1000)
DAY = "2026-11-20"


@pytest.fixture
def cli_env(settings: Settings, stack_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    # Two shards and a two-day TTL keep the export's first look-back (TTL + 1 days) short.
    env = {**stack_env, "CLICKSTREAM_DATA_DIR": str(tmp_path), "CLICKSTREAM_WRITE_SHARDS": "2", "CLICKSTREAM_EVENT_TTL_DAYS": "2"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return from_env(env)


@pytest.fixture
def exported(cli_env: Settings) -> Settings:
    store(
        cli_env,
        [
            event(f"e{i}", NOW - 3_600_000 + i * 60_000, event_type="page_view", url=f"https://shop.example/p{i % 2}")
            for i in range(5)
        ],
        received_ms=NOW - 1_800_000,
        app_id="demo",
    )
    Exporter(
        cli_env.with_(settle_seconds=30), clients.dynamodb(cli_env), clients.s3(cli_env), clock=lambda: NOW / 1000
    ).run_once()
    return cli_env


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(query, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_json_prints_an_array_of_row_objects(exported):
    code, out, _ = run(
        "SELECT path, count(*) AS views FROM events WHERE app_id = 'demo' GROUP BY path ORDER BY path", "--format", "json"
    )
    assert code == 0
    assert json.loads(out) == [{"path": "/p0", "views": 3}, {"path": "/p1", "views": 2}]


def test_a_named_query_with_parameters_as_csv(exported):
    code, out, _ = run(
        "top_pages", "--param", "app_id=demo", "--param", f"date_from={DAY}", "--param", f"date_to={DAY}", "--format", "csv"
    )
    assert code == 0
    assert list(csv.DictReader(io.StringIO(out))) == [
        {"path": "/p0", "page_views": "3", "visitors": "1"},
        {"path": "/p1", "page_views": "2", "visitors": "1"},
    ]


def test_table_output_and_views(exported):
    code, out, _ = run("SELECT anonymous_id, event_count, session_start FROM sessions WHERE app_id = 'demo'")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["anonymous_id", "event_count", "session_start"]
    assert lines[2].split()[:3] == ["anon-1", "5", "2026-11-20"] and lines[-1] == "(1 row)"


def test_trino_sql_is_translated_for_duckdb(exported):
    code, out, _ = run(
        "SELECT date_format(min(event_time), '%Y-%m-%d %H:%i') AS first, count_if(path = '/p0') AS p0 FROM events WHERE app_id "
        "= 'demo'",
        "--format",
        "json",
    )
    assert code == 0 and json.loads(out) == [{"first": "2026-11-20 11:00", "p0": 3}]


@pytest.mark.parametrize(
    "args, message",
    [
        (["top_pages", "--param", "app_id=demo"], "missing parameter(s): date_from, date_to"),
        (["top_pagez"], "no query named 'top_pagez'"),
        (["SELECT nope FROM events WHERE app_id = 'demo'"], "nope"),
        (["SELECT 1", "--param", "app_id=demo"], "unknown parameter(s) app_id"),
    ],
)
def test_errors_are_one_line_and_exit_2(cli_env, args, message):
    code, out, err = run(*args)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and message in err and "Traceback" not in err


def test_list_shows_queries_parameters_and_views():
    code, out, _ = run("--list")
    assert code == 0
    assert re.search(r"funnel\s+:app_id :date_from :date_to :rolled_through :steps :include_bots", out)
    assert "sessions" in out.splitlines()[-1]


@pytest.fixture
def api_server(cli_env: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The chalice app served over real HTTP, as `make run` serves it."""
    from app import app as chalice_app
    from clickstream.devserver import serve

    get_settings.cache_clear()
    services.app_store.cache_clear()
    port = free_port()
    server = serve(chalice_app, "127.0.0.1", port, {})
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()
    get_settings.cache_clear()
    services.app_store.cache_clear()


def test_demo_traffic_fills_the_demo_app_through_the_api(api_server, cli_env, tmp_path):
    # GIVEN the demo app and its key saved where `make run` saves it
    _, key = AppStore(clients.dynamodb(cli_env), cli_env.table, cache_seconds=0).create_app("Touchwood demo", app_id="demo")
    (tmp_path / "demo-app.json").write_text(json.dumps({"app_id": "demo", "write_key": key}))
    # WHEN demo-traffic posts a small plan to the running API (key from the data dir)
    result = CliRunner().invoke(demo_traffic, ["--users", "4", "--days", "2", "--endpoint", api_server, "--seed", "3"])
    assert result.exit_code == 0, result.output
    sent = int(re.match(r"sent (\d+) events", result.stdout).group(1))
    # THEN after an export every event is in the lake, with the bots flagged
    Exporter(
        cli_env.with_(settle_seconds=0), clients.dynamodb(cli_env), clients.s3(cli_env), clock=lambda: time.time() + 1
    ).run_once()
    code, out, _ = run(
        "SELECT count(*) AS events, count_if(is_bot) AS bot_events FROM events WHERE app_id = 'demo'", "--format", "json"
    )
    (row,) = json.loads(out)
    assert code == 0 and row["events"] == sent and row["bot_events"] > 0


def test_demo_traffic_without_a_key_says_how_to_get_one(cli_env):
    result = CliRunner().invoke(demo_traffic, ["--endpoint", "http://127.0.0.1:1"])
    assert result.exit_code == 1 and "make run" in result.output


def test_an_unknown_app_id_says_so_instead_of_a_row_of_zeros(exported):
    code, out, err = run("overview", "--param", "app_id=demo-typo", "--param", f"date_from={DAY}", "--param", f"date_to={DAY}")
    assert code == 2 and out == ""
    assert "demo-typo" in err and "apps list" in err


def test_an_app_with_events_in_the_lake_is_known_even_without_its_record(exported):
    code, _, err = run("overview", "--param", "app_id=demo", "--param", f"date_from={DAY}", "--param", f"date_to={DAY}")
    assert code == 0, err


def test_funnel_rows_carry_the_step_names(exported):
    code, out, _ = run(
        "funnel",
        "--param",
        "app_id=demo",
        "--param",
        f"date_from={DAY}",
        "--param",
        f"date_to={DAY}",
        "--param",
        "steps=/p0,/p1",
        "--format",
        "json",
    )
    assert code == 0
    assert [(r["step"], r["step_name"]) for r in json.loads(out)] == [(1, "/p0"), (2, "/p1")]
