"""Few-shot selection latency: tooldeck's selectors vs LangChain's own, same examples, one run.

Run: .venv/bin/python bench/example_selectors.py [QUERIES]   (default 20 questions per row).

Synthetic examples (seeded) at 1k and 10k. Per row, each question is selected by ours and by
LangChain's selector alternately; the table shows mean milliseconds per selection and the
ratio LangChain / ours (above 1: ours is faster). Both sides share one embedding cache for the
examples, so building the stores is not timed; each selection embeds its question.

- n-gram: LangChain's ``NGramOverlapExampleSelector`` lives in langchain-community (and needs
  NLTK), which is not installed: ours runs alone, compared to nothing.
- semantic / MMR: langchain-core's ``SemanticSimilarityExampleSelector`` /
  ``MaxMarginalRelevanceExampleSelector`` over ``InMemoryVectorStore`` (k=4, fetch_k=20,
  lambda 0.5).
- 1k uses the real NumPy MiniLM embedder; 10k uses langchain-core's
  ``DeterministicFakeEmbedding`` (384 dims), since embedding 10k examples with the real one
  takes minutes here; the search cost it measures is the same.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable
from typing import Any

from langchain_core.embeddings import DeterministicFakeEmbedding, Embeddings
from langchain_core.example_selectors import (
    BaseExampleSelector,
    MaxMarginalRelevanceExampleSelector,
    SemanticSimilarityExampleSelector,
)
from langchain_core.vectorstores import InMemoryVectorStore

from tooldeck.prompts.selectors import (
    NGramOverlapExampleSelector,
    mmr_selector,
    semantic_selector,
)

_SUBJECTS = ["the market", "the weather", "our team", "the bank", "the city", "a storm",
             "the league", "inflation", "the river", "the new phone", "the museum", "rain"]
_VERBS = ["rose", "fell", "changed", "surprised everyone", "stayed calm", "broke records",
          "slowed down", "moved north", "won again", "was delayed"]
_TAILS = ["this week", "on Monday", "after the vote", "in the morning", "for the third time",
          "despite warnings", "near the coast", "at the final", "before the holiday", ""]


class _Cached(Embeddings):
    """Embeds each document text once, whichever selector asks first; queries pass through."""

    def __init__(self, inner: Embeddings) -> None:
        self.inner = inner
        self.cache: dict[str, list[float]] = {}

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        todo = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if todo:
            self.cache.update(zip(todo, self.inner.embed_documents(todo), strict=True))
        return [self.cache[t] for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)


def _examples(n: int, rng: random.Random) -> list[dict[str, str]]:
    return [
        {"input": f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_TAILS)} #{i}"
                  .replace("  ", " "),
         "output": rng.choice(["economy", "weather", "sport", "local", "tech"])}
        for i in range(n)
    ]


def _questions(q: int, rng: random.Random) -> list[dict[str, str]]:
    return [{"input": f"What happened when {rng.choice(_SUBJECTS)} {rng.choice(_VERBS)}?"}
            for _ in range(q)]


def _time(selector: BaseExampleSelector, question: dict[str, str]) -> float:
    t0 = time.perf_counter()
    selector.select_examples(question)
    return time.perf_counter() - t0


def _row(
    ours: BaseExampleSelector, theirs: BaseExampleSelector | None,
    questions: list[dict[str, str]],
) -> tuple[float, float | None]:
    ours_t, theirs_t = 0.0, 0.0
    for question in questions:
        ours_t += _time(ours, question)
        if theirs is not None:
            theirs_t += _time(theirs, question)
    n = len(questions)
    return 1000 * ours_t / n, (1000 * theirs_t / n if theirs is not None else None)


def main() -> None:
    queries = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    from tooldeck.models.embeddings import LocalEmbeddings

    scales: list[tuple[int, str, Callable[[], Embeddings]]] = [
        (1_000, "MiniLM (real)", LocalEmbeddings),
        (10_000, "fake, 384 dims", lambda: DeterministicFakeEmbedding(size=384)),
    ]
    rows: list[tuple[Any, ...]] = []
    for n, label, make in scales:
        rng = random.Random(n)
        examples, questions = _examples(n, rng), _questions(queries, rng)
        emb = _Cached(make())
        t0 = time.perf_counter()
        emb.embed_documents([e["input"] for e in examples])
        build = time.perf_counter() - t0
        print(f"{n:,} examples embedded with {label} in {build:.1f} s", file=sys.stderr)
        keys = ["input"]
        pairs: list[tuple[str, BaseExampleSelector, BaseExampleSelector | None]] = [
            ("n-gram", NGramOverlapExampleSelector(examples, threshold=0.0), None),
            ("semantic", semantic_selector(examples, emb, k=4, input_keys=keys),
             SemanticSimilarityExampleSelector.from_examples(
                 examples, emb, InMemoryVectorStore, k=4, input_keys=keys)),
            ("MMR", mmr_selector(examples, emb, k=4, fetch_k=20, lambda_mult=0.5,
                                 input_keys=keys),
             MaxMarginalRelevanceExampleSelector.from_examples(
                 examples, emb, InMemoryVectorStore, k=4, fetch_k=20, input_keys=keys)),
        ]
        for name, ours, theirs in pairs:
            ours_ms, theirs_ms = _row(ours, theirs, questions)
            rows.append((n, name, label if name != "n-gram" else "-", ours_ms, theirs_ms))
    print(f"\n{queries} questions per row, mean ms per selection, one run\n")
    print("| examples | selector | embedder | tooldeck ms | LangChain ms | ratio LC/ours |")
    print("|---|---|---|---|---|---|")
    for n, name, label, ours_ms, theirs_ms in rows:
        if theirs_ms is None:
            lc, ratio = "n/a (community not installed)", "-"
        else:
            lc, ratio = f"{theirs_ms:.2f}", f"{theirs_ms / ours_ms:.2f}x"
        print(f"| {n:,} | {name} | {label} | {ours_ms:.2f} | {lc} | {ratio} |")


if __name__ == "__main__":
    main()
