"""The dashboard as `make run` serves it, over a lake with known answers, for the browser test.

    .venv/bin/python -m tests.e2e.dashboard_server

Starts a private local stack (its own ports and temp dir), stores planned traffic
(clickstream.traffic) as the API would, exports it with the real export, and serves the
Chalice app plus devextras.pages() through the dev server's handler. The traffic ends before
today, so the shown week is a closed period and the live view starts empty. Prints one JSON line:

    {"url", "filters", "write_key", "read_key", "expected", "expected_with_bots",
     "main", "country", "expected_country", "main_country"}

where ``expected*`` are the panels and ``main*`` the tiles (with the previous period) and lists
that clickstream.traffic_truth says each setting must show; then serves until stdin closes or
SIGTERM. tests/e2e/dashboard_browser.test.mjs drives it.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import replace
from datetime import date, datetime, timezone
from pathlib import Path
from urllib.parse import urlencode

from clickstream.localstack import LocalStack, free_port
from clickstream.target import ROOT

DAY_MS = 86_400_000


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="dashboard-e2e-"))
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    with LocalStack(tmp / "stack", dynamodb_port=free_port(), s3_port=free_port()) as stack:
        os.environ.update(
            {
                **stack.env(),
                "CLICKSTREAM_TABLE": name,
                "CLICKSTREAM_BUCKET": name,
                "CLICKSTREAM_DATA_DIR": str(tmp),
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "CLICKSTREAM_STAGE": "local",
                # two weeks and a bit of history (the API and the export look back 7 days by default)
                "CLICKSTREAM_MAX_EVENT_AGE_DAYS": "19",
                "CLICKSTREAM_EVENT_TTL_DAYS": "19",
                "CLICKSTREAM_WRITE_SHARDS": "1",  # the export's reads per shard dominate the set-up time
                "CLICKSTREAM_LIVE_CACHE_SECONDS": "0",
            }
        )
        from chalicelib import clients
        from chalicelib.settings import from_env
        from chalicelib.store.apps import AppStore
        from chalicelib.store.readkeys import ReadKeyStore
        from clickstream import devextras
        from clickstream.admin.tables import ensure_bucket, ensure_table
        from clickstream.dashboard import main as main_block
        from clickstream.dashboard.spec import load
        from clickstream.devserver import serve
        from clickstream.traffic import FUNNEL
        from tests.dashboard_helpers import expected_panels, lake_with_traffic, truth_runner

        settings = from_env()
        ensure_table(clients.dynamodb(settings), settings.table)
        ensure_bucket(clients.s3(settings), settings.bucket)
        # 16 days ending a minute before today: the shown week (the last 7 days) is closed, the
        # week before it is its previous period, and the first two days hold earlier sessions.
        today_ms = int(time.time() * 1000) // DAY_MS * DAY_MS
        traffic = lake_with_traffic(settings, app_id="shop", users=60, days=16, seed=5, end_ms=today_ms - 60_000)
        apps = AppStore(clients.dynamodb(settings), settings.table, cache_seconds=0)
        _, write_key = apps.create_app("Shop", app_id="shop")
        _, read_key = ReadKeyStore(clients.dynamodb(settings), settings.table).create("shop", expires_in_s=3600, label="e2e")
        spec = load()
        days = traffic.days
        params = {"app_id": "shop", "date_from": days[-7], "date_to": days[-1], "include_bots": False, "steps": list(FUNNEL)}
        bound = {**params, "date_from": date.fromisoformat(params["date_from"]), "date_to": date.fromisoformat(params["date_to"])}
        now = datetime.now(timezone.utc)
        # the country the test clicks: the second busiest (the busiest may hold nearly everyone)
        top = main_block.compute(spec, bound, truth_runner(traffic), now)
        country = top["lists"]["countries"]["rows"][1][0]
        in_country = replace(traffic, visitors=[v for v in traffic.visitors if v.place.country == country])
        sys.path.insert(0, str(ROOT))
        import app as app_module

        port = free_port()
        server = serve(app_module.app, "127.0.0.1", port, devextras.pages(settings))
        query = urlencode({**params, "include_bots": "false", "steps": ",".join(params["steps"])})
        print(
            json.dumps(
                {
                    "url": f"http://127.0.0.1:{port}/dashboard?{query}",
                    "filters": params,
                    "write_key": write_key,
                    "read_key": read_key,
                    "expected": expected_panels(spec, traffic, params),
                    "expected_with_bots": expected_panels(spec, traffic, {**params, "include_bots": True}),
                    "main": top,
                    "country": country,
                    "expected_country": expected_panels(spec, in_country, params),
                    "main_country": main_block.compute(spec, bound, truth_runner(in_country), now),
                },
                default=str,
            ),
            flush=True,
        )
        threading.Thread(target=server.serve_forever, daemon=True).start()
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
        stop.wait()
        server.shutdown()


if __name__ == "__main__":
    main()
