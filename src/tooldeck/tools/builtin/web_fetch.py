"""``web_fetch``: read one web page and return its title, main text and links.

This module owns what the model sees of a fetched URL: which content types are read (HTML,
plain text, JSON; anything else is refused by name before its body is downloaded), how much
text comes back (``web.max_chars``, then a note saying how much was cut), how many links
(``web.max_links``), and the wording of every failure to read a page, each of which says what
happened and what to do next (network failures are worded, as for every web tool, in
:mod:`tooldeck.tools.builtin.web_common`). The request goes through the guarded client
(:mod:`tooldeck.tools.net`: SSRF guard on every hop, timeouts, byte cap); bytes become text
in :mod:`tooldeck.tools.extract`, the same code ``bench/extraction.py`` measures. Failures
are raised as ``ToolException`` and become observations in :mod:`tooldeck.tools.runner`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from langchain_core.tools import BaseTool, ToolException
from pydantic import BaseModel, ConfigDict, Field

from tooldeck.config_schema import WebConfig
from tooldeck.errors import NetworkError
from tooldeck.plugins import Register
from tooldeck.tools.builtin.arguments import WebFetchInput
from tooldeck.tools.builtin.declarations import MAX_URL_LENGTH, WEB_FETCH_DESCRIPTION
from tooldeck.tools.builtin.web_common import (
    HTML_TYPES,
    WEB_PAGE,
    net_timeouts,
    network_advice,
    web_settings,
)
from tooldeck.tools.extract import decode_body, read_html

if TYPE_CHECKING:
    from tooldeck.config import Config
    from tooldeck.tools.net import NetPolicy

__all__ = ["MAX_URL_LENGTH", "WebFetchInput", "WebFetchTool", "fetch_page", "register_into",
           "web_fetch_tool"]

_READS = "web_fetch reads HTML, plain text and JSON"
_ACCEPT = "text/html,application/xhtml+xml,text/plain;q=0.9,application/json;q=0.9,*/*;q=0.1"
_OTHER_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:(?!\d)")
_SNIFF_BYTES = 1024
_MOST_READ_S = 10.0  # the longest silence between two parts of a page
_EXAMPLES: list[dict[str, Any]] = [
    {
        "question": "What does the Python tutorial page on lists say list.append does?",
        "input": {"url": "https://docs.python.org/3/tutorial/datastructures.html"},
        "observation": (
            "Title: 5. Data Structures — Python 3 documentation\n"
            "URL: https://docs.python.org/3/tutorial/datastructures.html\n\n"
            "5.1. More on Lists\nThe list data type has some more methods. Here are all of the "
            "methods of list objects:\nlist.append(x)\nAdd an item to the end of the list. "
            "Similar to a[len(a):] = [x]."
        ),
        "answer": "list.append(x) adds an item to the end of the list.",
    },
    {
        "question": "Which release of requests does GitHub's API list as the latest?",
        "input": {"url": "https://api.github.com/repos/psf/requests/releases/latest"},
        "observation": (
            "URL: https://api.github.com/repos/psf/requests/releases/latest\n"
            "Content-Type: application/json (pretty-printed)\n\n"
            '{\n  "tag_name": "v2.32.3",\n  "name": "v2.32.3",\n  "draft": false\n}'
        ),
        "answer": "The latest release listed is v2.32.3.",
    },
    {
        "question": "Open https://example.com/contact and tell me their phone number.",
        "input": {"url": "https://example.com/contact"},
        "observation": (
            "Title: Contact us\nURL: https://example.com/contact\n\nCall us on "
            "+44 20 7946 0000, Monday to Friday, 9:00 to 17:00."
        ),
        "answer": "Their phone number is +44 20 7946 0000.",
    },
    {
        "question": "Read the page example.org/changelog and list what changed.",
        "input": {"url": "https://example.org/changelog"},
        "observation": (
            "Title: Changelog\nURL: https://example.org/changelog\n\nVersion 3.1: dark "
            "mode, faster start-up, and a fix for the export button."
        ),
        "answer": "Version 3.1 added dark mode, a faster start-up and an export fix.",
    },
]


class WebFetchTool(BaseTool):
    """The ``web_fetch`` tool; its limits come from the ``web`` section of the config."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    name: str = "web_fetch"
    description: str = WEB_FETCH_DESCRIPTION
    args_schema: type[BaseModel] = WebFetchInput
    metadata: dict[str, Any] | None = Field(default_factory=lambda: {"examples": _EXAMPLES})
    web: WebConfig = Field(default_factory=WebConfig)
    policy: Any = None
    """The HTTP client's :class:`~tooldeck.tools.net.NetPolicy`; ``None`` for the default."""

    def _run(self, url: str, **_: Any) -> str:
        return fetch_page(url, self.web, policy=self.policy)


def web_fetch_tool(
    config: Config | None = None, *, policy: NetPolicy | None = None
) -> WebFetchTool:
    """The ``web_fetch`` tool, set up from ``config.web`` (defaults when ``config`` is None).

    Args:
        config: The configuration, or None for the defaults.
        policy: The HTTP client's policy; the production default when None.

    Returns:
        The tool, with worked examples in its metadata.
    """
    return WebFetchTool(web=web_settings(config), policy=policy)


def register_into(register: Register, config: Config | None) -> None:
    """Register ``web_fetch`` (it needs the network, no key)."""
    register(web_fetch_tool(config))


@dataclass(frozen=True)
class _Fetched:
    url: str
    redirected_from: str | None
    content_type: str | None
    media: str
    kind: str
    body: bytes


def fetch_page(url: str, web: WebConfig | None = None, *, policy: NetPolicy | None = None) -> str:
    """Fetch a URL and render what the model reads: title, URL, main text, links.

    Args:
        url: An http(s) URL (``example.com/page`` is read as ``https://example.com/page``).
        web: Limits (timeout, bytes, characters, links, User-Agent); defaults when None.
        policy: The HTTP client's policy; the production default when None.

    Returns:
        The observation text.

    Raises:
        ToolException: Any failure (refused address, HTTP error, timeout, too large, a content
            type it does not read); the message says what happened and what to do.
    """
    web = web or WebConfig()
    target = _normalise_url(url)
    try:
        fetched = _download(target, web, policy)
    except NetworkError as exc:
        raise ToolException(network_advice(exc, WEB_PAGE, web)) from None
    header = [f"URL: {fetched.url}"]
    if fetched.redirected_from:
        header[0] += f" (redirected from {fetched.redirected_from})"
    if fetched.kind == "html":
        return _render_html(fetched, header, web)
    text = decode_body(fetched.body, fetched.content_type)
    if fetched.kind == "json":
        text, note = _pretty_json(text)
        header.append(f"Content-Type: application/json{note}")
    else:
        header.append(f"Content-Type: {fetched.media or 'text/plain'}")
    body = _truncate(text.strip(), web.max_chars) or "(the response is empty)"
    return "\n".join(header) + "\n\n" + body


def _normalise_url(url: str) -> str:
    text = url.strip()
    if "://" not in text and not _OTHER_SCHEME.match(text):
        text = "https://" + text.lstrip("/")
    scheme = text.split(":", 1)[0].lower()
    if scheme not in ("http", "https"):
        msg = f"only http and https URLs can be read, not {scheme}: URLs; pass a web address"
        raise ToolException(msg)
    return text


def _download(url: str, web: WebConfig, policy: NetPolicy | None) -> _Fetched:
    from tooldeck.tools.net import stream
    from tooldeck.tools.net.body import media_type

    headers = {"User-Agent": web.user_agent, "Accept": _ACCEPT}
    timeouts = net_timeouts(web, most_read_s=_MOST_READ_S)
    with stream(
        url, headers=headers, policy=policy, max_bytes=web.max_bytes, timeout=timeouts
    ) as response:
        content_type = response.headers.get("content-type")
        media = media_type(content_type)
        kind = _kind(media)  # refused here, before the body is read
        body = response.read()
        final, redirects = response.url, response.redirects
    if not kind:
        kind = _sniff(body)
    return _Fetched(final, redirects[0] if redirects else None, content_type, media, kind, body)


def _kind(media: str) -> str:
    """``html``, ``json``, ``text``, or ``""`` to sniff the body; refuses other types."""
    if not media:
        return ""
    if media in HTML_TYPES:
        return "html"
    if media in ("application/json", "text/json") or media.endswith("+json"):
        return "json"
    if media.startswith("text/"):
        return "text"
    raise ToolException(_refusal(media))


def _refusal(media: str) -> str:
    return (
        f"{_READS}; this URL is {media}. Look for an HTML page with the same content (such as "
        "the document's landing or abstract page), or use another source"
    )


def _sniff(body: bytes) -> str:
    """The kind of a body served without a ``Content-Type`` (a small part of WHATWG sniffing)."""
    head = body[:_SNIFF_BYTES].lstrip(b"\xef\xbb\xbf \t\r\n")
    if body.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "text"
    if head.startswith(b"%PDF-"):
        raise ToolException(_refusal("application/pdf (the server sent no Content-Type)"))
    if b"\x00" in head:
        raise ToolException(_refusal("binary data (the server sent no Content-Type)"))
    lower = head.lower()
    if lower.startswith((b"<!doctype html", b"<html", b"<head", b"<body")) or b"<html" in lower:
        return "html"
    return "json" if lower[:1] in (b"{", b"[") else "text"


def _render_html(fetched: _Fetched, header: list[str], web: WebConfig) -> str:
    try:
        page = read_html(fetched.body, fetched.content_type, fetched.url, max_links=web.max_links)
    except Exception as exc:  # the parser or extractor choking on a broken page
        msg = f"the HTML of {fetched.url} cannot be read ({type(exc).__name__}); try another page"
        raise ToolException(msg) from None
    lines = ([f"Title: {page.title}"] if page.title else []) + header
    text = _truncate(page.text, web.max_chars) or (
        "(no readable text found: the page may need JavaScript, or hold only images, video or "
        "a form; try another source)"
    )
    out = "\n".join(lines) + "\n\n" + text
    if page.links:
        title = "Links in the text" if page.links_in_text else "Links on the page"
        out += f"\n\n{title}:\n" + "\n".join(
            f"- {link.text}: {link.url}" if link.text else f"- {link.url}" for link in page.links
        )
    return out


def _pretty_json(text: str) -> tuple[str, str]:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        return text, f" (not valid JSON: {str(exc)[:80]}; shown as sent)"
    try:
        return json.dumps(value, indent=2, ensure_ascii=False), " (pretty-printed)"
    except (ValueError, RecursionError):
        return text, " (shown as sent)"


def _truncate(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters (at a space when one is near), with a note."""
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", limit * 9 // 10, limit)
    cut = cut if cut > 0 else limit
    rest = len(text) - cut
    return (
        text[:cut].rstrip()
        + f"\n[truncated: {rest:,} more characters; the first {cut:,} are shown (web.max_chars). "
        "If the answer is not above, fetch a more specific page]"
    )
