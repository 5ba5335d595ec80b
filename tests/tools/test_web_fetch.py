"""web_fetch against loopback servers, the page reader (tools/extract.py), and the bench metric."""

from __future__ import annotations

import importlib.util
import json
import socket
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from langchain_core.tools import ToolException

from tests.helpers import grammar_accepts
from tooldeck.agents.grammar import react_grammar, tool_args_schema
from tooldeck.config_schema import WebConfig
from tooldeck.testing import ToolStandardTests
from tooldeck.tools.builtin.web_fetch import (
    WebFetchTool,
    fetch_page,
    register_into,
    web_fetch_tool,
)
from tooldeck.tools.extract import decode_body, extract_html, read_html
from tooldeck.tools.net import NetPolicy, Retries, allow_addresses_for_tests
from tooldeck.tools.net.testing import LoopbackServer, SeenRequest, reply
from tooldeck.tools.runner import arun_tool, run_tool

REPO = Path(__file__).resolve().parents[2]
PAGES = REPO / "tests" / "fixtures" / "web" / "fetch"
HTML = "text/html; charset=utf-8"
NO_RETRIES = NetPolicy(retries=Retries(attempts=1))

Route = tuple[int, bytes, Mapping[str, str]]


def _routes() -> dict[str, Route]:
    article = (PAGES / "article.html").read_bytes()
    return {
        "/article": (200, article, {"Content-Type": HTML}),
        "/notes.txt": (200, (PAGES / "notes.txt").read_bytes(), {"Content-Type": "text/plain"}),
        "/data.json": (200, (PAGES / "data.json").read_bytes(),
                       {"Content-Type": "application/json"}),
        "/broken.json": (200, b'{"station": "Skerryvore", ', {"Content-Type": "application/json"}),
        "/paper.pdf": (200, b"%PDF-1.7\n" + b"\x00" * 4000, {"Content-Type": "application/pdf"}),
        "/untyped": (200, article, {"Content-Type": ""}),
        "/missing": (404, b"<h1>Not found</h1>", {"Content-Type": "text/html"}),
        "/down": (503, b"busy", {"Content-Type": "text/plain"}),
        "/metadata": (302, b"", {"Location": "http://169.254.169.254/latest/meta-data/"}),
        "/moved": (301, b"", {"Location": "/article"}),
        "/big": (200, b"<p>" + b"x" * 5000 + b"</p>", {"Content-Type": HTML}),
        "/latin1": (200, (PAGES / "latin1.html").read_bytes(),
                    {"Content-Type": "text/html; charset=ISO-8859-1"}),
    }


class _Site:
    """A loopback web site serving the fixture pages (and a page that never answers)."""

    def __init__(self) -> None:
        self.routes = _routes()
        self.server = LoopbackServer(self._handle)

    def _handle(self, request: SeenRequest, conn: socket.socket) -> None:
        if request.path == "/stall":
            self.server.stopping.wait(10)
            return
        status, body, headers = self.routes.get(request.path, (404, b"", {}))
        fields = {k: v for k, v in headers.items() if v}
        if not headers.get("Content-Type", "x"):  # send no Content-Type at all
            head = f"HTTP/1.1 {status} OK\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            conn.sendall(head.encode("latin-1") + body)
            return
        reply(conn, status, body, fields)

    def url(self, path: str) -> str:
        return self.server.url + path


@pytest.fixture
def site() -> Iterator[_Site]:
    site = _Site()
    with site.server, allow_addresses_for_tests({"127.0.0.1"}):
        yield site


def _tool(**web: Any) -> WebFetchTool:
    return WebFetchTool(web=WebConfig(**web), policy=NO_RETRIES)


def _fails(tool: WebFetchTool, url: str) -> str:
    obs = run_tool(tool, {"url": url}, timeout_s=5)
    assert obs.error, obs.text
    return obs.text


class TestWebFetchStandard(ToolStandardTests):
    tool = web_fetch_tool(policy=NO_RETRIES)
    valid_input: dict[str, Any] = {}

    @pytest.fixture(autouse=True)
    def _serve(self, site: _Site) -> None:
        self.valid_input = {"url": site.url("/article")}


def test_article_page_title_main_text_and_capped_links(site: _Site) -> None:
    out = _tool(max_links=2).invoke({"url": site.url("/article")})
    assert out.startswith("Title: The Lighthouse Keepers of Skerryvore\nURL: http://127.0.0.1:")
    assert "Skerryvore lighthouse stands on a reef eleven miles south-west of Tiree" in out
    assert "The light was automated in 1994" in out
    assert "Their entries describe storms" in out  # source line breaks around links collapsed
    for boilerplate in ("Subscribe to our newsletter", "Copyright 2024", "Privacy policy"):
        assert boilerplate not in out
    links = out.split("Links in the text:\n", 1)[1].splitlines()
    assert links == [
        f"- log of the winter of 1868: {site.url('/logs/1868')}",
        "- biography of Alan Stevenson: https://example.org/stevenson",
    ]


def test_links_are_absolute_deduplicated_http_only() -> None:
    page = read_html((PAGES / "article.html").read_bytes(), HTML, "https://coast.example/a/b")
    urls = [link.url for link in page.links]
    assert page.links_in_text and page.method == "precision"
    assert urls == [
        "https://coast.example/logs/1868",
        "https://example.org/stevenson",
        "https://coast.example/rota",
        "https://coast.example/food",
    ]  # second /logs/1868 dropped, #fragment cut, mailto: left out, no nav or footer links


def test_redirect_is_followed_and_shown(site: _Site) -> None:
    out = _tool().invoke({"url": site.url("/moved")})
    assert f"URL: {site.url('/article')} (redirected from {site.url('/moved')})" in out


def test_plain_text(site: _Site) -> None:
    out = _tool().invoke({"url": site.url("/notes.txt")})
    assert out == (
        f"URL: {site.url('/notes.txt')}\nContent-Type: text/plain\n\n"
        "Tide table for Hynish harbour\nHigh water 06:12, 18:40\nLow water 00:05, 12:27"
    )


def test_json_is_pretty_printed_and_broken_json_shown_as_sent(site: _Site) -> None:
    out = _tool().invoke({"url": site.url("/data.json")})
    header, body = out.split("\n\n", 1)
    assert header.endswith("Content-Type: application/json (pretty-printed)")
    assert json.loads(body)["automated"] == 1994
    assert '\n  "lit": 1844,\n' in body
    broken = _tool().invoke({"url": site.url("/broken.json")})
    assert "not valid JSON" in broken and broken.endswith('{"station": "Skerryvore",')


def test_pdf_is_refused_by_name(site: _Site) -> None:
    text = _fails(_tool(), site.url("/paper.pdf"))
    assert "web_fetch reads HTML, plain text and JSON; this URL is application/pdf" in text
    assert "HTML page" in text  # what to do instead


def test_untyped_body_is_sniffed(site: _Site) -> None:
    out = _tool().invoke({"url": site.url("/untyped")})
    assert out.startswith("Title: The Lighthouse Keepers of Skerryvore")


def test_404_says_what_happened_and_what_to_do(site: _Site) -> None:
    text = _fails(_tool(), site.url("/missing"))
    assert text.startswith("Error: web_fetch:") and "HTTP 404" in text
    assert "check the URL, or search for the page" in text


def test_server_error_says_try_later(site: _Site) -> None:
    text = _fails(_tool(), site.url("/down"))
    assert "HTTP 503" in text and "try again later" in text


def test_redirect_to_cloud_metadata_is_refused(site: _Site) -> None:
    text = _fails(_tool(), site.url("/metadata"))
    assert "169.254.169.254" in text and "cloud metadata" in text
    assert "tooldeck only fetches public http(s) addresses; check the URL" in text
    assert [r.path for r in site.server.requests] == ["/metadata"]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("file:///etc/passwd", "only http and https URLs can be read, not file: URLs"),
        ("https://", "the URL has no host"),
        ("http://999.1.1.1/", "not a valid URL"),
        ("javascript:alert(1)", "not javascript: URLs"),
        ("http://localhost:8080/", "refused http://localhost:8080/"),
        ("http://10.0.0.7/admin", "private"),
    ],
)
def test_non_web_and_private_addresses_are_refused(url: str, expected: str) -> None:
    assert expected in _fails(_tool(), url)


def test_unresolvable_host_says_check_the_url() -> None:
    def resolver(host: str) -> list[str]:
        raise OSError("Name or service not known")

    tool = WebFetchTool(policy=NetPolicy(resolver=resolver, retries=Retries(attempts=1)))
    text = _fails(tool, "https://no-such-site.example/page")
    assert "cannot resolve no-such-site.example" in text and "check the URL" in text


def test_fallbacks_when_trafilatura_finds_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    import trafilatura

    monkeypatch.setattr(trafilatura, "bare_extraction", lambda *a, **k: None)
    body = (
        "The museum at Hynish is closed today for repairs to the roof after the storm on Sunday "
        "night, which lifted slates from the keepers' cottages and flooded the signal tower. "
        "It opens again on Saturday, with the lighthouse exhibition in the east wing."
    )
    html = (
        '<html><body><nav><a href="/a">Home</a></nav><script type="application/ld+json">'
        f'{{"@type": "Article", "articleBody": "{body}"}}</script></body></html>'
    )
    page = extract_html(html, "https://h.example/")
    assert (page.method, page.text) == ("baseline", body)
    assert not page.links_in_text and [link.url for link in page.links] == ["https://h.example/a"]
    assert extract_html("<html><body></body></html>").method == "none"


def test_too_large_body(site: _Site) -> None:
    text = _fails(_tool(max_bytes=1024), site.url("/big"))
    assert "larger than 1024 bytes" in text and "web.max_bytes" in text


def test_long_text_is_truncated_with_a_note(site: _Site) -> None:
    out = _tool(max_chars=300).invoke({"url": site.url("/article")})
    body = out.split("\n\n", 1)[1].split("\n\nLinks in the text:", 1)[0]
    shown, note = body.rsplit("\n", 1)
    assert len(shown) <= 300 and not shown.endswith(" ")
    full = read_html((PAGES / "article.html").read_bytes(), HTML).text
    more = len(full) - len(shown)
    assert note.startswith(f"[truncated: {more:,} more characters; the first {len(shown):,} are")
    assert "fetch a more specific page]" in note


def test_latin1_page_with_header_charset(site: _Site) -> None:
    out = _tool().invoke({"url": site.url("/latin1")})
    assert out.startswith("Title: Café naïve\n")
    assert "crème brûlée to a naïve résumé writer who says “thank you”" in out


def test_charset_sources_in_order() -> None:
    latin = "café".encode("cp1252")
    assert decode_body(latin, "text/plain; charset=latin1") == "café"
    meta = b'<html><head><meta http-equiv="Content-Type" content="text/html; charset=windows-1252">'
    assert decode_body(meta + latin, "text/html", html=True).endswith("café")
    assert decode_body(b'<meta charset="utf-16">' + "é".encode(), "text/html", html=True)[-1] == "é"
    assert decode_body(b"\xef\xbb\xbf" + "é".encode(), "text/plain; charset=latin1") == "é"
    # no declaration, not UTF-8: a guess that reads as another script, else windows-1252
    french = "Le café est très bon, et la crème brûlée coûte 5 € à la fenêtre."
    assert decode_body(french.encode("cp1252")) == french
    russian = "Привет, как дела? Это тест кодировки для страницы без объявления."
    assert decode_body(russian.encode("cp1251")) == russian
    assert decode_body(b"caf\xc3\xa9", "text/plain; charset=no-such-codec") == "café"


def test_pages_with_no_readable_text() -> None:
    assert extract_html("").text == ""
    page = extract_html("<p>a fragment with a <a href='/x'>link</a></p>", "http://h.example/a/")
    assert page.text == "a fragment with a link"
    assert [link.url for link in page.links] == ["http://h.example/x"]


def test_schema_is_bounded_and_the_grammar_can_express_it() -> None:
    tool = _tool()
    spec = tool_args_schema(tool)["properties"]["url"]
    assert spec["maxLength"] == 2000 and spec["type"] == "string"
    grammar = react_grammar([tool])

    def accepts(url: str) -> bool:
        text = f'Thought: read it\nAction: web_fetch\nAction Input: {{"url": "{url}"}}'
        return grammar_accepts(grammar, text)

    assert accepts("https://en.wikipedia.org/wiki/Ada_Lovelace?x=1&y=%C3%A9#top")
    assert not accepts("https://a.example/two words")
    obs = run_tool(tool, {"url": "https://a.example/" + "x" * 2000}, timeout_s=5)
    assert obs.error and "at most 2000 characters" in obs.text


def test_registers_with_config_limits(config: Any) -> None:
    found: list[Any] = []
    register_into(lambda tool, **_: found.append(tool), config)
    assert [t.name for t in found] == ["web_fetch"] and found[0].web == config.web
    assert found[0].metadata["examples"][0]["input"]["url"].startswith("https://")
    register_into(lambda tool, **_: found.append(tool), None)
    assert found[1].web == WebConfig()


async def test_ainvoke_returns_within_its_timeout(site: _Site) -> None:
    tool = _tool(timeout_s=0.5)
    started = time.monotonic()
    obs = await arun_tool(tool, {"url": site.url("/stall")}, timeout_s=5)
    assert time.monotonic() - started < 1.5
    assert obs.error and "the site is slow or unreachable" in obs.text
    with pytest.raises(ToolException, match="slow or unreachable"):
        await tool.ainvoke({"url": site.url("/stall")})


def test_fetch_page_is_usable_without_a_tool(site: _Site) -> None:
    out = fetch_page(site.url("/notes.txt"), WebConfig(max_chars=200), policy=NO_RETRIES)
    assert "Tide table" in out


def _bench() -> Any:
    spec = importlib.util.spec_from_file_location("bench_extraction", REPO / "bench" / "extraction.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_extraction_score_on_a_hand_made_case() -> None:
    bench = _bench()
    assert bench.shingles("A b, c d e") == {("A", "b", "c", "d"): 1, ("b", "c", "d", "e"): 1}
    assert bench.shingles("w w w w w") == {("w",) * 4: 2}
    assert bench.shingles("one two") == {("one", "two"): 1}
    assert bench.page_counts("a b c d e", "a b c d x") == pytest.approx((1 / 3, 1 / 3, 1 / 3))
    assert bench.page_counts("w w w w w", "w w w w") == pytest.approx((0.5, 0.0, 0.5))
    pages = [
        ("a b c d e", "a b c d x"),  # P 0.5, R 0.5
        ("w w w w w", "w w w w"),  # P 1.0, R 0.5
        ("same text here now", "same text here now"),  # fp = fn = 0: P 1.0, R 1.0
        ("a b c d e", ""),  # tp = 0: P 0.0, R 0.0
        ("", ""),  # nothing to find, nothing found: P 1.0, R 1.0
    ]
    result = bench.score(pages)
    assert result["precision"] == pytest.approx(3.5 / 5)
    assert result["recall"] == pytest.approx(3.0 / 5)
    assert result["f1"] == pytest.approx(2 * 0.7 * 0.6 / 1.3)
