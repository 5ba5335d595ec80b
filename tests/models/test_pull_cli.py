"""`tooldeck models pull --sha256/--trust-hub-hash` reach the download, checked at the door."""

from __future__ import annotations

from pathlib import Path

import pytest

from tooldeck.cli import main


def test_malformed_sha256_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "pull", "qwen2.5-coder-1.5b", "--sha256", "xyz"]) == 2
    assert "64 hexadecimal digits" in capsys.readouterr().err


def test_sha256_that_contradicts_the_pin_is_refused_before_any_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TOOLDECK_DATA_DIR", str(tmp_path))
    code = main(["models", "pull", "qwen2.5-coder-1.5b", "--sha256", "a" * 64])
    assert code == 1
    assert "conflicts with the catalogue's pinned SHA-256" in capsys.readouterr().err
    assert not list(tmp_path.rglob("*.part"))


def test_an_embedding_entry_is_pulled_as_a_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import tooldeck.models.folders as folders

    seen: dict[str, object] = {}

    def fake_pull_folder(entry: object, data_dir: Path, **kwargs: object) -> Path:
        seen.update(entry=entry, data_dir=data_dir, **kwargs)
        folder = data_dir / "models" / "multilingual"
        folder.mkdir(parents=True)
        return folder

    monkeypatch.setattr(folders, "pull_folder", fake_pull_folder)
    monkeypatch.setenv("TOOLDECK_DATA_DIR", str(tmp_path))
    assert main(["models", "pull", "paraphrase-multilingual-minilm-l12-v2"]) == 0
    assert getattr(seen["entry"], "kind") == "embeddings" and seen["data_dir"] == tmp_path
    out = capsys.readouterr().out
    assert "embeddings: {provider: local, name:" in out and "multilingual" in out
