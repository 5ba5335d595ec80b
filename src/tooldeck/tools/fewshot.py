"""Worked examples shown in an agent prompt: the ones nearest the question, within a budget.

The one place that chooses which tool examples an agent's prompt shows (``agents/react.py``
renders what :func:`examples_for` returns). Examples are ranked by the cosine similarity of
their question to the user's question, with the vectors :mod:`tooldeck.tools.select` caches
for tool preselection (the same local MiniLM embedder, each example embedded once per
process); without the embedder, by the share of the question's words each example's question
holds. Whole examples only: one that does not fit the character budget is left out and the
next-best is tried, never cut.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from langchain_core.tools import BaseTool

    from tooldeck.tools.examples import ToolExample

__all__ = ["example_chars", "example_lines", "examples_for", "relevance"]

_MAX_CANDIDATES = 1000  # examples considered per question (plugins may ship many)


def example_lines(tool: BaseTool, example: ToolExample) -> list[str]:
    """The example as the ReAct prompt shows it under its tool (Question ... Final Answer).

    Args:
        tool: The tool the example uses.
        example: The worked example.

    Returns:
        Its prompt lines, without line ends.
    """
    from tooldeck.agents.grammar import ANSWER_THOUGHT

    lines = [
        f"  Example - Question: {example.question}",
        f"  Thought: {example.thought or f'I should use {tool.name}'}",
        f"  Action: {tool.name}",
        f"  Action Input: {json.dumps(example.input, ensure_ascii=False)}",
        f"  Observation: {example.observation}",
    ]
    if example.answer is not None:
        lines += [f"  Thought: {ANSWER_THOUGHT}", f"  Final Answer: {example.answer}"]
    return lines


def example_chars(tool: BaseTool, example: ToolExample) -> int:
    """Characters the example takes in the prompt, line ends included."""
    return sum(len(line) + 1 for line in example_lines(tool, example))


def _candidates(tools: Sequence[BaseTool]) -> list[tuple[BaseTool, ToolExample]]:
    """Every valid example of the offered tools, in tool then example order (bounded)."""
    from tooldeck.errors import PluginError
    from tooldeck.tools.examples import tool_examples

    pairs: list[tuple[BaseTool, ToolExample]] = []
    for tool in tools:
        try:
            examples = tool_examples(tool)
        except PluginError:
            continue
        pairs.extend((tool, example) for example in examples)
        if len(pairs) >= _MAX_CANDIDATES:
            return pairs[:_MAX_CANDIDATES]
    return pairs


def _overlap(question: str, texts: Sequence[str]) -> list[float]:
    """The share of the question's words each text holds (the fallback without embedder)."""
    from tooldeck.tools.select import tokenize

    asked = set(tokenize(question))
    return [len(asked & set(tokenize(text))) / (len(asked) or 1) for text in texts]


def relevance(question: str, texts: Sequence[str]) -> list[float]:
    """How near each text is to the question: cosine with the embedder, word overlap without.

    Args:
        question: The user's question.
        texts: The texts (example questions); their vectors are cached per process.

    Returns:
        One score per text, higher is nearer.
    """
    from tooldeck.tools.select import embed_texts

    if not texts:
        return []
    vectors = embed_texts(texts)
    asked = embed_texts([question], cache=False) if vectors is not None else None
    if vectors is None or asked is None:
        return _overlap(question, texts)
    return [float(x) for x in vectors @ asked[0]]


def examples_for(
    question: str,
    tools: Sequence[BaseTool],
    limit: int = 2,
    max_chars: int | None = None,
) -> list[tuple[BaseTool, ToolExample]]:
    """The worked examples to show for ``question``, best first.

    Args:
        question: The user's question.
        tools: The tools offered to the model (already preselected).
        limit: How many examples at most (a negative number: no limit).
        max_chars: Characters the examples may take in all, as :func:`example_chars` counts
            them (whole examples only); None: no cap.

    Returns:
        (tool, example) pairs, nearest the question first; a tool whose examples are
        malformed contributes none. Equally near examples keep the tools' order.
    """
    if limit == 0:
        return []
    pairs = _candidates(tools)
    scores = relevance(question, [example.question for _, example in pairs])
    order = sorted(range(len(pairs)), key=lambda i: (-scores[i], i))
    chosen: list[tuple[BaseTool, ToolExample]] = []
    used = 0
    for index in order:
        if 0 <= limit <= len(chosen):
            break
        tool, example = pairs[index]
        size = example_chars(tool, example)
        if max_chars is not None and used + size > max_chars:
            continue
        chosen.append((tool, example))
        used += size
    return chosen
