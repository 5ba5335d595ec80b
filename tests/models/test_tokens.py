"""The one token estimate and the one reading of a model's context and answer sizes."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tooldeck.models.tokens import (
    DEFAULT_ANSWER_TOKENS,
    DEFAULT_CONTEXT_TOKENS,
    answer_tokens,
    approx_tokens,
    context_tokens,
)


@pytest.mark.parametrize(
    ("text", "tokens"),
    [("", 0), ("abc", 1), ("abcd", 2), ("a" * 300, 100), ("日本語", 3), ("né", 2)],
)
def test_approx_tokens_counts_three_ascii_characters_or_one_other(text: str, tokens: int) -> None:
    assert approx_tokens(text) == tokens


def test_approx_tokens_errs_high_for_english() -> None:
    text = "The quick brown fox jumps over the lazy dog. " * 20
    assert approx_tokens(text) >= len(text) / 4


def test_every_layer_counts_with_the_same_estimator() -> None:
    from tooldeck.chains.summarize import estimate_tokens
    from tooldeck.memory.budget import approx_tokens as memory_tokens
    from tooldeck.pipeline.memory import approx_tokens as pipeline_tokens
    from tooldeck.prompts.budget import context_tokens as prompts_context

    assert estimate_tokens is memory_tokens is pipeline_tokens is approx_tokens
    assert prompts_context is context_tokens


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        (SimpleNamespace(n_ctx=2048), 2048),
        (SimpleNamespace(num_ctx=8192), 8192),
        (SimpleNamespace(n_ctx=True), DEFAULT_CONTEXT_TOKENS),
        (SimpleNamespace(n_ctx=0), DEFAULT_CONTEXT_TOKENS),
        (SimpleNamespace(n_ctx="4096"), DEFAULT_CONTEXT_TOKENS),
        (None, DEFAULT_CONTEXT_TOKENS),
    ],
)
def test_context_tokens_reads_a_positive_int(model: object, expected: int) -> None:
    assert context_tokens(model) == expected


def test_answer_tokens_reads_max_tokens_or_num_predict() -> None:
    assert answer_tokens(SimpleNamespace(max_tokens=256)) == 256
    assert answer_tokens(SimpleNamespace(num_predict=128)) == 128
    assert answer_tokens(SimpleNamespace(max_tokens=None)) == DEFAULT_ANSWER_TOKENS
    assert answer_tokens(None, default=7) == 7
