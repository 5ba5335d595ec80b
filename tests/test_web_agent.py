"""The web tools end to end in a ReAct agent: search, fetch a result, summarize it, answer.

Everything stays on this machine: pages come from a loopback site (reached through the
test-only allowance of ``tools.net``), DuckDuckGo's ``DDGS.text`` is patched (ddgs has its own
HTTP client, which the socket guard of ``conftest.py`` cannot see), and the models are
scripted, except in the integration test, which runs the embedded model.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import final, react
from tooldeck.config import load_config
from tooldeck.pipeline import build_agent
from tooldeck.testing import ScriptedChatModel
from tooldeck.tools.net import allow_addresses_for_tests
from tooldeck.tools.net.testing import LoopbackServer, SeenRequest, reply

REPO = Path(__file__).resolve().parent.parent
PAGE_TEXT = "Zubrowka is a small alpine republic. Its capital is Lutz, a spa town on the river"
PAGE = (
    "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
    "<title>The Republic of Zubrowka</title></head><body>"
    "<nav><a href='/'>Home</a> | <a href='/news'>News</a> | Sign in</nav>"
    "<article><h1>The Republic of Zubrowka</h1>"
    f"<p>{PAGE_TEXT} Elbe Minor, home to the Grand Budapest Hotel.</p>"
    "<p>Zubrowka's currency is the Klubeck and its national pastry is the Courtesan au "
    "chocolat, baked at Mendl's in Lutz since 1932.</p></article>"
    "<footer>Copyright 2025 Zubrowka Tourist Board. All rights reserved.</footer>"
    "</body></html>"
).encode()
SUMMARY = "Zubrowka is an alpine republic whose capital, Lutz, is a spa town."
ANSWER = "The capital of Zubrowka is Lutz."


def _serve(request: SeenRequest, conn: socket.socket) -> None:
    if request.path == "/article":
        reply(conn, 200, PAGE, {"Content-Type": "text/html; charset=utf-8"})
    else:
        reply(conn, 404, b"not found")


@pytest.fixture
def site() -> Iterator[LoopbackServer]:
    """The loopback site, reachable by the web tools for the test's duration."""
    with LoopbackServer(_serve) as server, allow_addresses_for_tests({"127.0.0.1"}):
        yield server


@pytest.fixture
def searches(site: LoopbackServer, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """DuckDuckGo answers every query with the loopback article first; the queries are kept."""
    queries: list[str] = []
    rows = [
        {"title": "The Republic of Zubrowka", "href": f"{site.url}/article",
         "body": "Zubrowka, a small alpine republic: its capital, currency and pastry."},
        {"title": "Zubrowka - Wikipedia", "href": "https://en.wikipedia.org/wiki/Zubrowka",
         "body": "Zubrowka is a fictional country."},
    ]  # fmt: skip

    def text(self: Any, query: str, **kwargs: Any) -> list[dict[str, str]]:
        queries.append(query)
        return rows

    monkeypatch.setattr("ddgs.ddgs.DDGS.text", text)
    return queries


def _config(tmp_path: Path, **model: Any) -> Any:
    """The web tools only; ``model`` is the configured model (summarize's)."""
    overrides = {
        "data_dir": str(tmp_path / "data"),
        "tools": ["duckduckgo", "web_fetch", "summarize"],
        "agent": {"tool_top_k": 10, "tool_timeout_s": 20, "max_steps": 6},
        "web": {"timeout_s": 5, "duckduckgo_min_interval_s": 0},
        "model": model,
    }
    return load_config(REPO / "config.yaml", overrides, environ={}, read_dotenv=False)


def _script(url: str) -> list[str]:
    return [
        react("I should search the web", "duckduckgo", '{"query": "capital of Zubrowka"}'),
        react("The first result looks right", "web_fetch", f'{{"url": "{url}"}}'),
        react("Let me summarize it", "summarize", f'{{"text": null, "url": "{url}"}}'),
        final(ANSWER),
    ]


def _agent(tmp_path: Path, url: str) -> tuple[Any, ScriptedChatModel]:
    # summarize calls the configured model: a scripted one with its own reply.
    config = _config(
        tmp_path,
        provider="tooldeck.testing:ScriptedChatModel",
        kwargs={"responses": [SUMMARY], "repeat_last": True},
    )
    model = ScriptedChatModel(responses=_script(url))
    return build_agent(config, model=model), model


def _check_run(
    result: dict[str, Any], model: ScriptedChatModel, site: LoopbackServer, searches: list[str]
) -> None:
    url = f"{site.url}/article"
    assert result["stopped_by"] is None and result["answer"] == ANSWER
    steps = result["steps"]
    assert [s["tool"] for s in steps] == ["duckduckgo", "web_fetch", "summarize"]
    assert searches == ["capital of Zubrowka"]
    found, fetched, summarized = (s["observation"] for s in steps)
    assert found.splitlines()[:2] == ["1. The Republic of Zubrowka", f"   {url}"]
    assert steps[1]["tool_input"] == {"url": url}
    assert fetched.startswith(f"Title: The Republic of Zubrowka\nURL: {url}")
    assert PAGE_TEXT in fetched and "Klubeck" in fetched
    assert "Tourist Board" not in fetched and "Sign in" not in fetched  # boilerplate left out
    assert url in summarized and SUMMARY in summarized
    assert [r.path for r in site.requests] == ["/article", "/article"]  # fetch, then summarize
    # each observation reached the model in the next call
    for call, observation in zip(model.calls[1:], (found, fetched, summarized), strict=True):
        assert observation[:200] in call["messages"][-1].content
    assert len(model.calls) == 4


QUESTION = "What is the capital of Zubrowka? Search, read the best page and summarize it."


def test_search_then_fetch_then_summarize_then_answer(
    tmp_path: Path, site: LoopbackServer, searches: list[str]
) -> None:
    agent, model = _agent(tmp_path, f"{site.url}/article")
    _check_run(agent.invoke(QUESTION), model, site, searches)


async def test_the_same_run_on_the_async_path(
    tmp_path: Path, site: LoopbackServer, searches: list[str]
) -> None:
    agent, model = _agent(tmp_path, f"{site.url}/article")
    _check_run(await agent.ainvoke(QUESTION), model, site, searches)


def test_a_dead_link_from_the_results_becomes_an_observation(
    tmp_path: Path, site: LoopbackServer, searches: list[str]
) -> None:
    missing = f"{site.url}/gone"
    config = _config(
        tmp_path,
        provider="tooldeck.testing:ScriptedChatModel",
        kwargs={"responses": [SUMMARY]},
    )
    script = [
        react("search", "duckduckgo", '{"query": "Zubrowka"}'),
        react("fetch", "web_fetch", f'{{"url": "{missing}"}}'),
        final("I could not read the page."),
    ]
    model = ScriptedChatModel(responses=script)
    result = build_agent(config, model=model).invoke("What is the capital of Zubrowka?")
    assert result["answer"] == "I could not read the page."
    observation = result["steps"][1]["observation"]
    assert observation.startswith("Error") and "404" in observation
    assert observation in model.calls[2]["messages"][-1].content


@pytest.mark.integration
def test_the_embedded_model_reads_a_page_named_in_the_question(
    tmp_path: Path, site: LoopbackServer
) -> None:
    url = f"{site.url}/article"
    overrides = {
        "data_dir": str(tmp_path / "data"),
        "tools": ["web_fetch"],
        # automatic tool_min_score: a URL in the question offers the tool taking a URL
        "agent": {"max_steps": 3},
        "web": {"timeout_s": 3},
    }
    config = load_config(REPO / "config.yaml", overrides, environ={}, read_dotenv=False)
    result = build_agent(config).invoke(
        f"What does the page at {url} say the capital of Zubrowka is?"
    )

    assert result["model"] == "local:SmolLM2-135M-Instruct-Q4_1"
    fetches = [s for s in result["steps"] if s["tool"] == "web_fetch"]
    assert fetches, f"web_fetch was not called (was it offered?): {result}"
    first = fetches[0]
    # the grammar narrows the URL argument to the URLs seen so far: the question's, exactly
    assert first["tool_input"] == {"url": url}
    assert PAGE_TEXT in first["observation"]
    assert "lutz" in result["answer"].lower(), result
