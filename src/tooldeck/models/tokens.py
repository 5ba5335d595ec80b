"""The one token estimate and the one reading of a model's sizes, without a tokenizer.

Every budget in tooldeck (few-shot examples, conversation history, summary chunks) counts
with :func:`approx_tokens` unless the model brings its own counter, and reads the context
size with :func:`context_tokens`. Nothing here loads or calls a model, and nothing is
imported beyond the standard library, so every layer above (prompts, memory, chains,
pipeline) may import this module.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = [
    "DEFAULT_ANSWER_TOKENS",
    "DEFAULT_CONTEXT_TOKENS",
    "answer_tokens",
    "approx_tokens",
    "context_tokens",
]

DEFAULT_CONTEXT_TOKENS = 4096
"""The context size assumed when a model does not say (the embedded models' ``n_ctx``)."""

DEFAULT_ANSWER_TOKENS = 512
"""The answer length assumed when a model does not say."""


def approx_tokens(text: str) -> int:
    """Tokens in ``text``, estimated on the safe side: 3 ASCII characters or 1 other per token.

    English runs about 4 characters a token in the tokenizers in use, and a non-ASCII
    character rarely takes more than one, so the estimate errs high, never low.

    Args:
        text: Any text.

    Returns:
        The estimate (0 for an empty text).
    """
    ascii_chars = len(text.encode("ascii", "ignore"))
    return math.ceil(ascii_chars / 3 + (len(text) - ascii_chars))


def _positive_int(model: Any, names: tuple[str, ...]) -> int | None:
    """The first of ``names`` that ``model`` holds as a positive int (not a bool)."""
    for name in names:
        value = getattr(model, name, None)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def context_tokens(model: Any = None, default: int = DEFAULT_CONTEXT_TOKENS) -> int:
    """The context size, in tokens, that a chat model (or a ``ModelConfig``) works with.

    Reads ``n_ctx`` (tooldeck's llama.cpp models and ``ModelConfig``) or ``num_ctx``
    (Ollama) without calling or loading the model.

    Args:
        model: A chat model or a ``ModelConfig``; ``None`` gives ``default``.
        default: The size when the model does not say.

    Returns:
        The context size in tokens.
    """
    return _positive_int(model, ("n_ctx", "num_ctx")) or default


def answer_tokens(model: Any = None, default: int = DEFAULT_ANSWER_TOKENS) -> int:
    """The longest answer, in tokens, a chat model is set to write.

    Reads ``max_tokens`` (llama.cpp, OpenAI-compatible) or ``num_predict`` (Ollama).

    Args:
        model: A chat model or a ``ModelConfig``; ``None`` gives ``default``.
        default: The length when the model does not say.

    Returns:
        The answer length in tokens.
    """
    return _positive_int(model, ("max_tokens", "num_predict")) or default
