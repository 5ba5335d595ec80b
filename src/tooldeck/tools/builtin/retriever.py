"""The ``retriever`` tool: search a tooldeck index and return cited passages.

One tool per index: ``retriever`` searches ``rag.default_index``; every other index (configured
under ``rag.indexes`` or built under ``data_dir/indexes``) gets ``retriever_NAME``. A tool whose
index is not built yet is listed as ``needs index: run `tooldeck index NAME PATH``` and is not
offered to a model. Each is a ``kind: "search"`` tool, so self-ask can use it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from langchain_core.tools import BaseTool
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

if TYPE_CHECKING:
    from tooldeck.config import Config

__all__ = ["RetrieverInput", "RetrieverTool", "index_availability", "retriever_tools"]

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


class RetrieverInput(BaseModel):
    """Arguments of the retriever tool."""

    query: str = Field(min_length=1, max_length=2000, description="what to look for")


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
        from tooldeck.rag.answer import render_block
        from tooldeck.rag.retriever import IndexRetriever

        if self._retriever is None:
            self._retriever = IndexRetriever(config=self.config, index_name=self.index_name)
        docs = self._retriever.invoke(query)
        if not docs:
            return f"No passages in index {self.index_name!r} match {query!r}."
        return "\n\n".join(
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


def _tool_name(index: str, default: str) -> str:
    return "retriever" if index == default else "retriever_" + re.sub(r"[^A-Za-z0-9_]", "_", index)


def index_availability(tool: RetrieverTool) -> Callable[[], str | None]:
    """The registry's availability check for a retriever: ``needs index: ...`` until it is built."""

    def check() -> str | None:
        from tooldeck.rag.lifecycle import index_generation

        if index_generation(tool.config.data_dir, tool.index_name) is not None:
            return None
        return f"needs index: run `tooldeck index {tool.index_name} PATH`"

    return check


def retriever_tools(config: Config) -> list[RetrieverTool]:
    """One retriever tool per configured or built index (``retriever`` for the default one)."""
    from tooldeck.rag.index import list_indexes

    default = config.rag.default_index
    names = dict.fromkeys([default, *config.rag.indexes, *list_indexes(config.data_dir)])
    return [
        RetrieverTool(
            name=_tool_name(index, default),
            description=(
                f"Search the local document index {index!r} (API operations, "
                "functions and docs) and return cited passages. Input: a search query."
            ),
            config=config,
            index_name=index,
            metadata={"kind": "search", "examples": [_EXAMPLE]},
        )
        for index in names
    ]
