"""Limits of the guarded HTTP client against misbehaving loopback servers.

Oversized and compressed bodies, trickling and silent servers, retries, and credentials on
cross-origin redirects. Every test configures small timeouts and stays under 3 s.
"""

from __future__ import annotations

import gzip
import socket
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tooldeck.tools.net import (
    ContentTypeError,
    HTTPStatusError,
    NetPolicy,
    NetworkError,
    NetworkTimeoutError,
    ResponseTooLargeError,
    Retries,
    Timeouts,
    allow_addresses_for_tests,
    fetch,
)
from tooldeck.tools.net.policy import SENSITIVE_HEADERS
from tooldeck.tools.net.testing import LoopbackServer, SeenRequest, reply

MiB = 1024 * 1024
FAST = Timeouts(connect_s=0.5, read_s=1.0, total_s=2.0)
QUICK_RETRIES = NetPolicy(retries=Retries(attempts=3, backoff_s=0.01, max_delay_s=2.0))

Handler = Callable[[SeenRequest, socket.socket], None]


class Servers:
    """Starts loopback servers for one test; ``stopping`` is set when the test ends."""

    def __init__(self) -> None:
        self.stopping = threading.Event()
        self.started: list[LoopbackServer] = []

    def __call__(self, handler: Handler) -> LoopbackServer:
        server = LoopbackServer(handler).__enter__()
        self.started.append(server)
        return server


@pytest.fixture
def serve() -> Iterator[Servers]:
    """Loopback servers, reachable through the test allowance while the test runs."""
    servers = Servers()
    with allow_addresses_for_tests({"127.0.0.1"}):
        yield servers
    servers.stopping.set()
    for server in servers.started:
        server.__exit__(None, None, None)
        assert server.errors == []


def _head(conn: socket.socket, headers: dict[str, str], status: str = "200 OK") -> None:
    lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    conn.sendall(f"HTTP/1.1 {status}\r\n{lines}\r\n".encode())


# --- size -----------------------------------------------------------------------------


def test_a_50mb_body_stops_at_the_cap_without_being_read(serve: Servers) -> None:
    sent: list[int] = []

    def fifty_mb(request: SeenRequest, conn: socket.socket) -> None:
        _head(conn, {"Content-Type": "text/plain", "Connection": "close"})  # no length
        block, total = b"x" * 65536, 0
        try:
            while total < 50 * MiB:
                conn.sendall(block)
                total += len(block)
        finally:
            sent.append(total)

    server = serve(fifty_mb)
    with pytest.raises(ResponseTooLargeError, match=f"larger than {2 * MiB} bytes"):
        fetch(server.url + "/", timeout=FAST)
    server.__exit__(None, None, None)
    assert sent[0] < 20 * MiB  # the client hung up; only socket buffers filled beyond the cap


def test_a_declared_50mb_length_is_refused_before_reading(serve: Servers) -> None:
    def declared(request: SeenRequest, conn: socket.socket) -> None:
        _head(conn, {"Content-Length": str(50 * MiB)})
        conn.sendall(b"x" * 65536)
        serve.stopping.wait(5)

    server = serve(declared)
    start = time.perf_counter()
    with pytest.raises(ResponseTooLargeError, match=f"{50 * MiB} bytes"):
        fetch(server.url + "/", timeout=FAST)
    assert time.perf_counter() - start < 1.0


@pytest.fixture(scope="module")
def bomb() -> bytes:
    """50 MiB of zeros, gzip-compressed to about 50 KiB."""
    return gzip.compress(b"\0" * (50 * MiB), compresslevel=6)


def test_a_gzip_bomb_stops_at_the_cap_after_decompression(serve: Servers, bomb: bytes) -> None:
    server = serve(lambda req, conn: reply(conn, 200, bomb, {"Content-Encoding": "gzip"}))
    tracemalloc.start()
    try:
        with pytest.raises(ResponseTooLargeError):
            fetch(server.url + "/", timeout=FAST)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(bomb) < 2 * MiB  # small on the wire: only decoding can catch it
    assert peak < 12 * MiB  # never inflated much past the 2 MiB cap


def test_a_deflate_bomb_stops_at_the_cap(serve: Servers) -> None:
    body = zlib.compress(b"\0" * (20 * MiB))
    server = serve(lambda req, conn: reply(conn, 200, body, {"Content-Encoding": "deflate"}))
    with pytest.raises(ResponseTooLargeError):
        fetch(server.url + "/", timeout=FAST)


def test_stacked_encodings_are_refused(serve: Servers, bomb: bytes) -> None:
    double = gzip.compress(bomb)
    server = serve(lambda req, conn: reply(conn, 200, double, {"Content-Encoding": "gzip, gzip"}))
    with pytest.raises(NetworkError, match="unsupported content encoding"):
        fetch(server.url + "/", timeout=FAST)


def test_a_body_under_the_cap_is_decoded(serve: Servers) -> None:
    page = b"<p>hello</p>" * 1000
    server = serve(
        lambda req, conn: reply(
            conn,
            200,
            gzip.compress(page),
            {"Content-Encoding": "gzip", "Content-Type": "text/html"},
        )
    )
    response = fetch(server.url + "/", timeout=FAST, allowed_types=("text/html",))
    assert response.content == page
    assert server.requests[0].headers["accept-encoding"] == "gzip, deflate"


# --- time -----------------------------------------------------------------------------


def _trickle(serve: Servers, head: bytes, body: bytes) -> Handler:
    """Send ``head`` at once, then ``body`` one byte a second."""

    def handler(request: SeenRequest, conn: socket.socket) -> None:
        conn.sendall(head)
        for i in range(len(body)):
            conn.sendall(body[i : i + 1])
            if serve.stopping.wait(1.0):
                return

    return handler


def test_a_1_byte_per_second_body_stops_at_the_total_deadline(serve: Servers) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"
    server = serve(_trickle(serve, head, b"x" * 1000))
    start = time.perf_counter()
    with pytest.raises(NetworkTimeoutError, match="total deadline of 1.5 s"):
        fetch(server.url + "/", timeout=Timeouts(connect_s=0.5, read_s=2.0, total_s=1.5))
    assert 1.4 < time.perf_counter() - start < 2.0


def test_trickled_headers_also_stop_at_the_total_deadline(serve: Servers) -> None:
    head = b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 100 + b"\r\n\r\n"
    server = serve(_trickle(serve, b"", head))
    start = time.perf_counter()
    with pytest.raises(NetworkTimeoutError, match="total deadline"):
        fetch(server.url + "/", timeout=Timeouts(connect_s=0.5, read_s=2.0, total_s=1.0))
    assert time.perf_counter() - start < 1.5


def test_a_server_that_never_answers_stops_at_the_read_timeout(serve: Servers) -> None:
    def silent(request: SeenRequest, conn: socket.socket) -> None:
        serve.stopping.wait(5)

    server = serve(silent)
    start = time.perf_counter()
    with pytest.raises(NetworkTimeoutError, match="read timeout"):
        fetch(server.url + "/", timeout=Timeouts(connect_s=0.5, read_s=0.5, total_s=5))
    assert 0.4 < time.perf_counter() - start < 1.0
    assert len(server.requests) == 1  # a timeout is not retried


# --- retries --------------------------------------------------------------------------


def test_503_with_retry_after_is_retried_then_succeeds(serve: Servers) -> None:
    def handler(request: SeenRequest, conn: socket.socket) -> None:
        if len(server.requests) == 1:
            reply(conn, 503, b"busy", {"Retry-After": "1"})
        else:
            reply(conn, 200, b"done")

    server = serve(handler)
    start = time.perf_counter()
    response = fetch(server.url + "/", policy=QUICK_RETRIES, timeout=Timeouts(total_s=2.5))
    assert response.content == b"done"
    assert 1.0 <= time.perf_counter() - start < 2.0  # waited as the server asked
    assert len(server.requests) == 2


def test_404_is_not_retried(serve: Servers) -> None:
    server = serve(lambda req, conn: reply(conn, 404, b"no such page"))
    with pytest.raises(HTTPStatusError) as caught:
        fetch(server.url + "/missing", policy=QUICK_RETRIES, timeout=FAST)
    assert caught.value.status == 404
    assert caught.value.url == server.url + "/missing"
    assert len(server.requests) == 1


def test_429_exhausted_raises_with_the_status(serve: Servers) -> None:
    server = serve(lambda req, conn: reply(conn, 429, b"slow down"))
    with pytest.raises(HTTPStatusError, match="HTTP 429 after 3 attempts") as caught:
        fetch(server.url + "/", policy=QUICK_RETRIES, timeout=FAST)
    assert caught.value.status == 429
    assert len(server.requests) == 3


def test_a_retry_after_beyond_the_cap_gives_up_at_once(serve: Servers) -> None:
    server = serve(lambda req, conn: reply(conn, 503, b"", {"Retry-After": "3600"}))
    start = time.perf_counter()
    with pytest.raises(HTTPStatusError, match="Retry-After: 3600"):
        fetch(server.url + "/", policy=QUICK_RETRIES, timeout=FAST)
    assert time.perf_counter() - start < 0.5
    assert len(server.requests) == 1


def test_a_retry_after_past_the_total_deadline_gives_up_at_once(serve: Servers) -> None:
    server = serve(lambda req, conn: reply(conn, 503, b"", {"Retry-After": "2"}))
    start = time.perf_counter()
    with pytest.raises(HTTPStatusError):
        fetch(server.url + "/", policy=QUICK_RETRIES, timeout=Timeouts(total_s=1.0))
    assert time.perf_counter() - start < 0.5
    assert len(server.requests) == 1


def test_a_refused_connection_is_retried_then_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    attempts: list[Any] = []
    inner = socket.socket.connect

    def counting(self: socket.socket, address: Any) -> Any:
        attempts.append(address)
        return inner(self, address)

    monkeypatch.setattr(socket.socket, "connect", counting)
    with allow_addresses_for_tests({"127.0.0.1"}), pytest.raises(NetworkError, match="Connect"):
        fetch(f"http://127.0.0.1:{port}/", policy=QUICK_RETRIES, timeout=FAST)
    assert attempts == [("127.0.0.1", port)] * 3


# --- content types --------------------------------------------------------------------


def test_a_content_type_outside_the_allowlist_is_refused_by_name(serve: Servers) -> None:
    server = serve(lambda req, conn: reply(conn, 200, b"\x89PNG", {"Content-Type": "image/png"}))
    with pytest.raises(ContentTypeError, match="'image/png' is not one of text/html, text/plain"):
        fetch(server.url + "/", timeout=FAST, allowed_types=("text/html", "text/plain"))


def test_content_type_parameters_and_wildcards(serve: Servers) -> None:
    kind = {"Content-Type": "Text/HTML; charset=ISO-8859-1"}
    server = serve(lambda req, conn: reply(conn, 200, "café".encode("latin-1"), kind))
    response = fetch(server.url + "/", timeout=FAST, allowed_types=("text/*",))
    assert response.content_type == "text/html"
    assert response.text() == "café"


# --- credentials on redirects ---------------------------------------------------------


CREDENTIALS = {
    "Authorization": "Bearer secret",
    "Cookie": "session=secret",
    "X-API-KEY": "secret",
    "X-Custom-Key": "secret",
    "X-Trace": "kept",
}


def test_a_cross_origin_redirect_drops_credentials(serve: Servers) -> None:
    other = serve(lambda req, conn: reply(conn, 200, b"landed"))
    first = serve(lambda req, conn: reply(conn, 302, headers={"Location": other.url + "/in"}))
    policy = NetPolicy(sensitive_headers=SENSITIVE_HEADERS | {"x-custom-key"})
    response = fetch(first.url + "/out", headers=CREDENTIALS, policy=policy, timeout=FAST)
    assert response.content == b"landed"
    assert first.requests[0].headers["authorization"] == "Bearer secret"
    seen = other.requests[0].headers
    for name in ("authorization", "cookie", "x-api-key", "x-custom-key"):
        assert name not in seen
    assert seen["x-trace"] == "kept"
    assert seen["host"] == f"127.0.0.1:{other.port}"


def test_a_same_origin_redirect_keeps_credentials(serve: Servers) -> None:
    def handler(request: SeenRequest, conn: socket.socket) -> None:
        if request.path == "/out":
            reply(conn, 301, headers={"Location": "/in"})
        else:
            reply(conn, 200, b"landed")

    server = serve(handler)
    fetch(server.url + "/out", headers=CREDENTIALS, timeout=FAST)
    assert server.requests[1].headers["authorization"] == "Bearer secret"
    assert server.requests[1].headers["x-api-key"] == "secret"


@pytest.mark.parametrize(("status", "method", "body"), [(303, "GET", b""), (307, "POST", b"{}")])
def test_redirect_method_rules(serve: Servers, status: int, method: str, body: bytes) -> None:
    def handler(request: SeenRequest, conn: socket.socket) -> None:
        if request.path == "/form":
            reply(conn, status, headers={"Location": "/next"})
        else:
            reply(conn, 200, b"ok")

    server = serve(handler)
    fetch(server.url + "/form", method="POST", json={}, timeout=FAST)
    landed = server.requests[1]
    assert (landed.method, landed.body) == (method, body)
    assert ("content-type" in landed.headers) == bool(body)
