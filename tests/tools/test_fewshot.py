"""Few-shot examples for the agents: nearest the question first, whole, within the budget."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.tools import tool

from tooldeck.tools import select
from tooldeck.tools.examples import ToolExample, tool_examples
from tooldeck.tools.fewshot import example_chars, example_lines, examples_for


@tool
def atlas(place: str) -> str:
    """Facts about a country or city: capital, population, area."""
    return place


@tool
def converter(amount: str) -> str:
    """Convert an amount between currencies."""
    return amount


atlas.metadata = {
    "examples": [
        {"question": "What is the capital of Peru?", "input": {"place": "Peru"},
         "observation": "Capital: Lima", "answer": "Lima."},
        {"question": "How many people live in Tokyo?", "input": {"place": "Tokyo"},
         "observation": "Population: 14 million", "answer": "About 14 million."},
    ]
}  # fmt: skip
converter.metadata = {
    "examples": [
        {"question": "How many yen is 20 dollars?", "input": {"amount": "20 USD to JPY"},
         "observation": "2,980 JPY " + "(rate of the day) " * 20, "answer": "2,980 yen."},
        {"question": "Convert 15 euros into pounds sterling", "input": {"amount": "15 EUR to GBP"},
         "observation": "12.60 GBP", "answer": "12.60 pounds."},
    ]
}  # fmt: skip


@tool
def broken(text: str) -> str:
    """A tool whose examples do not fit its schema."""
    return text


broken.metadata = {"examples": [{"question": "q", "input": {"nope": 1}, "observation": "o"}]}


def _questions(pairs: list[tuple[Any, ToolExample]]) -> list[str]:
    return [example.question for _, example in pairs]


def test_examples_nearest_the_question_come_first() -> None:
    currency = examples_for("change 50 dollars into euros", [atlas, converter], limit=2)
    assert [t for t, _ in currency] == [converter, converter]
    places = examples_for("what's the capital city of Chile?", [converter, atlas], limit=1)
    assert _questions(places) == ["What is the capital of Peru?"]


def test_whole_examples_within_max_chars() -> None:
    everything = examples_for("yen for 20 dollars", [atlas, converter], limit=-1)
    assert len(everything) == 4
    best_tool, best = everything[0]
    assert best.question == "How many yen is 20 dollars?"
    budget = example_chars(best_tool, best) - 1  # the best one no longer fits
    fitted = examples_for("yen for 20 dollars", [atlas, converter], limit=4, max_chars=budget)
    assert fitted and best not in [e for _, e in fitted]
    assert sum(example_chars(t, e) for t, e in fitted) <= budget
    originals = [e for t in (atlas, converter) for e in tool_examples(t)]
    assert all(e in originals for _, e in fitted)  # whole examples, never cut
    assert examples_for("anything", [atlas, converter], max_chars=10) == []


def test_limit_and_malformed_examples() -> None:
    assert examples_for("capital of Peru", [atlas, converter], limit=0) == []
    assert len(examples_for("capital of Peru", [atlas, converter], limit=3)) == 3
    assert examples_for("q", [broken]) == []
    assert [t for t, _ in examples_for("q", [broken, atlas], limit=5)] == [atlas, atlas]


def test_example_lines_show_the_protocol() -> None:
    example = tool_examples(atlas)[0]
    lines = example_lines(atlas, example)
    assert lines[2:4] == ["  Action: atlas", '  Action Input: {"place": "Peru"}']
    assert lines[-1] == "  Final Answer: Lima."
    assert example_chars(atlas, example) == sum(len(line) + 1 for line in lines)


def test_without_the_embedder_word_overlap_orders_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(select, "embed_texts", lambda texts, cache=True: None)
    chosen = examples_for("How many people live in Paris?", [converter, atlas], limit=1)
    assert _questions(chosen) == ["How many people live in Tokyo?"]


def test_builtin_examples_fit_the_default_budget() -> None:
    from tooldeck.tools.builtin.calculator import calculator

    pairs = examples_for("three dozen at 40 cents", [calculator], limit=2, max_chars=600)
    assert len(pairs) == 2 and all(t is calculator for t, _ in pairs)
