"""One place that turns a model's unexpected exceptions into :class:`ModelError`.

A refused or failed connection (OpenAI-compatible server, Ollama) names the URL tried,
credentials masked, and the settings that choose it: ``model.base_url``, ``OPENAI_BASE_URL``,
``OLLAMA_HOST``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from tooldeck.errors import ContextOverflowError, ModelError, ToolDeckError
from tooldeck.redact import mask_secrets, scrub

__all__ = ["model_failures"]

# How providers say the prompt is longer than the context (OpenAI-compatible, Ollama, llama.cpp).
_CONTEXT_SIGNS = ("context_length_exceeded", "maximum context length", "context size",
                  "context window")
# Exception classes (by name, anywhere in the MRO) that mean the server could not be reached.
_CONNECTION_CLASSES = {"APIConnectionError", "ConnectError", "ConnectTimeout"}
_SETTINGS = "check model.base_url, or OPENAI_BASE_URL (openai) / OLLAMA_HOST (ollama)"


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
        connection = _connection_failure(exc)
        if connection is not None:
            raise ModelError(scrub(f"the model call failed: {connection}")) from exc
        text = str(exc).lower()
        if any(sign in text for sign in _CONTEXT_SIGNS):
            raise ContextOverflowError(msg) from exc
        raise ModelError(msg) from exc


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and its causes (``raise ... from``, or the exception being handled)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _request_url(exc: BaseException) -> str | None:
    try:
        request = getattr(exc, "request", None)  # httpx raises RuntimeError when it is unset
    except RuntimeError:
        return None
    url = getattr(request, "url", None)
    return str(url) if url is not None else None


def _is_connection_error(exc: BaseException) -> bool:
    names = {cls.__name__ for cls in type(exc).__mro__}
    return isinstance(exc, ConnectionError) or bool(names & _CONNECTION_CLASSES)


def _connection_failure(exc: BaseException) -> str | None:
    """The text for a model server that could not be reached, or None for another failure."""
    chain = list(_chain(exc))
    if not any(_is_connection_error(err) for err in chain):
        return None
    url = next((u for u in map(_request_url, chain) if u), None)
    reason = str(chain[-1]) or type(chain[-1]).__name__
    where = f"cannot connect to {mask_secrets(url)}" if url else "cannot connect to the server"
    return f"{where} ({reason}); is the server running? {_SETTINGS}"
