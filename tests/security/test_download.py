"""`tooldeck models pull` against hostile loopback hubs (issue 10).

An endless body stops at the catalogue's size, a trickle at the overall deadline, a redirect
away never supplies the hash, a redirect to the metadata address is refused without a
connection; every refusal leaves no file behind. Each test sets small limits and stays < 3 s.
"""

from __future__ import annotations

import hashlib
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tooldeck.errors import BlockedAddressError, DownloadError, HashMismatchError
from tooldeck.models.catalogue import CatalogueEntry
from tooldeck.models.download import HUB_URL_ENV, pull
from tooldeck.tools.net import NetPolicy, Retries, Timeouts, allow_addresses_for_tests
from tooldeck.tools.net.testing import LoopbackServer, SeenRequest, reply

SIZE = 256 * 1024
GOOD_BYTES = bytes(range(256)) * (SIZE // 256)
EVIL_BYTES = b"\xee" * SIZE
GOOD = hashlib.sha256(GOOD_BYTES).hexdigest()
EVIL = hashlib.sha256(EVIL_BYTES).hexdigest()
FAST = Timeouts(connect_s=0.5, read_s=0.5, total_s=1.0)
QUICK_RETRIES = NetPolicy(retries=Retries(attempts=2, backoff_s=0.01, max_delay_s=0.1))

Handler = Callable[[SeenRequest, socket.socket], None]


class Hubs:
    """Loopback servers for one test; the first one started is the catalogue's hub."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch = monkeypatch
        self.started: list[LoopbackServer] = []

    def __call__(self, handler: Handler) -> LoopbackServer:
        server = LoopbackServer(handler).__enter__()
        if not self.started:
            self.monkeypatch.setenv(HUB_URL_ENV, server.url)
        self.started.append(server)
        return server


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch) -> Iterator[Hubs]:
    """Start hubs; loopback is reachable through the test allowance only."""
    hubs = Hubs(monkeypatch)
    with allow_addresses_for_tests({"127.0.0.1"}):
        yield hubs
    for server in hubs.started:
        server.__exit__(None, None, None)
        assert server.errors == []


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every address a socket tried to connect to during the test."""
    seen: list[Any] = []
    inner = socket.socket.connect

    def recording(self: socket.socket, address: Any) -> Any:
        seen.append(address)
        return inner(self, address)

    monkeypatch.setattr(socket.socket, "connect", recording)
    return seen


def entry(sha: str | None = GOOD) -> CatalogueEntry:
    return CatalogueEntry("tiny", "test", "org/repo", "tiny.gguf", sha, "a" * 40, SIZE)


def files(tmp_path: Path) -> list[str]:
    folder = tmp_path / "models"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def seed_part(tmp_path: Path, data: bytes) -> Path:
    part = tmp_path / "models" / "tiny.gguf.part"
    part.parent.mkdir(parents=True, exist_ok=True)
    part.write_bytes(data)
    return part


def head(conn: socket.socket, headers: dict[str, str], status: str = "200 OK") -> None:
    lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    conn.sendall(f"HTTP/1.1 {status}\r\n{lines}\r\n".encode())


def endless(sent: list[int], status: str = "200 OK") -> Handler:
    def handler(request: SeenRequest, conn: socket.socket) -> None:
        rng = request.headers.get("range", "bytes=0-")
        start = int(rng.split("=")[1].rstrip("-"))
        extra = {"Content-Range": f"bytes {start}-{SIZE - 1}/{SIZE}"} if start else {}
        head(conn, {"Content-Type": "application/octet-stream", **extra}, status)  # no length
        while sent[0] < 64 * 1024 * 1024:
            conn.sendall(b"x" * 65536)
            sent[0] += 65536

    return handler


class Redirect:
    """Answers 302 to ``target`` + the request's path (``target`` may be set after starting)."""

    def __init__(self, target: str = "") -> None:
        self.target = target

    def __call__(self, request: SeenRequest, conn: socket.socket) -> None:
        reply(conn, 302, b"", {"Location": self.target + request.path})


def serving(body: bytes, linked_etag: str) -> Handler:
    headers = {"Content-Type": "application/octet-stream", "X-Linked-Etag": f'"{linked_etag}"'}
    return lambda request, conn: reply(conn, 200, body, headers)


# --- size ------------------------------------------------------------------------------


def test_endless_body_stops_at_the_size_cap_with_no_file_left(serve: Hubs, tmp_path: Path) -> None:
    sent = [0]
    serve(endless(sent))
    started = time.monotonic()
    with pytest.raises(DownloadError, match="refused.*larger than|refused.*more than"):
        pull(entry(), tmp_path, timeouts=FAST)
    assert time.monotonic() - started < 2
    assert files(tmp_path) == []
    assert sent[0] < 16 * 1024 * 1024  # stopped early, not at the server's own 64 MiB limit


def test_endless_body_after_a_resume_stops_at_the_size_cap(serve: Hubs, tmp_path: Path) -> None:
    sent = [0]
    serve(endless(sent, "206 Partial Content"))
    seed_part(tmp_path, GOOD_BYTES[: SIZE // 2])
    with pytest.raises(DownloadError, match="more than the catalogue's"):
        pull(entry(), tmp_path, timeouts=FAST)
    assert files(tmp_path) == []


def test_declared_length_over_the_size_is_refused(serve: Hubs, tmp_path: Path) -> None:
    big = {"Content-Type": "application/octet-stream", "Content-Length": str(10 * 1024**3)}
    serve(lambda request, conn: head(conn, big))
    with pytest.raises(DownloadError, match="refused.*larger than"):
        pull(entry(), tmp_path, timeouts=FAST)
    assert files(tmp_path) == []


# --- time ------------------------------------------------------------------------------


def test_trickle_stops_at_the_overall_deadline_with_no_file_left(
    serve: Hubs, tmp_path: Path
) -> None:
    def trickle(request: SeenRequest, conn: socket.socket) -> None:
        head(conn, {"Content-Type": "application/octet-stream", "Content-Length": str(SIZE)})
        for _ in range(100):  # 1 byte every 0.1 s: each read is quick, the whole is not
            conn.sendall(b"x")
            time.sleep(0.1)

    serve(trickle)
    started = time.monotonic()
    with pytest.raises(DownloadError, match="refused: not finished within the deadline of 1 s"):
        pull(entry(), tmp_path, timeouts=FAST)
    assert time.monotonic() - started < 2
    assert files(tmp_path) == []


def test_a_stalled_hub_is_an_interruption_that_keeps_the_part(serve: Hubs, tmp_path: Path) -> None:
    def stall(request: SeenRequest, conn: socket.socket) -> None:
        head(conn, {"Content-Type": "application/octet-stream", "Content-Length": str(SIZE)})
        conn.sendall(GOOD_BYTES[:1000])
        time.sleep(1.0)  # silent: the read timeout (0.3 s) ends it

    serve(stall)
    stalls = Timeouts(connect_s=0.5, read_s=0.3, total_s=2.0)
    with pytest.raises(DownloadError, match="interrupted after 1000 bytes.*read timeout"):
        pull(entry(), tmp_path, timeouts=stalls)
    assert files(tmp_path) == ["tiny.gguf.part"]


# --- where the hash comes from -----------------------------------------------------------


def test_hash_header_from_another_origin_is_not_trusted(serve: Hubs, tmp_path: Path) -> None:
    redirect = Redirect()
    hub = serve(redirect)
    other = serve(serving(EVIL_BYTES, EVIL))
    redirect.target = other.url  # another origin: the same address, a different port
    with pytest.raises(DownloadError, match=r"redirected to http://127\.0\.0\.1:\d+/.*not trusted"):
        pull(entry(None), tmp_path, trust_hub_hash=True, timeouts=FAST)
    assert files(tmp_path) == []
    assert len(other.requests) == 1 and other.url != hub.url


def test_redirect_away_is_verified_against_the_pinned_hash_only(
    serve: Hubs, tmp_path: Path
) -> None:
    redirect = Redirect()
    serve(redirect)
    redirect.target = serve(serving(EVIL_BYTES, EVIL)).url
    with pytest.raises(HashMismatchError):
        pull(entry(GOOD), tmp_path, trust_hub_hash=True, timeouts=FAST)
    assert files(tmp_path) == []
    redirect.target = serve(serving(GOOD_BYTES, EVIL)).url  # right bytes, lying header
    assert pull(entry(GOOD), tmp_path, timeouts=FAST).read_bytes() == GOOD_BYTES
    assert files(tmp_path) == ["tiny.gguf", "tiny.gguf.sha256"]


def test_good_download_is_verified_with_the_pinned_hash(serve: Hubs, tmp_path: Path) -> None:
    serve(serving(GOOD_BYTES, EVIL))
    path = pull(entry(GOOD), tmp_path, timeouts=FAST)
    assert path.read_bytes() == GOOD_BYTES
    assert (tmp_path / "models" / "tiny.gguf.sha256").read_text().strip() == GOOD


def test_bad_hash_leaves_no_part_and_no_final_file(serve: Hubs, tmp_path: Path) -> None:
    serve(serving(EVIL_BYTES, EVIL))
    with pytest.raises(HashMismatchError, match="does not match"):
        pull(entry(GOOD), tmp_path, timeouts=FAST)
    assert files(tmp_path) == []


# --- redirects and other refusals ------------------------------------------------------


def test_redirect_to_the_metadata_address_is_refused_without_connecting(
    serve: Hubs, tmp_path: Path, connects: list[Any]
) -> None:
    serve(Redirect("http://169.254.169.254"))
    seed_part(tmp_path, GOOD_BYTES[:1000])
    with pytest.raises(DownloadError, match="refused.*169.254.169.254") as caught:
        pull(entry(), tmp_path, timeouts=FAST)
    assert isinstance(caught.value.__cause__, BlockedAddressError)
    assert [a for a in connects if a[0] != "127.0.0.1"] == []
    assert files(tmp_path) == []


def test_redirect_loop_is_refused(serve: Hubs, tmp_path: Path) -> None:
    redirect = Redirect()
    redirect.target = serve(redirect).url
    with pytest.raises(DownloadError, match="refused.*redirects"):
        pull(entry(), tmp_path, timeouts=FAST)
    assert files(tmp_path) == []


def test_a_range_answer_for_other_bytes_is_refused(serve: Hubs, tmp_path: Path) -> None:
    wrong = {"Content-Range": f"bytes 0-{SIZE - 1}/{SIZE}"}
    serve(lambda request, conn: reply(conn, 206, GOOD_BYTES, wrong))
    seed_part(tmp_path, GOOD_BYTES[:1000])
    with pytest.raises(DownloadError, match="refused.*Content-Range"):
        pull(entry(), tmp_path, timeouts=FAST)
    assert files(tmp_path) == []


def test_not_found_is_refused_and_drops_the_part(serve: Hubs, tmp_path: Path) -> None:
    serve(lambda request, conn: reply(conn, 404, b"no such file"))
    seed_part(tmp_path, GOOD_BYTES[:1000])
    with pytest.raises(DownloadError, match="refused.*HTTP 404"):
        pull(entry(), tmp_path, timeouts=FAST)
    assert files(tmp_path) == []


def test_server_errors_after_retries_keep_the_part(serve: Hubs, tmp_path: Path) -> None:
    hub = serve(lambda request, conn: reply(conn, 503, b"busy"))
    seed_part(tmp_path, GOOD_BYTES[:1000])
    with pytest.raises(DownloadError, match="interrupted after 1000 bytes.*HTTP 503"):
        pull(entry(), tmp_path, timeouts=FAST, policy=QUICK_RETRIES)
    assert files(tmp_path) == ["tiny.gguf.part"]
    assert len(hub.requests) == 2
