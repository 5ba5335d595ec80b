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
]


def register_into(register: Register, config: Config | None) -> None:
    """Register ``duckduckgo`` (keyless), ``serper`` and ``serpapi``.

    A keyed tool lists its env var as required only when the config holds no key for it.
    """
    web = web_settings(config)
    tools: list[WebSearchTool] = [
        DuckDuckGoTool(web=web),
        SerperTool(web=web),
        SerpAPITool(web=web),
    ]
    for tool in tools:
        tool.metadata = {"kind": "search", "examples": [tool.example]}
        if isinstance(tool, KeyedSearchTool) and getattr(web, tool.config_key) is None:
            register(tool, requires_env=(tool.env_var,))
        else:
            register(tool)
