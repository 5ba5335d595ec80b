"""Search results: provider rows become :class:`Hit` objects and answer lines, then text.

:func:`render_results` writes what the model reads, answer lines first, then a numbered list::

    Answer: Paris (https://en.wikipedia.org/wiki/Paris)
    1. Paris - Wikipedia
       https://en.wikipedia.org/wiki/Paris
       Paris is the capital and largest city of France.

Every title, snippet and answer is one line of bounded length (:func:`one_line`), and a
result without an http(s) URL is dropped, so a provider cannot fake entries or flood the model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["DETAIL_CHARS", "Hit", "answer_lines", "hits_from", "one_line", "render_results"]

DETAIL_CHARS = 200  # a provider's error detail quoted in a failure
_TITLE_CHARS = 200
_SNIPPET_CHARS = 400
_ANSWER_CHARS = 500
_MAX_URL_CHARS = 2048


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


def one_line(value: Any, limit: int) -> str:
    """One line of text at most ``limit`` characters long (empty for non-text)."""
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        return ""
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def hits_from(items: Any, url_key: str, snippet_key: str, limit: int) -> list[Hit]:
    """A provider's result rows as hits: those with an http(s) URL, at most ``limit``.

    Args:
        items: The provider's list of result objects (anything else gives no hits).
        url_key: The field holding the URL (``"link"``, ``"href"``).
        snippet_key: The field holding the excerpt (``"snippet"``, ``"body"``).
        limit: The most hits returned.

    Returns:
        The hits in the provider's order, ranked by its ``position`` when it gives one.
    """
    hits: list[Hit] = []
    for index, item in enumerate(items if isinstance(items, list) else [], start=1):
        if not isinstance(item, Mapping):
            continue
        url = item.get(url_key)
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            continue
        if any(c.isspace() for c in url) or len(url) > _MAX_URL_CHARS:
            continue
        position = item.get("position")
        rank = position if isinstance(position, int) and not isinstance(position, bool) else index
        title = one_line(item.get("title"), _TITLE_CHARS)
        hits.append(Hit(title, url, one_line(item.get(snippet_key), _SNIPPET_CHARS), rank))
        if len(hits) >= limit:
            break
    return hits


def answer_lines(box: Any, graph: Any) -> list[str]:
    """``Answer: ...`` from an answer box and ``Knowledge graph: ...`` from a graph entry."""
    lines = []
    if isinstance(box, Mapping):
        texts = (one_line(box.get(key), _ANSWER_CHARS) for key in ("answer", "result", "snippet"))
        text = next((t for t in texts if t), "")
        link = box.get("link")
        if text:
            source = f" ({link})" if isinstance(link, str) and link.startswith("http") else ""
            lines.append(f"Answer: {text}{source}")
    if isinstance(graph, Mapping):
        title = one_line(graph.get("title"), _TITLE_CHARS)
        kind = one_line(graph.get("type"), _TITLE_CHARS)
        about = one_line(graph.get("description"), _ANSWER_CHARS)
        if title and (kind or about):
            label = f"{title} ({kind})" if kind else title
            lines.append(f"Knowledge graph: {label}" + (f": {about}" if about else ""))
    return lines
