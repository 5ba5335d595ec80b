"""The wikipedia tool against a loopback fake of the MediaWiki Action API."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.helpers import step_accepted
from tooldeck.config import Config, WebConfig
from tooldeck.testing import ToolStandardTests
from tooldeck.tools.builtin.wikipedia import WikipediaTool, register_into
from tooldeck.tools.net import NetPolicy, Retries, allow_addresses_for_tests
from tooldeck.tools.net.testing import Handler, LoopbackServer, SeenRequest, reply
from tooldeck.tools.runner import arun_tool, run_tool

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "web" / "wikipedia"
FAST = NetPolicy(retries=Retries(attempts=2, backoff_s=0.01, max_delay_s=0.05))
JSON = {"Content-Type": "application/json; charset=utf-8"}


def _params(request: SeenRequest) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(request.path).query).items()}


def mediawiki(request: SeenRequest, conn: socket.socket) -> None:
    """The fake API: search, page and links answers from the fixtures."""
    params = _params(request)
    if params.get("list") == "search":
        known = {"Marie Curie": "search_curie.json", "Mercury": "search_mercury.json"}
        name = known.get(params.get("srsearch", ""), "search_none.json")
    elif params.get("prop") == "links":
        name = "links_mercury.json"
    else:
        name = {"Marie Curie": "page_curie.json", "Mercury": "page_mercury.json"}[params["titles"]]
    reply(conn, 200, (FIXTURES / name).read_bytes(), JSON)


@contextmanager
def serving(handler: Handler) -> Iterator[LoopbackServer]:
    with LoopbackServer(handler) as server, allow_addresses_for_tests({"127.0.0.1"}):
        yield server


def make_tool(server: LoopbackServer, **web: Any) -> WikipediaTool:
    config = Config(web=WebConfig(**{"timeout_s": 2.0, **web}))
    return WikipediaTool(config=config, api_url=server.url + "/{lang}/w/api.php", policy=FAST)


class TestWikipediaStandard(ToolStandardTests):
    valid_input = {"query": "Marie Curie"}

    @pytest.fixture(autouse=True)
    def _served(self) -> Iterator[None]:
        with serving(mediawiki) as server:
            self.tool = make_tool(server)
            yield


def test_article_title_url_intro_and_other_candidates() -> None:
    with serving(mediawiki) as server:
        out = make_tool(server).invoke({"query": "Marie Curie"})
    assert out.splitlines()[:2] == [
        "Wikipedia: Marie Curie",
        "URL: https://en.wikipedia.org/wiki/Marie_Curie",
    ]
    assert "pioneering research on radioactivity" in out
    assert out.splitlines()[-1] == "Other matching articles: Pierre Curie; Curie (unit)"
    search, page = (_params(r) for r in server.requests)
    assert search["list"] == "search" and search["srsearch"] == "Marie Curie"
    assert search["format"] == "json" and search["formatversion"] == "2"
    assert page["prop"] == "extracts|pageprops|info" and page["titles"] == "Marie Curie"
    assert page["redirects"] == "1" and page["exintro"] == "1" and page["explaintext"] == "1"
    assert server.requests[0].path.startswith("/en/w/api.php?")
    assert server.requests[0].headers["user-agent"] == WebConfig().user_agent


def test_intro_is_bounded() -> None:
    with serving(mediawiki) as server:
        tool = make_tool(server)
        tool.max_extract_chars = 120
        out = tool.invoke({"query": "Marie Curie"})
    intro = out.splitlines()[2]
    assert len(intro) < 120 + 60 and intro.endswith("[intro cut; read the URL for more]")


def test_disambiguation_lists_candidates() -> None:
    with serving(mediawiki) as server:
        out = make_tool(server).invoke({"query": "Mercury"})
    assert out.startswith(
        "'Mercury' may refer to: Freddie Mercury; Mercury (element); Mercury (planet); "
        "Mercury, Nevada (https://en.wikipedia.org/wiki/Mercury)."
    )
    assert [_params(r).get("prop") for r in server.requests][-1] == "links"


def test_no_results_says_so_with_the_suggestion() -> None:
    with serving(mediawiki) as server:
        out = make_tool(server).invoke({"query": "Mary Curi"})
    assert out == "Wikipedia has no article matching 'Mary Curi'. Did you mean 'marie curie'? " \
        "Look that up."
    assert len(server.requests) == 1


def test_language_from_config_and_per_call() -> None:
    with serving(mediawiki) as server:
        tool = make_tool(server, wikipedia_lang="fr")
        tool.invoke({"query": "Marie Curie"})
        tool.invoke({"query": "Marie Curie", "lang": "de"})
    assert [r.path.split("/")[1] for r in server.requests] == ["fr", "fr", "de", "de"]


def test_a_blank_query_is_an_observation() -> None:
    obs = run_tool(WikipediaTool(), {"query": "  \n "}, timeout_s=10)
    assert obs.error and "give a topic to look up" in obs.text


def test_invalid_language_is_an_observation() -> None:
    tool = WikipediaTool()
    obs = run_tool(tool, {"query": "x", "lang": "en.evil.com/"}, timeout_s=10)
    assert obs.error and "invalid input for wikipedia" in obs.text and "lang" in obs.text


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (503, "Wikipedia has a server problem (HTTP 503); try again later"),
        (429, "Wikipedia is limiting requests (HTTP 429); wait a minute"),
        (403, "Wikipedia refused the request (HTTP 403)"),
    ],
)
def test_http_errors_are_observations(status: int, expected: str) -> None:
    with serving(lambda req, conn: reply(conn, status, b"no")) as server:
        obs = run_tool(make_tool(server), {"query": "Marie Curie"}, timeout_s=10)
    assert obs.error and obs.text.startswith("Error: wikipedia: ") and expected in obs.text
    retried = status in (429, 503)
    assert len(server.requests) == (2 if retried else 1)


@pytest.mark.parametrize(
    ("body", "headers", "expected"),
    [
        (b'{"batchcomplete": tru', JSON, "answered with content tooldeck cannot read"),
        (b"<html>maintenance</html>", {"Content-Type": "text/html"}, "cannot read"),
        (b'{"query": {"search": "oops"}}', JSON, "'search' is not a list"),
        (b'{"batchcomplete": true}', JSON, "no 'query' object"),
        (b"[1, 2]", JSON, "not a JSON object"),
        ((FIXTURES / "error_badvalue.json").read_bytes(), JSON,
         "Wikipedia refused the request (badvalue: Unrecognized value"),
    ],
)
def test_malformed_answers_are_observations(
    body: bytes, headers: dict[str, str], expected: str
) -> None:
    with serving(lambda req, conn: reply(conn, 200, body, headers)) as server:
        obs = run_tool(make_tool(server), {"query": "Marie Curie"}, timeout_s=10)
    assert obs.error and expected in obs.text


def _stall(server_box: list[LoopbackServer]) -> Handler:
    def handler(request: SeenRequest, conn: socket.socket) -> None:
        server_box[0].stopping.wait(5)

    return handler


def test_timeout_is_an_observation() -> None:
    box: list[LoopbackServer] = []
    with serving(_stall(box)) as server:
        box.append(server)
        started = time.monotonic()
        obs = run_tool(make_tool(server, timeout_s=0.3), {"query": "Marie Curie"}, timeout_s=10)
        elapsed = time.monotonic() - started
    assert obs.error and "Wikipedia did not answer within web.timeout_s (0.3 s)" in obs.text
    assert elapsed < 3


async def test_ainvoke_returns_within_its_bound() -> None:
    box: list[LoopbackServer] = []
    with serving(_stall(box)) as server:
        box.append(server)
        started = time.monotonic()
        tool = make_tool(server, timeout_s=0.3)
        obs = await arun_tool(tool, {"query": "Marie Curie"}, timeout_s=10)
        elapsed = time.monotonic() - started
    assert obs.error and "did not answer within web.timeout_s (0.3 s)" in obs.text
    assert elapsed < 3


async def test_ainvoke_gives_up_at_its_own_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    tool = WikipediaTool(config=Config(web=WebConfig(timeout_s=0.1)))
    monkeypatch.setattr(WikipediaTool, "_run", lambda self, *a, **k: time.sleep(3) or "late")
    started = time.monotonic()
    with pytest.raises(Exception, match="did not finish within 1.3 s"):
        await asyncio.wait_for(tool.ainvoke({"query": "x"}), 10)
    assert time.monotonic() - started < 2.5


def test_blocked_address_without_the_test_allowance() -> None:
    with LoopbackServer(mediawiki) as server:
        obs = run_tool(make_tool(server), {"query": "Marie Curie"}, timeout_s=10)
    assert obs.error and "only fetches public http(s) addresses" in obs.text
    assert server.requests == []


def test_registered_with_examples() -> None:
    tools: list[Any] = []
    register_into(lambda tool, **_: tools.append(tool), None)
    (tool,) = tools
    assert tool.name == "wikipedia"
    example = tool.metadata["examples"][0]
    assert set(example) == {"question", "input", "observation", "answer"}
    assert json.loads(json.dumps(example["input"])) == {"query": "Marie Curie"}


def test_the_react_grammar_can_express_the_arguments() -> None:
    tools = [WikipediaTool()]
    assert step_accepted(tools, "wikipedia", '{"query": "Mercury"}')
    assert step_accepted(tools, "wikipedia", '{"query": "Mercury", "lang": "de"}')
    assert not step_accepted(tools, "wikipedia", '{"query": "Mercury", "lang": "EN!"}')
    assert not step_accepted(tools, "wikipedia", '{"lang": "de"}')
