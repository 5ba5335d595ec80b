"""Tool preselection: rank tools by how well their text matches the question (BM25).

A small model chooses better among few tools, and a grammar over few names is tighter, so
agents offer only the ``tool_top_k`` best-matching tools when there are more.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from langchain_core.tools import BaseTool

__all__ = ["preselect_tools", "rank_tools", "tokenize"]

_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    "a an and are as at be by for from how i in is it of on or the to what when where which "
    "who why with do does did you your me my this that use".split()
)
_ARITH = re.compile(r"\d\s*[-+*/^×÷%]\s*\d")
_ARITH_WORDS = re.compile(
    r"\b(plus|minus|times|multipl\w*|divid\w*|sum|total|product|difference|quotient|"
    r"power|squared?|cubed?|root|percent|average|mean|add|subtract\w*|calculat\w*|"
    r"comput\w*|how much|how many)\b"
)
_NUMBER = re.compile(r"\d")


def _is_arithmetic(question: str) -> bool:
    text = question.lower()
    return bool(_ARITH.search(text) or (_NUMBER.search(text) and _ARITH_WORDS.search(text)))


def tokenize(text: str) -> list[str]:
    """Lower-case word tokens without stop words, with a light plural strip."""
    words = _WORD.findall(text.lower().replace("_", " "))
    return [w[:-1] if len(w) > 3 and w.endswith("s") else w for w in words if w not in _STOP]


def _document(tool: BaseTool) -> list[str]:
    args = " ".join(tool.args)
    return tokenize(f"{tool.name} {tool.name} {tool.description} {args}")


def rank_tools(
    question: str, tools: Sequence[BaseTool], k1: float = 1.2, b: float = 0.75
) -> list[tuple[BaseTool, float]]:
    """Score every tool against the question with Okapi BM25.

    Args:
        question: The user's question.
        tools: Candidate tools.
        k1: BM25 term-frequency saturation.
        b: BM25 length normalisation.

    Returns:
        (tool, score) pairs, best first; ties keep the given order.
    """
    docs = [_document(t) for t in tools]
    if not docs:
        return []
    avg = sum(len(d) for d in docs) / len(docs) or 1.0
    df: Counter[str] = Counter(term for d in docs for term in set(d))
    query = tokenize(question)
    if _is_arithmetic(question):
        query += ["math", "arithmetic", "calculator", "compute"]
    scored = []
    for index, (tool, doc) in enumerate(zip(tools, docs, strict=True)):
        tf = Counter(doc)
        score = 0.0
        for term in query:
            if term not in tf:
                continue
            idf = math.log(1 + (len(docs) - df[term] + 0.5) / (df[term] + 0.5))
            freq = tf[term]
            score += idf * freq * (k1 + 1) / (freq + k1 * (1 - b + b * len(doc) / avg))
        scored.append((score, -index, tool))
    scored.sort(key=lambda item: (item[0], item[1]), reverse=True)
    return [(tool, score) for score, _, tool in scored]


def preselect_tools(
    question: str, tools: Sequence[BaseTool], top_k: int, min_score: float | None = None
) -> list[BaseTool]:
    """Keep the ``top_k`` tools that best match the question.

    Args:
        question: The user's question.
        tools: Candidate tools.
        top_k: How many to keep at most.
        min_score: When set, tools scoring at or below it are dropped too (a question
            that matches no tool then gets none, and the model answers directly).

    Returns:
        The tools to offer, best first (given order when no ranking is needed).
    """
    if min_score is None and len(tools) <= top_k:
        return list(tools)
    ranked = rank_tools(question, tools)[:top_k]
    return [tool for tool, score in ranked if min_score is None or score > min_score]
