"""Self-ask with search, driven by a scripted model and the fake search tool."""

from __future__ import annotations

from typing import Any

import pytest

from tooldeck.agents.self_ask import parse_self_ask
from tooldeck.errors import ConfigError
from tooldeck.pipeline import build_agent
from tooldeck.testing import ScriptedChatModel


def make(config: Any, registry: Any, responses: list[Any], **agent: Any) -> Any:
    cfg = config.model_copy()
    agent = {"search_tool": "search", **agent}
    cfg.agent = cfg.agent.model_copy(update={"type": "self-ask", **agent})
    model = ScriptedChatModel(responses=responses, repeat_last=True)
    return build_agent(cfg, registry=registry, model=model), model


def test_parse() -> None:
    assert parse_self_ask("Yes.\nFollow up: Who is X?") == ("follow_up", "Who is X?")
    assert parse_self_ask("So the final answer is: Paris\n") == ("final", "Paris")
    assert parse_self_ask("no idea") is None


def test_follow_up_then_answer(config: Any, registry: Any) -> None:
    agent, model = make(
        config,
        registry,
        [
            "Yes.\nFollow up: What is the capital of France?",
            "So the final answer is: Paris",
        ],
    )
    result = agent.invoke("Which city is the capital of France?")
    assert result["answer"] == "Paris"
    step = result["steps"][0]
    assert step["tool"] == "search" and step["tool_input"] == {
        "query": "What is the capital of France?"
    }
    assert step["observation"] == "Paris is the capital of France."
    assert (
        model.calls[1]["messages"][-1].content
        == "Intermediate answer: Paris is the capital of France."
    )
    assert model.calls[0]["stop"] == ["\nIntermediate answer:", "Intermediate answer:"]


def test_malformed_reply_is_fed_back_and_limits_apply(config: Any, registry: Any) -> None:
    agent, _ = make(config, registry, ["hmm"], max_steps=2)
    result = agent.invoke("q")
    assert result["stopped_by"] == "max_steps"
    assert "Follow up:" in result["steps"][0]["observation"]


def test_repeated_follow_up_stops(config: Any, registry: Any) -> None:
    agent, _ = make(config, registry, ["Follow up: paris"], max_repeats=1)
    result = agent.invoke("q")
    assert result["stopped_by"] == "repeated_action"


def test_missing_search_tool_is_a_config_error(config: Any, registry: Any) -> None:
    with pytest.raises(ConfigError, match="agent.search_tool 'nope'"):
        make(config, registry, ["x"], search_tool="nope")


async def test_async(config: Any, registry: Any) -> None:
    agent, _ = make(config, registry, ["Follow up: paris", "So the final answer is: 2.1 million"])
    result = await agent.ainvoke("How many people live in Paris?")
    assert result["answer"] == "2.1 million" and result["steps"][0]["observation"].startswith(
        "Paris has"
    )


def _kind_search(name: str) -> Any:
    from langchain_core.tools import tool

    @tool(name)
    def find(query: str) -> str:
        """Search the web for a query.

        Args:
            query: what to look for
        """
        return "found"

    find.metadata = {"kind": "search"}
    return find


def test_unknown_search_tool_suggests_only_search_tools(config: Any, registry: Any) -> None:
    registry.register(_kind_search("websearch"), plugin="test")
    registry.register(_kind_search("keyed"), plugin="test", requires_env=["NO_SUCH_KEY_XYZ"])
    with pytest.raises(ConfigError) as caught:
        make(config, registry, ["x"], search_tool="nope")
    text = str(caught.value)
    assert "agent.search_tool 'nope' is not a registered tool" in text
    # the built-in duckduckgo and the test's websearch; not calculator, echo, nor unavailable ones
    assert text.endswith("set agent.search_tool to one of duckduckgo, websearch")
    with pytest.raises(ConfigError, match=r"'keyed' is unavailable \(needs NO_SUCH_KEY_XYZ\)"):
        make(config, registry, ["x"], search_tool="keyed")


def test_no_search_tool_at_all_says_so(config: Any) -> None:
    from tests.helpers import make_registry

    without_web = make_registry(config.model_copy(update={"disabled_plugins": ["builtin"]}))
    without_web.register(_kind_search("keyed"), plugin="test", requires_env=["NO_SUCH_KEY_XYZ"])
    with pytest.raises(ConfigError, match="no search tool is available") as caught:
        make(config, without_web, ["x"], search_tool="nope")
    assert "calculator" not in str(caught.value)


def test_any_search_kind_tool_serves_self_ask(config: Any, registry: Any) -> None:
    registry.register(_kind_search("websearch"), plugin="test")
    agent, _ = make(
        config, registry, ["Follow up: who?", "So the final answer is: x"], search_tool="websearch"
    )
    assert agent.invoke("q")["steps"][0]["observation"] == "found"
