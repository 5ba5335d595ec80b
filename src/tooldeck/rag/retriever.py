"""LangChain faces of an index: a ``BaseRetriever`` and the ``rag`` answer chain.

Both open the index lazily, so building them costs nothing until the first query.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable, RunnableLambda
from pydantic import ConfigDict, PrivateAttr

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from tooldeck.config import Config
    from tooldeck.rag.index import HybridIndex

__all__ = ["IndexRetriever", "build_rag_chain"]


class IndexRetriever(BaseRetriever):
    """Documents from a tooldeck hybrid index, best first, with score and citation metadata.

    Args:
        config: the tooldeck configuration (``data_dir``, ``rag``, ``embeddings``).
        index_name: the index; ``rag.default_index`` when ``None``.
        k: documents per query (``rag.top_k`` when ``None``).
        filters: metadata equality filters, e.g. ``{"kind": "rest"}``.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    config: Any
    index_name: str | None = None
    k: int | None = None
    filters: dict[str, Any] | None = None
    _index: Any = PrivateAttr(default=None)
    _lock: Any = PrivateAttr(default_factory=threading.Lock)

    def index(self) -> HybridIndex:
        """The opened index (opened once, on first use)."""
        with self._lock:
            if self._index is None:
                from tooldeck.rag import open_index

                self._index = open_index(self.config, self.index_name)
            return self._index  # type: ignore[no-any-return]

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        matches = self.index().search_documents(query, self.k, self.filters)
        return [
            Document(page_content=m.context, id=m.id,
                     metadata={**m.metadata, "score": m.score, "id": m.ref})
            for m in matches
        ]


def build_rag_chain(
    config: Config, model: BaseChatModel | None, index_name: str | None = None,
    top_k: int | None = None,
) -> Runnable[Any, dict[str, Any]]:
    """The ``rag`` chain: question in, ``{"answer", "matches", "sources", ...}`` out.

    The input is a question string or ``{"question": ...}``. With ``model=None`` the answer is
    the best match (no model).
    """
    from tooldeck.rag import check_question, open_index
    from tooldeck.rag.answer import ask

    holder: dict[str, HybridIndex] = {}
    lock = threading.Lock()

    def run(value: Any) -> dict[str, Any]:
        question = value.get("question", "") if isinstance(value, dict) else str(value)
        question = check_question(str(question), config.max_question_chars)
        with lock:
            if "index" not in holder:
                holder["index"] = open_index(config, index_name)
        result = ask(holder["index"], question, top_k or config.rag.top_k, model)
        return result.to_dict()

    return RunnableLambda(run, name="rag")
