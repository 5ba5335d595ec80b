"""The web search tools: serper and serpapi against a loopback server through ``tools.net``,
duckduckgo with ``DDGS.text`` patched (ddgs has its own HTTP stack). Responses come from
``tests/fixtures/web/search`` (shaped after the documented formats, not recorded)."""

from __future__ import annotations

import asyncio
import json
import math
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from ddgs.exceptions import DDGSException, RatelimitException, TimeoutException
from pydantic import SecretStr

from tooldeck.config_schema import WebConfig
from tooldeck.testing import ToolStandardTests
from tooldeck.tools.builtin import search
from tooldeck.tools.builtin.search import (
    DuckDuckGoTool,
    SearchInput,
    SerpAPITool,
    SerperTool,
    duckduckgo,
)
from tooldeck.tools.net import NetPolicy, Retries, allow_addresses_for_tests
from tooldeck.tools.net.testing import LoopbackServer, SeenRequest, reply
from tooldeck.tools.registry import build_registry
from tooldeck.tools.runner import run_tool

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "web" / "search"
KEY = "sk-test-5f0c9a7d21e84b36c0de"
QUICK = NetPolicy(retries=Retries(attempts=2, backoff_s=0.01, max_delay_s=0.05))
WEB = WebConfig(timeout_s=2.0, duckduckgo_min_interval_s=0.0)
Handler = Callable[[SeenRequest, socket.socket], None]


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def answer(body: bytes, status: int = 200, content_type: str = "application/json") -> Handler:
    def handler(request: SeenRequest, conn: socket.socket) -> None:
        reply(conn, status, body, {"Content-Type": content_type})

    return handler


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> None:
    """No key from the developer's environment; a fresh DuckDuckGo spacer per test."""
    monkeypatch.delenv("SERPER_API_KEY", raising=False)
    monkeypatch.delenv("SERPAPI_API_KEY", raising=False)
    monkeypatch.setattr(duckduckgo, "_DDG_SPACER", duckduckgo._Spacer())


@pytest.fixture
def serve() -> Iterator[Callable[[Handler], LoopbackServer]]:
    """Start loopback servers the client may reach (the test-only allowance)."""
    servers: list[LoopbackServer] = []

    def start(handler: Handler) -> LoopbackServer:
        server = LoopbackServer(handler).__enter__()
        servers.append(server)
        return server

    with allow_addresses_for_tests({"127.0.0.1"}):
        yield start
    for server in servers:
        server.__exit__(None, None, None)


def serper_at(server: LoopbackServer, web: WebConfig = WEB) -> SerperTool:
    return SerperTool(web=web, endpoint=server.url + "/search", policy=QUICK)


def serpapi_at(server: LoopbackServer, web: WebConfig = WEB) -> SerpAPITool:
    return SerpAPITool(web=web, endpoint=server.url + "/search", policy=QUICK)


KEYED = {"serper": (serper_at, "SERPER_API_KEY"), "serpapi": (serpapi_at, "SERPAPI_API_KEY")}


# --- standard tool tests --------------------------------------------------------------


class TestSerperStandard(ToolStandardTests):
    valid_input = {"query": "capital of france"}

    @pytest.fixture(autouse=True)
    def _server(self, serve: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("SERPER_API_KEY", KEY)
        self.tool = serper_at(serve(answer(fixture_bytes("serper_search.json"))))


class TestSerpAPIStandard(ToolStandardTests):
    valid_input = {"query": "eiffel tower height"}

    @pytest.fixture(autouse=True)
    def _server(self, serve: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("SERPAPI_API_KEY", KEY)
        self.tool = serpapi_at(serve(answer(fixture_bytes("serpapi_google.json"))))


class TestDuckDuckGoStandard(ToolStandardTests):
    tool = DuckDuckGoTool(web=WEB)
    valid_input = {"query": "python"}

    @pytest.fixture(autouse=True)
    def _ddgs(self, monkeypatch: pytest.MonkeyPatch) -> None:
        rows = json.loads(fixture_bytes("ddgs_text.json"))
        monkeypatch.setattr("ddgs.ddgs.DDGS.text", lambda self, query, **kw: rows)


# --- serper ---------------------------------------------------------------------------


def test_serper_renders_the_answer_box_graph_and_numbered_results(
    serve: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SERPER_API_KEY", KEY)
    server = serve(answer(fixture_bytes("serper_search.json")))
    out = serper_at(server).invoke({"query": "capital of france", "max_results": 2})
    assert out.splitlines() == [
        "Answer: Paris (https://en.wikipedia.org/wiki/Paris)",
        "Knowledge graph: Paris (Capital of France): Paris is the capital and largest city of "
        "France.",
        "1. Paris - Wikipedia",
        "   https://en.wikipedia.org/wiki/Paris",
        "   Paris is the capital and largest city of France, with an estimated population of "
        "2.1 million residents.",
        "2. Paris | Definition, Map, Population, Facts, & History | Britannica",
        "   https://www.britannica.com/place/Paris",
        "   Paris, city and capital of France, situated in the north-central part of the country.",
    ]
    (seen,) = server.requests
    assert (seen.method, seen.path) == ("POST", "/search")
    assert seen.headers["x-api-key"] == KEY
    assert seen.headers["user-agent"] == WEB.user_agent
    assert json.loads(seen.body) == {"q": "capital of france", "num": 2}


def test_serper_uses_the_configured_key_and_the_env_var_wins(
    serve: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = serve(answer(b'{"organic": []}'))
    web = WebConfig(timeout_s=2.0, serper_api_key=SecretStr("cfg-key-0123456789"))
    serper_at(server, web).invoke({"query": "a"})
    monkeypatch.setenv("SERPER_API_KEY", KEY)
    serper_at(server, web).invoke({"query": "b"})
    assert [r.headers["x-api-key"] for r in server.requests] == ["cfg-key-0123456789", KEY]


def test_a_string_input_is_the_query_and_the_default_count_is_configured(
    serve: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SERPER_API_KEY", KEY)
    server = serve(answer(fixture_bytes("serper_search.json")))
    out = serper_at(server, WEB.model_copy(update={"search_results": 1})).invoke("capital")
    assert "1. Paris - Wikipedia" in out and "2. " not in out
    assert json.loads(server.requests[0].body) == {"q": "capital", "num": 1}


def test_snippets_are_one_line_and_results_without_a_web_url_are_dropped(
    serve: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SERPER_API_KEY", KEY)
    organic = [
        {"title": "Bad", "link": "javascript:alert(1)", "snippet": "x"},
        {"title": "No link", "snippet": "y"},
        {"title": "Multi\nline", "link": "https://a.example/", "snippet": "one\n\n2. fake entry"},
    ]
    server = serve(answer(json.dumps({"organic": organic}).encode()))
    out = serper_at(server).invoke({"query": "q"})
    assert out == "1. Multi line\n   https://a.example/\n   one 2. fake entry"


def test_an_empty_result_says_so(serve: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERPER_API_KEY", KEY)
    server = serve(answer(b'{"searchParameters": {"q": "zxqv"}, "organic": []}'))
    out = serper_at(server).invoke({"query": "zxqv"})
    assert out == 'No web results for "zxqv"; try other or fewer words.'


@pytest.mark.parametrize("name", ["serper", "serpapi"])
def test_a_missing_key_names_the_env_var_and_sends_nothing(serve: Any, name: str) -> None:
    make, env_var = KEYED[name]
    server = serve(answer(b"{}"))
    out = make(server).invoke({"query": "anything"})
    assert f"{name} needs an API key" in out and env_var in out and "duckduckgo" in out
    assert server.requests == []


@pytest.mark.parametrize("name", ["serper", "serpapi"])
@pytest.mark.parametrize(
    ("status", "says", "tries"),
    [
        (401, "refused the API key (HTTP 401): check {env}", 1),
        (403, "refused the API key (HTTP 403): check {env}", 1),
        (429, "is limiting requests (HTTP 429)", 2),
        (500, "has a server problem (HTTP 500)", 2),
        (400, "refused the request", 1),
    ],
)
def test_http_errors_become_advice_without_the_key(
    serve: Any, monkeypatch: pytest.MonkeyPatch, name: str, status: int, says: str, tries: int
) -> None:
    make, env_var = KEYED[name]
    monkeypatch.setenv(env_var, KEY)
    body = json.dumps({"error": f"Invalid API key {KEY}"}).encode()
    server = serve(answer(body, status))
    out = make(server).invoke({"query": "q"})
    assert says.format(env=env_var) in out
    assert KEY not in out
    assert len(server.requests) == tries  # 429 and 5xx are retried (QUICK: 2 attempts)


@pytest.mark.parametrize("name", ["serper", "serpapi"])
def test_a_silent_server_times_out_within_the_configured_time(
    serve: Any, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    make, env_var = KEYED[name]
    monkeypatch.setenv(env_var, KEY)
    server = serve(lambda request, conn: server.stopping.wait(5))
    started = time.monotonic()
    out = make(server, WEB.model_copy(update={"timeout_s": 0.3})).invoke({"query": "q"})
    assert time.monotonic() - started < 1.5
    assert "did not answer within web.timeout_s (0.3 s)" in out and KEY not in out


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b'{"organic": [', "not valid JSON"),
        (b"<html>Service Unavailable</html>", "not valid JSON"),
        (b"[1, 2]", "JSON of an unexpected shape"),
        (b'{"organic": "none"}', "JSON of an unexpected shape"),
    ],
)
def test_malformed_json_becomes_an_observation(
    serve: Any, monkeypatch: pytest.MonkeyPatch, body: bytes, says: str
) -> None:
    monkeypatch.setenv("SERPER_API_KEY", KEY)
    out = serper_at(serve(answer(body))).invoke({"query": "q"})
    assert out.startswith("Serper answered with") and says in out


def test_an_oversized_body_is_refused_by_the_cap(
    serve: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SERPER_API_KEY", KEY)
    organic = [{"title": "t", "link": "https://a.example/", "snippet": "s" * 500}] * 10
    server = serve(answer(json.dumps({"organic": organic}).encode()))
    out = serper_at(server, WEB.model_copy(update={"max_bytes": 1024})).invoke({"query": "q"})
    assert "larger than web.max_bytes (1024 bytes)" in out


def test_a_blocked_address_is_reported_not_contacted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERPER_API_KEY", KEY)
    tool = SerperTool(web=WEB, endpoint="http://169.254.169.254/search", policy=QUICK)
    out = tool.invoke({"query": "q"})
    assert out.startswith("the network guard refused to contact Serper")
    assert KEY not in out


def test_no_network_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERPAPI_API_KEY", KEY)
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    tool = SerpAPITool(web=WEB, endpoint=f"http://127.0.0.1:{port}/search", policy=QUICK)
    with allow_addresses_for_tests({"127.0.0.1"}):
        out = tool.invoke({"query": "q"})
    assert out.startswith("no network: cannot reach SerpAPI") and KEY not in out


def test_a_key_echoed_in_results_is_masked(serve: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERPER_API_KEY", KEY)
    organic = [{"title": f"key {KEY}", "link": "https://a.example/", "snippet": KEY}]
    server = serve(answer(json.dumps({"organic": organic}).encode()))
    out = serper_at(server).invoke({"query": "q"})
    assert KEY not in out and "key ***" in out


async def test_serper_ainvoke_returns_within_its_bound(
    serve: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SERPER_API_KEY", KEY)
    server = serve(lambda request, conn: server.stopping.wait(5))
    tool = serper_at(server, WEB.model_copy(update={"timeout_s": 0.3}))
    out = await asyncio.wait_for(tool.ainvoke({"query": "q"}), 1.5)
    assert "did not answer" in out


# --- serpapi --------------------------------------------------------------------------


def test_serpapi_renders_its_fixture_and_sends_the_key_as_a_parameter(
    serve: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SERPAPI_API_KEY", KEY)
    server = serve(answer(fixture_bytes("serpapi_google.json")))
    out = serpapi_at(server).invoke({"query": "eiffel tower height"})
    assert out.splitlines()[:5] == [
        "Answer: 330 m (https://en.wikipedia.org/wiki/Eiffel_Tower)",
        "Knowledge graph: Eiffel Tower (Tower in Paris, France): The Eiffel Tower is a "
        "wrought-iron lattice tower on the Champ de Mars in Paris, France.",
        "1. Eiffel Tower - Wikipedia",
        "   https://en.wikipedia.org/wiki/Eiffel_Tower",
        "   The tower is 330 metres (1,083 ft) tall, about the same height as an 81-storey "
        "building.",
    ]
    assert "2. The Eiffel Tower in figures" in out and KEY not in out
    (seen,) = server.requests
    url = urlsplit(seen.path)
    assert (seen.method, url.path) == ("GET", "/search")
    assert parse_qs(url.query) == {
        "engine": ["google"],
        "q": ["eiffel tower height"],
        "num": ["5"],
        "output": ["json"],
        "api_key": [KEY],
    }


def test_serpapi_no_results_says_so(serve: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERPAPI_API_KEY", KEY)
    server = serve(answer(fixture_bytes("serpapi_no_results.json")))
    out = serpapi_at(server).invoke({"query": "zxqv unmatched words"})
    assert out == 'No web results for "zxqv unmatched words"; try other or fewer words.'


def test_serpapi_error_field_is_reported(serve: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERPAPI_API_KEY", KEY)
    body = b'{"error": "Your account has run out of searches."}'
    out = serpapi_at(serve(answer(body))).invoke({"query": "q"})
    assert out.startswith("SerpAPI could not search: Your account has run out of searches.")


# --- duckduckgo -----------------------------------------------------------------------


def patch_ddgs(monkeypatch: pytest.MonkeyPatch, result: Any) -> list[dict[str, Any]]:
    """Replace ``DDGS.text``; ``result`` is returned, raised, or called. Records the calls."""
    calls: list[dict[str, Any]] = []

    def text(self: Any, query: str, **kwargs: Any) -> Any:
        calls.append({"query": query, "timeout": self._timeout, "at": time.monotonic(), **kwargs})
        if isinstance(result, BaseException):
            raise result
        return result() if callable(result) else result

    monkeypatch.setattr("ddgs.ddgs.DDGS.text", text)
    return calls


def test_duckduckgo_lists_its_results_with_the_backend_pinned(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = patch_ddgs(monkeypatch, json.loads(fixture_bytes("ddgs_text.json")))
    web = WEB.model_copy(update={"timeout_s": 7.5, "duckduckgo_region": "de-de"})
    out = DuckDuckGoTool(web=web).invoke({"query": "python", "max_results": 2})
    assert out == (
        "1. Python (programming language) - Wikipedia\n"
        "   https://en.wikipedia.org/wiki/Python_(programming_language)\n"
        "   Python is a high-level, general-purpose programming language. Its design philosophy "
        "emphasizes code readability.\n"
        "2. Welcome to Python.org\n"
        "   https://www.python.org/\n"
        "   The official home of the Python Programming Language."
    )
    (call,) = calls
    assert call["backend"] == "duckduckgo"
    assert (call["region"], call["max_results"], call["timeout"]) == ("de-de", 2, math.ceil(7.5))


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            RatelimitException("https://html.duckduckgo.com/html 202 Ratelimit"),
            "DuckDuckGo rate-limited this machine; wait a minute or use serper with "
            "SERPER_API_KEY instead",
        ),
        (TimeoutException("operation timed out"), "DuckDuckGo did not answer within"),
        (DDGSException("ConnectError: ConnectError('dns error')"), "no network: DuckDuckGo"),
        (OSError("Network is unreachable"), "no network: DuckDuckGo"),
        (DDGSException("lxml could not parse"), "DuckDuckGo search failed (lxml"),
        (DDGSException("No results found."), 'No web results for "q"'),
    ],
)
def test_duckduckgo_failures_become_advice(
    monkeypatch: pytest.MonkeyPatch, error: Exception, expected: str
) -> None:
    patch_ddgs(monkeypatch, error)
    out = DuckDuckGoTool(web=WEB).invoke({"query": "q"})
    assert out.startswith(expected)


def test_an_empty_duckduckgo_answer_mentions_rate_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    patch_ddgs(monkeypatch, [])
    out = DuckDuckGoTool(web=WEB).invoke({"query": "q"})
    assert out.splitlines()[1].startswith("DuckDuckGo also answers with nothing")


def test_an_unexpected_error_is_left_to_the_runner(monkeypatch: pytest.MonkeyPatch) -> None:
    patch_ddgs(monkeypatch, ValueError("a bug"))
    obs = run_tool(DuckDuckGoTool(web=WEB), {"query": "q"}, timeout_s=2)
    assert obs.error and obs.text == "Error: duckduckgo failed: ValueError: a bug"


def test_two_quick_duckduckgo_calls_are_spaced(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = patch_ddgs(monkeypatch, [])
    tool = DuckDuckGoTool(web=WEB.model_copy(update={"duckduckgo_min_interval_s": 0.3}))
    tool.invoke({"query": "a"})
    tool.invoke({"query": "b"})
    assert calls[1]["at"] - calls[0]["at"] >= 0.29


def test_the_spacing_is_process_wide_and_thread_safe(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = patch_ddgs(monkeypatch, [])
    web = WEB.model_copy(update={"duckduckgo_min_interval_s": 0.12})
    tools = [DuckDuckGoTool(web=web) for _ in range(4)]  # separate instances share the spacer
    threads = [threading.Thread(target=t.invoke, args=({"query": "q"},)) for t in tools]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(2)
    times = sorted(call["at"] for call in calls)
    assert len(times) == 4
    assert all(b - a >= 0.11 for a, b in zip(times, times[1:], strict=False))


def test_a_long_queue_is_refused_instead_of_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = patch_ddgs(monkeypatch, [])
    web = WEB.model_copy(update={"duckduckgo_min_interval_s": 30.0, "timeout_s": 1.0})
    tool = DuckDuckGoTool(web=web)
    tool.invoke({"query": "a"})
    out = tool.invoke({"query": "b"})
    assert out.startswith("too many DuckDuckGo searches are waiting") and len(calls) == 1


@pytest.fixture
def hung_ddgs(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``DDGS.text`` that never answers (released when the test ends)."""
    release = threading.Event()
    patch_ddgs(monkeypatch, lambda: release.wait(5) and [])
    yield
    release.set()


@pytest.mark.usefixtures("hung_ddgs")
def test_a_hung_duckduckgo_call_is_bounded_by_the_timeout() -> None:
    started = time.monotonic()
    out = DuckDuckGoTool(web=WEB.model_copy(update={"timeout_s": 0.3})).invoke({"query": "q"})
    assert time.monotonic() - started < 1.0
    assert out.startswith("DuckDuckGo did not answer within web.timeout_s (0.3 s)")


@pytest.mark.usefixtures("hung_ddgs")
async def test_duckduckgo_ainvoke_returns_within_its_bound() -> None:
    tool = DuckDuckGoTool(web=WEB.model_copy(update={"timeout_s": 0.3}))
    started = time.monotonic()
    out = await asyncio.wait_for(tool.ainvoke({"query": "q"}), 1.5)
    assert time.monotonic() - started < 1.0 and "did not answer" in out


# --- input and registration -----------------------------------------------------------


def test_the_query_is_bounded_and_a_blank_one_gets_advice() -> None:
    tool = DuckDuckGoTool(web=WEB)
    obs = run_tool(tool, {"query": "x" * 401}, timeout_s=2)
    assert obs.error and "query" in obs.text
    obs = run_tool(tool, {"query": "q", "max_results": 21}, timeout_s=2)
    assert obs.error and "max_results" in obs.text
    assert tool.invoke({"query": "   "}).startswith("Give a search query")


def test_register_into_lists_env_vars_only_for_keys_the_config_lacks() -> None:
    class Config:
        web = WebConfig(serpapi_api_key=SecretStr("from-config-0123"))

    seen: dict[str, tuple[str, ...]] = {}
    examples: dict[str, list[dict[str, Any]]] = {}

    def register(tool: Any, requires_env: tuple[str, ...] = ()) -> None:
        seen[tool.name] = tuple(requires_env)
        examples[tool.name] = tool.metadata["examples"]

    search.register_into(register, Config())  # type: ignore[arg-type]
    assert seen == {"duckduckgo": (), "serper": ("SERPER_API_KEY",), "serpapi": ()}
    search.register_into(register, None)
    assert seen["serpapi"] == ("SERPAPI_API_KEY",)
    for name, rows in examples.items():
        for row in rows:
            assert set(row) == {"question", "input", "observation", "answer"}, name
            SearchInput.model_validate(row["input"])
            assert row["observation"].startswith(("1. ", "Answer: "))


def test_the_built_in_registry_offers_duckduckgo_without_a_key(config: Any) -> None:
    registry = build_registry(config)
    assert registry.get("duckduckgo").availability == "available"
    assert registry.get("serper").availability == "needs SERPER_API_KEY"
    assert registry.get("serpapi").availability == "needs SERPAPI_API_KEY"


def test_the_search_tools_are_tagged_for_self_ask(config: Any) -> None:
    from tooldeck.tools.registry import build_registry

    names = {entry.name for entry in build_registry(config).search_tools()}
    assert {"duckduckgo", "serper", "serpapi"} <= names
