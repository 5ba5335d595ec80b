"""Fitting the fusion weights across sets, with the leave-one-set-out check."""

from __future__ import annotations

from typing import Any

from tooldeck.eval.fusion_fit import fit_fusion, fuse_labels


def test_fuse_labels() -> None:
    assert fuse_labels(["a", "b"], ["b", "c"], 1.0, 60)[0] == "b"
    assert fuse_labels(["a"], ["c"], 0.0, 60)[0] == "c"  # weight 0: the vector ranking
    assert fuse_labels(["a"], ["c"], 3.0, 60)[0] == "a"


def _rows(good: str, n: int) -> list[dict[str, Any]]:
    """Rows where only the ``good`` ranking puts the relevant label first."""
    rows = []
    for i in range(n):
        right, wrong = [f"r{i}", "x"], ["x", f"r{i}"]
        rows.append({"relevant": [f"r{i}"], "lexical": right if good == "lexical" else wrong,
                     "vector": right if good == "vector" else wrong})
    return rows


def test_fit_prefers_what_works_across_sets_and_reports_held_out() -> None:
    trace = {"a": _rows("vector", 10), "b": _rows("vector", 10), "c": _rows("lexical", 4)}
    fit = fit_fusion(trace)
    assert fit["weights"]["lexical_weight"] <= 1.0  # vectors win on two sets of three
    assert set(fit["sets"]) == {"a", "b", "c"}
    # fitted on a and b (vectors first), c is half right: top-1 missed, recall@5 whole
    assert fit["sets"]["c"]["held_out_score"] == 50.0
    assert fit["sets"]["a"]["fitted_score"] == 100.0
    for row in fit["sets"].values():
        assert 0.0 <= row["held_out_score"] <= 100.0
