"""Retrieval: loaders, splitters, the hybrid index and answering from it.

Nothing below this package needs it; the retriever tool, the API helper (``tooldeck
index/ask``), the server and the APIBench harness build on it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tooldeck.questions import check_question

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

    from tooldeck.config import Config
    from tooldeck.rag.index import HybridIndex

__all__ = ["check_question", "open_index"]


def open_index(config: Config, name: str | None = None, create: bool = False) -> HybridIndex:
    """Open index ``name`` (``rag.default_index`` when ``None``) with the configured embeddings.

    Opening is cheap: nothing is read until the first search, and the embedding model is built
    on first use. With ``create`` nothing is written either; ``update`` builds the index.

    Raises:
        IndexNotFoundError: no complete index of that name and ``create`` is false.
        InputError: a name that is not allowed.
    """
    from tooldeck.rag.index import HybridIndex

    def embeddings() -> Embeddings:
        from tooldeck.models.embeddings import get_embeddings

        return get_embeddings(config.embeddings)

    return HybridIndex(name or config.rag.default_index, config.rag, config.data_dir,
                       embeddings=embeddings, create=create)
