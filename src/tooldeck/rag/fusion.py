"""Fusing the BM25 and vector rankings of the index: weighted reciprocal rank fusion.

``score = lexical_weight / (k + BM25 rank) + 1 / (k + vector rank)``. The weight and ``k`` are
fitted across several API sets (leave-one-set-out checked; ``tooldeck eval retrieval
--fit-fusion``) and ship as data in ``rag/fusion.json``; ``rag.lexical_weight`` and
``rag.rrf_k`` override them.

:func:`group_rankings` turns two chunk rankings into rankings of *what the chunks describe*:
chunks of one operation or function (same kind and ref, in any file: APIBench lists one call in
several records) or of one document count as one item, ranked where its best chunk is, so its
evidence adds up instead of being split between copies.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tooldeck.config import RagConfig

__all__ = ["fitted_fusion", "fusion_settings", "group_rankings", "rrf_fuse"]


def rrf_fuse(rankings: Sequence[Sequence[str]], k: int = 60,
             weights: Sequence[float] | None = None) -> dict[str, float]:
    """Weighted reciprocal rank fusion: ``sum(w / (k + rank))`` over the rankings (rank from 1).

    ``weights`` default to 1 for every ranking.
    """
    scores: dict[str, float] = {}
    for i, ranking in enumerate(rankings):
        weight = 1.0 if weights is None else weights[i]
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    return scores


@functools.cache
def fitted_fusion() -> tuple[float, int]:
    """``(lexical_weight, k)`` fitted across sets, from the package's ``rag/fusion.json``."""
    import json
    from importlib import resources

    data = json.loads(resources.files("tooldeck.rag").joinpath("fusion.json").read_text("utf-8"))
    return float(data["weights"]["lexical_weight"]), int(data["weights"]["k"])


def fusion_settings(rag: RagConfig) -> tuple[float, int]:
    """The ``(lexical_weight, k)`` in use: the config's where set, else the fitted ones."""
    weight, k = fitted_fusion()
    return (weight if rag.lexical_weight is None else rag.lexical_weight,
            k if rag.rrf_k is None else rag.rrf_k)


def group_rankings(
    rankings: Sequence[Sequence[str]], key: Callable[[str], Hashable | None],
) -> tuple[list[list[str]], dict[str, str]]:
    """Rankings of groups (named by their first chunk id), and each group's chunk to return.

    Args:
        rankings: chunk-id rankings.
        key: a chunk's group (``None``: the chunk is unknown and left out).

    Returns:
        One ranking per input, each group once at its best chunk's place (named by the id of the
        first chunk of that group met, the vector ranking's when it is the last input), and that
        chunk per group name.
    """
    name: dict[Hashable, str] = {}
    for cid in (c for ranking in reversed(rankings) for c in ranking):
        group = key(cid)
        if group is not None and group not in name:
            name[group] = cid
    out: list[list[str]] = []
    for ranking in rankings:
        seen: dict[str, None] = {}
        for cid in ranking:
            group = key(cid)
            if group is not None:
                seen.setdefault(name[group], None)
        out.append(list(seen))
    return out, {cid: cid for cid in name.values()}
