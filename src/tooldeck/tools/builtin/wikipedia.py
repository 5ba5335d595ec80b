"""``wikipedia``: look a topic up through the MediaWiki Action API.

One call makes at most three requests to ``{lang}.wikipedia.org/w/api.php``, all through the
guarded client (``tools.net``), JSON with ``formatversion=2``:

1. ``list=search`` ranks the articles for the query (and gives a spelling suggestion);
2. ``prop=extracts|pageprops|info`` with ``redirects=1`` reads the best one's plain-text
   intro, its URL and whether it is a disambiguation page;
3. for a disambiguation page only, ``prop=links`` lists the articles it points to.

The observation is the best article's title, URL and intro (bounded), plus the other
candidate titles; or the candidates of a disambiguation page; or a plain "no article".

This module also holds the few helpers every built-in web tool shares (settings, time
limits, the wording of network failures, the bounded async run); ``summarize`` and
``youtube`` import them from here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from langchain_core.tools import BaseTool, ToolException
from pydantic import BaseModel, Field

from tooldeck.plugins import Register

if TYPE_CHECKING:
    from tooldeck.config import Config, WebConfig
    from tooldeck.errors import NetworkError
    from tooldeck.tools.net import Timeouts

__all__ = [
    "WikipediaInput",
    "WikipediaTool",
    "net_timeouts",
    "network_failure",
    "register_into",
    "run_bounded",
    "web_settings",
]

LANG_PATTERN = r"^[a-z]{2,3}(-[a-z]{1,12})?$"
_LANG = re.compile(LANG_PATTERN)
_REQUESTS = 3  # search, page, links: the most one call makes
_T = TypeVar("_T")


# --- shared by the built-in web tools ---


def web_settings(config: Config | None) -> WebConfig:
    """The ``web`` section of ``config``, or its defaults when there is no config."""
    from tooldeck.config import WebConfig

    return config.web if config is not None else WebConfig()


def net_timeouts(web: WebConfig) -> Timeouts:
    """Per-request time limits from ``web.timeout_s`` (which bounds the whole request)."""
    from tooldeck.tools.net import Timeouts

    return Timeouts(connect_s=min(5.0, web.timeout_s), read_s=web.timeout_s, total_s=web.timeout_s)


def network_failure(service: str, exc: NetworkError) -> ToolException:
    """A failure of the guarded client, worded for the model: what happened, what to do.

    Args:
        service: Who was asked, such as ``"Wikipedia"`` or ``"the web page"``.
        exc: The client's error.

    Returns:
        The exception to raise (the runner turns it into an observation).
    """
    from tooldeck.errors import (
        BlockedAddressError,
        ContentTypeError,
        HTTPStatusError,
        NetworkTimeoutError,
        ResponseTooLargeError,
        TooManyRedirectsError,
    )

    status = exc.status if isinstance(exc, HTTPStatusError) else 0
    if isinstance(exc, BlockedAddressError):
        advice = "refused: tooldeck only fetches public http(s) addresses; use a public URL"
    elif isinstance(exc, NetworkTimeoutError):
        advice = f"{service} did not answer in time; try again later"
    elif status == 429:
        advice = f"{service} is limiting requests (HTTP 429); wait a minute, then try again"
    elif status >= 500:
        advice = f"{service} has a server problem (HTTP {status}); try again later"
    elif status in (404, 410):
        advice = f"{service}: no such page (HTTP {status}); check the address"
    elif status:
        advice = f"{service} refused the request (HTTP {status})"
    elif isinstance(exc, ResponseTooLargeError):
        advice = f"{service} sent more than web.max_bytes allows; ask for something smaller"
    elif isinstance(exc, ContentTypeError):
        advice = f"{service} answered with content tooldeck cannot read; try again later"
    elif isinstance(exc, TooManyRedirectsError):
        advice = f"{service} redirects too many times; try another address"
    else:
        advice = f"{service} could not be reached; check the network connection or try later"
    return ToolException(f"{advice} ({exc})")


async def run_bounded(work: Callable[[], _T], seconds: float, tool_name: str) -> _T:
    """Run a blocking tool body on a daemon thread; give up after ``seconds``.

    Args:
        work: The body (its own requests have time limits; this bounds the whole).
        seconds: The most the caller waits.
        tool_name: Named in the timeout message.

    Returns:
        The body's result.

    Raises:
        ToolException: It took longer than ``seconds``.
    """
    import asyncio

    from tooldeck.tools.runner import daemon_call

    try:
        result: _T = await asyncio.wait_for(asyncio.wrap_future(daemon_call(work)), seconds)
    except TimeoutError:
        msg = f"{tool_name} did not finish within {seconds:g} s; try again later"
        raise ToolException(msg) from None
    return result


# --- the tool ---


class WikipediaInput(BaseModel):
    """Arguments of the wikipedia tool."""

    query: str = Field(
        min_length=1,
        max_length=300,
        description='the topic to look up, such as "Marie Curie" or "speed of light"',
    )
    lang: str | None = Field(
        default=None,
        max_length=16,
        pattern=LANG_PATTERN,
        description="language edition such as en, de or fr (default: the configured one)",
    )


@dataclass(frozen=True)
class _Page:
    title: str
    url: str
    extract: str
    disambiguation: bool


class WikipediaTool(BaseTool):
    """Search Wikipedia and read the best article's introduction."""

    name: str = "wikipedia"
    description: str = (
        "Look up a topic on Wikipedia. Returns the best article's title, URL and opening "
        "paragraph, and the titles of other matching articles. Use it for facts about people, "
        "places, things, events and ideas. Input: the topic."
    )
    args_schema: type[BaseModel] = WikipediaInput
    config: Any = None
    api_url: str = "https://{lang}.wikipedia.org/w/api.php"
    policy: Any = None
    max_extract_chars: int = 1500
    max_candidates: int = 8

    def _run(self, query: str, lang: str | None = None, **_: Any) -> str:
        from tooldeck.errors import NetworkError

        web = web_settings(self.config)
        edition = (lang or web.wikipedia_lang).strip().lower()
        if not _LANG.fullmatch(edition):
            msg = f"{edition!r} is not a Wikipedia language code; use one such as en, de or fr"
            raise ToolException(msg)
        endpoint = self.api_url.replace("{lang}", edition)
        topic = " ".join(query.split())
        if not topic:
            msg = "give a topic to look up, such as 'Marie Curie'"
            raise ToolException(msg)
        try:
            return self._lookup(endpoint, topic, web)
        except NetworkError as exc:
            raise network_failure("Wikipedia", exc) from None

    async def _arun(self, query: str, lang: str | None = None, **_: Any) -> str:
        web = web_settings(self.config)
        bound = _REQUESTS * web.timeout_s + 1
        return await run_bounded(lambda: self._run(query, lang), bound, self.name)

    def _lookup(self, endpoint: str, query: str, web: WebConfig) -> str:
        found = _part(self._get(endpoint, _search_params(query, web.search_results), web))
        hits = [h["title"] for h in _list(found, "search") if isinstance(h.get("title"), str)]
        if not hits:
            info = found.get("searchinfo")
            suggestion = info.get("suggestion") if isinstance(info, dict) else None
            hint = f" Did you mean {suggestion!r}? Look that up." if suggestion else (
                " Try fewer or other words."
            )
            return f"Wikipedia has no article matching {query!r}.{hint}"
        page = self._page(endpoint, hits[0], web)
        others = [title for title in hits[1:] if title != page.title][: self.max_candidates]
        if page.disambiguation:
            options = self._links(endpoint, page.title, web) or others
            listed = "; ".join(options) if options else "(no articles listed)"
            return (
                f"{page.title!r} may refer to: {listed} ({page.url}). "
                "Look up one of these titles to read it."
            )
        limit = min(self.max_extract_chars, web.max_chars)
        lines = [f"Wikipedia: {page.title}", f"URL: {page.url}", _clip(page.extract, limit)]
        if others:
            lines.append("Other matching articles: " + "; ".join(others))
        return "\n".join(lines)

    def _page(self, endpoint: str, title: str, web: WebConfig) -> _Page:
        params = {
            "action": "query",
            "prop": "extracts|pageprops|info",
            "titles": title,
            "redirects": "1",
            "exintro": "1",
            "explaintext": "1",
            "exsectionformat": "plain",
            "ppprop": "disambiguation",
            "inprop": "url",
        }
        pages = _list(_part(self._get(endpoint, params, web)), "pages")
        if not pages or "missing" in pages[0] or "invalid" in pages[0]:
            msg = f"Wikipedia listed {title!r} but has no such page now; try again later"
            raise ToolException(msg)
        page = pages[0]
        props = page.get("pageprops")
        return _Page(
            title=str(page.get("title", title)),
            url=str(page.get("fullurl") or page.get("canonicalurl") or ""),
            extract=str(page.get("extract") or "").strip() or "(this article has no intro)",
            disambiguation=isinstance(props, dict) and "disambiguation" in props,
        )

    def _links(self, endpoint: str, title: str, web: WebConfig) -> list[str]:
        params = {
            "action": "query",
            "prop": "links",
            "titles": title,
            "plnamespace": "0",
            "pllimit": str(2 * self.max_candidates),
        }
        pages = _list(_part(self._get(endpoint, params, web)), "pages")
        links = _list(pages[0], "links") if pages else []
        return [str(link["title"]) for link in links if "title" in link][: 2 * self.max_candidates]

    def _get(self, endpoint: str, params: dict[str, str], web: WebConfig) -> dict[str, Any]:
        from tooldeck.tools.net import fetch

        response = fetch(
            endpoint,
            params={**params, "format": "json", "formatversion": "2", "utf8": "1"},
            headers={"User-Agent": web.user_agent, "Accept": "application/json"},
            policy=self.policy,
            max_bytes=web.max_bytes,
            timeout=net_timeouts(web),
            allowed_types=("application/json",),
        )
        data = response.json()
        if not isinstance(data, dict):
            raise _malformed("the answer is not a JSON object")
        error = data.get("error")
        if isinstance(error, dict):
            code, info = error.get("code", "error"), error.get("info", "")
            msg = f"Wikipedia refused the request ({code}: {info}); rephrase the topic"
            raise ToolException(msg)
        return data


def _search_params(query: str, results: int) -> dict[str, str]:
    return {
        "action": "query",
        "list": "search",
        "srsearch": query,
        "srlimit": str(max(2, min(results, 10))),
        "srinfo": "suggestion",
        "srprop": "",
    }


def _malformed(detail: str) -> ToolException:
    return ToolException(f"Wikipedia answered with data tooldeck cannot read ({detail}); try later")


def _part(data: dict[str, Any]) -> dict[str, Any]:
    part = data.get("query")
    if not isinstance(part, dict):
        raise _malformed("no 'query' object")
    return part


def _list(data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise _malformed(f"{key!r} is not a list")
    return [item for item in value if isinstance(item, dict)]


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit]
    end = max(cut.rfind(". "), cut.rfind(".\n"))
    return (cut[: end + 1] if end > limit // 2 else cut.rsplit(" ", 1)[0] + " ...") + (
        " [intro cut; read the URL for more]"
    )


WIKIPEDIA_EXAMPLES = [
    {
        "question": "Who was Marie Curie?",
        "input": {"query": "Marie Curie"},
        "observation": (
            "Wikipedia: Marie Curie\nURL: https://en.wikipedia.org/wiki/Marie_Curie\n"
            "Marie Salomea Sklodowska-Curie was a Polish and naturalised-French physicist and "
            "chemist who conducted pioneering research on radioactivity."
        ),
        "answer": "Marie Curie was a Polish-French physicist and chemist who pioneered "
        "research on radioactivity.",
    }
]


def register_into(register: Register, config: Config | None) -> None:
    """Register the ``wikipedia`` tool."""
    tool = WikipediaTool(config=config)
    tool.metadata = {"examples": WIKIPEDIA_EXAMPLES}
    register(tool)
