"""``wikipedia``: look a topic up through the MediaWiki Action API.

One call makes at most three requests to ``{lang}.wikipedia.org/w/api.php``, all through the
guarded client (``tools.net``), JSON with ``formatversion=2``:

1. ``list=search`` ranks the articles for the query (and gives a spelling suggestion);
2. ``prop=extracts|pageprops|info`` with ``redirects=1`` reads the best one's plain-text
   intro, its URL and whether it is a disambiguation page;
3. for a disambiguation page only, ``prop=links`` lists the articles it points to.

The observation is the best article's title, URL and intro (bounded), plus the other
candidate titles; or the candidates of a disambiguation page; or a plain "no article".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from langchain_core.tools import BaseTool, ToolException
from pydantic import BaseModel

from tooldeck.plugins import Register
from tooldeck.tools.builtin.arguments import WikipediaInput
from tooldeck.tools.builtin.declarations import LANG_PATTERN, WIKIPEDIA_DESCRIPTION
from tooldeck.tools.builtin.web_common import (
    Service,
    bound_s,
    network_advice,
    run_bounded,
    web_request,
    web_settings,
)

if TYPE_CHECKING:
    from tooldeck.config import Config
    from tooldeck.config_schema import WebConfig

__all__ = ["WikipediaInput", "WikipediaTool", "register_into", "wikipedia_tool"]

_LANG = re.compile(LANG_PATTERN)
_REQUESTS = 3  # search, page, links: the most one call makes
_SERVICE = Service("Wikipedia")


@dataclass(frozen=True)
class _Page:
    title: str
    url: str
    extract: str
    disambiguation: bool


class WikipediaTool(BaseTool):
    """Search Wikipedia and read the best article's introduction."""

    name: str = "wikipedia"
    description: str = WIKIPEDIA_DESCRIPTION
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
            raise ToolException(network_advice(exc, _SERVICE, web)) from None

    async def _arun(self, query: str, lang: str | None = None, **_: Any) -> str:
        bound = bound_s(web_settings(self.config), _REQUESTS)
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
        response = web_request(
            endpoint,
            web,
            policy=self.policy,
            params={**params, "format": "json", "formatversion": "2", "utf8": "1"},
            headers={"Accept": "application/json"},
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
    },
    {
        "question": "What does Wikipedia say about the Eiffel Tower?",
        "input": {"query": "Eiffel Tower"},
        "observation": (
            "Wikipedia: Eiffel Tower\nURL: https://en.wikipedia.org/wiki/Eiffel_Tower\n"
            "The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris, "
            "built from 1887 to 1889."
        ),
        "answer": "It is a wrought-iron lattice tower in Paris, built from 1887 to 1889.",
    },
    {
        "question": "Give me the encyclopedia article about photosynthesis.",
        "input": {"query": "photosynthesis"},
        "observation": (
            "Wikipedia: Photosynthesis\nURL: https://en.wikipedia.org/wiki/Photosynthesis\n"
            "Photosynthesis is the process by which plants turn light energy into chemical "
            "energy."
        ),
        "answer": "Photosynthesis is how plants turn light energy into chemical energy.",
    },
    {
        "question": "Look up the Battle of Hastings on Wikipedia.",
        "input": {"query": "Battle of Hastings"},
        "observation": (
            "Wikipedia: Battle of Hastings\nURL: https://en.wikipedia.org/wiki/"
            "Battle_of_Hastings\nThe Battle of Hastings was fought on 14 October 1066 between "
            "the Norman-French army of William and the English army of Harold Godwinson."
        ),
        "answer": "It was fought on 14 October 1066 between William's Normans and Harold's "
        "English army.",
    },
]


def wikipedia_tool(config: Config | None) -> WikipediaTool:
    """The ``wikipedia`` tool with its worked examples."""
    tool = WikipediaTool(config=config)
    tool.metadata = {"examples": WIKIPEDIA_EXAMPLES}
    return tool


def register_into(register: Register, config: Config | None) -> None:
    """Register the ``wikipedia`` tool."""
    register(wikipedia_tool(config))
