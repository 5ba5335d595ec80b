"""The HTTP server on a real socket: slow, idle, oversized and too many connections; run limits.

Issue 8 item 9. Each test starts uvicorn (as ``tooldeck serve`` configures it) on 127.0.0.1 and
a free port with small limits, and talks to it with raw sockets or ``http.client``.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent.parent


@contextlib.contextmanager
def running_server(config: Any, **kwargs: Any) -> Iterator[int]:
    """Serve ``create_app(config, **kwargs)`` as ``tooldeck serve`` would; yield the port."""
    from tooldeck.server.app import create_app
    from tooldeck.server.serve import make_server, open_listener

    kwargs.setdefault("use_llm", False)
    listener = open_listener("127.0.0.1", 0)
    app = create_app(config, bind_host="127.0.0.1", **kwargs)
    server = make_server(app, config.server, "127.0.0.1")
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener.sock]},
                              daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.started, "server did not start"
        yield int(listener.sock.getsockname()[1])
    finally:
        server.should_exit = True
        thread.join(10)
        listener.sock.close()


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    return sock


def _read_all(sock: socket.socket, timeout: float = 5.0) -> tuple[bytes, float]:
    """Read until the server closes; return what came and the seconds it took."""
    start = time.monotonic()
    sock.settimeout(timeout)
    data = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            data += chunk
    return data, time.monotonic() - start


def _status(data: bytes) -> int:
    return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else 0


def _body(data: bytes) -> Any:
    return json.loads(data.split(b"\r\n\r\n", 1)[1])


def _get(port: int, path: str, timeout: float = 10.0, **kwargs: Any) -> tuple[int, Any, float]:
    """One request with http.client; status, JSON body and seconds taken."""
    start = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(kwargs.pop("method", "GET"), path, **kwargs)
        response = conn.getresponse()
        body = json.loads(response.read() or b"null")
        headers = {k.lower(): v for k, v in response.getheaders()}
        body = {"body": body, "headers": headers}
        return response.status, body, time.monotonic() - start
    finally:
        conn.close()


def _post(port: int, path: str, data: dict[str, Any], **kwargs: Any) -> tuple[int, Any, float]:
    return _get(port, path, method="POST", body=json.dumps(data),
                headers={"content-type": "application/json"}, **kwargs)


@pytest.fixture
def fast_config(config: Any) -> Any:
    server = config.server
    server.header_timeout_s = 0.5
    server.keep_alive_s = 0.3
    server.max_header_bytes = 1024
    server.max_body_bytes = 1024
    return config


# -- slow and idle connections -----------------------------------------------------------------
def test_slowloris_head_is_cut_off(fast_config: Any) -> None:
    with running_server(fast_config) as port, _connect(port) as sock:
        start = time.monotonic()
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
        closed = False
        for i in range(40):  # a header line every 0.1 s: never a complete head
            time.sleep(0.1)
            try:
                sock.sendall(b"X-%d: y\r\n" % i)
            except OSError:
                closed = True
                break
        data, _ = _read_all(sock, 2)
        took = time.monotonic() - start
        assert closed or data, "a slow head kept its connection"
        assert took < 2.5, took
        if data:
            assert _status(data) == 408 and _body(data)["error"] == "RequestTimeout"


def test_idle_and_kept_alive_connections_are_closed(fast_config: Any) -> None:
    with running_server(fast_config) as port:
        idle = [_connect(port) for _ in range(5)]
        for sock in idle:
            data, took = _read_all(sock)
            assert data == b"" and took < 2, took
            sock.close()
        with _connect(port) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            sock.settimeout(5)
            first = sock.recv(65536)
            assert _status(first) == 200
            rest, took = _read_all(sock)  # kept alive, then closed after keep_alive_s
            assert rest == b"" and 0.2 < took < 0.9, took  # 0.3 s, not uvicorn's whole second


def test_slow_body_is_cut_off(fast_config: Any) -> None:
    with running_server(fast_config) as port, _connect(port) as sock:
        sock.sendall(b"POST /rest_api HTTP/1.1\r\nHost: localhost\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"in")
        data, took = _read_all(sock)
        assert took < 2.5 and _status(data) in (0, 408), data


# -- sizes on the wire -------------------------------------------------------------------------
def test_oversized_head_is_431(fast_config: Any) -> None:
    with running_server(fast_config) as port:
        with _connect(port) as sock:  # a 50 kB header arriving in pieces
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: ")
            with contextlib.suppress(OSError):
                for _ in range(100):
                    sock.sendall(b"a" * 512)
            data, _ = _read_all(sock)
            assert _status(data) == 431 and _body(data)["error"] == "RequestHeaderFieldsTooLarge"
        with _connect(port) as sock:  # 4 kB in one write: the parser may take it whole
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"a" * 4096
                         + b"\r\n\r\n")
            data, _ = _read_all(sock)
            assert _status(data) == 431, data[:200]
        assert _get(port, "/healthz")[0] == 200


def test_body_over_the_cap_on_the_wire(fast_config: Any) -> None:
    with running_server(fast_config) as port:
        with _connect(port) as sock:  # 100 MB announced: refused before a byte of it is read
            sock.sendall(b"POST /rest_api HTTP/1.1\r\nHost: localhost\r\n"
                         b"Content-Type: application/json\r\nContent-Length: 100000000\r\n\r\n")
            data, took = _read_all(sock)
            assert _status(data) == 413 and took < 1, took
        with _connect(port) as sock:  # chunked: counted as it arrives, then cut off
            sock.sendall(b"POST /rest_api HTTP/1.1\r\nHost: localhost\r\n"
                         b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
            with contextlib.suppress(OSError):
                for _ in range(200):
                    sock.sendall(b"200\r\n" + b"x" * 512 + b"\r\n")
            data, took = _read_all(sock)
            assert _status(data) == 413 and b"connection: close" in data.lower(), data[:300]


def test_connections_over_the_cap_get_503(fast_config: Any) -> None:
    fast_config.server.max_connections = 3
    fast_config.server.header_timeout_s = 5
    with running_server(fast_config) as port:
        held = [_connect(port) for _ in range(3)]
        time.sleep(0.2)
        with _connect(port) as extra:
            data, took = _read_all(extra)
            assert _status(data) == 503 and took < 1
        held.pop().close()
        time.sleep(0.2)
        assert _get(port, "/healthz")[0] == 200
        for sock in held:
            sock.close()


# -- the run pool ------------------------------------------------------------------------------
class _SlowAgent:
    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.seconds = 0.0

    def invoke(self, question: str) -> dict[str, Any]:
        self.started.set()
        if self.seconds:
            time.sleep(self.seconds)
        else:
            self.release.wait(10)
        return {"answer": question, "steps": [], "stopped_by": "final_answer"}


def _build_index(config: Any) -> None:
    from tooldeck.rag import open_index

    config.rag.default_index = "api"
    index = open_index(config, "api", create=True)
    index.update([REPO / "tests" / "fixtures" / "api" / "guide.md"], config.rag.index("api"))
    index.close()


def test_a_slow_run_starves_nothing(fast_config: Any, monkeypatch: Any) -> None:
    agent = _SlowAgent()
    monkeypatch.setattr("tooldeck.pipeline.build_agent", lambda config: agent)
    _build_index(fast_config)
    fast_config.server.max_concurrent_runs = 1
    fast_config.server.header_timeout_s = 10
    with running_server(fast_config, queue_timeout_s=0.3) as port:
        _post(port, "/rest_api", {"instruction": "warm up the embedder"})
        first: list[Any] = []
        runner = threading.Thread(target=lambda: first.append(_post(port, "/v1/run",
                                                                    {"question": "one"})))
        runner.start()
        assert agent.started.wait(5)
        status, body, took = _post(port, "/v1/run", {"question": "two"})
        assert status == 503 and body["headers"]["retry-after"] == "1"
        assert "max_concurrent_runs" in body["body"]["message"] and took < 2
        assert _get(port, "/healthz", timeout=2)[0] == 200  # the event loop is free
        status, _, took = _post(port, "/rest_api", {"instruction": "rate limits"})
        assert status == 200 and took < 2, took  # retrieval does not wait for the run
        agent.release.set()
        runner.join(10)
        assert first[0][0] == 200 and first[0][1]["body"]["answer"] == "one"


def test_a_run_over_its_time_is_504(fast_config: Any, monkeypatch: Any) -> None:
    agent = _SlowAgent()
    agent.seconds = 0.8
    monkeypatch.setattr("tooldeck.pipeline.build_agent", lambda config: agent)
    fast_config.server.run_timeout_s = 0.2
    fast_config.server.max_concurrent_runs = 1
    with running_server(fast_config, queue_timeout_s=3) as port:
        status, body, took = _post(port, "/v1/run", {"question": "slow"})
        assert status == 504 and "server.run_timeout_s" in body["body"]["message"]
        assert took < 0.7, took
        fast_config.server.run_timeout_s = 5  # (read at create_app: the limit stays 0.2 s)
        agent.seconds = 0.01
        status, _, _ = _post(port, "/v1/run", {"question": "next"})  # waits for the slot
        assert status == 200


# -- starting ----------------------------------------------------------------------------------
def test_serve_prints_its_url(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOOLDECK_")}
    env.update(TOOLDECK_DATA_DIR=str(tmp_path / "data"), TOOLDECK_NO_ENTRY_POINTS="1")
    proc = subprocess.Popen([sys.executable, "-m", "tooldeck", "serve", "--port", "0"],
                            cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert line.startswith("tooldeck serving on http://127.0.0.1:"), line
        assert line.rstrip().endswith("(Ctrl-C to stop)")
        port = int(line.split("http://127.0.0.1:")[1].split()[0])
        status, body, _ = _get(port, "/healthz")
        assert status == 200 and body["body"]["status"] == "ok"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            assert proc.wait(15) in (0, 130)  # 130: the CLI's code for Ctrl-C
        finally:
            if proc.poll() is None:
                proc.kill()
            if proc.stderr is not None:
                proc.stderr.close()
