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
import time
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

import orjson
from chalice.config import Config
from chalice.local import ChaliceRequestHandler, CustomLocalChalice, LocalChalice, LocalDevServer, LocalGatewayException

from chalicelib import clients
from chalicelib.collect import limits
from chalicelib.settings import Settings, from_env
from chalicelib.store.apps import AppStore
from clickstream.admin.tables import ensure_bucket, ensure_table
from clickstream.localstack import LocalStack, port_in_use
from clickstream.target import LOCAL_VARS, ROOT, local_env, local_value

WEB = ROOT / "web"
DEMO_ORIGINS = ("http://127.0.0.1:{port}", "http://localhost:{port}")

# path prefix -> handler(method, path, query) -> (status, headers, body); extended by the
# dashboard module, so this file stays about serving.
PageHandler = Callable[[str, str, str], tuple[int, dict[str, str], bytes]]


def _static(base: Path, rel: str) -> tuple[int, dict[str, str], bytes]:
    try:
        target = (base / rel).resolve()
        found = (base.resolve() in target.parents or target == base.resolve()) and target.is_file()
    except (OSError, ValueError):  # a name too long for the file system, a NUL byte
        found = False
    if not found:
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
        rel = path[len("/demo") :].lstrip("/")
        if not rel or "." not in rel.rsplit("/", 1)[-1]:
            rel = "index.html"  # SPA routes
        return _static(WEB / "demo", rel)

    def web(method: str, path: str, query: str) -> tuple[int, dict[str, str], bytes]:
        return _static(WEB, path[len("/web/") :])

    return {"/demo": demo, "/web/": web}


def api_timeout_s() -> float:
    """The deployed API function's timeout (lambda_timeout of api_handler in .chalice/config.json)."""
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    return float(config["lambda_functions"]["api_handler"]["lambda_timeout"])


def _content_length(headers: Any) -> tuple[int | None, str | None]:
    """(length, None), or (None, why it is refused). Absent means no body: nothing is read."""
    values = headers.get_all("Content-Length") or []
    if not values:
        return 0, None
    if len(set(values)) > 1:
        return None, f"Content-Length: {', '.join(values)} disagree"
    text = values[0].strip()
    if not text.isascii() or not text.isdigit():
        return None, f"Content-Length: {text!r} is not a number of bytes"
    return int(text), None


def make_handler(pages: dict[str, PageHandler], request_timeout_s: float | None = None) -> type:
    timeout_s = api_timeout_s() if request_timeout_s is None else request_timeout_s

    class DevHandler(ChaliceRequestHandler):
        # Headers and body leave in one write (buffered wfile, flushed once per request), and
        # TCP_NODELAY for the rare write that does not fit: no Nagle/delayed-ACK stall of ~40 ms
        # on kept-alive connections.
        disable_nagle_algorithm = True
        wbufsize = 64 * 1024
        # Socket reads give up after the function's timeout: a client that promises more body
        # than it sends (or idles on a kept-alive connection) holds a thread that long at most.
        timeout = timeout_s

        def handle(self) -> None:
            try:
                super().handle()
            except (ConnectionError, TimeoutError):
                self.close_connection = True  # reset while reading a request or flushing an answer

        def finish(self) -> None:
            try:
                super().finish()  # flushes the buffered wfile once more on close
            except OSError:
                pass

        def _generic_handle(self) -> None:  # type: ignore[override]
            try:
                self._handle()
            except (ConnectionError, TimeoutError):
                self.close_connection = True  # the client went away or stalled: nothing to answer

        def _handle(self) -> None:
            if "\x00" in self.path:
                return self._refuse(400, "the path holds a NUL byte")
            length, why = _content_length(self.headers)
            if length is None:
                return self._refuse(400, f"{why}; nothing was stored")
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                return self._refuse(411, "a chunked body is not accepted: send Content-Length; nothing was stored")
            if length > limits.MAX_REQUEST_BYTES:
                # Refused before reading a byte of it (API Gateway also refuses by size).
                return self._refuse(413, f"body: is {length} bytes, the limit is {limits.MAX_REQUEST_BYTES}; nothing was stored")
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
            self._api(self.rfile.read(length) if length else None)

        def _api(self, body: bytes | None) -> None:
            """The Chalice app, stopped waiting for at the deployed function's timeout.

            On AWS the invocation is killed at the timeout and the client gets a gateway
            error; here the app's thread cannot be killed, so it finishes unobserved and the
            client gets a 504 at the timeout. Either way nothing is acknowledged.
            """
            done: dict[str, Any] = {}

            def call() -> None:
                try:
                    done["response"] = self.local_gateway.handle_request(
                        method=self.command, path=self.path, headers=dict(self.headers), body=body
                    )
                except BaseException as exc:  # handed to the request thread below
                    done["error"] = exc

            started = time.monotonic()
            worker = threading.Thread(target=call, name="api-invocation", daemon=True)
            worker.start()
            worker.join(timeout_s)
            if worker.is_alive() or time.monotonic() - started > timeout_s:
                return self._refuse(
                    504,
                    f"the API function did not finish within its {timeout_s:g} s timeout (lambda_timeout, .chalice/config.json); "
                    "nothing was acknowledged, retry the same events",
                    close=False,
                )
            if "error" in done:
                if isinstance(done["error"], LocalGatewayException):
                    return self._send_error_response(done["error"])
                raise done["error"]
            response = done["response"]
            headers = response["headers"].copy()
            headers.update(response["multiValueHeaders"])
            response = self._handle_binary(response)
            self._send_http_response(response["statusCode"], headers, response["body"])

        def _refuse(self, status: int, message: str, close: bool = True) -> None:
            body = orjson.dumps({"accepted": 0, "rejected": [], "error": message} if status == 413 else {"error": message})
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if close:  # whatever body the client sends next was not read: it must not be taken for a request
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(body)

        # chalice binds do_GET etc. to its own _generic_handle at class creation.
        do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _generic_handle

        def log_message(self, format: str, *args: Any) -> None:
            if os.environ.get("CLICKSTREAM_ACCESS_LOG"):
                super().log_message(format, *args)

    return DevHandler


def serve(
    app_obj: Any, host: str, port: int, pages: dict[str, PageHandler], request_timeout_s: float | None = None
) -> LocalDevServer:
    """chalice's LocalDevServer (threaded, thread-local current_request) with our handler."""
    if not isinstance(app_obj, LocalChalice):  # what chalice.local.create_local_server does
        CustomLocalChalice.__bases__ = (LocalChalice, app_obj.__class__)
        app_obj.__class__ = CustomLocalChalice
    config = Config.create(chalice_stage="local", app_name="clickstream")
    return LocalDevServer(app_obj, config, host, port, handler_cls=make_handler(pages, request_timeout_s))


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


class AlreadyRunning(Exception):
    """A port or the data dir is taken; nothing was started and nothing was stopped."""


def claim(env: dict[str, str]) -> Any:
    """Take the data dir (an flock held while we run) and check every port is free, before starting anything.

    The lock makes two `make run` started at once on one data dir deterministic: one wins,
    the other starts nothing (so it can never stop servers the winner uses).
    """
    import fcntl

    data_dir = Path(local_value("data_dir", env))
    data_dir.mkdir(parents=True, exist_ok=True)
    lock = (data_dir / ".dev.lock").open("a+")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        lock.seek(0)
        holder = lock.read().strip() or "?"
        lock.close()
        raise AlreadyRunning(
            f"the data dir {data_dir} is in use by another `make run` (pid {holder}); stop that one (Ctrl-C in its terminal) "
            "or give this one its own: CLICKSTREAM_DATA_DIR=<dir> and other ports"
        ) from None
    for name in ("port", "dynamodb_port", "s3_port"):
        port = int(local_value(name, env))
        if port_in_use(port):
            lock.close()
            var = LOCAL_VARS[name][0]
            raise AlreadyRunning(
                f"port {port} ({var}) is in use, probably by another `make run`; stop it, or choose free ports: "
                "CLICKSTREAM_PORT=8100 CLICKSTREAM_DYNAMODB_PORT=8101 CLICKSTREAM_S3_PORT=8102 make run"
            )
    lock.seek(0)
    lock.truncate()
    lock.write(str(os.getpid()))
    lock.flush()
    return lock  # held until the process exits


def run() -> None:
    env = local_env()
    os.environ.update(env)  # the in-process Chalice app reads its settings from here
    port = local_value("port", env)
    data_dir = Path(local_value("data_dir", env))
    try:
        _lock = claim(env)  # noqa: F841 - the lock lives as long as this frame
    except AlreadyRunning as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    stack, settings = start_stack(env)
    stop = threading.Event()
    scheduler: threading.Thread | None = None
    try:
        demo = ensure_demo_app(settings, data_dir, port)
        pages = demo_pages({"key": demo["write_key"], "endpoint": f"http://127.0.0.1:{port}"})
        from clickstream import devextras

        pages.update(devextras.pages(settings))
        sys.path.insert(0, str(ROOT))
        import app as app_module

        server = serve(app_module.app, "127.0.0.1", int(port), pages)
        scheduler = devextras.start_background(settings, stop)
        print(f"local DynamoDB  {settings.dynamodb_endpoint}  (data in {data_dir})")
        print(f"local S3        {settings.s3_endpoint}  bucket {settings.bucket}")
        print(f"demo app        {demo['app_id']}  write key {demo['write_key']}")
        print(f"API             http://127.0.0.1:{port}/v1/events   health: /v1/health")
        print(f"demo site       http://127.0.0.1:{port}/demo")
        print(f"dashboard       http://127.0.0.1:{port}/dashboard")
        print("Ctrl-C stops everything.", flush=True)
        # the first page load then finds the dashboard's statements prepared (pages.warm_up)
        from clickstream.dashboard.pages import warm_up

        def say(line: str) -> None:  # quiet once stopping: a warm-up cut short by Ctrl-C is no failure
            if not stop.is_set():
                print(line, flush=True)

        threading.Thread(target=warm_up, args=(pages["/dashboard"], say), name="dashboard-warm-up", daemon=True).start()
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        server.serve_forever()
    except KeyboardInterrupt:
        print("\nstopping…", flush=True)
    finally:
        stop.set()
        if scheduler is not None:
            from clickstream import devextras

            devextras.release_lease(scheduler)  # before the local DynamoDB goes away
        stack.stop()
