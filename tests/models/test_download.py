"""`tooldeck models pull` against a loopback hub: verified, resumed, refused; the catalogue's pins.

Hostile hubs (endless bodies, trickles, redirects away) are in tests/security/test_download.py.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tooldeck.errors import DownloadError, HashMismatchError, ModelError
from tooldeck.models.catalogue import CatalogueEntry, installed_models, load_catalogue
from tooldeck.models.download import HUB_URL_ENV, download_timeouts, hub_url, pull
from tooldeck.tools.net import NetPolicy, Retries, allow_addresses_for_tests
from tooldeck.tools.net.testing import LoopbackServer, SeenRequest, reply

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB
GOOD = hashlib.sha256(PAYLOAD).hexdigest()
REV = "0123456789abcdef0123456789abcdef01234567"
ONE_TRY = NetPolicy(retries=Retries(attempts=1))


class Hub:
    """Serves PAYLOAD with Range support; can cut the first response or add a hash header."""

    def __init__(self) -> None:
        self.cut_first = False
        self.linked_etag: str | None = None
        self.requests: list[SeenRequest] = []

    def __call__(self, request: SeenRequest, conn: socket.socket) -> None:
        self.requests.append(request)
        rng = request.headers.get("range")
        start = int(rng.split("=")[1].rstrip("-")) if rng else 0
        total = len(PAYLOAD)
        if rng and start >= total:
            reply(conn, 416, b"", {"Content-Range": f"bytes */{total}"})
            return
        body = PAYLOAD[start:]
        headers = {"Content-Type": "application/octet-stream"}
        if rng:
            headers["Content-Range"] = f"bytes {start}-{total - 1}/{total}"
        if self.linked_etag:
            headers["X-Linked-Etag"] = f'"{self.linked_etag}"'
        if self.cut_first and len(self.requests) == 1:
            headers["Content-Length"] = str(len(body))
            head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            conn.sendall(f"HTTP/1.1 200 OK\r\n{head}\r\n".encode() + body[: len(body) // 2])
            return  # the server closes the connection half-way
        reply(conn, 206 if rng else 200, body, headers)


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[Hub]:
    state = Hub()
    with LoopbackServer(state) as server, allow_addresses_for_tests({"127.0.0.1"}):
        monkeypatch.setenv(HUB_URL_ENV, server.url)
        yield state
    assert server.errors == []


def entry(sha: str | None, size: int | None = len(PAYLOAD)) -> CatalogueEntry:
    return CatalogueEntry("tiny", "a test file", "org/repo", "tiny.gguf", sha, REV, size)


def leftovers(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in tmp_path.rglob("tiny.gguf*"))


def test_good_hash_is_verified_and_installed(hub: Hub, tmp_path: Path) -> None:
    seen: list[tuple[int, int | None]] = []
    path = pull(entry(GOOD), tmp_path, progress=lambda done, total: seen.append((done, total)))
    assert path.read_bytes() == PAYLOAD and seen[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert installed_models(tmp_path)[0].sha256 == GOOD
    assert leftovers(tmp_path) == ["tiny.gguf", "tiny.gguf.sha256"]
    request = hub.requests[0]
    assert request.path == f"/org/repo/resolve/{REV}/tiny.gguf"
    assert request.headers["accept-encoding"] == "identity"


def test_installed_file_is_not_downloaded_again(hub: Hub, tmp_path: Path) -> None:
    pull(entry(GOOD), tmp_path)
    assert pull(entry(GOOD), tmp_path).read_bytes() == PAYLOAD
    assert len(hub.requests) == 1


def test_bad_hash_deletes_the_file(hub: Hub, tmp_path: Path) -> None:
    with pytest.raises(HashMismatchError, match="does not match"):
        pull(entry("0" * 64), tmp_path)
    assert leftovers(tmp_path) == []


def test_interrupted_transfer_keeps_the_part_and_resumes(hub: Hub, tmp_path: Path) -> None:
    hub.cut_first = True
    with pytest.raises(DownloadError, match="run the same command again to resume"):
        pull(entry(GOOD), tmp_path)
    part = tmp_path / "models" / "tiny.gguf.part"
    assert part.stat().st_size == len(PAYLOAD) // 2
    assert pull(entry(GOOD), tmp_path).read_bytes() == PAYLOAD
    assert hub.requests[-1].headers["range"] == f"bytes={len(PAYLOAD) // 2}-"
    assert not part.exists()


def test_complete_part_answered_416_is_verified(hub: Hub, tmp_path: Path) -> None:
    part = tmp_path / "models" / "tiny.gguf.part"
    part.parent.mkdir()
    part.write_bytes(PAYLOAD)
    assert pull(entry(GOOD), tmp_path).read_bytes() == PAYLOAD
    assert hub.requests[-1].headers["range"] == f"bytes={len(PAYLOAD)}-"


def test_no_pinned_hash_is_refused_before_any_connection(hub: Hub, tmp_path: Path) -> None:
    hub.linked_etag = GOOD
    with pytest.raises(DownloadError, match="no SHA-256 is pinned.*--sha256 HEX"):
        pull(entry(None), tmp_path)
    assert hub.requests == []


def test_user_sha256_verifies_an_unpinned_entry(hub: Hub, tmp_path: Path) -> None:
    assert pull(entry(None), tmp_path, sha256=GOOD.upper()).read_bytes() == PAYLOAD


def test_user_sha256_conflicting_with_the_pin_is_refused(hub: Hub, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="conflicts with the catalogue's pinned"):
        pull(entry(GOOD), tmp_path, sha256="1" * 64)
    with pytest.raises(DownloadError, match="not 64 hex digits"):
        pull(entry(None), tmp_path, sha256="abc")
    assert hub.requests == []


def test_trusted_hub_hash_from_the_hub_itself(hub: Hub, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="sent no SHA-256"):
        pull(entry(None), tmp_path, trust_hub_hash=True)
    assert leftovers(tmp_path) == []
    hub.linked_etag = GOOD
    assert pull(entry(None), tmp_path, trust_hub_hash=True).read_bytes() == PAYLOAD


def test_entry_without_a_size_is_refused(hub: Hub, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="no size"):
        pull(entry(GOOD, size=None), tmp_path)
    assert hub.requests == []


def test_unreachable_hub_is_an_interruption(monkeypatch: Any, tmp_path: Path) -> None:
    monkeypatch.setenv(HUB_URL_ENV, "http://127.0.0.1:9")
    with (
        allow_addresses_for_tests({"127.0.0.1"}),
        pytest.raises(DownloadError, match="interrupted after 0 bytes"),
    ):
        pull(entry(GOOD), tmp_path, policy=ONE_TRY)


def test_deadline_grows_with_the_size() -> None:
    small, large = download_timeouts(1_000_000), download_timeouts(2 * 1024**3)
    assert small.total_s == 600.0 and large.total_s == 8192.0  # 2 GiB at 256 KiB/s
    assert small.read_s == 30.0 and small.connect_s == 30.0


def test_catalogue_pins_revision_size_and_hash_of_every_entry() -> None:
    names = load_catalogue()
    assert any("1.5b" in n for n in names)
    for item in names.values():
        main = ".gguf" if item.kind == "chat" else ".safetensors"
        assert item.file.endswith(main) and "/" in item.repo
        assert item.sha256 is not None and len(item.sha256) == 64
        assert item.revision is not None and len(item.revision) == 40
        assert item.size is not None and item.size > 100_000_000
        assert f"/resolve/{item.revision}/{item.file}" in hub_url(item)


def test_malformed_catalogue_pin_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    text = "x:\n  description: d\n  repo: a/b\n  file: f.gguf\n  sha256: nothex\n"

    class Files:
        def joinpath(self, name: str) -> Files:
            return self

        def read_text(self, encoding: str) -> str:
            return text

    monkeypatch.setattr(importlib.resources, "files", lambda package: Files())
    with pytest.raises(ModelError, match="sha256 'nothex'"):
        load_catalogue()
