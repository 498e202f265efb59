"""Cookieless mode through the API: no anonymous_id in, a daily visitor id out, no raw IP stored."""

from __future__ import annotations

import json
import time
import uuid

from chalice.test import Client

from chalicelib import clients
from chalicelib.lake.rows import decode_row
from chalicelib.store.apps import AppStore

CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"


def post(client, key, ua, **fields):
    body = {
        "event_id": uuid.uuid4().hex,
        "event_type": "page_view",
        "timestamp": int(time.time() * 1000),
        "url": "https://a.example/",
        **fields,
    }
    return client.http.post(
        f"/v1/events?key={key}", headers={"Content-Type": "text/plain", "User-Agent": ua}, body=json.dumps(body)
    )


def stored_rows(settings):
    items = clients.dynamodb(settings).scan(TableName=settings.table)["Items"]
    return [decode_row(i["d"]["S"]) for i in items if i["pk"]["S"].startswith("e#")]


def test_events_without_anonymous_id_get_one_stable_id_per_visitor_and_day(use_settings):
    import app as app_module

    _, key = AppStore(clients.dynamodb(use_settings), use_settings.table).create_app("Cookieless", app_id="nocookie")
    with Client(app_module.app) as client:
        for ua in (CHROME, CHROME, FIREFOX):
            response = post(client, key, ua)
            assert response.status_code == 200 and response.json_body["accepted"] == 1
        assert post(client, key, CHROME, anonymous_id="from-local-storage").status_code == 200
    ids = [row["anonymous_id"] for row in stored_rows(use_settings)]
    derived = [i for i in ids if i.startswith("ck-")]
    assert len(derived) == 3 and len(set(derived)) == 2  # same browser twice: one id; another browser: another
    assert "from-local-storage" in ids  # a client-sent id is kept as is
    # the raw address never reaches the store: only the anonymised one (chalice local reports 127.0.0.1)
    assert {row.get("ip") for row in stored_rows(use_settings)} == {"127.0.0.0"}
    assert "127.0.0.1" not in json.dumps(clients.dynamodb(use_settings).scan(TableName=use_settings.table)["Items"])
