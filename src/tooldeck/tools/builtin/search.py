"""``duckduckgo``, ``serper`` and ``serpapi``: web search whose results the agent can fetch.

Each provider's answer becomes :class:`Hit` objects (title, url, snippet, position) and, for
Serper and SerpAPI, answer lines (answer box, knowledge graph); :func:`render_results` writes
them for the model as a numbered list::

    Answer: Paris (https://en.wikipedia.org/wiki/Paris)
    1. Paris - Wikipedia
       https://en.wikipedia.org/wiki/Paris
       Paris is the capital and largest city of France.

This module owns one rule: a search never raises for a failure the outside world can cause. A
missing or refused key, a rate limit, a server error, a timeout, malformed JSON, an oversized
body, a refused address or no network each come back as one observation that says what
happened and what to do next, and no observation contains the API key.

Serper (``POST``, key in ``X-API-KEY``) and SerpAPI (``GET``, key in the ``api_key``
parameter) go through :mod:`tooldeck.tools.net` like every network tool: SSRF guard, retries
on 429 and 5xx, ``web.timeout_s`` and ``web.max_bytes``. SerpAPI's own client (the ``serpapi``
extra) is not used: it reads bodies without a cap, never retries, and waits 60000 s by default.
DuckDuckGo comes through ``ddgs``, which has its own HTTP stack: its backend is pinned to
DuckDuckGo, its timeout set, the whole call bounded by ``web.timeout_s`` on a daemon worker,
and searches are spaced by a process-wide minimum interval (``web.duckduckgo_min_interval_s``).
"""

from __future__ import annotations

import concurrent.futures
import math
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from langchain_core.tools import BaseTool, ToolException
from pydantic import BaseModel, ConfigDict, Field

from tooldeck.config_schema import WebConfig
from tooldeck.plugins import Register

if TYPE_CHECKING:
    from tooldeck.config import Config
    from tooldeck.tools.net import NetworkError, Response, Timeouts

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

MAX_RESULTS = 20
_TITLE_CHARS = 200
_SNIPPET_CHARS = 400
_ANSWER_CHARS = 500
_DETAIL_CHARS = 200
_NO_RESULTS_SERPAPI = "hasn't returned any results"
_USE_SERPER = "use serper with SERPER_API_KEY"
_DDG_RATE_LIMITED = f"DuckDuckGo rate-limited this machine; wait a minute or {_USE_SERPER} instead"
_DDG_EMPTY_NOTE = (
    "DuckDuckGo also answers with nothing when it rate-limits this machine: if a simple query "
    f"finds nothing too, wait a minute or {_USE_SERPER}."
)
_NETWORK_WORDS = ("connect", "dns", "resolve", "network", "unreachable", "os error", "refused")


class SearchInput(BaseModel):
    """Arguments of the web search tools."""

    query: str = Field(
        min_length=1,
        max_length=400,
        description="what to search the web for: a few keywords or a short question",
    )
    max_results: int | None = Field(
        default=None,
        ge=1,
        le=MAX_RESULTS,
        description=f"how many results to list (1-{MAX_RESULTS}); omit for the default",
    )


@dataclass(frozen=True)
class Hit:
    """One search result, whatever the provider.

    Attributes:
        title: The page title (one line).
        url: The page's http(s) URL, for fetching it.
        snippet: The provider's excerpt (one line, may be empty).
        position: The provider's 1-based rank.
    """

    title: str
    url: str
    snippet: str
    position: int


def render_results(
    query: str, hits: Sequence[Hit], answers: Sequence[str] = (), empty_note: str = ""
) -> str:
    """The observation for a search: answer lines, then a numbered list of results.

    Args:
        query: The query, quoted when nothing was found.
        hits: The results, in rank order.
        answers: Lines shown first (a direct answer, a knowledge graph entry).
        empty_note: Added when there are no results.

    Returns:
        ``1. Title\\n   URL\\n   snippet`` entries, or a sentence that says nothing was found.
    """
    lines = list(answers)
    if not hits:
        other = "other " if answers else ""
        lines.append(f'No {other}web results for "{query}"; try other or fewer words.')
        if empty_note:
            lines.append(empty_note)
        return "\n".join(lines)
    for number, hit in enumerate(hits, start=1):
        lines.append(f"{number}. {hit.title or hit.url}")
        lines.append(f"   {hit.url}")
        if hit.snippet:
            lines.append(f"   {hit.snippet}")
    return "\n".join(lines)


def _clean(value: Any, limit: int) -> str:
    """One line of text at most ``limit`` characters long (empty for non-text)."""
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        return ""
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _hits(items: Any, url_key: str, snippet_key: str, limit: int) -> list[Hit]:
    """Results with an http(s) URL, cleaned, at most ``limit`` of them."""
    hits: list[Hit] = []
    for index, item in enumerate(items if isinstance(items, list) else [], start=1):
        if not isinstance(item, Mapping):
            continue
        url = item.get(url_key)
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            continue
        if any(c.isspace() for c in url) or len(url) > 2048:
            continue
        position = item.get("position")
        rank = position if isinstance(position, int) and not isinstance(position, bool) else index
        title = _clean(item.get("title"), _TITLE_CHARS)
        hits.append(Hit(title, url, _clean(item.get(snippet_key), _SNIPPET_CHARS), rank))
        if len(hits) >= limit:
            break
    return hits


def _answer_lines(box: Any, graph: Any) -> list[str]:
    """``Answer: ...`` from an answer box and ``Knowledge graph: ...`` from a graph entry."""
    lines = []
    if isinstance(box, Mapping):
        texts = (_clean(box.get(key), _ANSWER_CHARS) for key in ("answer", "result", "snippet"))
        text = next((t for t in texts if t), "")
        link = box.get("link")
        if text:
            source = f" ({link})" if isinstance(link, str) and link.startswith("http") else ""
            lines.append(f"Answer: {text}{source}")
    if isinstance(graph, Mapping):
        title = _clean(graph.get("title"), _TITLE_CHARS)
        kind = _clean(graph.get("type"), _TITLE_CHARS)
        about = _clean(graph.get("description"), _ANSWER_CHARS)
        if title and (kind or about):
            label = f"{title} ({kind})" if kind else title
            lines.append(f"Knowledge graph: {label}" + (f": {about}" if about else ""))
    return lines


def _describe(engine: str, answer: str = "") -> str:
    """A search tool's description, written for the model."""
    return (
        f"Search the web with {engine}. Returns {answer}a numbered list of results: title, "
        "URL and snippet. Use it for facts that may be recent or that you do not know; then "
        "fetch a URL for details. Input: a search query of a few keywords."
    )


class _Spacer:
    """A process-wide minimum interval between the starts of calls; thread-safe.

    A caller reserves the next free slot under the lock and sleeps outside it, so concurrent
    callers queue up one interval apart without holding the lock while they wait.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next = 0.0

    def reserve(self, interval_s: float, most_wait_s: float) -> float | None:
        """Seconds to wait before calling, or ``None`` when that would pass ``most_wait_s``."""
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            if start - now > most_wait_s:
                return None
            self._next = start + interval_s
            return start - now


_DDG_SPACER = _Spacer()


class _WebSearchTool(BaseTool):
    """What the three search tools share: input, limits, and failures returned as text."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

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


class _KeyedSearchTool(_WebSearchTool):
    """A Google search API reached through ``tools.net`` with a key (env var or config)."""

    provider: ClassVar[str]
    env_var: ClassVar[str]
    config_key: ClassVar[str]
    signup: ClassVar[str]

    endpoint: str = ""
    policy: Any = None  # a tooldeck.tools.net.NetPolicy; None is the production policy

    def _search(self, query: str, limit: int) -> str:
        from tooldeck.tools.net import NetworkError

        key = self._key()
        try:
            data = self._request(key, query, limit).json()
        except NetworkError as exc:
            raise ToolException(self._network_failure(exc)) from None
        hits, answers = self._parse(data, limit)
        return render_results(query, hits, answers).replace(key, "***")

    def _key(self) -> str:
        from tooldeck.redact import remember_secrets

        configured = getattr(self.web, self.config_key)
        key = os.environ.get(self.env_var, "").strip()
        if not key and configured is not None:
            key = configured.get_secret_value().strip()
        if not key:
            msg = (
                f"{self.name} needs an API key and none is set: set {self.env_var} (a key from "
                f"{self.signup}) or web.{self.config_key} in the config, or search with "
                "duckduckgo, which needs no key"
            )
            raise ToolException(msg)
        remember_secrets([key])
        return key

    def _request(self, key: str, query: str, limit: int) -> Response:
        raise NotImplementedError

    def _parse(self, data: Any, limit: int) -> tuple[list[Hit], list[str]]:
        raise NotImplementedError

    def _timeouts(self) -> Timeouts:
        from tooldeck.tools.net import Timeouts

        total = self.web.timeout_s
        return Timeouts(connect_s=min(5.0, total), read_s=total, total_s=total)

    def _malformed(self) -> ToolException:
        return ToolException(
            f"{self.provider} answered with JSON of an unexpected shape; try again later or "
            "search with duckduckgo"
        )

    def _network_failure(self, exc: NetworkError) -> str:
        from tooldeck.tools.net import (
            BlockedAddressError,
            ContentTypeError,
            HTTPStatusError,
            NetworkTimeoutError,
            ResponseTooLargeError,
        )

        name, web = self.provider, self.web
        if isinstance(exc, HTTPStatusError):
            return self._status_failure(exc.status, str(exc))
        if isinstance(exc, NetworkTimeoutError):
            return (
                f"{name} did not answer within web.timeout_s ({web.timeout_s:g} s): {exc}; "
                "try again, or raise web.timeout_s"
            )
        if isinstance(exc, ResponseTooLargeError):
            return (
                f"{name}'s answer is larger than web.max_bytes ({web.max_bytes} bytes); ask "
                "for fewer results or raise web.max_bytes"
            )
        if isinstance(exc, ContentTypeError):
            return (
                f"{name} answered with something that is not valid JSON ({exc}); try again "
                "later or search with duckduckgo"
            )
        if isinstance(exc, BlockedAddressError):
            return (
                f"the network guard refused to contact {name} ({exc}): its address is not a "
                "public one here; check the DNS or proxy settings of this machine"
            )
        return (
            f"no network: cannot reach {name} ({exc}); check the internet connection, or "
            "answer without searching"
        )

    def _status_failure(self, status: int, detail: str) -> str:
        name = self.provider
        if status in (401, 403):
            return (
                f"{name} refused the API key (HTTP {status}): check {self.env_var} (or "
                f"web.{self.config_key}); the key may be mistyped, revoked or out of credit"
            )
        if status == 429:
            return (
                f"{name} is rate-limiting these searches or the account ran out of searches "
                f"({detail}); wait a minute, or search with duckduckgo"
            )
        if status >= 500:
            return (
                f"{name} had a server error ({detail}); try again later, or search with duckduckgo"
            )
        return f"{name} refused the request ({detail}); try a shorter or simpler query"


class SerperTool(_KeyedSearchTool):
    """Google results through Serper (``google.serper.dev``), key in ``SERPER_API_KEY``."""

    provider: ClassVar[str] = "Serper"
    env_var: ClassVar[str] = "SERPER_API_KEY"
    config_key: ClassVar[str] = "serper_api_key"
    signup: ClassVar[str] = "https://serper.dev"

    name: str = "serper"
    description: str = _describe(
        "Google (through Serper)", "Google's direct answer when it has one, then "
    )
    endpoint: str = "https://google.serper.dev/search"

    def _request(self, key: str, query: str, limit: int) -> Response:
        from tooldeck.tools.net import fetch

        headers = {"X-API-KEY": key, "User-Agent": self.web.user_agent}
        return fetch(
            self.endpoint,
            method="POST",
            headers=headers,
            json={"q": query, "num": limit},
            policy=self.policy,
            max_bytes=self.web.max_bytes,
            timeout=self._timeouts(),
        )

    def _parse(self, data: Any, limit: int) -> tuple[list[Hit], list[str]]:
        if not isinstance(data, Mapping) or not isinstance(data.get("organic", []), list):
            raise self._malformed()
        hits = _hits(data.get("organic", []), "link", "snippet", limit)
        return hits, _answer_lines(data.get("answerBox"), data.get("knowledgeGraph"))


class SerpAPITool(_KeyedSearchTool):
    """Google results through SerpAPI (``serpapi.com``), key in ``SERPAPI_API_KEY``."""

    provider: ClassVar[str] = "SerpAPI"
    env_var: ClassVar[str] = "SERPAPI_API_KEY"
    config_key: ClassVar[str] = "serpapi_api_key"
    signup: ClassVar[str] = "https://serpapi.com"

    name: str = "serpapi"
    description: str = _describe(
        "Google (through SerpAPI)", "Google's direct answer when it has one, then "
    )
    endpoint: str = "https://serpapi.com/search"

    def _request(self, key: str, query: str, limit: int) -> Response:
        from tooldeck.tools.net import fetch

        params: dict[str, str | int | float] = {"engine": "google", "q": query, "num": limit}
        params.update(output="json", api_key=key)
        return fetch(
            self.endpoint,
            headers={"User-Agent": self.web.user_agent},
            params=params,
            policy=self.policy,
            max_bytes=self.web.max_bytes,
            timeout=self._timeouts(),
        )

    def _parse(self, data: Any, limit: int) -> tuple[list[Hit], list[str]]:
        if not isinstance(data, Mapping) or not isinstance(data.get("organic_results", []), list):
            raise self._malformed()
        error = data.get("error")
        if isinstance(error, str) and _NO_RESULTS_SERPAPI not in error:
            detail = _clean(error, _DETAIL_CHARS)
            msg = f"SerpAPI could not search: {detail}; try another query or search with duckduckgo"
            raise ToolException(msg)
        hits = _hits(data.get("organic_results", []), "link", "snippet", limit)
        return hits, _answer_lines(data.get("answer_box"), data.get("knowledge_graph"))


class DuckDuckGoTool(_WebSearchTool):
    """DuckDuckGo results through ``ddgs`` (no key), spaced by a process-wide interval."""

    name: str = "duckduckgo"
    description: str = _describe("DuckDuckGo (no API key needed)")

    def _search(self, query: str, limit: int) -> str:
        web = self.web
        # The whole call stays within web.timeout_s: at most half of it waiting for a turn.
        wait = _DDG_SPACER.reserve(web.duckduckgo_min_interval_s, most_wait_s=web.timeout_s / 2)
        if wait is None:
            msg = (
                "too many DuckDuckGo searches are waiting for their turn (they are spaced "
                f"{web.duckduckgo_min_interval_s:g} s apart); try again in a few seconds"
            )
            raise ToolException(msg)
        time.sleep(wait)
        rows = self._text(query, limit, web.timeout_s - wait)
        hits = _hits(rows, "href", "body", limit)
        return render_results(query, hits, empty_note=_DDG_EMPTY_NOTE)

    def _text(self, query: str, limit: int, budget_s: float) -> list[Any]:
        """``DDGS.text`` on a daemon worker, given ``budget_s`` seconds; ``[]`` when empty."""
        from tooldeck.tools.runner import daemon_call

        timeout_s = self.web.timeout_s
        region = self.web.duckduckgo_region
        future = daemon_call(lambda: _ddgs_text(query, region, limit, budget_s))
        try:
            rows = future.result(timeout=budget_s)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise ToolException(_ddg_timeout(timeout_s)) from None
        except ImportError:
            msg = "the ddgs package is not installed: pip install ddgs, or use serper"
            raise ToolException(msg) from None
        except Exception as exc:
            failure = _ddgs_failure(exc, timeout_s)
            if failure is None:
                return []
            raise ToolException(failure) from None
        return rows if isinstance(rows, list) else []


def _ddgs_text(query: str, region: str, limit: int, timeout_s: float) -> Any:
    from ddgs import DDGS

    client = DDGS(timeout=max(1, math.ceil(timeout_s)))
    return client.text(
        query, region=region, safesearch="moderate", max_results=limit, backend="duckduckgo"
    )


def _ddg_timeout(timeout_s: float) -> str:
    return (
        f"DuckDuckGo did not answer within web.timeout_s ({timeout_s:g} s); try again in a "
        f"moment, or {_USE_SERPER}"
    )


def _ddgs_failure(exc: Exception, timeout_s: float) -> str | None:
    """The observation for an exception of ``DDGS.text``; ``None`` means "no results".

    Raises:
        Exception: ``exc`` itself when it is neither a ddgs error nor an ``OSError`` (a bug).
    """
    from ddgs.exceptions import DDGSException, RatelimitException, TimeoutException

    if not isinstance(exc, DDGSException | OSError):
        raise exc
    detail = _clean(str(exc), _DETAIL_CHARS) or type(exc).__name__
    lowered = detail.lower()
    if isinstance(exc, RatelimitException) or "ratelimit" in lowered or "429" in lowered:
        return _DDG_RATE_LIMITED
    if isinstance(exc, TimeoutException | TimeoutError) or "timed out" in lowered:
        return _ddg_timeout(timeout_s)
    if lowered.startswith("no results found"):
        return None
    if isinstance(exc, OSError) or any(word in lowered for word in _NETWORK_WORDS):
        return (
            f"no network: DuckDuckGo cannot be reached ({detail}); check the internet "
            f"connection, or {_USE_SERPER}"
        )
    return f"DuckDuckGo search failed ({detail}); try again in a minute, or {_USE_SERPER}"


def _example(question: str, query: str, observation: str, answer: str) -> dict[str, Any]:
    return {"question": question, "input": {"query": query}, "observation": observation,
            "answer": answer}  # fmt: skip


_EXAMPLES = {
    "duckduckgo": _example(
        "What is the capital of France, and how many people live there?",
        "capital of France population",
        "1. Paris - Wikipedia\n   https://en.wikipedia.org/wiki/Paris\n   Paris is the capital "
        "and largest city of France, with 2.1 million residents.",
        "The capital of France is Paris, with about 2.1 million residents.",
    ),
    "serper": _example(
        "Who wrote the novel Dune?",
        "Dune novel author",
        "Answer: Frank Herbert (https://en.wikipedia.org/wiki/Dune_(novel))\n1. Dune (novel) - "
        "Wikipedia\n   https://en.wikipedia.org/wiki/Dune_(novel)\n   Dune is a 1965 science "
        "fiction novel by American author Frank Herbert.",
        "Dune was written by Frank Herbert (published in 1965).",
    ),
    "serpapi": _example(
        "How tall is the Eiffel Tower?",
        "Eiffel Tower height",
        "Answer: 330 m (https://en.wikipedia.org/wiki/Eiffel_Tower)\n1. Eiffel Tower - "
        "Wikipedia\n   https://en.wikipedia.org/wiki/Eiffel_Tower\n   The tower is 330 metres "
        "tall, about the same height as an 81-storey building.",
        "The Eiffel Tower is 330 metres tall.",
    ),
}


def register_into(register: Register, config: Config | None) -> None:
    """Register ``duckduckgo`` (keyless), ``serper`` and ``serpapi``.

    A keyed tool lists its env var as required only when the config holds no key for it.
    """
    web = config.web if config is not None else WebConfig()
    tools: list[_WebSearchTool] = [
        DuckDuckGoTool(web=web),
        SerperTool(web=web),
        SerpAPITool(web=web),
    ]
    for tool in tools:
        tool.metadata = {"kind": "search", "examples": [_EXAMPLES[tool.name]]}
        if isinstance(tool, _KeyedSearchTool) and getattr(web, tool.config_key) is None:
            register(tool, requires_env=(tool.env_var,))
        else:
            register(tool)
