"""List-wise reranking with scripted models: reorders, keeps the retrieval order on any fault."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

import pytest

from tests.helpers import grammar_accepts
from tooldeck.rag.index import Match
from tooldeck.rag.rerank import (
    is_embedded_model,
    model_may_rerank,
    parse_ranking,
    rerank,
    rerank_grammar,
    rerank_settings,
    template_text,
    wants_rerank,
)
from tooldeck.testing import ScriptedChatModel


def _matches(n: int) -> list[Match]:
    return [Match(f"c{i}", 1.0 / (i + 1), f"text {i}", f"GET /things/{i}\nThing number {i}.",
                  {"kind": "rest", "ref": f"GET /things/{i}", "source": "api.json",
                   "title": f"thing {i}"}) for i in range(n)]


class GrammarModel(ScriptedChatModel):
    """A scripted model that says it can decode under a grammar (as ChatLlamaCpp does)."""

    supports_grammar: bool = True


class BlockingModel(ScriptedChatModel):
    """A model that does not answer until released."""

    release: Any

    def _generate(self, *args: Any, **kwargs: Any) -> Any:
        self.release.wait(30)
        return super()._generate(*args, **kwargs)


@pytest.mark.parametrize(("reply", "expected"), [
    ("3, 1, 2", [2, 0, 1]), ("2", [1]), ("[3] > [1]", [2, 0]), (" 1 3. ", [0, 2]),
    ("0", []),
])
def test_parse_ranking_accepts_number_lists(reply: str, expected: list[int]) -> None:
    assert parse_ranking(reply, 3, allow_none=True) == expected


@pytest.mark.parametrize("reply", [
    "", "4", "1, 1", "0, 2", "The best is 2", "2: Session created", "1,,2", "-1", "1234",
    "1 " * 300,
])
def test_parse_ranking_refuses_anything_else(reply: str) -> None:
    assert parse_ranking(reply, 3, allow_none=True) is None


def test_a_lone_zero_needs_allow_none() -> None:
    assert parse_ranking("0", 3, allow_none=False) is None


def test_rerank_reorders_and_keeps_the_rest_in_retrieval_order() -> None:
    matches = _matches(5)
    model = ScriptedChatModel(responses=["4, 2"])
    outcome = rerank(model, "q", matches)
    assert outcome.status == "model" and outcome.order == [3, 1, 0, 2, 4]
    assert [m.id for m in outcome.apply(matches)] == ["c3", "c1", "c0", "c2", "c4"]
    prompt = str(model.calls[0]["messages"])
    assert "[5] rest GET /things/4: thing 4" in prompt and "0 alone" not in prompt


def test_apply_leaves_matches_past_k_in_place() -> None:
    matches = _matches(6)
    outcome = rerank(ScriptedChatModel(responses=["3"]), "q", matches[:3])
    assert [m.id for m in outcome.apply(matches)] == ["c2", "c0", "c1", "c3", "c4", "c5"]


@pytest.mark.parametrize("reply", ["Use POST /api/tasks/create", "2, 2", "9", ""])
def test_malformed_reply_keeps_retrieval_order(reply: str) -> None:
    outcome = rerank(ScriptedChatModel(responses=[reply]), "q", _matches(3))
    assert outcome.status == "malformed" and outcome.order == [0, 1, 2]


def test_failing_model_keeps_retrieval_order() -> None:
    outcome = rerank(ScriptedChatModel(responses=[ConnectionError("down")]), "q", _matches(3))
    assert outcome.status == "failed" and outcome.order == [0, 1, 2]


def test_slow_model_is_abandoned_after_the_timeout() -> None:
    release = threading.Event()
    model = BlockingModel(responses=["2, 1"], release=release)
    try:
        outcome = rerank(model, "q", _matches(3), timeout_s=0.2)
    finally:
        release.set()
    assert outcome.status == "timeout" and outcome.order == [0, 1, 2]


def test_none_answers_only_when_allowed() -> None:
    assert rerank(ScriptedChatModel(responses=["0"]), "q", _matches(3),
                  allow_none=True).status == "none"
    assert rerank(ScriptedChatModel(responses=["0"]), "q", _matches(3)).status == "malformed"


def test_grammar_is_passed_to_models_that_take_one() -> None:
    model = GrammarModel(responses=["2, 1"])
    assert rerank(model, "q", _matches(12), allow_none=True).order[:2] == [1, 0]
    grammar = model.calls[0]["grammar"]
    assert grammar == rerank_grammar(12, True) and model.calls[0]["max_tokens"] == 52


@pytest.mark.parametrize(("text", "ok"), [
    ("3, 1, 2", True), ("12", True), ("10, 1", True), ("0", True), ("1", True),
    ("13", False), ("0, 1", False), ("1 2", False), ("one", False), ("1,", False),
])
def test_grammar_admits_only_number_lists(text: str, ok: bool) -> None:
    assert grammar_accepts(rerank_grammar(12, allow_none=True), text) is ok


def test_grammar_without_none_and_of_one() -> None:
    assert not grammar_accepts(rerank_grammar(3, allow_none=False), "0")
    assert grammar_accepts(rerank_grammar(1, allow_none=False), "1")
    assert not grammar_accepts(rerank_grammar(1, allow_none=False), "1, 1")


def test_settings_are_read_leniently() -> None:
    assert rerank_settings(SimpleNamespace()) == rerank_settings(SimpleNamespace(rerank="auto"))
    got = rerank_settings(SimpleNamespace(rerank="ON", rerank_k=1000, rerank_timeout_s=5))
    assert (got.mode, got.k, got.timeout_s) == ("on", 50, 5.0)
    assert rerank_settings(SimpleNamespace(rerank="sometimes")).mode == "auto"


def test_who_reranks() -> None:
    hosted = ScriptedChatModel(responses=[])
    assert wants_rerank("auto", hosted) and not wants_rerank("off", hosted)
    assert not wants_rerank("on", None) and not is_embedded_model(hosted)
    assert not model_may_rerank("auto", "local") and model_may_rerank("on", "local")
    assert model_may_rerank("auto", "openai") and not model_may_rerank("off", "openai")


def test_templates_have_their_texts() -> None:
    for key in ("system", "user", "candidate", "none"):
        assert template_text("rerank", key)
    with pytest.raises(KeyError):
        template_text("rerank", "nope")
