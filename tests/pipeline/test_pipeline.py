"""The agent pipeline as one Runnable: inside anyone's chain, every input form, its stages."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableLambda

from tests.helpers import echo, final, react
from tooldeck.errors import ConfigError, InputError
from tooldeck.pipeline import STEP_EVENT, TOKEN_EVENT, TurnState, build_agent
from tooldeck.pipeline.stages import InputStage, OutputStage, Stage
from tooldeck.testing import ScriptedChatModel

SCRIPT = [react("echo it", "echo", '{"text": "hi"}'), final("done")]
KEYS = {"answer", "steps", "stopped_by", "model", "elapsed_s"}


def make(config: Any, registry: Any, responses: list[Any] | None = None) -> Any:
    cfg = config.model_copy(update={"tools": ["echo"]})
    model = ScriptedChatModel(responses=responses or SCRIPT * 10)
    return build_agent(cfg, registry=registry, model=model), model


def chain_around(agent: Any) -> Any:
    pre: Any = RunnableLambda(lambda x: x["q"])
    post: Any = RunnableLambda(lambda r: {"upper": r["answer"].upper(), "steps": len(r["steps"])})
    return pre | agent | post


class Events(BaseCallbackHandler):
    """Collects the pipeline's custom events."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, Any]] = []

    def on_custom_event(self, name: str, data: Any, **kwargs: Any) -> None:
        self.seen.append((name, data))


def test_invoke_returns_the_result_dict(config: Any, registry: Any) -> None:
    agent, _ = make(config, registry)
    result = agent.invoke("echo hi")
    assert set(result) == KEYS
    assert result["answer"] == "done" and result["steps"][0]["observation"] == "echo: hi"


def test_inside_a_chain_invoke_batch_and_stream(config: Any, registry: Any) -> None:
    agent, _ = make(config, registry)
    chain = chain_around(agent)
    assert chain.invoke({"q": "a"}) == {"upper": "DONE", "steps": 1}
    assert list(chain.stream({"q": "c"})) == [{"upper": "DONE", "steps": 1}]
    parallel, _ = make(config, registry, [final("done")])  # batch runs turns on threads
    parallel.loop_agent.model.repeat_last = True
    assert chain_around(parallel).batch([{"q": "a"}, {"q": "b"}]) == [{"upper": "DONE", "steps": 0}] * 2
    chunks = list(agent.stream("d"))
    assert len(chunks) == 1 and set(chunks[0]) == KEYS


def test_inside_a_chain_async_and_astream_events(config: Any, registry: Any) -> None:
    agent, _ = make(config, registry)
    chain = chain_around(agent)

    async def run() -> tuple[Any, list[Any], list[Any]]:
        one = await chain.ainvoke({"q": "a"})
        chunks = [c async for c in chain.astream({"q": "b"})]
        events = [e async for e in chain.astream_events({"q": "c"}, version="v2")]
        return one, chunks, events

    one, chunks, events = asyncio.run(run())
    assert one == {"upper": "DONE", "steps": 1} and chunks == [one]
    custom = [e for e in events if e["event"] == "on_custom_event"]
    tokens = "".join(e["data"]["text"] for e in custom if e["name"] == TOKEN_EVENT)
    steps = [e["data"] for e in custom if e["name"] == STEP_EVENT]
    assert "Action: echo" in tokens and "Final Answer: done" in tokens
    assert steps == [{"thought": "echo it", "tool": "echo", "tool_input": {"text": "hi"},
                      "observation": "echo: hi"}]
    assert events[-1]["event"] == "on_chain_end" and events[-1]["data"]["output"] == one
    names = {e["name"] for e in events if e["event"] == "on_chain_start"}
    assert "tooldeck_agent" in names
    models = [e for e in events if e["event"] == "on_chat_model_stream"]
    assert models  # the model's own stream events are there too


def test_callbacks_get_steps_under_invoke_and_tokens_under_stream(
    config: Any, registry: Any
) -> None:
    agent, _ = make(config, registry)
    quiet = Events()
    agent.invoke("a", {"callbacks": [quiet]})
    assert [name for name, _ in quiet.seen] == [STEP_EVENT]  # the model is called whole
    loud = Events()
    list(agent.stream("a", {"callbacks": [loud]}))
    names = [name for name, _ in loud.seen]
    assert names.count(STEP_EVENT) == 1 and names.count(TOKEN_EVENT) > 2
    assert names.index(STEP_EVENT) < len(names) - 1  # the step comes before the final tokens


@pytest.mark.parametrize(
    "value",
    [
        {"input": "the question", "history": [HumanMessage("earlier q"), AIMessage("earlier a")]},
        {"input": "the question", "history": [("user", "earlier q"), ("ai", "earlier a")]},
        [HumanMessage("earlier q"), AIMessage("earlier a"), HumanMessage("the question")],
        [("user", "earlier q"), ("assistant", "earlier a"), ("user", "the question")],
        {"messages": [HumanMessage("earlier q"), AIMessage("earlier a"), HumanMessage("the question")]},
    ],
)
def test_every_input_form_with_history(config: Any, registry: Any, value: Any) -> None:
    agent, model = make(config, registry, [final("ok")])
    assert agent.invoke(value)["answer"] == "ok"
    texts = [m.text for m in model.calls[0]["messages"]]
    assert "earlier q" in texts and "earlier a" in texts
    assert texts.index("earlier a") < max(i for i, t in enumerate(texts) if "the question" in t)


@pytest.mark.parametrize("value", ["  the question  ", HumanMessage("the question")])
def test_single_question_forms(config: Any, registry: Any, value: Any) -> None:
    agent, model = make(config, registry, [final("ok")])
    assert agent.invoke(value)["answer"] == "ok"
    assert any("the question" in m.text for m in model.calls[0]["messages"])


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ([SystemMessage("be nice"), AIMessage("hello")], "no human message"),
        ({"messages": []}, "no human message"),
        ([HumanMessage("q"), AIMessage("a")], "follows the last human message"),
        ("   ", "the question is empty"),
        (42, "agent input must be"),
        ({"messages": "hi"}, "'messages' must be a list"),
    ],
)
def test_bad_inputs_name_the_problem(
    config: Any, registry: Any, value: Any, problem: str
) -> None:
    agent, model = make(config, registry)
    with pytest.raises(InputError, match=problem):
        agent.invoke(value)
    assert model.calls == []


def test_tools_take_plain_functions_and_replace_the_configured_ones(config: Any) -> None:
    def shout(text: str) -> str:
        """Repeat the text in capitals.

        Args:
            text: what to shout
        """
        return text.upper()

    model = ScriptedChatModel(responses=[react("t", "shout", '{"text": "hey"}'), final("HEY")])
    agent = build_agent(config, model=model, tools=[shout, echo])
    result = agent.invoke("shout hey")
    assert result["steps"][0]["observation"] == "HEY"
    prompt = model.calls[0]["messages"][0].text
    assert "shout" in prompt and "calculator" not in prompt
    with pytest.raises(ConfigError, match="neither"):
        build_agent(config, model=model, tools=[42])
    with pytest.raises(ConfigError, match="docstring"):
        build_agent(config, model=model, tools=[lambda x: x])


def test_stages_work_alone() -> None:
    state = InputStage(100).invoke([("user", "  hi  ")], {"configurable": {"session_id": "s"}})
    assert isinstance(state, TurnState)
    assert (state.question, state.history, state.session_id) == ("hi", [], "s")
    done = OutputStage().invoke(state)
    assert done.output is not None and set(done.output) == KEYS
    with pytest.raises(InputError, match="limit is 100"):
        InputStage(100).invoke("x" * 101)


class Canned(Stage):
    """A stage that answers before the loop, as a cache hit would."""

    def step(self, state: TurnState, config: Any, *, streaming: bool = False) -> TurnState:
        from dataclasses import replace

        return replace(state, answer="from the cache", answered=True,
                       flags={**state.flags, "cache_hit": True})


def test_a_stage_is_added_without_touching_the_loop(config: Any, registry: Any) -> None:
    agent, model = make(config, registry)
    cached = agent.insert("agent", "cache", Canned())
    assert list(cached.stages) == ["input", "memory_load", "cache", "agent", "output",
                                   "memory_save"]
    assert cached.invoke("q")["answer"] == "from the cache"
    assert list(cached.stream("q"))[0]["answer"] == "from the cache"
    assert model.calls == []
    with pytest.raises(KeyError, match="stages: input"):
        agent.insert("nope", "x", Canned())


def test_callbacks_reach_the_model_and_the_tools(config: Any, registry: Any) -> None:
    seen: list[str] = []

    class Spy(BaseCallbackHandler):
        def on_chain_start(self, serialized: Any, inputs: Any, **kwargs: Any) -> None:
            seen.append(f"chain:{kwargs.get('name')}")

        def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
            seen.append("model")

        def on_tool_start(self, serialized: Any, input_str: str, **kwargs: Any) -> None:
            seen.append("tool")

    agent, _ = make(config, registry)
    chain_around(agent).invoke({"q": "a"}, {"callbacks": [Spy()]})
    assert "chain:tooldeck_agent" in seen
    assert seen.count("model") == 2 and seen.count("tool") == 1


def test_the_tool_calling_agent_sends_steps_as_events(config: Any, registry: Any) -> None:
    call = AIMessage("", tool_calls=[{"name": "echo", "args": {"text": "x"}, "id": "c1"}])
    model = ScriptedChatModel(responses=[call, AIMessage("said x")])
    cfg = config.model_copy(update={"tools": ["echo"]})
    cfg.agent = cfg.agent.model_copy(update={"type": "tool-calling"})
    agent = build_agent(cfg, registry=registry, model=model)
    events = Events()
    chunks = list((RunnableLambda(lambda x: x) | agent).stream("say x", {"callbacks": [events]}))
    assert chunks[-1]["answer"] == "said x"
    assert [name for name, _ in events.seen] == [STEP_EVENT]
    assert events.seen[0][1]["observation"] == "echo: x"


def test_model_runs_carry_the_prompt_template_name(config: Any, registry: Any) -> None:
    seen: list[Any] = []

    class Spy(BaseCallbackHandler):
        def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
            seen.append((kwargs.get("metadata") or {}).get("prompt"))

    agent, _ = make(config, registry)
    agent.invoke("a", {"callbacks": [Spy()]})
    assert len(seen) == 2 and all(isinstance(p, str) and p.startswith("react") for p in seen)


@pytest.mark.parametrize("limit", [0, 1, 2])
def test_prompts_max_examples_reaches_the_react_prompt(
    config: Any, registry: Any, limit: int
) -> None:
    prompts = config.prompts.model_copy(update={"max_examples": limit})
    agent_cfg = config.agent.model_copy(update={"tool_min_score": -1.0})
    cfg = config.model_copy(
        update={"tools": ["calculator"], "prompts": prompts, "agent": agent_cfg}
    )
    model = ScriptedChatModel(responses=[final("12")])
    build_agent(cfg, registry=registry, model=model).invoke("What is 3 * 4?")
    system = str(model.calls[0]["messages"][0].content)
    assert system.count("Example - Question:") == limit
