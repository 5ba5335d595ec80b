"""`tooldeck models pull` against a loopback server: good hash, bad hash, interrupted transfer."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import loopback_server
from tooldeck.errors import DownloadError, HashMismatchError
from tooldeck.models.catalogue import CatalogueEntry, installed_models, load_catalogue
from tooldeck.models.download import HUB_URL_ENV, pull

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB
GOOD = hashlib.sha256(PAYLOAD).hexdigest()


class _Hub:
    def __init__(self) -> None:
        self.cut_first = False  # close the first response half-way
        self.linked_etag: str | None = None
        self.requests: list[str | None] = []


@pytest.fixture
def hub(monkeypatch: Any) -> Iterator[_Hub]:
    state = _Hub()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            rng = self.headers.get("Range")
            state.requests.append(rng)
            start = int(rng.split("=")[1].rstrip("-")) if rng else 0
            body = PAYLOAD[start:]
            self.send_response(206 if rng else 200)
            self.send_header("Content-Length", str(len(body)))
            if state.linked_etag:
                self.send_header("X-Linked-Etag", f'"{state.linked_etag}"')
            self.end_headers()
            if state.cut_first and len(state.requests) == 1:
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.connection.shutdown(2)
                return
            self.wfile.write(body)

    with loopback_server(Handler) as url:
        monkeypatch.setenv(HUB_URL_ENV, url)
        yield state


def entry(sha: str | None) -> CatalogueEntry:
    return CatalogueEntry("tiny", "a test file", "org/repo", "tiny.gguf", sha)


def test_good_hash(hub: _Hub, tmp_path: Path) -> None:
    seen: list[int] = []
    path = pull(entry(GOOD), tmp_path, progress=lambda done, total: seen.append(done))
    assert path.read_bytes() == PAYLOAD and seen[-1] == len(PAYLOAD)
    assert installed_models(tmp_path)[0].sha256 == GOOD
    assert not list(tmp_path.rglob("*.part"))


def test_bad_hash_deletes_the_file(hub: _Hub, tmp_path: Path) -> None:
    with pytest.raises(HashMismatchError, match="does not match"):
        pull(entry("0" * 64), tmp_path)
    assert not list(tmp_path.rglob("tiny.gguf*"))


def test_interrupted_transfer_resumes(hub: _Hub, tmp_path: Path) -> None:
    hub.cut_first = True
    with pytest.raises(DownloadError, match="run the same command again to resume"):
        pull(entry(GOOD), tmp_path)
    part = tmp_path / "models" / "tiny.gguf.part"
    assert 0 < part.stat().st_size < len(PAYLOAD)
    path = pull(entry(GOOD), tmp_path)
    assert path.read_bytes() == PAYLOAD
    assert hub.requests[-1] == f"bytes={len(PAYLOAD) // 2}-"


def test_hub_hash_used_when_catalogue_has_none(hub: _Hub, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="no SHA-256 is known"):
        pull(entry(None), tmp_path)
    hub.linked_etag = GOOD
    assert pull(entry(None), tmp_path).read_bytes() == PAYLOAD


def test_unreachable_hub(monkeypatch: Any, tmp_path: Path) -> None:
    monkeypatch.setenv(HUB_URL_ENV, "http://127.0.0.1:9")
    with pytest.raises(DownloadError, match="interrupted after 0 bytes"):
        pull(entry(GOOD), tmp_path)


def test_catalogue_has_a_1_5b_instruct_model() -> None:
    names = load_catalogue()
    assert any("1.5b" in n for n in names)
    for item in names.values():
        assert item.file.endswith(".gguf") and "/" in item.repo
