"""The ``retriever`` tool: search a tooldeck index and return cited passages.

One tool per index: ``retriever`` searches ``rag.default_index``; every other index (configured
under ``rag.indexes`` or built under ``data_dir/indexes``) gets ``retriever_NAME``. A tool whose
index is not built yet is listed as ``needs index: run `tooldeck index NAME PATH``` and is not
offered to a model. Each is a ``kind: "search"`` tool, so self-ask can use it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from langchain_core.tools import BaseTool
from pydantic import BaseModel, ConfigDict, PrivateAttr

from tooldeck.tools.builtin.arguments import RetrieverInput
from tooldeck.tools.builtin.declarations import (
    index_check,
    index_names,
    retriever_description,
    retriever_name,
)

if TYPE_CHECKING:
    from tooldeck.config import Config

__all__ = [
    "RetrieverInput",
    "RetrieverTool",
    "index_availability",
    "index_check",
    "index_names",
    "retriever_tool",
    "retriever_tools",
]

_PASSAGE_CHARS = 800

_EXAMPLE = {
    "question": "How do I start a new session with the API?",
    "input": {"query": "create a new session"},
    "observation": (
        "[1] rest POST /session (source: openapi.json)\nCreate a new session. Body: "
        '{"user": string}. Returns the session id.'
    ),
    "answer": 'Send POST /session with a JSON body {"user": ...}; it returns the session id.',
}


class RetrieverTool(BaseTool):
    """Search one index; the observation lists numbered passages with their sources."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    name: str = "retriever"
    description: str = ""
    args_schema: type[BaseModel] = RetrieverInput
    config: Any = None
    index_name: str = "docs"
    _retriever: Any = PrivateAttr(default=None)

    def _run(self, query: str, **_: Any) -> str:
        from tooldeck.rag.answer import nothing_close, render_block
        from tooldeck.rag.retriever import IndexRetriever, config_reranker

        if self._retriever is None:  # reranks with the configured model when rag.rerank says so
            self._retriever = IndexRetriever(config=self.config, index_name=self.index_name,
                                             reranker=config_reranker(self.config))
        docs = self._retriever.invoke(query)
        if not docs:
            return f"No passages in index {self.index_name!r} match {query!r}."
        lexical = any(d.metadata.get("bm25_rank") is not None for d in docs)
        best = max(float(d.metadata.get("similarity") or 0.0) for d in docs)
        head = (f"No passage in index {self.index_name!r} is close to {query!r}; the nearest "
                "ones follow.\n\n" if nothing_close(lexical, best) else "")
        return head + "\n\n".join(
            render_block(
                n,
                str(d.metadata.get("kind", "doc")),
                str(d.metadata.get("id", "")),
                str(d.metadata.get("source", "")),
                d.page_content,
                _PASSAGE_CHARS,
            )
            for n, d in enumerate(docs, start=1)
        )


def index_availability(tool: RetrieverTool) -> Callable[[], str | None]:
    """The registry's availability check for a retriever: ``needs index: ...`` until it is built."""
    return index_check(tool.config, tool.index_name)


def retriever_tool(config: Config, index: str) -> RetrieverTool:
    """The retriever tool of ``index`` (``retriever`` for the default one)."""
    return RetrieverTool(
        name=retriever_name(index, config.rag.default_index),
        description=retriever_description(index),
        config=config,
        index_name=index,
        metadata={
            "kind": "search",
            "examples": [
                _EXAMPLE,
                {
                    "question": "Which function of the client library uploads a file?",
                    "input": {"query": "upload a file function"},
                    "observation": (
                        "[1] function Client.upload_file(path, folder=None) (source: client.py)"
                        "\nUpload a local file into a folder; returns the file id."
                    ),
                    "answer": "Use Client.upload_file(path, folder=None); it returns the id.",
                },
                {
                    "question": "What parameters does the orders endpoint take? Check the docs.",
                    "input": {"query": "list orders endpoint parameters"},
                    "observation": (
                        "[1] rest GET /orders (source: openapi.yaml)\nList orders. Query: "
                        "status (open|closed), page (integer), per_page (integer, max 100)."
                    ),
                    "answer": "GET /orders takes status, page and per_page (at most 100).",
                },
            ],
        },
    )


def retriever_tools(config: Config) -> list[RetrieverTool]:
    """One retriever tool per configured or built index (``retriever`` for the default one)."""
    return [retriever_tool(config, index) for index in index_names(config)]
