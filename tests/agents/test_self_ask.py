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
