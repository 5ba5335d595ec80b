"""HTML to its visible text, in one pass and linear time.

``html.parser`` rescans the rest of the page for every unclosed construct, so a page of
``<!--`` repeated (160 kB) took 53 s, and ``<![foo[`` raised ``AssertionError``. This scanner
moves only forward: each ``find`` either consumes what it scanned or ends the page (an
unclosed comment or tag hides the rest, as in a browser). Scripts, styles and the other
non-visible elements are dropped, block elements become line breaks, entities are decoded.
"""

from __future__ import annotations

import html
import re

__all__ = ["html_to_text"]

_RAW = {"script", "style"}  # their content is not markup: skip to the closing tag
_SKIP = {"script", "style", "noscript", "template", "svg", "head"}
_BLOCK = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section",
          "article", "pre", "table", "ul", "ol", "header", "footer", "blockquote"}
_NAME = re.compile(r"</?([A-Za-z][^\s/>]*)")
_TAG_STOP = re.compile(r"[>=]")
_RAW_END = {tag: re.compile(rf"</{tag}[\s/>]", re.IGNORECASE) for tag in _RAW}


def _tag_end(page: str, start: int) -> int:
    """The index just after the ``>`` closing the tag begun before ``start``; -1 at page end.

    A ``>`` inside a quoted attribute value does not close the tag.
    """
    i = start
    while True:
        match = _TAG_STOP.search(page, i)
        if match is None:
            return -1
        if match.group() == ">":
            return match.end()
        j = match.end()
        while j < len(page) and page[j] in " \t\n\r\f":
            j += 1
        if j < len(page) and page[j] in "\"'":
            close = page.find(page[j], j + 1)
            if close < 0:
                return -1
            j = close + 1
        i = j


class _Text:
    """What the scanner has collected: the visible parts and the title."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.title: list[str] = []
        self.skip = 0
        self.in_title = False

    def data(self, text: str) -> None:
        if self.in_title:
            self.title.append(text)
        elif not self.skip and text:
            self.parts.append(text)

    def tag(self, name: str, closing: bool, self_closing: bool) -> None:
        if name == "title":
            self.in_title = not closing and not self_closing
        elif name in _SKIP:
            if closing:
                self.skip = max(0, self.skip - 1)
            elif not self_closing:
                self.skip += 1
        elif name in _BLOCK:
            self.parts.append("\n\n" if self_closing else "\n")  # <br/>: a start and an end


def _scan(page: str, out: _Text) -> None:
    i = 0
    while i < len(page):
        lt = page.find("<", i)
        if lt < 0:
            out.data(html.unescape(page[i:]))
            return
        out.data(html.unescape(page[i:lt]))
        if page.startswith("<!--", lt):
            end = page.find("-->", lt + 4)
            if end < 0:
                return
            i = end + 3
            continue
        name = _NAME.match(page, lt)
        if name is None and page[lt + 1 : lt + 2] not in ("!", "?", "/"):
            out.data("<")  # a lone "<" is text
            i = lt + 1
            continue
        end = _tag_end(page, lt + 1) if name else page.find(">", lt + 1) + 1
        if end <= 0:  # an unclosed tag or declaration hides the rest of the page
            return
        i = end
        if name is None:  # <!doctype>, <?xml?>, a bogus comment
            continue
        tag = name.group(1).lower()
        closing = page[lt + 1] == "/"
        out.tag(tag, closing, page[end - 2] == "/")
        if tag in _RAW and not closing and page[end - 2] != "/":
            close = _RAW_END[tag].search(page, i)
            if close is None:
                return
            out.tag(tag, True, False)
            i = close.start()
            i = page.find(">", i) + 1 or len(page)


def html_to_text(page: str) -> tuple[str, str]:
    """The visible text and the title of an HTML page.

    Args:
        page: the HTML source.

    Returns:
        ``(text, title)``: runs of blanks collapsed, at most one empty line in a row.
    """
    out = _Text()
    _scan(page, out)
    text = re.sub(r"[ \t]+", " ", "".join(out.parts))
    text = re.sub(r"\n\s*\n+", "\n\n", text).strip()
    return text, "".join(out.title).strip()
