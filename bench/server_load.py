"""HTTP server limits and load: ``tooldeck serve``'s setup against plain uvicorn defaults.

Run from the repository root in the installed venv::

    .venv/bin/python bench/server_load.py [--clients 16] [--requests 30] [--run-ms 200]

Both setups serve the same app (``create_app``) on 127.0.0.1; "uvicorn" is how ``serve`` ran
before (``uvicorn.run(app)``: httptools, no deadlines or caps), "tooldeck" is
``tooldeck.server.serve.make_server`` with the configured limits (header timeout shortened to
2 s so the table comes quickly). Tables:

1. connections: slow partial heads (a header line every second), idle connections, a 50 MB
   header and a 100 MB chunked body: how many are still open after a few seconds, how many
   bytes the server took before it cut the sender off, and its RSS growth.
2. runs: ``clients`` threads each sending ``requests`` to ``/v1/run`` with an agent that holds
   the model lock for ``run-ms`` (as the in-process llama.cpp does), while one thread polls
   ``/healthz`` and another ``/rest_api``: status counts and latencies.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))


def _config(data: Path) -> Any:
    from tooldeck.config import load_config

    config = load_config(REPO / "config.yaml", {"data_dir": str(data)}, environ={},
                         read_dotenv=False)
    config.server.header_timeout_s = 2.0
    config.server.max_connections = 1000  # table 1 opens hundreds on purpose
    return config


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@contextlib.contextmanager
def _serving(config: Any, setup: str, **app_kwargs: Any) -> Iterator[int]:
    import uvicorn

    from tooldeck.server.app import create_app
    from tooldeck.server.serve import make_server, open_listener

    listener = open_listener("127.0.0.1", 0, backlog=2048)
    app = create_app(config, use_llm=False, bind_host="127.0.0.1", **app_kwargs)
    if setup == "tooldeck":
        server = make_server(app, config.server, "127.0.0.1")
    else:
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", log_level="critical"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener.sock]},
                              daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield int(listener.sock.getsockname()[1])
    finally:
        server.should_exit = True
        thread.join(15)
        listener.sock.close()


def _open(port: int, head: bytes) -> socket.socket | None:
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=2)
        if head:
            sock.sendall(head)
        return sock
    except OSError:
        return None


def _still_open(sock: socket.socket) -> bool:
    """Whether the server still holds the connection without having answered or closed it."""
    sock.setblocking(False)
    try:
        sock.recv(1, socket.MSG_PEEK)  # b"": closed; bytes: it answered (408) and closed
        return False
    except BlockingIOError:
        return True
    except OSError:
        return False


def _slow_and_idle(port: int, slow: int, idle: int, seconds: float) -> tuple[int, int]:
    head = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n"
    slow_socks = [s for s in (_open(port, head) for _ in range(slow)) if s]
    idle_socks = [s for s in (_open(port, b"") for _ in range(idle)) if s]
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for s in slow_socks:
            with contextlib.suppress(OSError):
                s.setblocking(True)
                s.settimeout(0.5)
                s.sendall(b"X-Slow: 1\r\n")
        time.sleep(1.0)
    counts = (sum(map(_still_open, slow_socks)), sum(map(_still_open, idle_socks)))
    for s in slow_socks + idle_socks:
        s.close()
    return counts


def _flood(port: int, head: bytes, piece: bytes, total: int) -> tuple[int, str]:
    """Send ``head`` then ``piece`` until ``total`` bytes or the server stops us."""
    sent = 0
    sock = _open(port, head)
    if sock is None:
        return 0, "refused"
    sock.settimeout(5)
    with contextlib.suppress(OSError):
        while sent < total:
            sock.sendall(piece)
            sent += len(piece)
    reply = b""
    with contextlib.suppress(OSError):
        reply = sock.recv(200)
    sock.close()
    status = reply.split(b"\r\n", 1)[0].decode(errors="replace") or "(closed)"
    return sent, status


def table_connections(config: Any) -> None:
    print("| setup    | slow heads open | idle open | 50 MB header: sent / reply"
          "              | 100 MB chunked body: sent / reply          | RSS +MB |")
    print("|----------|-----------------|-----------|------------------------------------------"
          "|--------------------------------------------|---------|")
    for setup in ("uvicorn", "tooldeck"):
        with _serving(config, setup) as port:
            rss = _rss_mb()
            slow, idle = _slow_and_idle(port, 300, 60, config.server.header_timeout_s + 3)
            head_sent, head_reply = _flood(
                port, b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: ", b"a" * 65536,
                50 * 2**20)
            body_sent, body_reply = _flood(
                port, b"POST /rest_api HTTP/1.1\r\nHost: localhost\r\nContent-Type: "
                b"application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
                b"10000\r\n" + b"x" * 65536 + b"\r\n", 100 * 2**20)
            grown = _rss_mb() - rss
        print(f"| {setup:8} | {slow:>11}/300 | {idle:>6}/60 | {head_sent / 2**20:6.1f} MB / "
              f"{head_reply[:26]:26} | {body_sent / 2**20:6.1f} MB / {body_reply[:26]:26} | "
              f"{grown:7.0f} |")


def _call(port: int, method: str, path: str, body: dict[str, Any] | None) -> tuple[int, float]:
    start = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        data = json.dumps(body) if body is not None else None
        conn.request(method, path, body=data, headers={"content-type": "application/json"})
        response = conn.getresponse()
        response.read()
        return response.status, time.monotonic() - start
    except OSError:
        return 0, time.monotonic() - start
    finally:
        conn.close()


def _p(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return sorted(values)[min(len(values) - 1, int(q * len(values)))]


class _Agent:
    """Holds the model lock for a fixed time per run, like the in-process model."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def invoke(self, question: str) -> dict[str, Any]:
        time.sleep(self.seconds)
        return {"answer": question, "steps": [], "stopped_by": "final_answer"}


def _poll(port: int, method: str, path: str, body: dict[str, Any] | None,
          stop: threading.Event, out: list[float]) -> None:
    while not stop.is_set():
        status, took = _call(port, method, path, body)
        if status == 200:
            out.append(took)
        time.sleep(0.05)


def table_runs(config: Any, clients: int, requests: int, run_s: float) -> None:
    import tooldeck.pipeline
    from tooldeck.rag import open_index

    config.rag.default_index = "api"
    index = open_index(config, "api", create=True)
    index.update([REPO / "tests" / "fixtures" / "api"], config.rag.index("api"))
    index.close()
    tooldeck.pipeline.build_agent = lambda *a, **k: _Agent(run_s)  # type: ignore[assignment]
    print(f"\n{clients} clients x {requests} POST /v1/run, each run holding the model "
          f"{run_s * 1000:.0f} ms; max_concurrent_runs={config.server.max_concurrent_runs}")
    print("| requests | 200 | 503 | other | run p50 s | run p95 s | /healthz p95 ms "
          "| /rest_api p95 ms | wall s |")
    print("|----------|-----|-----|-------|-----------|-----------|-----------------"
          "|------------------|--------|")
    with _serving(config, "tooldeck") as port:
        _call(port, "POST", "/rest_api", {"instruction": "warm up"})
        results: list[tuple[int, float]] = []
        lock = threading.Lock()

        def client() -> None:
            for i in range(requests):
                got = _call(port, "POST", "/v1/run", {"question": f"q{i}"})
                with lock:
                    results.append(got)

        stop = threading.Event()
        health: list[float] = []
        rest: list[float] = []
        pollers = [threading.Thread(target=_poll, args=(port, "GET", "/healthz", None, stop,
                                                        health)),
                   threading.Thread(target=_poll, args=(port, "POST", "/rest_api",
                                                        {"instruction": "rate limits"}, stop,
                                                        rest))]
        start = time.monotonic()
        _run_all([threading.Thread(target=client) for _ in range(clients)], pollers, stop)
        wall = time.monotonic() - start
    codes = Counter(status for status, _ in results)
    ok = [took for status, took in results if status == 200]
    other = len(results) - codes[200] - codes[503]
    print(f"| {len(results):8} | {codes[200]:3} | {codes[503]:3} | {other:5} | "
          f"{_p(ok, 0.5):9.2f} | {_p(ok, 0.95):9.2f} | {_p(health, 0.95) * 1000:15.0f} | "
          f"{_p(rest, 0.95) * 1000:16.0f} | {wall:6.1f} |")
    print(f"(/healthz median {statistics.median(health) * 1000:.0f} ms over {len(health)}; "
          f"/rest_api median {statistics.median(rest) * 1000:.0f} ms over {len(rest)})")


def _run_all(workers: list[threading.Thread], pollers: list[threading.Thread],
             stop: threading.Event) -> None:
    for t in pollers + workers:
        t.start()
    for t in workers:
        t.join()
    stop.set()
    for t in pollers:
        t.join()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--run-ms", type=float, default=200.0)
    parser.add_argument("--skip", choices=["connections", "runs"], action="append", default=[])
    args = parser.parse_args(argv)
    sections: list[tuple[str, Callable[[Any], None]]] = [
        ("connections", table_connections),
        ("runs", lambda c: table_runs(c, args.clients, args.requests, args.run_ms / 1000)),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for name, section in sections:
            if name not in args.skip:
                section(_config(Path(tmp) / name))


if __name__ == "__main__":
    main()
