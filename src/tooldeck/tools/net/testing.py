"""Loopback HTTP servers for tests of network tools (the test double ships with the client).

A handler gets each parsed request and the raw socket, so it can answer normally
(:func:`reply`) or misbehave (trickle, stall, lie about lengths)::

    from tooldeck.tools.net import allow_addresses_for_tests, fetch
    from tooldeck.tools.net.testing import LoopbackServer, reply

    with LoopbackServer(lambda req, conn: reply(conn, 200, b"hi")) as server:
        with allow_addresses_for_tests({"127.0.0.1"}):
            assert fetch(server.url + "/").text() == "hi"
        assert server.requests[0].path == "/"

The server closes each connection after the handler returns; a handler that stalls should
wait on ``server.stopping`` so the ``with`` block can end promptly.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from types import TracebackType

__all__ = ["Handler", "LoopbackServer", "SeenRequest", "reply"]

_MAX_HEAD = 64 * 1024


@dataclass(frozen=True)
class SeenRequest:
    """A request the server received.

    Attributes:
        method: The method.
        path: The request target (path and query).
        headers: Header names in lower case -> value (the last one wins).
        body: The body (read by ``Content-Length``).
    """

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes


Handler = Callable[[SeenRequest, socket.socket], None]
"""Answers one request by writing to the socket."""


def reply(
    conn: socket.socket,
    status: int = 200,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
) -> None:
    """Write a complete response (``Content-Length`` set, ``Connection: close``).

    Args:
        conn: The client socket.
        status: The status code.
        body: The body.
        headers: Extra headers; ``Content-Type`` defaults to ``text/plain``.
    """
    fields = {"Content-Type": "text/plain", **(headers or {})}
    fields.setdefault("Content-Length", str(len(body)))
    fields["Connection"] = "close"
    reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Status"
    head = f"HTTP/1.1 {status} {reason}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in fields.items()) + "\r\n"
    conn.sendall(head.encode("latin-1") + body)


class LoopbackServer:
    """A threaded HTTP/1.1 server on 127.0.0.1 that records every request.

    Attributes:
        url: ``http://127.0.0.1:<port>`` (``https`` with TLS; set on entering the ``with`` block).
        port: The port.
        requests: Requests received, in order.
        errors: Exceptions handlers raised (other than the client hanging up).
        stopping: Set when the ``with`` block ends.
    """

    def __init__(self, handler: Handler, *, tls: ssl.SSLContext | None = None) -> None:
        """Serve ``handler`` (over TLS with a server-side ``tls`` context, if given)."""
        self._handler = handler
        self._tls = tls
        self.url = ""
        self.port = 0
        self.requests: list[SeenRequest] = []
        self.errors: list[BaseException] = []
        self.stopping = threading.Event()
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> LoopbackServer:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        listener.settimeout(0.05)
        self._listener = listener
        self.port = listener.getsockname()[1]
        self.url = f"{'https' if self._tls else 'http'}://127.0.0.1:{self.port}"
        self._start(self._accept_loop, listener)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stopping.set()
        for thread in list(self._threads):
            thread.join(timeout=5)

    def _start(self, target: Callable[[socket.socket], None], sock: socket.socket) -> None:
        thread = threading.Thread(target=target, args=(sock,), daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self, listener: socket.socket) -> None:
        with listener:
            while not self.stopping.is_set():
                try:
                    conn, _ = listener.accept()
                except TimeoutError:
                    continue
                conn.settimeout(5)
                self._start(self._serve, conn)

    def _serve(self, raw: socket.socket) -> None:
        with raw:
            try:
                conn = raw if self._tls is None else self._tls.wrap_socket(raw, server_side=True)
                with conn:
                    request = _read_request(conn)
                    if request is not None:
                        self.requests.append(request)
                        self._handler(request, conn)
                        with contextlib.suppress(OSError):  # the client may be gone
                            conn.shutdown(socket.SHUT_WR)
            except (ConnectionError, TimeoutError):
                pass  # the client hung up or gave up: that is what many tests check
            except Exception as exc:  # kept for the test to inspect
                self.errors.append(exc)


def _read_request(conn: socket.socket) -> SeenRequest | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk or len(data) > _MAX_HEAD:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path, _version = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0") or 0)
    while len(body) < length:
        chunk = conn.recv(min(65536, length - len(body)))
        if not chunk:
            break
        body += chunk
    return SeenRequest(method, path, headers, body)
