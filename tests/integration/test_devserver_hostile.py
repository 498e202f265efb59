"""The local server (`make run`) under hostile or odd HTTP: bounded reads, 400s instead of dropped
connections, the deployed function's timeout, and responses that leave in one write.

The server is chalice's local gateway with our handler (clickstream.devserver.serve), in a
thread of the test, around a small Chalice app: none of this needs storage.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from chalice import Chalice

from clickstream.devserver import api_timeout_s, serve
from clickstream.localstack import free_port

TIMEOUT_S = 1.0


@pytest.fixture
def gate() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()


@pytest.fixture
def server(gate: threading.Event) -> Iterator[int]:
    app = Chalice(app_name="hostile")

    @app.route("/v1/events", methods=["POST"], content_types=["application/json", "text/plain"])
    def events() -> dict:
        return {"bytes": len(app.current_request.raw_body or b"")}

    @app.route("/slow")
    def slow() -> dict:
        gate.wait(30)
        return {"late": True}

    @app.route("/v1/health")
    def health() -> dict:
        return {"status": "ok"}

    def page(method: str, path: str, query: str) -> tuple[int, dict[str, str], bytes]:
        from clickstream.devserver import WEB, _static

        return _static(WEB, path[len("/web/") :])

    port = free_port()
    dev = serve(app, "127.0.0.1", port, {"/web/": page}, request_timeout_s=TIMEOUT_S)
    thread = threading.Thread(target=dev.serve_forever, daemon=True)
    thread.start()
    yield port
    dev.shutdown()
    dev.server.server_close()


def raw(port: int, data: bytes, read_timeout: float = 5.0) -> bytes:
    """Send ``data`` on a fresh connection and read until the server closes it (or the timeout)."""
    with socket.create_connection(("127.0.0.1", port), timeout=read_timeout) as sock:
        sock.sendall(data)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
                if b"\r\n\r\n" in b"".join(chunks) and b"Connection: close" not in b"".join(chunks):
                    head, _, rest = b"".join(chunks).partition(b"\r\n\r\n")
                    length = int(
                        next((h.split(b":")[1] for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")), b"0")
                    )
                    if len(rest) >= length:
                        break
        except TimeoutError:
            pass
    return b"".join(chunks)


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1]) if response else 0


def test_a_body_over_the_limit_is_refused_by_content_length_without_reading_it(
    server: int, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.monotonic()
    response = raw(
        server, b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10485760\r\n\r\n{"
    )
    assert status_of(response) == 413, response
    assert b"1048576" in response and b"nothing was stored" in response
    assert time.monotonic() - started < TIMEOUT_S  # answered at once, not after waiting for 10 MB
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize("length", [b"abc", b"-5", b"1e3", b"0x10", b""])
def test_a_content_length_that_is_not_a_number_is_a_400(server: int, length: bytes, capsys: pytest.CaptureFixture[str]) -> None:
    response = raw(
        server,
        b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " + length + b"\r\n\r\n{}",
    )
    assert status_of(response) == 400, response
    assert b"Content-Length" in response
    assert "Traceback" not in capsys.readouterr().err


def test_a_chunked_body_is_refused_with_411(server: int) -> None:
    response = raw(
        server,
        b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"2\r\n{}\r\n0\r\n\r\n",
    )
    assert status_of(response) == 411, response


def test_a_body_shorter_than_promised_is_given_up_after_the_timeout(server: int, capsys: pytest.CaptureFixture[str]) -> None:
    started = time.monotonic()
    response = raw(
        server,
        b'POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{"a":',
        read_timeout=10,
    )
    took = time.monotonic() - started
    assert response == b"" or status_of(response) in (400, 408), response
    assert took < TIMEOUT_S + 4
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize("path", [b"/web/\x00", b"/web/tracker\x00.js", b"/demo/\x00/x"])
def test_a_nul_byte_in_a_path_is_a_400(server: int, path: bytes, capsys: pytest.CaptureFixture[str]) -> None:
    response = raw(server, b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status_of(response) == 400, response
    assert "Traceback" not in capsys.readouterr().err


def test_a_request_that_outlives_the_function_timeout_gets_504_at_the_timeout(server: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server, timeout=10)
    started = time.monotonic()
    conn.request("GET", "/slow")
    resp = conn.getresponse()
    body = resp.read()
    assert resp.status == 504, body
    assert b"timeout" in body and time.monotonic() - started < TIMEOUT_S + 2


def test_the_local_timeout_is_the_deployed_api_functions() -> None:
    assert api_timeout_s() == 10


def test_a_response_on_a_kept_alive_connection_arrives_in_one_piece(server: int) -> None:
    """Headers and body in one write: no Nagle/delayed-ACK stall between them (~40 ms each)."""
    with socket.create_connection(("127.0.0.1", server), timeout=5) as sock:
        for _ in range(3):
            sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
            first = sock.recv(65536)
            assert first.endswith((b'{"status":"ok"}', b'{"status": "ok"}')), first


def test_a_client_that_resets_the_connection_leaves_no_traceback(server: int, capsys: pytest.CaptureFixture[str]) -> None:
    import struct

    for _ in range(5):
        sock = socket.create_connection(("127.0.0.1", server), timeout=5)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close = RST
        sock.sendall(b"GET /web/tracker.js HTTP/1.1\r\nHost: x\r\n\r\nGET /web/tracker.js HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.close()
    time.sleep(0.5)  # let the server threads meet the reset
    with socket.create_connection(("127.0.0.1", server), timeout=5) as sock:  # still serving
        sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
    assert "Traceback" not in capsys.readouterr().err
