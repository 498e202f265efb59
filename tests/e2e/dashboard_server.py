"""The dashboard as `make run` serves it, over a lake with known answers, for the browser test.

    .venv/bin/python -m tests.e2e.dashboard_server

Starts a private local stack (its own ports and temp dir), stores planned traffic
(clickstream.traffic) as the API would, exports it with the real export, and serves the
Chalice app plus devextras.pages() through the dev server's handler. Prints one JSON line,
{"url", "filters", "expected", "expected_with_bots"}, then serves until stdin closes or
SIGTERM. tests/e2e/dashboard_browser.test.mjs drives it.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
import threading
import uuid
from pathlib import Path
from urllib.parse import urlencode

from clickstream.localstack import LocalStack, free_port
from clickstream.target import ROOT


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="dashboard-e2e-"))
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    with LocalStack(tmp / "stack", dynamodb_port=free_port(), s3_port=free_port()) as stack:
        os.environ.update({**stack.env(), "CLICKSTREAM_TABLE": name, "CLICKSTREAM_BUCKET": name, "CLICKSTREAM_DATA_DIR": str(tmp),
                           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "CLICKSTREAM_STAGE": "local",
                           # two weeks of history (the API and the export look back 7 days by default)
                           "CLICKSTREAM_MAX_EVENT_AGE_DAYS": "15", "CLICKSTREAM_EVENT_TTL_DAYS": "15",
                           "CLICKSTREAM_WRITE_SHARDS": "1"})  # the export's reads per shard dominate the set-up time
        from chalicelib import clients
        from chalicelib.settings import from_env
        from clickstream import devextras
        from clickstream.admin.tables import ensure_bucket, ensure_table
        from clickstream.dashboard.spec import load
        from clickstream.devserver import serve
        from tests.dashboard_helpers import expected_panels, filters, lake_with_traffic

        settings = from_env()
        ensure_table(clients.dynamodb(settings), settings.table)
        ensure_bucket(clients.s3(settings), settings.bucket)
        traffic = lake_with_traffic(settings, app_id="shop", users=40, days=14, seed=5)
        spec, params = load(), filters(traffic)
        sys.path.insert(0, str(ROOT))
        import app as app_module

        port = free_port()
        server = serve(app_module.app, "127.0.0.1", port, devextras.pages(settings))
        query = urlencode({**params, "include_bots": "false", "steps": ",".join(params["steps"])})
        print(json.dumps({
            "url": f"http://127.0.0.1:{port}/dashboard?{query}",
            "filters": params,
            "expected": expected_panels(spec, traffic, params),
            "expected_with_bots": expected_panels(spec, traffic, {**params, "include_bots": True}),
        }), flush=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
        stop.wait()
        server.shutdown()


if __name__ == "__main__":
    main()
