"""Pulling an embedding model's folder from a loopback hub: all verified, or nothing published."""

from __future__ import annotations

import hashlib
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tooldeck.errors import DownloadError, HashMismatchError, ModelError
from tooldeck.models import catalogue
from tooldeck.models.catalogue import CatalogueEntry, load_catalogue
from tooldeck.models.download import HUB_URL_ENV
from tooldeck.models.folders import folder_complete, pull_folder
from tooldeck.tools.net import allow_addresses_for_tests
from tooldeck.tools.net.testing import LoopbackServer, SeenRequest, reply

REV = "0123456789abcdef0123456789abcdef01234567"
FILES = {"model.safetensors": b"w" * 5000, "tokenizer.json": b'{"model": {}}',
         "config.json": b'{"model_type": "bert"}'}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Hub:
    """Serves FILES by name; counts requests per file."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, request: SeenRequest, conn: socket.socket) -> None:
        name = request.path.rsplit("/", 1)[-1]
        self.seen.append(name)
        if name not in FILES or f"/resolve/{REV}/" not in request.path:
            reply(conn, 404, b"no")
            return
        reply(conn, 200, FILES[name], {"Content-Type": "application/octet-stream"})


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[Hub]:
    state = Hub()
    with LoopbackServer(state) as server, allow_addresses_for_tests({"127.0.0.1"}):
        monkeypatch.setenv(HUB_URL_ENV, server.url)
        yield state


def _entry(tokenizer_sha: str | None = None) -> CatalogueEntry:
    main = FILES["model.safetensors"]
    files = tuple((n, len(FILES[n]), _sha(FILES[n])) for n in ("tokenizer.json", "config.json"))
    if tokenizer_sha:
        files = ((files[0][0], files[0][1], tokenizer_sha), files[1])
    return CatalogueEntry("tiny-embed", "test", "org/tiny", "model.safetensors", _sha(main), REV,
                          len(main), "embeddings", files,
                          (("modules.json", "[]\n"), ("1_Pooling/config.json", "{}\n")))


def test_folder_is_pulled_verified_and_completed_with_settings(hub: Hub, tmp_path: Path) -> None:
    seen: list[tuple[str, int, int | None]] = []
    folder = pull_folder(_entry(), tmp_path, progress=lambda *a: seen.append(a))
    assert folder == tmp_path / "models" / "tiny-embed" and folder_complete(_entry(), folder)
    for name, data in FILES.items():
        assert (folder / name).read_bytes() == data
        assert (folder / f"{name}.sha256").read_text().strip() == _sha(data)
    assert (folder / "1_Pooling" / "config.json").read_text() == "{}\n"
    assert {s[0] for s in seen} == set(FILES)
    assert not list((tmp_path / "models").glob(".tiny-embed*"))  # no staging left
    hub.seen.clear()
    assert pull_folder(_entry(), tmp_path) == folder and hub.seen == []  # nothing fetched again


def test_a_bad_file_publishes_nothing_and_a_rerun_resumes(hub: Hub, tmp_path: Path) -> None:
    with pytest.raises(HashMismatchError):
        pull_folder(_entry(tokenizer_sha="0" * 64), tmp_path)
    assert not (tmp_path / "models" / "tiny-embed").exists()
    hub.seen.clear()
    pull_folder(_entry(), tmp_path)
    assert "model.safetensors" not in hub.seen  # verified before the failure: kept in staging


def test_a_chat_entry_is_not_a_folder(tmp_path: Path) -> None:
    chat = CatalogueEntry("c", "d", "o/r", "m.gguf", "a" * 64, REV, 10)
    with pytest.raises(DownloadError, match="not an embedding model folder"):
        pull_folder(chat, tmp_path)


def test_the_catalogue_knows_a_pinned_multilingual_model() -> None:
    entry = load_catalogue()["paraphrase-multilingual-minilm-l12-v2"]
    assert entry.kind == "embeddings" and entry.revision and entry.size and entry.sha256
    assert {f[0] for f in entry.files} == {"tokenizer.json", "config.json"}
    settings = dict(entry.settings)
    assert json.loads(settings["1_Pooling/config.json"])["pooling_mode_mean_tokens"] is True
    assert json.loads(settings["sentence_bert_config.json"])["max_seq_length"] == 128


@pytest.mark.parametrize(("item", "message"), [
    ({"kind": "vision"}, "kind must be one of"),
    ({"files": {"a/b.json": {"size": 1, "sha256": "a" * 64}}}, "flat name"),
    ({"files": {"tok.json": {"size": 1}}}, "needs a flat name, a positive size and a sha256"),
    ({"settings": {"../x.json": {}}}, "not a plain relative path"),
    ({"settings": ["x"]}, "settings must map"),
])
def test_malformed_embedding_entries_are_refused(item: dict[str, object], message: str) -> None:
    raw = {"description": "d", "repo": "o/r", "file": "m", "kind": "embeddings", **item}
    with pytest.raises(ModelError, match=message):
        catalogue._entry("bad", raw)


def test_a_catalogue_name_as_embeddings_folder_says_how_to_get_it() -> None:
    from tooldeck.config import EmbeddingsConfig
    from tooldeck.errors import ModelNotFoundError
    from tooldeck.models.embeddings import get_embeddings

    name = "paraphrase-multilingual-minilm-l12-v2"
    with pytest.raises(ModelNotFoundError, match=f"tooldeck models pull {name}"):
        get_embeddings(EmbeddingsConfig(name=name))
    with pytest.raises(ModelNotFoundError, match="cannot load a BERT embedding model"):
        get_embeddings(EmbeddingsConfig(name="no-such-folder"))
