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
