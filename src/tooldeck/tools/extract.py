"""Reading fetched bodies: the one place that decodes them and finds a page's main text.

``web_fetch`` (and any tool that reads pages, such as ``summarize``) turns bytes into text here,
so that what ``bench/extraction.py`` measures is exactly what a fetched page goes through:

* :func:`decode_body`: bytes to text. A byte-order mark wins, then the ``Content-Type``
  charset, then (HTML only) a ``<meta>`` charset near the top, then strict UTF-8, then a
  guess (charset-normalizer) if it reads as a non-Latin script, else windows-1252. Labels map
  as browsers map them (``iso-8859-1`` and ``ascii`` read as windows-1252, ``gb2312`` as
  gb18030).
* :func:`extract_html`: HTML to a :class:`Page` (title, main text, links). The main text is
  trafilatura's with ``favor_precision`` and comments left out (the setting that scored best
  of those compared in ``bench/README.md``). When that finds nothing, trafilatura's
  ``favor_recall`` mode, then its ``baseline`` (embedded article JSON, ``<article>``,
  paragraphs, the whole body) take over. Links come from the main text; when it has none,
  from the whole page. Nothing here is tuned to particular pages.
"""

from __future__ import annotations

import codecs
import logging
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urldefrag, urljoin

__all__ = ["Link", "Page", "decode_body", "extract_html", "read_html"]

_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16"))
_CHARSET_PARAM = re.compile(r"""charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.IGNORECASE)
_META_CHARSET = re.compile(
    rb"""<meta[^>]{0,512}?charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.IGNORECASE
)
_META_SCAN_BYTES = 4096
_GUESS_BYTES = 65536
# What browsers decode these labels as (WHATWG Encoding Standard), keyed by Python codec name.
_BROWSER_CODECS = {"iso8859-1": "cp1252", "ascii": "cp1252", "gb2312": "gb18030", "gbk": "gb18030"}
_SPACE = re.compile(r"\s+")
_TITLE_CHARS = 300
_LINK_TEXT_CHARS = 100
_PREFORMATTED = frozenset({"code", "quote"})  # trafilatura's names for <pre>/<code>, <blockquote>
_LIBRARY_LOGGERS = ("trafilatura", "htmldate", "courlan", "justext")


@dataclass(frozen=True)
class Link:
    """A link found on a page.

    Attributes:
        text: The anchor text, whitespace collapsed (may be empty).
        url: The absolute http(s) URL, without its ``#fragment``.
    """

    text: str
    url: str


@dataclass(frozen=True)
class Page:
    """What a reader gets out of an HTML page.

    Attributes:
        title: The page title (``og:title``, ``<title>`` or the first ``<h1>``; may be empty).
        text: The main text, paragraphs separated by newlines (empty when none was found).
        links: Links of the main text, or of the whole page when the main text has none;
            deduplicated, at most the ``max_links`` asked for.
        links_in_text: Whether ``links`` come from the main text.
        method: Which step found the text: ``precision``, ``recall``, ``baseline`` or ``none``.
    """

    title: str
    text: str
    links: tuple[Link, ...] = ()
    links_in_text: bool = False
    method: str = "none"


def _codec(label: str | None, *, from_meta: bool = False) -> str | None:
    """The Python codec a charset label names, as a browser would read it; None if unknown."""
    if not label:
        return None
    try:
        name = codecs.lookup(label.strip().strip("\"'")).name
    except LookupError:
        return None
    if from_meta and name.startswith("utf-16"):
        return "utf-8"  # a document that can declare itself in ASCII is not UTF-16
    return _BROWSER_CODECS.get(name, name)


def _declared(content: bytes, content_type: str | None, html: bool) -> str | None:
    for bom, bom_codec in _BOMS:
        if content.startswith(bom):
            return bom_codec
    found = _CHARSET_PARAM.search(content_type or "")
    codec = _codec(found.group(1)) if found else None
    if codec is None and html:
        meta = _META_CHARSET.search(content[:_META_SCAN_BYTES])
        codec = _codec(meta.group(1).decode("ascii"), from_meta=True) if meta else None
    return codec


def _guess(content: bytes) -> str:
    """Undeclared bytes: UTF-8 if valid; a guessed non-Latin encoding; else windows-1252.

    Detection cannot tell the Latin-script single-byte encodings apart on short texts (it reads
    French windows-1252 as Baltic cp1257), so among those the web's default, windows-1252, is
    used, as browsers do; a guess that reads as another script (Cyrillic, Greek, CJK...) wins.
    """
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        pass
    fallback = content.decode("cp1252", errors="replace")
    try:
        from charset_normalizer import from_bytes
    except ImportError:  # pragma: no cover - a dependency of trafilatura
        return fallback
    best = from_bytes(content[:_GUESS_BYTES]).best()
    codec = _codec(best.encoding) if best is not None else None
    if codec is None:
        return fallback
    guessed = content.decode(codec, errors="replace")
    return guessed if any(_non_latin_letter(c) for c in guessed) else fallback


def _non_latin_letter(char: str) -> bool:
    return char.isalpha() and not unicodedata.name(char, "LATIN").startswith("LATIN")


def decode_body(content: bytes, content_type: str | None = None, *, html: bool = False) -> str:
    """Decode a response body the way a browser would.

    Args:
        content: The body bytes.
        content_type: The ``Content-Type`` header, whose ``charset`` is used if present.
        html: Also look for a ``<meta charset>`` (or ``http-equiv``) declaration.

    Returns:
        The text; bytes invalid in the chosen encoding become U+FFFD.
    """
    codec = _declared(content, content_type, html)
    if codec is None:
        return _guess(content)
    return content.decode(codec, errors="replace")


def read_html(
    content: bytes, content_type: str | None = None, url: str | None = None, *, max_links: int = 20
) -> Page:
    """Decode an HTML body and extract its page (:func:`decode_body` then :func:`extract_html`).

    Args:
        content: The body bytes.
        content_type: The ``Content-Type`` header (for its charset).
        url: The page's URL (relative links are resolved against it).
        max_links: Most links returned.

    Returns:
        The page.
    """
    return extract_html(decode_body(content, content_type, html=True), url, max_links=max_links)


def extract_html(html: str, url: str | None = None, *, max_links: int = 20) -> Page:
    """Find an HTML page's title, main text and links.

    Args:
        html: The document, decoded.
        url: The page's URL (relative links are resolved against it).
        max_links: Most links returned (0 for none).

    Returns:
        The page; its ``text`` is empty when the document has no readable text.
    """
    _quiet_library_logs()
    tree = _parse(html)
    if tree is None:
        return Page("", "")
    base = _base_url(tree, url)
    text, targets, method = _main_text(tree)
    links = _links(targets, base)
    in_text = bool(links)
    if not links:
        links = _links(((a.get("href"), _text(a)) for a in tree.iter("a")), base)
    return Page(_title(tree), text, tuple(links[:max_links]), in_text, method)


def _parse(html: str) -> Any:
    from trafilatura import load_html

    if not html.strip():
        return None
    tree = load_html(html)
    if tree is None:  # a fragment, not a whole document: read it as a page body
        tree = load_html(f"<html><body><div>{html}</div></body></html>")
    return tree


def _main_text(tree: Any) -> tuple[str, list[tuple[str | None, str]], str]:
    """The main text, its links' ``(href, anchor text)`` pairs, and the step that found it."""
    import trafilatura
    from trafilatura.xml import xmltotxt

    for method, precision in (("precision", True), ("recall", False)):
        document = trafilatura.bare_extraction(  # copies the tree; no url: links stay as written
            tree,
            favor_precision=precision,
            favor_recall=not precision,
            include_comments=False,
            include_tables=True,
            include_links=True,
        )
        body = getattr(document, "body", None)
        if body is None:
            continue
        targets = _unlink(body)
        text = xmltotxt(body, False).strip()
        if text:
            return text, targets, method
    text = trafilatura.baseline(tree)[1].strip()
    return text, [], "baseline" if text else "none"


def _unlink(body: Any) -> list[tuple[str | None, str]]:
    """Remove trafilatura's link elements, keeping their text; their ``(href, text)`` pairs.

    trafilatura collapses white space in text without links but leaves the source's line breaks
    around a link, so the paragraphs that held one are collapsed here (preformatted ones kept).
    """
    from lxml import etree  # type: ignore[import-untyped]

    refs = list(body.iter("ref"))
    targets = [(ref.get("target"), _text(ref)) for ref in refs]
    parents = {ref.getparent() for ref in refs} - {None}
    etree.strip_tags(body, "ref")
    for parent in parents:
        if any(e.tag in _PREFORMATTED for e in (parent, *parent.iterancestors())):
            continue
        parent.text = _SPACE.sub(" ", parent.text) if parent.text else parent.text
        for child in parent:
            child.tail = _SPACE.sub(" ", child.tail) if child.tail else child.tail
    return targets


def _text(element: Any) -> str:
    return _SPACE.sub(" ", element.text_content() if hasattr(element, "text_content") else
                      "".join(element.itertext())).strip()


def _title(tree: Any) -> str:
    candidates: list[Callable[[], Iterable[str]]] = [
        lambda: (str(v) for v in tree.xpath('//meta[@property="og:title"]/@content')),
        lambda: (_text(t) for t in tree.iter("title")),
        lambda: (_text(h) for h in tree.iter("h1")),
    ]
    for found in candidates:
        for value in found():
            title = _SPACE.sub(" ", value).strip()
            if title:
                return title[:_TITLE_CHARS]
    return ""


def _base_url(tree: Any, url: str | None) -> str | None:
    for href in tree.xpath("//base/@href"):
        joined = urljoin(url or "", str(href).strip())
        if joined.startswith(("http://", "https://")):
            return joined
    return url


def _links(pairs: Iterable[tuple[str | None, str]], base: str | None) -> list[Link]:
    """Absolute http(s) links, fragments dropped, each URL once (first anchor text kept)."""
    seen: dict[str, Link] = {}
    page = urldefrag(base).url if base else None
    for href, text in pairs:
        if not href or href.lstrip().startswith("#"):
            continue
        try:
            absolute = urldefrag(urljoin(base or "", href.strip())).url
        except ValueError:
            continue
        if not absolute.startswith(("http://", "https://")) or absolute == page:
            continue
        if absolute not in seen:
            seen[absolute] = Link(text[:_LINK_TEXT_CHARS], absolute)
    return list(seen.values())


def _quiet_library_logs() -> None:
    """Keep the extraction libraries' per-page chatter off the console (unless set up)."""
    for name in _LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.CRITICAL)
