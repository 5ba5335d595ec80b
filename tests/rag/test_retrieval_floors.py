"""Retrieval floors on the fixture API: recall@k on labelled questions, not exact rankings."""

from __future__ import annotations

from typing import Any

import pytest

from tooldeck.eval.retrieval import run_retrieval
from tooldeck.eval.retrieval_sets import load_set


@pytest.fixture(scope="module")
def fixture_report() -> dict[str, Any]:
    from tooldeck.config import load_config
    from tooldeck.eval.retrieval_sets import FIXTURE_DIR

    config = load_config(FIXTURE_DIR.parents[2] / "config.yaml", {}, environ={},
                         read_dotenv=False)
    return run_retrieval(config, [load_set("fixture", None)], systems=("tooldeck", "bm25"))


def test_fixture_api_floors(fixture_report: dict[str, Any]) -> None:
    row = fixture_report["sets"]["fixture"]
    assert row["queries"] == 15
    # 15 questions (create / list / terminate / invoices / auth / rate limits, in new words):
    # the relevant operation and function are in the top 5, and mostly first
    assert row["tooldeck"]["recall@5"] >= 90.0
    assert row["tooldeck"]["top1"] >= 70.0
    assert row["tooldeck"]["recall@5"] >= row["bm25"]["recall@5"]


def test_fitted_fusion_ships_as_data() -> None:
    from tooldeck.config import RagConfig
    from tooldeck.rag.index import fitted_fusion, fusion_settings

    weight, k = fitted_fusion()
    assert 0.0 <= weight <= 100.0 and 1 <= k <= 10_000
    assert fusion_settings(RagConfig()) == (weight, k)
    assert fusion_settings(RagConfig(lexical_weight=0.0, rrf_k=7)) == (0.0, 7)
