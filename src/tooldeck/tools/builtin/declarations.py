"""What is known of each built-in tool before it is built: name, description, arguments, needs.

``tooldeck tools list`` reads this module and nothing else of the built-in tools, so it must
stay light: the standard library and :mod:`tooldeck.rag.lifecycle` (which indexes exist)
only; no LangChain, no tool library, not even pydantic models: the argument models are in
:mod:`tooldeck.tools.builtin.arguments`, imported only for ``tools list --json`` or a build. The
tool
modules take their descriptions and argument models from here, so a listing and the built
tool cannot disagree; :func:`tooldeck.tools.builtin.register_tools` turns them into
:class:`~tooldeck.tools.spec.ToolSpec` declarations.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tooldeck.config import Config

__all__ = [
    "CALCULATOR_DESCRIPTION",
    "DUCKDUCKGO_DESCRIPTION",
    "LANG_PATTERN",
    "MAX_RESULTS",
    "MAX_TEXT_CHARS",
    "MAX_URL_LENGTH",
    "SERPAPI",
    "SERPER",
    "SUMMARIZE_DESCRIPTION",
    "URL_PATTERN",
    "WEB_FETCH_DESCRIPTION",
    "WIKIPEDIA_DESCRIPTION",
    "YOUTUBE_DESCRIPTION",
    "YOUTUBE_TRANSCRIPT_NOTE",
    "KeyedSearch",
    "describe_search",
    "index_check",
    "index_names",
    "retriever_description",
    "retriever_name",
]

MAX_RESULTS = 20  # the most results a search or youtube call lists
MAX_URL_LENGTH = 2000
MAX_TEXT_CHARS = 100_000_000  # the most web.summarize_max_chars can be set to
LANG_PATTERN = r"^[a-z]{2,3}(-[a-z]{1,12})?$"
# No spaces, quotes, backslashes or control characters (escapes only, so both Python and the
# ReAct grammar's regex engine read it the same way; see agents/grammar.py).
URL_PATTERN = r"^[^\x00-\x20\x22\x5c\x7f]+$"

# --- calculator ---

CALCULATOR_DESCRIPTION = (
    "Compute an arithmetic expression and return the number.\n\n"
    "Use it for any math instead of computing in your head."
)


# --- retriever ---


def retriever_name(index: str, default: str) -> str:
    """``retriever`` for the default index, else ``retriever_NAME``."""
    return "retriever" if index == default else "retriever_" + re.sub(r"[^A-Za-z0-9_]", "_", index)


def index_check(config: Config, index: str) -> Callable[[], str | None]:
    """An availability check for the retriever of ``index``: ``needs index: ...`` until built."""

    def check() -> str | None:
        from tooldeck.rag.lifecycle import index_generation

        if index_generation(config.data_dir, index) is not None:
            return None
        return f"needs index: run `tooldeck index {index} PATH`"

    return check


def index_names(config: Config) -> list[str]:
    """The default index, then every configured or built one, each once."""
    from tooldeck.rag.lifecycle import list_indexes

    default = config.rag.default_index
    return list(dict.fromkeys([default, *config.rag.indexes, *list_indexes(config.data_dir)]))


def retriever_description(index: str) -> str:
    """The description of the retriever tool of ``index``."""
    return (
        f"Search the local document index {index!r} (API operations, "
        "functions and docs) and return cited passages. Input: a search query."
    )


# --- web search ---


def describe_search(engine: str, answer: str = "") -> str:
    """A search tool's description, written for the model."""
    return (
        f"Search the web with {engine}. Returns {answer}a numbered list of results: title, "
        "URL and snippet. Use it for facts that may be recent or that you do not know; then "
        "fetch a URL for details. Input: a search query of a few keywords."
    )


DUCKDUCKGO_DESCRIPTION = describe_search("DuckDuckGo (no API key needed)")


@dataclass(frozen=True)
class KeyedSearch:
    """A search tool that needs an API key: where the key comes from.

    Attributes:
        name: The tool's name.
        provider: The service's name in observations.
        env_var: The env var that holds the key (it wins over the config).
        config_key: The ``web`` setting that may hold the key.
        signup: Where to get a key.
    """

    name: str
    provider: str
    env_var: str
    config_key: str
    signup: str

    @property
    def description(self) -> str:
        """The tool's description (Google results through the provider)."""
        return describe_search(
            f"Google (through {self.provider})", "Google's direct answer when it has one, then "
        )


SERPER = KeyedSearch("serper", "Serper", "SERPER_API_KEY", "serper_api_key", "https://serper.dev")
SERPAPI = KeyedSearch(
    "serpapi", "SerpAPI", "SERPAPI_API_KEY", "serpapi_api_key", "https://serpapi.com"
)

# --- web_fetch ---

WEB_FETCH_DESCRIPTION = (
    "Read one web page and return its title, main text (menus, ads and footers left out) and "
    "its links. Input: the full http(s) URL of the page, such as a link from a search result. "
    "Reads HTML, plain text and JSON; not PDFs, images or private addresses. Long pages are "
    "cut with a note saying how much is missing."
)


# --- summarize ---

SUMMARIZE_DESCRIPTION = (
    "Summarize a long text or a web page in one paragraph. Give the text in text (url "
    "null), or the page address in url (text null). Use it when asked for a summary, the "
    "gist or the main points of something."
)


# --- wikipedia ---

WIKIPEDIA_DESCRIPTION = (
    "Look up a topic on Wikipedia. Returns the best article's title, URL and opening "
    "paragraph, and the titles of other matching articles. Use it for facts about people, "
    "places, things, events and ideas. Input: the topic."
)


# --- youtube ---

YOUTUBE_DESCRIPTION = (
    "Search YouTube for videos. Returns each video's title, channel, duration and URL. "
    'Input: what to search for; add ", N" for N videos.'
)
YOUTUBE_TRANSCRIPT_NOTE = (
    " To read a video's transcript instead, give transcript_of: the video id or URL."
)


