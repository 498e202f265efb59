"""GET /v1/live against the local DynamoDB: counts what was just posted; read keys only."""

from __future__ import annotations

import time
from typing import Any

import pytest
from chalice.test import HTTPResponse

from chalicelib import clients
from chalicelib.live import summary
from chalicelib.store.readkeys import ReadKeyStore
from tests.apiclient import SHOP_ORIGIN, Api, AppWithKey, reconfigure
from tests.factories import batch, event, now_ms


@pytest.fixture
def live_api(api: Api, monkeypatch: pytest.MonkeyPatch) -> Api:
    reconfigure(monkeypatch, CLICKSTREAM_LIVE_CACHE_SECONDS="0")
    from chalicelib.live import view
    from chalicelib.settings import get_settings

    view.read_keys.cache_clear()
    api.settings = get_settings()
    return api


@pytest.fixture
def read_keys(live_api: Api) -> ReadKeyStore:
    return ReadKeyStore(clients.dynamodb(live_api.settings), live_api.settings.table, cache_seconds=0)


def get_live(api: Api, key: str | None, query: str = "", headers: dict[str, str] | None = None) -> HTTPResponse:
    sent = {"Authorization": f"Bearer {key}"} if key is not None else {}
    return api.http.get("/v1/live" + query, headers={**sent, **(headers or {})})


def post(api: Api, shop: AppWithKey, *events: dict[str, Any]) -> None:
    response = api.post_events(batch(*events), key=shop.key)
    assert response.status_code == 200, response.body


def test_live_counts_events_posted_a_moment_before(live_api: Api, shop: AppWithKey, read_keys: ReadKeyStore) -> None:
    # GIVEN three visitors, one of them twice, a click, and one old event delivered late
    t = now_ms()
    page = "https://shop.example{}".format
    post(
        live_api,
        shop,
        event(anonymous_id="v1", url=page("/a")),
        event(anonymous_id="v1", url=page("/b")),
        event(anonymous_id="v2", url=page("/a")),
        event(anonymous_id="v3", event_type="click", url=page("/a")),
        # an old event delivered late (imported history) does not count
        event(anonymous_id="v4", url=page("/a"), timestamp=t - 40 * 60_000),
    )
    _, key = read_keys.create(shop.app_id)

    # WHEN the live view is read
    response = get_live(live_api, key)

    # THEN it counts them at once, without an export
    assert response.status_code == 200, response.body
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json_body
    assert body["app_id"] == shop.app_id
    assert body["current"]["visitors"] == 3
    assert body["current"]["page_views"] == 3
    assert dict(map(tuple, body["top_pages"])) == {"/a": 2, "/b": 1}
    assert sum(b["page_views"] for b in body["minutes"]) == 3
    assert len(body["minutes"]) == summary.BARS and body["minutes"][-1]["start"] <= t + 60_000
    assert body["cost"]["read_units"] > 0


def test_settled_minutes_are_summarised_once_then_read_from_the_summary(
    live_api: Api, shop: AppWithKey, read_keys: ReadKeyStore
) -> None:
    # GIVEN two visitors' page views received 3 minutes ago (settled: the settle delay is 30 s)
    old = now_ms() - 3 * 60_000
    store_received(
        live_api,
        [
            {
                "event_id": f"00000000-0000-4000-8000-00000000000{i}",
                "app_id": shop.app_id,
                "event_type": "page_view",
                "event_time": old + i,
                "received_at": old + i,
                "anonymous_id": vid,
                "path": "/past",
                "country": "NL",
            }
            for i, vid in enumerate(("p1", "p2"))
        ],
    )
    _, key = read_keys.create(shop.app_id)

    # WHEN polled twice
    first = get_live(live_api, key).json_body
    second = get_live(live_api, key).json_body

    # THEN the first poll wrote the settled minutes' summaries, the second only read them
    assert first["cost"]["summaries_written"] >= 1
    assert second["cost"]["summaries_written"] == 0 and second["cost"]["summaries_read"] >= 1
    for body in (first, second):
        minute = next(b for b in body["minutes"] if b["start"] == old // 60_000 * 60_000)
        assert minute["visitors"] == 2 and minute["page_views"] == 2 and minute["settled"]
        assert ["NL", 2] in body["top_countries"]


def store_received(api: Api, rows: list[dict[str, Any]]) -> None:
    """Items as the API writes them, but stamped with an earlier received time."""
    from chalicelib.lake.rows import NAMES, encode_row
    from chalicelib.store import keys
    from chalicelib.store.events import put_items
    from chalicelib.store.items import row_item

    shards = api.settings.write_shards
    put_items(
        clients.dynamodb(api.settings),
        api.settings.table,
        [
            row_item(
                keys.partition_key("events", r["received_at"], keys.shard_of(r["event_id"], shards)),
                r["received_at"],
                r["app_id"],
                r["event_id"],
                encode_row({**dict.fromkeys(NAMES["events"]), **r}),  # enrich gives every column; absent = null
                str(r["received_at"] // 1000 + 86_400),
            )
            for r in rows
        ],
    )


def test_the_write_key_is_refused(live_api: Api, shop: AppWithKey) -> None:
    response = get_live(live_api, shop.key)

    assert response.status_code == 401
    assert "never a write key" in response.json_body["error"]


@pytest.mark.parametrize("key", [None, "", "csr_nobody-was-given-this"], ids=["missing", "empty", "unknown"])
def test_missing_and_unknown_keys_are_refused(live_api: Api, shop: AppWithKey, key: str | None) -> None:
    response = get_live(live_api, key)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_key_in_the_url_is_refused(live_api: Api, shop: AppWithKey, read_keys: ReadKeyStore) -> None:
    _, key = read_keys.create(shop.app_id)

    assert get_live(live_api, None, query=f"?key={key}").status_code == 400


def test_a_revoked_key_is_refused(live_api: Api, shop: AppWithKey, read_keys: ReadKeyStore) -> None:
    record, key = read_keys.create(shop.app_id)
    assert get_live(live_api, key).status_code == 200

    read_keys.revoke(record.prefix)

    response = get_live(live_api, key)
    assert response.status_code == 403 and "revoked" in response.json_body["error"]


def test_an_expired_key_is_refused(live_api: Api, shop: AppWithKey, read_keys: ReadKeyStore) -> None:
    _, key = read_keys.create(shop.app_id, expires_in_s=1)
    time.sleep(1.1)

    response = get_live(live_api, key)
    assert response.status_code == 403 and "expired" in response.json_body["error"]


def test_one_apps_key_cannot_read_another_app(
    live_api: Api, shop: AppWithKey, open_app: AppWithKey, read_keys: ReadKeyStore
) -> None:
    # GIVEN events in both apps and a key of the open app
    post(live_api, shop, event(anonymous_id="shopper"))
    _, key = read_keys.create(open_app.app_id)

    # THEN asking for the shop with it is refused, and by default it reads only its own app
    refused = get_live(live_api, key, query=f"?app_id={shop.app_id}")
    assert refused.status_code == 403 and "another app" in refused.json_body["error"]
    own = get_live(live_api, key).json_body
    assert own["app_id"] == open_app.app_id and own["current"]["visitors"] == 0


def test_cors_only_for_an_origin_the_app_lists(
    live_api: Api, shop: AppWithKey, open_app: AppWithKey, read_keys: ReadKeyStore
) -> None:
    _, shop_key = read_keys.create(shop.app_id)
    _, open_key = read_keys.create(open_app.app_id)

    listed = get_live(live_api, shop_key, headers={"Origin": SHOP_ORIGIN})
    other = get_live(live_api, shop_key, headers={"Origin": "https://evil.example"})
    no_list = get_live(live_api, open_key, headers={"Origin": "https://anything.example"})

    assert listed.headers["Access-Control-Allow-Origin"] == SHOP_ORIGIN
    assert "Access-Control-Allow-Origin" not in other.headers
    assert "Access-Control-Allow-Origin" not in no_list.headers  # never "*"
    preflight = live_api.http.request("OPTIONS", "/v1/live", headers={"Origin": SHOP_ORIGIN}, body=b"")
    assert preflight.headers["Access-Control-Allow-Headers"] == "Authorization"


def test_a_key_polling_too_fast_is_throttled(
    live_api: Api, shop: AppWithKey, read_keys: ReadKeyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.live import view
    from chalicelib.live.service import Throttle

    # The bucket's clock stands still: 25 polls are "too fast" however long a loaded machine
    # takes to answer them (with the real clock, 5 s of load refilled the bucket and no 429 came).
    frozen = Throttle(clock=lambda: 1000.0)
    monkeypatch.setattr(view, "_throttle", lambda: frozen)
    _, key = read_keys.create(shop.app_id)
    statuses = [get_live(live_api, key).status_code for _ in range(25)]

    assert statuses[:20] == [200] * 20
    assert 429 in statuses[20:]
    throttled = get_live(live_api, key)
    assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) >= 1


def test_the_live_view_keeps_the_api_function_light() -> None:
    """The API Lambda has no pandas layer: answering GET /v1/live must import none of it."""
    import json as json_
    import subprocess
    import sys

    from clickstream.target import ROOT

    probe = (
        "import json, sys, app, chalicelib.live.view, chalicelib.live.service, chalicelib.lake.rows; "
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    assert set(json_.loads(done.stdout)).isdisjoint({"pandas", "pyarrow", "awswrangler", "duckdb"})
