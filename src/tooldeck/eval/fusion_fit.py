"""Fitting the index's fusion weights across sets, with a leave-one-set-out check.

The index fuses its BM25 and vector rankings as ``lexical_weight / (k + lexical rank) +
1 / (k + vector rank)`` (reciprocal rank fusion when the weight is 1). ``eval retrieval
--fit-fusion FILE`` records both rankings for every query of every set, then:

1. for each set, picks the weight and ``k`` that do best on the *other* sets and scores them on
   the held-out set (the leave-one-set-out figure: what the fit is worth on an unseen API);
2. picks the weight and ``k`` that do best over all sets (each set counts the same) and writes
   them as JSON, the file the package ships as ``tooldeck/rag/fusion.json``.

The objective is the mean of top-1 and recall@5. Nothing here is pickled: the result is four
numbers and a note.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from tooldeck.eval.retrieval import score_ranking

__all__ = ["GRID_K", "GRID_WEIGHT", "fit_fusion", "fuse_labels"]

GRID_WEIGHT = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5, 2.0, 3.0)
GRID_K = (1, 2, 5, 10, 20, 30, 60, 100)
_FIXED = (1.0, 60)  # plain reciprocal rank fusion, the index's old default


def fuse_labels(lexical: Sequence[str], vector: Sequence[str], weight: float, k: int,
                depth: int = 10) -> list[str]:
    """The fused ranking of two ranked label lists (see the module docstring)."""
    scores: dict[str, float] = {}
    for rank, label in enumerate(lexical, start=1):
        scores[label] = scores.get(label, 0.0) + weight / (k + rank)
    for rank, label in enumerate(vector, start=1):
        scores[label] = scores.get(label, 0.0) + 1.0 / (k + rank)
    order = {label: i for i, label in enumerate(vector)}
    best = sorted(scores, key=lambda lb: (-scores[lb], order.get(lb, len(order))))
    return best[:depth]


def _set_score(rows: list[dict[str, Any]], weight: float, k: int) -> float:
    """Mean of top-1 and recall@5 (percent) of one set under one setting."""
    top1 = found = relevant = 0
    for row in rows:
        ranking = fuse_labels(row["lexical"], row["vector"], weight, k)
        hit, found5, _, _ = score_ranking(ranking, row["relevant"])
        top1 += hit
        found += found5
        relevant += len(set(row["relevant"]))
    return 50.0 * (top1 / max(len(rows), 1) + found / max(relevant, 1))


def _best(table: dict[tuple[float, int], dict[str, float]], sets: list[str]
          ) -> tuple[float, int]:
    return max(table, key=lambda p: (statistics.mean(table[p][s] for s in sets), -abs(p[0] - 1)))


def fit_fusion(trace: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Fit on ``trace`` (set name to rows of ``relevant``, ``lexical``, ``vector`` labels).

    Returns:
        ``{"weights": {"lexical_weight", "k"}, "sets": {set: {"held_out": (weight, k),
        "held_out_score", "fixed_rrf_score", "fitted_score"}}, "note"}``.
    """
    names = [n for n, rows in trace.items() if rows]
    table = {(w, k): {n: _set_score(trace[n], w, k) for n in names}
             for w in GRID_WEIGHT for k in GRID_K}
    overall = _best(table, names)
    per_set: dict[str, Any] = {}
    for held in names:
        others = [n for n in names if n != held] or [held]
        chosen = _best(table, others)
        per_set[held] = {"held_out_setting": list(chosen),
                         "held_out_score": round(table[chosen][held], 1),
                         "fixed_rrf_score": round(table[_FIXED][held], 1),
                         "fitted_score": round(table[overall][held], 1)}
    return {
        "weights": {"lexical_weight": overall[0], "k": overall[1]},
        "sets": per_set,
        "note": ("fitted by `tooldeck eval retrieval --fit-fusion` on "
                 f"{', '.join(names)}: mean of top-1 and recall@5, each set counted the same"),
    }
