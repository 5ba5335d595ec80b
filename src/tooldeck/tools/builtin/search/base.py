"""What the three search tools share: their input, their limits, failures returned as text.

A search never raises for a failure the outside world can cause: :class:`WebSearchTool` turns
every ``ToolException`` its provider raises into the observation itself, with any secret
scrubbed from it.
"""

from __future__ import annotations

from typing import Any, ClassVar

from langchain_core.tools import BaseTool, ToolException
from pydantic import BaseModel, ConfigDict, Field

from tooldeck.config_schema import WebConfig
from tooldeck.tools.builtin.arguments import SearchInput
from tooldeck.tools.builtin.declarations import MAX_RESULTS

__all__ = ["MAX_RESULTS", "SearchInput", "WebSearchTool", "search_example"]

def search_example(question: str, query: str, observation: str, answer: str) -> dict[str, Any]:
    """A worked example for a search tool's metadata."""
    return {"question": question, "input": {"query": query}, "observation": observation,
            "answer": answer}  # fmt: skip


class WebSearchTool(BaseTool):
    """A search tool: input, limits, and failures returned as text.

    Attributes:
        web: The ``web`` settings (result count, time and byte limits, keys).
        example: The worked example registered in the tool's metadata.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    example: ClassVar[dict[str, Any]]

    args_schema: type[BaseModel] = SearchInput
    web: WebConfig = Field(default_factory=WebConfig)

    def _run(self, query: str, max_results: int | None = None, **_: Any) -> str:
        from tooldeck.redact import scrub

        query = " ".join(query.split())
        if not query:
            return "Give a search query: a few keywords or a short question."
        limit = min(max_results or self.web.search_results, MAX_RESULTS)
        try:
            return self._search(query, limit)
        except ToolException as exc:
            return scrub(str(exc))

    def _search(self, query: str, limit: int) -> str:
        """Search and render; expected failures raise ``ToolException`` with their message."""
        raise NotImplementedError
