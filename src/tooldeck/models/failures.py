"""One place that turns a model's unexpected exceptions into :class:`ModelError`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from tooldeck.errors import ContextOverflowError, ModelError, ToolDeckError
from tooldeck.redact import scrub

__all__ = ["model_failures"]

# How providers say the prompt is longer than the context (OpenAI-compatible, Ollama, llama.cpp).
_CONTEXT_SIGNS = ("context_length_exceeded", "maximum context length", "context size",
                  "context window")


@contextmanager
def model_failures() -> Iterator[None]:
    """Turn an unexpected exception from a model call into a :class:`ModelError`.

    Tool failures never get here (they become observations), so what escapes is the model's
    (or its client's) failure; tooldeck's own errors pass unchanged. A provider that echoes the
    key in its error text does not get it into the message: configured secrets are scrubbed.
    """
    try:
        yield
    except ToolDeckError:
        raise
    except Exception as exc:
        msg = scrub(f"the model call failed: {type(exc).__name__}: {exc}")
        text = str(exc).lower()
        if any(sign in text for sign in _CONTEXT_SIGNS):
            raise ContextOverflowError(msg) from exc
        raise ModelError(msg) from exc
