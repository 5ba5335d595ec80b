"""``duckduckgo``, ``serper`` and ``serpapi``: web search whose results the agent can fetch.

Each provider's answer becomes :class:`Hit` objects (title, url, snippet, position) and, for
Serper and SerpAPI, answer lines (answer box, knowledge graph); :func:`render_results` writes
them for the model as a numbered list::

    Answer: Paris (https://en.wikipedia.org/wiki/Paris)
    1. Paris - Wikipedia
       https://en.wikipedia.org/wiki/Paris
       Paris is the capital and largest city of France.

This package owns one rule: a search never raises for a failure the outside world can cause. A
missing or refused key, a rate limit, a server error, a timeout, malformed JSON, an oversized
body, a refused address or no network each come back as one observation that says what
happened and what to do next, and no observation contains the API key.

Modules:

* ``base``: the input, the limits, and failures returned as text (:class:`SearchInput`);
* ``results``: provider rows to hits and answer lines, and the rendering;
* ``keyed``: Serper and SerpAPI, through :mod:`tooldeck.tools.net` with an API key;
* ``duckduckgo``: DuckDuckGo through ``ddgs`` (its own HTTP stack), bounded and spaced.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from tooldeck.plugins import Register
from tooldeck.tools.builtin.search.base import MAX_RESULTS, SearchInput, WebSearchTool
from tooldeck.tools.builtin.search.duckduckgo import DuckDuckGoTool
from tooldeck.tools.builtin.search.keyed import KeyedSearchTool, SerpAPITool, SerperTool
from tooldeck.tools.builtin.search.results import Hit, render_results
from tooldeck.tools.builtin.web_common import web_settings

if TYPE_CHECKING:
    from tooldeck.config import Config

__all__ = [
    "MAX_RESULTS",
    "DuckDuckGoTool",
    "Hit",
    "SearchInput",
    "SerpAPITool",
    "SerperTool",
    "register_into",
    "render_results",
    "search_tool",
]


_TOOLS: dict[str, Callable[..., WebSearchTool]] = {
    "duckduckgo": DuckDuckGoTool,
    "serper": SerperTool,
    "serpapi": SerpAPITool,
}


def search_tool(name: str, config: Config | None) -> WebSearchTool:
    """Build one search tool (``duckduckgo``, ``serper`` or ``serpapi``) with its metadata.

    Raises:
        KeyError: No search tool has that name.
    """
    tool = _TOOLS[name](web=web_settings(config))
    tool.metadata = {
        "kind": "search",
        "examples": [
            tool.example,
            {
                "question": "What is the latest version of Node.js?",
                "input": {"query": "Node.js latest release"},
                "observation": (
                    "1. Node.js releases\n   https://nodejs.org/en/about/previous-releases\n"
                    "   Node.js 23.3.0 (Current) was released on 2024-11-20."
                ),
                "answer": "The latest listed release is Node.js 23.3.0.",
            },
            {
                "question": "Any news today about electric car sales?",
                "input": {"query": "electric car sales news"},
                "observation": (
                    "1. EV sales rise 20% in October - Example News\n"
                    "   https://news.example.com/ev-sales\n   Electric car sales rose 20%..."
                ),
                "answer": "Example News reports electric car sales rose 20% in October.",
            },
            {
                "question": "What time is sunset in Oslo today?",
                "input": {"query": "sunset time Oslo today"},
                "observation": (
                    "1. Sunrise and sunset in Oslo - timeanddate\n"
                    "   https://www.timeanddate.com/sun/norway/oslo\n   Sunset: 15:21."
                ),
                "answer": "The sun sets at 15:21 in Oslo today.",
            },
        ],
    }
    return tool


def register_into(register: Register, config: Config | None) -> None:
    """Register ``duckduckgo`` (keyless), ``serper`` and ``serpapi``.

    A keyed tool lists its env var as required only when the config holds no key for it.
    """
    web = web_settings(config)
    for name in _TOOLS:
        tool = search_tool(name, config)
        if isinstance(tool, KeyedSearchTool) and getattr(web, tool.keyed.config_key) is None:
            register(tool, requires_env=(tool.keyed.env_var,))
        else:
            register(tool)
