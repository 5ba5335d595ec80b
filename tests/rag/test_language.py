"""A question in a script the embedder does not cover gets a plain notice, not noise."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tooldeck.cli import main
from tooldeck.models.embeddings import LocalEmbeddings
from tooldeck.rag.answer import language_notice

API = Path(__file__).resolve().parent.parent / "fixtures" / "api"


@pytest.fixture(scope="module")
def local() -> LocalEmbeddings:
    return LocalEmbeddings()


@pytest.mark.parametrize("question", [
    "세션을 어떻게 만들 수 있나요?", "Как создать новую сессию?", "如何创建新会话？",
    "セッションを作成するには？", "كيف أنشئ جلسة جديدة؟",
])
def test_uncovered_scripts_get_the_notice(local: LocalEmbeddings, question: str) -> None:
    notice = language_notice(local, question)
    assert notice is not None and "does not cover" in notice


@pytest.mark.parametrize("question", [
    "How do I create a new session?", "kubectl get pods -n kube-system", "", "12345 ???",
    "Comment créer une nouvelle session ?",
])
def test_covered_text_gets_none(local: LocalEmbeddings, question: str) -> None:
    assert language_notice(local, question) is None


def test_embeddings_without_coverage_are_trusted() -> None:
    assert language_notice(object(), "세션을 어떻게 만들 수 있나요?") is None


def test_ask_says_so_for_a_korean_question(
    config: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TOOLDECK_DATA_DIR", str(config.data_dir))
    assert main(["index", "api", str(API)]) == 0
    capsys.readouterr()
    assert main(["ask", "api", "세션을 어떻게 만들 수 있나요?", "--no-llm", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert "does not cover" in data["answer"] and data["notice"] == data["answer"]
    assert data["chosen"] is None
    assert main(["ask", "api", "How do I create a new session?", "--no-llm", "--json"]) == 0
    assert "notice" not in json.loads(capsys.readouterr().out)
