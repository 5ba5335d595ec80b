"""The tool-calling agent (create_agent + guard middleware) with a scripted tool-call model."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage
from pydantic import Field

from tooldeck.pipeline import build_agent
from tooldeck.testing import ScriptedChatModel


def call(name: str, args: dict[str, Any], call_id: str = "c1", text: str = "") -> AIMessage:
    return AIMessage(content=text, tool_calls=[{"name": name, "args": args, "id": call_id}])


def make(config: Any, registry: Any, responses: list[Any], **agent: Any) -> Any:
    cfg = config.model_copy(update={"tools": ["calculator", "echo", "boom", "sleepy"]})
    cfg.agent = cfg.agent.model_copy(update={"type": "tool-calling", "tool_top_k": 10, **agent})
    model = ScriptedChatModel(responses=responses, repeat_last=True)
    return build_agent(cfg, registry=registry, model=model), model


def test_tool_call_then_answer(config: Any, registry: Any) -> None:
    agent, _ = make(
        config,
        registry,
        [
            call("calculator", {"expression": "17*23"}, text="let me compute"),
            AIMessage("It is 391."),
        ],
    )
    result = agent.invoke("What is 17 * 23?")
    assert result["answer"] == "It is 391." and result["stopped_by"] is None
    assert result["steps"] == [
        {
            "thought": "let me compute",
            "tool": "calculator",
            "tool_input": {"expression": "17*23"},
            "observation": "391",
        }
    ]


def test_tool_error_goes_back_to_the_model(config: Any, registry: Any) -> None:
    agent, model = make(config, registry, [call("boom", {"text": "x"}), AIMessage("sorry")])
    result = agent.invoke("break")
    assert result["answer"] == "sorry"
    assert "RuntimeError: kaboom" in result["steps"][0]["observation"]
    assert "kaboom" in model.calls[1]["messages"][-1].content


def test_tool_timeout(config: Any, registry: Any) -> None:
    agent, _ = make(
        config, registry, [call("sleepy", {"seconds": 20}), AIMessage("done")], tool_timeout_s=0.2
    )
    result = agent.invoke("sleep")
    assert "timed out after 0.2 s" in result["steps"][0]["observation"]


def test_step_limit(config: Any, registry: Any) -> None:
    replies = [call("calculator", {"expression": f"{i}+1"}, f"c{i}") for i in range(10)]
    agent, model = make(config, registry, replies, max_steps=3)
    result = agent.invoke("loop")
    assert result["stopped_by"] == "max_steps" and len(result["steps"]) == 3
    assert len(model.calls) == 3 and "step limit" in result["answer"]


class _Recording(ScriptedChatModel):
    """Records the tool names bound before each model call."""

    bound: list[list[str]] = Field(default_factory=list)

    def bind_tools(self, tools: Any, **kwargs: Any) -> ScriptedChatModel:
        self.bound.append([getattr(t, "name", "") for t in tools])
        return self


def test_repeated_action(config: Any, registry: Any) -> None:
    from tooldeck.agents.core import repeat_message

    cfg = config.model_copy(update={"tools": ["calculator", "echo"]})
    cfg.agent = cfg.agent.model_copy(
        update={"type": "tool-calling", "tool_top_k": 10, "max_repeats": 2, "max_steps": 10}
    )
    model = _Recording(responses=[call("echo", {"text": "a"})], repeat_last=True)
    result = build_agent(cfg, registry=registry, model=model).invoke("repeat")
    # the same policy as the text loops (tests/agents/test_loop.py): the repeat is not run
    # again, its result is the earlier one, the next call may only answer, the third stops
    assert result["stopped_by"] == "repeated_action"
    observations = [s["observation"] for s in result["steps"]]
    assert observations == ["echo: a", repeat_message("echo", "echo: a")]
    assert len(model.calls) == 3 and "repeated action" in result["answer"]
    assert len(model.bound) == 2 and all("echo" in names for names in model.bound)


def test_last_step_is_offered_no_tools(config: Any, registry: Any) -> None:
    cfg = config.model_copy(update={"tools": ["calculator", "echo"]})
    cfg.agent = cfg.agent.model_copy(update={"type": "tool-calling", "max_steps": 2})
    model = _Recording(responses=[call("echo", {"text": "a"}), AIMessage("a")])
    result = build_agent(cfg, registry=registry, model=model).invoke("echo a")
    assert result["answer"] == "a" and len(model.calls) == 2 and len(model.bound) == 1


def test_transient_model_error_is_retried(config: Any, registry: Any) -> None:
    agent, model = make(config, registry, [ConnectionError("blip"), AIMessage("fine")])
    assert agent.invoke("hi")["answer"] == "fine"
    assert len(model.calls) == 2


async def test_async_and_stream(config: Any, registry: Any) -> None:
    agent, _ = make(config, registry, [call("echo", {"text": "z"}), AIMessage("ok")])
    result = await agent.ainvoke("echo z")
    assert result["steps"][0]["observation"] == "echo: z"
    from langchain_core.callbacks import BaseCallbackHandler

    from tooldeck.pipeline import STEP_EVENT

    class Steps(BaseCallbackHandler):
        def __init__(self) -> None:
            self.seen: list[Any] = []

        def on_custom_event(self, name: str, data: Any, **kwargs: Any) -> None:
            if name == STEP_EVENT:
                self.seen.append(data)

    agent2, _ = make(config, registry, [call("echo", {"text": "y"}), AIMessage("ok")])
    steps = Steps()
    chunks = list(agent2.stream("echo y", {"callbacks": [steps]}))
    assert [c["answer"] for c in chunks] == ["ok"]
    assert [s["observation"] for s in steps.seen] == ["echo: y"]


def test_non_transient_model_error_fails_the_run_once(config: Any, registry: Any) -> None:
    import pytest

    from tooldeck.errors import ModelError

    agent, model = make(config, registry, [ValueError("bad request: unknown parameter")])
    with pytest.raises(ModelError, match="the model call failed: ValueError: bad request"):
        agent.invoke("hi")
    assert len(model.calls) == 1


def test_is_transient() -> None:
    from tooldeck.agents.tool_calling import is_transient

    class RateLimitError(Exception):
        pass

    class Http(Exception):
        status_code = 503

    assert is_transient(ConnectionError()) and is_transient(TimeoutError())
    assert is_transient(RateLimitError()) and is_transient(Http())
    assert not is_transient(ValueError("x")) and not is_transient(NotImplementedError())


def test_model_without_tool_calling_is_a_config_error(config: Any, registry: Any) -> None:
    import pytest

    from tooldeck.errors import ConfigError
    from tooldeck.pipeline import build_agent

    class NoTools(ScriptedChatModel):
        bind_tools = __import__(
            "langchain_core.language_models", fromlist=["BaseChatModel"]
        ).BaseChatModel.bind_tools

    cfg = config.model_copy()
    cfg.agent = cfg.agent.model_copy(update={"type": "tool-calling"})
    with pytest.raises(ConfigError, match="needs a model with native tool calling"):
        build_agent(cfg, registry=registry, model=NoTools(responses=["x"]))


def test_invalid_arguments_go_back_to_the_model(config: Any, registry: Any) -> None:
    agent, model = make(config, registry, [call("calculator", {"expr": "1+1"}), AIMessage("fixed")])
    result = agent.invoke("add")
    assert result["answer"] == "fixed"
    assert "expression" in result["steps"][0]["observation"]
    assert "error" in result["steps"][0]["observation"].lower()


def test_unknown_tool_name_goes_back_to_the_model(config: Any, registry: Any) -> None:
    agent, _ = make(config, registry, [call("weather", {"city": "Oslo"}), AIMessage("no weather")])
    result = agent.invoke("weather?")
    assert result["answer"] == "no weather"
    assert "weather" in result["steps"][0]["observation"]


def test_asyncio_run_returns_when_a_sync_tool_times_out(config: Any, registry: Any) -> None:
    import asyncio
    import time

    agent, _ = make(
        config, registry, [call("sleepy", {"seconds": 8}), AIMessage("done")], tool_timeout_s=0.2
    )
    start = time.monotonic()
    result = asyncio.run(agent.ainvoke("sleep"))
    assert "timed out after 0.2 s" in result["steps"][0]["observation"]
    assert time.monotonic() - start < 5  # the loop's default executor would wait the 8 s out


def test_async_only_tool_on_the_sync_and_async_paths(config: Any, registry: Any) -> None:
    import asyncio

    from langchain_core.tools import tool

    @tool
    async def shout(text: str) -> str:
        """Upper-case the text.

        Args:
            text: the text
        """
        return text.upper()

    registry.register(shout, plugin="test")
    cfg = config.model_copy(update={"tools": ["shout"]})
    cfg.agent = cfg.agent.model_copy(update={"type": "tool-calling"})
    for run in ("invoke", "ainvoke"):
        model = ScriptedChatModel(responses=[call("shout", {"text": "hi"}), AIMessage("HI")])
        agent = build_agent(cfg, registry=registry, model=model)
        result = agent.invoke("x") if run == "invoke" else asyncio.run(agent.ainvoke("x"))
        assert result["steps"][0]["observation"] == "HI", run
