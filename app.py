"""Routes and schedules only: every handler lives in chalicelib.

The API function must stay light: nothing here imports pandas, pyarrow or awswrangler
(the export modules are imported inside the scheduled handlers).
"""

from __future__ import annotations

import os

from chalice import Chalice, Rate

from chalicelib import http, http_segment
from chalicelib.live import view as live_view

app = Chalice(app_name="clickstream")
app.log.setLevel("INFO")

EXPORT_EVERY_MINUTES = int(os.environ.get("CLICKSTREAM_EXPORT_SCHEDULE_MINUTES", "5"))


@app.route("/v1/events", methods=["POST"], content_types=["application/json", "text/plain"])
def post_events():
    return http.post_events(app.current_request)


@app.route("/v1/events", methods=["OPTIONS"])
def preflight_events():
    return http.preflight(app.current_request)


# Segment's tracking API (docs/segment.md): batches, one message per type, analytics.js's short paths.
SEGMENT_ROUTES = ("batch", "import", "b", "track", "page", "screen", "identify", "group", "alias", "t", "p", "s", "i", "g", "a")


def _segment_routes(route: str) -> None:
    def post() -> object:
        return http_segment.post(app.current_request, route)

    def preflight() -> object:
        return http_segment.preflight(app.current_request)

    app.route(f"/v1/{route}", methods=["POST"], content_types=["application/json", "text/plain"], name=f"segment_{route}")(post)
    app.route(f"/v1/{route}", methods=["OPTIONS"], name=f"segment_{route}_preflight")(preflight)


for _route in SEGMENT_ROUTES:
    _segment_routes(_route)


@app.route("/v1/live", methods=["GET"])
def live():
    return live_view.get_live(app.current_request)


@app.route("/v1/live", methods=["OPTIONS"])
def preflight_live():
    return live_view.preflight(app.current_request)


@app.route("/v1/health", methods=["GET"])
def health():
    return http.health()


@app.schedule(Rate(EXPORT_EVERY_MINUTES, unit=Rate.MINUTES))
def export_events(event):
    """Every few minutes: export what arrived since the checkpoint to Parquet on S3."""
    from chalicelib.export import handlers  # pyarrow comes from the pandas layer, export only

    return handlers.scheduled(context=event.context)  # its remaining time bounds the rollup pass


@app.lambda_function(name="export_worker")
def export_worker(event, context):
    """One key-range group of a large backlog, invoked asynchronously by export_events."""
    from chalicelib.export import handlers

    return handlers.worker(event)
