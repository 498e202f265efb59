"""The local dev server behind `make run`.

One port (CLICKSTREAM_PORT, default 8000) serves the Chalice app through chalice's own
LocalGateway (the same code path `chalice local` uses), plus the pages that exist only
on a laptop: /demo (the demo site), /web (the tracker) and /dashboard. The local
DynamoDB and S3 run as child processes; Ctrl-C stops them all.
"""

from __future__ import annotations

import json
import mimetypes
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

from chalice.config import Config
from chalice.local import ChaliceRequestHandler, CustomLocalChalice, LocalChalice, LocalDevServer

from chalicelib import clients
from chalicelib.settings import Settings, from_env
from chalicelib.store.apps import AppStore
from clickstream.admin.tables import ensure_bucket, ensure_table
from clickstream.localstack import LocalStack
from clickstream.target import ROOT, local_env, local_value

WEB = ROOT / "web"
DEMO_ORIGINS = ("http://127.0.0.1:{port}", "http://localhost:{port}")

# path prefix -> handler(method, path, query) -> (status, headers, body); extended by the
# dashboard module, so this file stays about serving.
PageHandler = Callable[[str, str, str], tuple[int, dict[str, str], bytes]]


def _static(base: Path, rel: str) -> tuple[int, dict[str, str], bytes]:
    target = (base / rel).resolve()
    if base.resolve() not in target.parents and target != base.resolve() or not target.is_file():
        return 404, {"Content-Type": "text/plain"}, b"not found"
    ctype = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    if target.suffix in (".js", ".mjs"):
        ctype = "text/javascript"
    return 200, {"Content-Type": ctype, "Cache-Control": "no-store"}, target.read_bytes()


def demo_pages(demo_config: dict[str, str]) -> dict[str, PageHandler]:
    def demo(method: str, path: str, query: str) -> tuple[int, dict[str, str], bytes]:
        if path == "/demo/config.js":
            body = f"window.CLICKSTREAM_DEMO = {json.dumps(demo_config)};\n".encode()
            return 200, {"Content-Type": "text/javascript", "Cache-Control": "no-store"}, body
        rel = path[len("/demo"):].lstrip("/")
        if not rel or "." not in rel.rsplit("/", 1)[-1]:
            rel = "index.html"  # SPA routes
        return _static(WEB / "demo", rel)

    def web(method: str, path: str, query: str) -> tuple[int, dict[str, str], bytes]:
        return _static(WEB, path[len("/web/"):])

    return {"/demo": demo, "/web/": web}


def make_handler(pages: dict[str, PageHandler]) -> type:
    class DevHandler(ChaliceRequestHandler):
        def _generic_handle(self) -> None:  # type: ignore[override]
            parts = urlsplit(self.path)
            for prefix, handler in pages.items():
                if parts.path == prefix.rstrip("/") or parts.path.startswith(prefix):
                    if self.command not in ("GET", "HEAD"):
                        break
                    status, headers, body = handler(self.command, parts.path, parts.query)
                    self.send_response(status)
                    for name, value in {**headers, "Content-Length": str(len(body))}.items():
                        self.send_header(name, value)
                    self.end_headers()
                    if self.command == "GET":
                        self.wfile.write(body)
                    return
            super()._generic_handle()

        # chalice binds do_GET etc. to its own _generic_handle at class creation.
        do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _generic_handle

        def log_message(self, format: str, *args: Any) -> None:
            if os.environ.get("CLICKSTREAM_ACCESS_LOG"):
                super().log_message(format, *args)

    return DevHandler


def serve(app_obj: Any, host: str, port: int, pages: dict[str, PageHandler]) -> LocalDevServer:
    """chalice's LocalDevServer (threaded, thread-local current_request) with our handler."""
    if not isinstance(app_obj, LocalChalice):  # what chalice.local.create_local_server does
        CustomLocalChalice.__bases__ = (LocalChalice, app_obj.__class__)
        app_obj.__class__ = CustomLocalChalice
    config = Config.create(chalice_stage="local", app_name="clickstream")
    return LocalDevServer(app_obj, config, host, port, handler_cls=make_handler(pages))


def ensure_demo_app(settings: Settings, data_dir: Path, port: str) -> dict[str, str]:
    """The demo app and its key. Keys are stored hashed, so the local key is kept in the data dir."""
    store = AppStore(clients.dynamodb(settings), settings.table, cache_seconds=0)
    saved = data_dir / "demo-app.json"
    if saved.exists():
        demo = json.loads(saved.read_text())
        try:
            store.resolve(demo["write_key"])
            return demo
        except Exception:
            pass
    app = store.get_app("demo")
    origins = [o.format(port=port) for o in DEMO_ORIGINS]
    if app is None:
        app, key = store.create_app("Touchwood demo", origins, app_id="demo")
    else:
        key = store.add_key("demo")
    demo = {"app_id": app.app_id, "write_key": key}
    saved.write_text(json.dumps(demo))
    return demo


def start_stack(env: dict[str, str]) -> tuple[LocalStack, Settings]:
    data_dir = Path(local_value("data_dir", env))
    stack = LocalStack(data_dir, int(local_value("dynamodb_port", env)), int(local_value("s3_port", env))).start()
    settings = from_env(env)
    ensure_table(clients.dynamodb(settings), settings.table)
    ensure_bucket(clients.s3(settings), settings.bucket)
    return stack, settings


def run() -> None:
    env = local_env()
    os.environ.update(env)  # the in-process Chalice app reads its settings from here
    port = local_value("port", env)
    data_dir = Path(local_value("data_dir", env))
    stack, settings = start_stack(env)
    stop = threading.Event()
    try:
        demo = ensure_demo_app(settings, data_dir, port)
        pages = demo_pages({"key": demo["write_key"], "endpoint": f"http://127.0.0.1:{port}"})
        from clickstream import devextras

        pages.update(devextras.pages(settings))
        sys.path.insert(0, str(ROOT))
        import app as app_module

        server = serve(app_module.app, "127.0.0.1", int(port), pages)
        devextras.start_background(settings, stop)
        print(f"local DynamoDB  {settings.dynamodb_endpoint}  (data in {data_dir})")
        print(f"local S3        {settings.s3_endpoint}  bucket {settings.bucket}")
        print(f"demo app        {demo['app_id']}  write key {demo['write_key']}")
        print(f"API             http://127.0.0.1:{port}/v1/events   health: /v1/health")
        print(f"demo site       http://127.0.0.1:{port}/demo")
        print(f"dashboard       http://127.0.0.1:{port}/dashboard")
        print("Ctrl-C stops everything.", flush=True)
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        server.serve_forever()
    except KeyboardInterrupt:
        print("\nstopping…", flush=True)
    finally:
        stop.set()
        stack.stop()
