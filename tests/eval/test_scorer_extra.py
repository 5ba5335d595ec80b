"""The exact APIBench scorer lives in the `eval` extra; without it the message says how to add it."""

from __future__ import annotations

import sys

import pytest

from tooldeck.errors import InputError
from tooldeck.eval import apibench_scorer


def test_missing_eval_extra_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    apibench_scorer._parser.cache_clear()
    monkeypatch.setitem(sys.modules, "tree_sitter", None)  # import fails as if not installed
    try:
        with pytest.raises(InputError, match=r"tooldeck\[eval\]"):
            apibench_scorer._parser()
    finally:
        apibench_scorer._parser.cache_clear()
