"""LangChain faces of an index: a ``BaseRetriever`` and the ``rag`` answer chain.

Both open the index lazily, so building them costs nothing until the first query.
"""

from __future__ import annotations

import logging
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

__all__ = ["IndexRetriever", "build_rag_chain", "config_reranker"]

log = logging.getLogger(__name__)


class IndexRetriever(BaseRetriever):
    """Documents from a tooldeck hybrid index, best first, with score and citation metadata.

    Args:
        config: the tooldeck configuration (``data_dir``, ``rag``, ``embeddings``).
        index_name: the index; ``rag.default_index`` when ``None``.
        k: documents per query (``rag.top_k`` when ``None``).
        filters: metadata equality filters, e.g. ``{"kind": "rest"}``.
        reranker: a chat model that reorders the ``rag.rerank_k`` best documents before the
            ``k`` best are returned (:mod:`tooldeck.rag.rerank`); ``None``: retrieval order.
            The caller decides whether to pass one (:func:`~tooldeck.rag.rerank.wants_rerank`).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    config: Any
    index_name: str | None = None
    k: int | None = None
    filters: dict[str, Any] | None = None
    reranker: Any = None
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
        from tooldeck.rag.rerank import rerank, rerank_settings

        k = self.k or self.config.rag.top_k
        if self.reranker is None:
            matches = self.index().search_documents(query, k, self.filters)
        else:
            settings = rerank_settings(self.config.rag)
            found = self.index().search_documents(query, max(k, settings.k), self.filters)
            outcome = rerank(self.reranker, query, found[: settings.k],
                             timeout_s=settings.timeout_s)
            matches = outcome.apply(found)[:k]
        return [
            Document(page_content=m.context, id=m.id,
                     metadata={**m.metadata, "score": m.score, "id": m.ref,
                               "bm25_rank": m.bm25_rank, "similarity": m.similarity})
            for m in matches
        ]


def config_reranker(config: Config) -> BaseChatModel | None:
    """The configured chat model when ``rag.rerank`` wants it to rerank, else ``None``.

    Under ``auto`` the embedded model is never loaded for this. A model that cannot be built
    (a missing key or package) means no reranking, with a warning, not a failed search.
    """
    from tooldeck.errors import ToolDeckError
    from tooldeck.rag.rerank import model_may_rerank, rerank_settings, wants_rerank

    mode = rerank_settings(config.rag).mode
    if not model_may_rerank(mode, config.model.provider):
        return None
    from tooldeck.models import get_chat_model

    try:
        model = get_chat_model(config.model, config.data_dir)
    except ToolDeckError as exc:
        log.warning("no reranking: the model cannot be built (%s)", exc)
        return None
    return model if wants_rerank(mode, model) else None


def build_rag_chain(
    config: Config, model: BaseChatModel | None, index_name: str | None = None,
    top_k: int | None = None,
) -> Runnable[Any, dict[str, Any]]:
    """The ``rag`` chain: question in, ``{"answer", "matches", "sources", ...}`` out.

    The input is a question string or ``{"question": ...}``. With ``model=None`` (or a model
    that ``rag.rerank`` declines) the answer is retrieval's best match; else the model reranks.
    """
    from tooldeck.questions import check_question
    from tooldeck.rag import open_index
    from tooldeck.rag.answer import ask
    from tooldeck.rag.rerank import rerank_settings

    settings = rerank_settings(config.rag)
    holder: dict[str, HybridIndex] = {}
    lock = threading.Lock()

    def run(value: Any) -> dict[str, Any]:
        question = value.get("question", "") if isinstance(value, dict) else str(value)
        question = check_question(str(question), config.max_question_chars)
        with lock:
            if "index" not in holder:
                holder["index"] = open_index(config, index_name)
        result = ask(holder["index"], question, top_k or config.rag.top_k, model,
                     rerank=settings.mode, rerank_k=settings.k,
                     rerank_timeout_s=settings.timeout_s)
        return result.to_dict()

    return RunnableLambda(run, name="rag")
