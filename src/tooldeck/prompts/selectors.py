"""Few-shot example selectors: which examples go into a prompt, and how many of them fit.

Every selector is a LangChain ``BaseExampleSelector`` and returns examples best first:

- :class:`NGramOverlapExampleSelector`: LangChain community's selector of the same name (same
  scoring and threshold semantics), in pure Python: sentence BLEU of the question against each
  example's input, with NLTK's ``method1`` smoothing and ``auto_reweigh``, without NLTK.
- :func:`semantic_selector` / :func:`mmr_selector`: langchain-core's
  ``SemanticSimilarityExampleSelector`` / ``MaxMarginalRelevanceExampleSelector`` over an
  ``InMemoryVectorStore`` with tooldeck's embedder; :class:`MMRExampleSelector` adds the
  ``lambda_mult`` that core's MMR selector does not pass on.
- :class:`TokenBudgetSelector` (from :mod:`tooldeck.prompts.budget`): wraps any selector and
  keeps whole examples, best first, while they fit a token budget; the rest are dropped or
  summarized, never cut in the middle.
- :func:`load_examples` (from :mod:`tooldeck.prompts.example_files`): example sets from YAML or
  JSON-lines files, checked key by key.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from langchain_core.example_selectors import (
    BaseExampleSelector,
    MaxMarginalRelevanceExampleSelector,
    SemanticSimilarityExampleSelector,
)

from tooldeck.prompts.budget import TokenBudgetSelector
from tooldeck.prompts.example_files import MAX_EXAMPLES, MAX_EXAMPLES_BYTES, load_examples

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

__all__ = [
    "MAX_EXAMPLES",
    "MAX_EXAMPLES_BYTES",
    "MMRExampleSelector",
    "NGramOverlapExampleSelector",
    "TokenBudgetSelector",
    "load_examples",
    "mmr_selector",
    "ngram_overlap_score",
    "semantic_selector",
]

_MAX_ORDER = 4  # BLEU-4, as NLTK's default weights
_EPSILON = 0.1  # NLTK SmoothingFunction().method1
_TIE = 1e-9  # community's tolerance: a score this close to the threshold is not above it

_Grams = tuple[int, list[Counter[tuple[str, ...]]]]  # token count, n-gram counts for n = 1..4


def _grams(text: str) -> _Grams:
    tokens = text.split()
    counts = [
        Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))
        for n in range(1, _MAX_ORDER + 1)
    ]
    return len(tokens), counts


def _bleu(hypothesis: _Grams, reference: _Grams) -> float:
    """NLTK's ``sentence_bleu`` of one hypothesis against one reference (method1, reweighed)."""
    hyp_len, hyp_counts = hypothesis
    ref_len, ref_counts = reference
    precisions: list[tuple[int, int]] = []
    clipped = 1
    for n, (hyp, ref) in enumerate(zip(hyp_counts, ref_counts, strict=True)):
        if clipped:  # no (n-1)-gram in common means no n-gram in common: skip the count
            clipped = sum(min(count, ref.get(gram, 0)) for gram, count in hyp.items())
        if n == 0 and clipped == 0:  # no unigram in common: NLTK returns 0 before smoothing
            return 0.0
        precisions.append((clipped, max(1, hyp_len - n)))  # the hypothesis's n-gram count
    penalty = 1.0 if hyp_len > ref_len else math.exp(1 - ref_len / hyp_len)
    order = min(hyp_len, _MAX_ORDER)  # auto_reweigh: uniform weights over the n-grams it has
    smoothed = [(num or _EPSILON) / den for num, den in precisions[:order]]
    return penalty * math.exp(math.fsum(math.log(p) / order for p in smoothed))


def ngram_overlap_score(source: str, example: str) -> float:
    """The n-gram overlap score of LangChain's ``NGramOverlapExampleSelector``.

    Sentence BLEU (n = 1..4, whitespace tokens, case-sensitive) of ``source`` as the hypothesis
    against ``example`` as the one reference, with NLTK's ``SmoothingFunction().method1`` and
    ``auto_reweigh=True``, computed without NLTK.

    Args:
        source: the question.
        example: the example's input text.

    Returns:
        A score from 0.0 (no word in common) to 1.0 (the same text).
    """
    return _bleu(_grams(source), _grams(example))


class NGramOverlapExampleSelector(BaseExampleSelector):
    """Examples ordered by n-gram overlap with the question (LangChain community semantics).

    Args:
        examples: the examples, each a mapping of strings.
        input_key: the example key compared with the question.
        threshold: ``-1.0`` (default) keeps every example, reordered; ``0.0`` drops examples
            with no word in common with the question; above 0 keeps those scoring above it
            (over 1.0 keeps none). Ties keep the examples' order.
    """

    def __init__(
        self, examples: Sequence[dict[str, str]], input_key: str = "input", threshold: float = -1.0,
    ) -> None:
        self.examples: list[dict[str, str]] = []
        self._grams: list[_Grams] = []
        self.input_key = input_key
        self.threshold = threshold
        for example in examples:
            self.add_example(example)

    def add_example(self, example: dict[str, str]) -> None:
        """Add one example to choose from."""
        self.examples.append(example)
        self._grams.append(_grams(example[self.input_key]))

    def scores(self, question: str) -> list[float]:
        """Each example's overlap score with ``question``, in the examples' order."""
        source = _grams(question)
        return [_bleu(source, grams) for grams in self._grams]

    def select_examples(self, input_variables: dict[str, str]) -> list[dict[str, str]]:
        """The examples scoring above the threshold, best first.

        Args:
            input_variables: the prompt's variables; the question is the value under
                ``input_key``, else the first value (as community's selector does).
        """
        question = input_variables.get(self.input_key)
        if question is None:
            question = next(iter(input_variables.values()), "")
        scores = self.scores(question)
        order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
        return [
            self.examples[i] for i in order
            if scores[i] > self.threshold and abs(scores[i] - self.threshold) >= _TIE
        ]


class MMRExampleSelector(MaxMarginalRelevanceExampleSelector):
    """langchain-core's MMR selector with ``lambda_mult`` passed to the vector store.

    ``lambda_mult`` runs from 0 (most diverse) to 1 (most similar, as plain similarity).
    """

    lambda_mult: float = 0.5

    def _query(self, input_variables: dict[str, str]) -> dict[str, Any]:
        return {
            **(self.vectorstore_kwargs or {}),
            "query": self._example_to_text(input_variables, self.input_keys),
            "k": self.k,
            "fetch_k": self.fetch_k,
            "lambda_mult": self.lambda_mult,
        }

    def select_examples(self, input_variables: dict[str, str]) -> list[dict[str, Any]]:
        """The ``k`` examples MMR picks among the ``fetch_k`` most similar."""
        docs = self.vectorstore.max_marginal_relevance_search(**self._query(input_variables))
        return self._documents_to_examples(docs)

    async def aselect_examples(self, input_variables: dict[str, str]) -> list[dict[str, Any]]:
        """The ``k`` examples MMR picks among the ``fetch_k`` most similar (async)."""
        query = self._query(input_variables)
        docs = await self.vectorstore.amax_marginal_relevance_search(**query)
        return self._documents_to_examples(docs)


def _embeddings(embeddings: Embeddings | None) -> Embeddings:
    if embeddings is not None:
        return embeddings
    from tooldeck.config import EmbeddingsConfig
    from tooldeck.models.embeddings import get_embeddings

    return get_embeddings(EmbeddingsConfig())


def _store(
    examples: Sequence[dict[str, str]], embeddings: Embeddings | None,
    input_keys: list[str] | None,
) -> Any:
    from langchain_core.vectorstores import InMemoryVectorStore

    texts = [SemanticSimilarityExampleSelector._example_to_text(e, input_keys) for e in examples]
    return InMemoryVectorStore.from_texts(
        texts, _embeddings(embeddings), metadatas=[dict(e) for e in examples],
    )


def semantic_selector(
    examples: Sequence[dict[str, str]], embeddings: Embeddings | None = None, *, k: int = 4,
    input_keys: list[str] | None = None,
) -> SemanticSimilarityExampleSelector:
    """The ``k`` examples nearest the question, by cosine similarity of embeddings.

    Args:
        examples: the examples (all embedded now).
        embeddings: the embedding model; tooldeck's configured default when ``None``.
        k: how many examples to select.
        input_keys: the keys embedded and searched with (e.g. ``["input"]``, then the question
            is passed as ``{"input": question}``); all values when ``None``.
    """
    return SemanticSimilarityExampleSelector(
        vectorstore=_store(examples, embeddings, input_keys), k=k, input_keys=input_keys,
    )


def mmr_selector(
    examples: Sequence[dict[str, str]], embeddings: Embeddings | None = None, *, k: int = 4,
    fetch_k: int = 20, lambda_mult: float = 0.5, input_keys: list[str] | None = None,
) -> MMRExampleSelector:
    """``k`` examples by maximal marginal relevance: similar to the question, unlike each other.

    Args:
        examples: the examples (all embedded now).
        embeddings: the embedding model; tooldeck's configured default when ``None``.
        k: how many examples to select.
        fetch_k: how many nearest examples MMR chooses among.
        lambda_mult: 0 for the most diverse, 1 for the most similar.
        input_keys: the keys embedded and searched with; all values when ``None``.
    """
    return MMRExampleSelector(
        vectorstore=_store(examples, embeddings, input_keys), k=k, fetch_k=fetch_k,
        lambda_mult=lambda_mult, input_keys=input_keys,
    )
