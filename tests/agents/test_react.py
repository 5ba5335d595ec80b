"""The ReAct loop, driven by scripted models: steps, limits, errors, streaming, async, batch."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler

from tests.helpers import final, react
from tooldeck.agents.react import ParsedAction, ParsedFinal, ReactParseError, parse_react
from tooldeck.errors import InputError
from tooldeck.pipeline import build_agent
from tooldeck.testing import ScriptedChatModel


def make(config: Any, registry: Any, responses: list[Any], **agent: Any) -> Any:
    tools = agent.pop("tools", ["calculator", "echo", "boom", "sleepy"])
    cfg = config.model_copy(update={"tools": tools})
    cfg.agent = cfg.agent.model_copy(update={"tool_top_k": 10, **agent})
    model = ScriptedChatModel(responses=responses, repeat_last=True)
    return build_agent(cfg, registry=registry, model=model), model


def test_parse_action_final_and_errors() -> None:
    action = parse_react('Thought: add\nAction: calculator\nAction Input: {"expression": "1+1"}')
    assert action == ParsedAction("add", "calculator", {"expression": "1+1"})
    assert parse_react("Thought: done\nFinal Answer: 42") == ParsedFinal("done", "42")
    bad = parse_react("I think the answer is 42")
    assert isinstance(bad, ReactParseError) and "no 'Action:'" in bad.problem
    missing = parse_react("Thought: x\nAction: calculator")
    assert isinstance(missing, ReactParseError) and "Action Input" in missing.problem
    plain = parse_react("Thought: t\nAction: echo\nAction Input: hello there")
    assert isinstance(plain, ParsedAction) and plain.tool_input == "hello there"


def test_tool_then_final_answer(config: Any, registry: Any) -> None:
    agent, model = make(
        config,
        registry,
        [react("multiply", "calculator", '{"expression": "17 * 23"}'), final("391")],
    )
    result = agent.invoke("What is 17 * 23?")
    assert result["answer"] == "391"
    assert result["stopped_by"] is None
    assert result["steps"] == [
        {
            "thought": "multiply",
            "tool": "calculator",
            "tool_input": {"expression": "17 * 23"},
            "observation": "391",
        }
    ]
    # the observation reached the model on the second call, and stop sequences were sent
    assert "Observation: 391" in model.calls[1]["messages"][-1].content
    assert model.calls[0]["stop"] == ["\nObservation:", "Observation:"]


def test_scalar_input_fills_the_single_argument(config: Any, registry: Any) -> None:
    agent, _ = make(config, registry, [react("e", "echo", "hi"), final("done")])
    assert agent.invoke("echo hi")["steps"][0]["observation"] == "echo: hi"


def test_malformed_step_is_fed_back(config: Any, registry: Any) -> None:
    agent, model = make(config, registry, ["I will just chat.", final("ok")])
    result = agent.invoke("hello")
    assert result["answer"] == "ok"
    step = result["steps"][0]
    assert step["tool"] is None and "not in the required format" in step["observation"]
    assert "not in the required format" in model.calls[1]["messages"][-1].content


def test_unknown_tool_is_fed_back(config: Any, registry: Any) -> None:
    agent, _ = make(config, registry, [react("t", "weather", '{"city": "Oslo"}'), final("x")])
    step = agent.invoke("weather?")["steps"][0]
    assert "weather is not a tool" in step["observation"] and "calculator" in step["observation"]


def test_tool_exception_becomes_observation(config: Any, registry: Any) -> None:
    agent, _ = make(config, registry, [react("t", "boom", '{"text": "x"}'), final("recovered")])
    result = agent.invoke("break it")
    assert result["answer"] == "recovered"
    assert result["steps"][0]["observation"] == "Error: boom failed: RuntimeError: kaboom"


def test_invalid_tool_input_becomes_observation(config: Any, registry: Any) -> None:
    agent, _ = make(config, registry, [react("t", "calculator", '{"expr": "1"}'), final("x")])
    obs = agent.invoke("q")["steps"][0]["observation"]
    assert obs.startswith("Error: invalid input for calculator") and "expression" in obs


def test_tool_timeout_becomes_observation(config: Any, registry: Any) -> None:
    agent, _ = make(
        config,
        registry,
        [react("t", "sleepy", '{"seconds": 30}'), final("gave up")],
        tool_timeout_s=0.2,
    )
    result = agent.invoke("sleep")
    assert result["answer"] == "gave up"
    assert "timed out after 0.2 s" in result["steps"][0]["observation"]


def test_model_that_never_answers_stops_at_max_steps(config: Any, registry: Any) -> None:
    replies = [react("t", "calculator", f'{{"expression": "{i} + 1"}}') for i in range(10)]
    agent, model = make(config, registry, replies, max_steps=3)
    result = agent.invoke("loop")
    assert result["stopped_by"] == "max_steps"
    assert len(result["steps"]) == 3 and len(model.calls) == 3
    assert "step limit (3 steps, agent.max_steps)" in result["answer"]
    assert "Last observation from calculator: 3" in result["answer"]


def test_repeated_action_is_detected_and_stops(config: Any, registry: Any) -> None:
    agent, model = make(
        config, registry, [react("t", "calculator", '{"expression": "2*2"}')], max_repeats=2
    )
    result = agent.invoke("repeat")
    assert result["stopped_by"] == "repeated_action"
    assert [s["observation"][:24] for s in result["steps"]] == ["4", "You already called calcu"]
    assert len(model.calls) == 3
    assert "repeated action" in result["answer"]


def test_time_limit(config: Any, registry: Any) -> None:
    replies = [react("t", "sleepy", f'{{"seconds": 0.{i + 2}}}') for i in range(8)]
    agent, _ = make(config, registry, replies, max_seconds=0.3)
    result = agent.invoke("slow")
    assert result["stopped_by"] == "max_seconds"
    assert "time limit" in result["answer"]


class Events(BaseCallbackHandler):
    """Collects the pipeline's custom events (tokens and steps)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, Any]] = []

    def on_custom_event(self, name: str, data: Any, **kwargs: Any) -> None:
        self.seen.append((name, data))


def test_stream_yields_tokens_steps_and_final(config: Any, registry: Any) -> None:
    from tooldeck.pipeline import STEP_EVENT, TOKEN_EVENT

    agent, _ = make(config, registry, [react("t", "echo", '{"text": "a"}'), final("b")])
    events = Events()
    chunks = list(agent.stream("go", {"callbacks": [events]}))
    assert [c["answer"] for c in chunks] == ["b"]
    names = [name for name, _ in events.seen]
    assert names.count(STEP_EVENT) == 1 and TOKEN_EVENT in names
    text = "".join(data["text"] for name, data in events.seen if name == TOKEN_EVENT)
    assert "Action: echo" in text and "Final Answer: b" in text


async def test_ainvoke_and_astream(config: Any, registry: Any) -> None:
    agent, _ = make(
        config, registry, [react("t", "calculator", '{"expression": "6*7"}'), final("42")]
    )
    result = await agent.ainvoke({"input": "6*7?"})
    assert result["answer"] == "42" and result["steps"][0]["observation"] == "42"
    agent2, _ = make(
        config, registry, [react("t", "sleepy", '{"seconds": 5}'), final("z")], tool_timeout_s=0.2
    )
    from tooldeck.pipeline import STEP_EVENT

    seen = Events()
    chunks = [c async for c in agent2.astream("zz", {"callbacks": [seen]})]
    assert chunks[-1]["answer"] == "z"
    steps = [data for name, data in seen.seen if name == STEP_EVENT]
    assert "timed out" in steps[0]["observation"]


def test_batch(config: Any, registry: Any) -> None:
    agent, _ = make(config, registry, [final("same")])
    results = agent.batch(["a", "b", "c"])
    assert [r["answer"] for r in results] == ["same"] * 3


def test_callbacks_reach_model_and_tools(config: Any, registry: Any) -> None:
    seen: list[str] = []

    class Spy(BaseCallbackHandler):
        def on_chat_model_start(self, serialized: Any, messages: Any, **kw: Any) -> None:
            seen.append("model")

        def on_tool_start(self, serialized: Any, input_str: str, **kw: Any) -> None:
            seen.append("tool")

        def on_chain_start(self, serialized: Any, inputs: Any, **kw: Any) -> None:
            seen.append("chain")

    agent, _ = make(config, registry, [react("t", "echo", '{"text": "a"}'), final("b")])
    agent.invoke("go", config={"callbacks": [Spy()]})
    assert seen[0] == "chain" and seen.count("model") == 2 and seen.count("tool") == 1


@pytest.mark.parametrize("bad", ["", "   ", "x" * 1_000_001, {"nope": 1}])
def test_bad_questions_are_rejected(config: Any, registry: Any, bad: Any) -> None:
    agent, model = make(config, registry, [final("never")])
    with pytest.raises(InputError) as err:
        agent.invoke(bad)
    assert model.calls == []
    if isinstance(bad, str) and len(bad) > 100:
        assert "limit is 100,000" in str(err.value)


def test_history_is_passed_to_the_model(config: Any, registry: Any) -> None:
    from langchain_core.messages import AIMessage, HumanMessage

    agent, model = make(config, registry, [final("Bob")])
    history = [HumanMessage("My name is Bob"), AIMessage("Hello Bob")]
    agent.invoke({"input": "What is my name?", "history": history})
    texts = [m.content for m in model.calls[0]["messages"]]
    assert "My name is Bob" in texts and texts[-1] == "Question: What is my name?"


def test_tool_preselection_limits_offered_tools(config: Any, registry: Any) -> None:
    agent, model = make(config, registry, [final("ok")], tools=[], tool_top_k=1)
    agent.invoke("please echo this text back")
    system = model.calls[0]["messages"][0].content
    assert "echo:" in system and "calculator:" not in system


def test_concurrent_async_runs(config: Any, registry: Any) -> None:
    agent, _ = make(config, registry, [final("same")])

    async def main() -> list[Any]:
        results: list[Any] = await agent.abatch(["a", "b"])
        return results

    assert [r["answer"] for r in asyncio.run(main())] == ["same", "same"]


def test_model_failure_is_a_model_error(config: Any, registry: Any) -> None:
    from tooldeck.errors import ModelError

    agent, _ = make(config, registry, [RuntimeError("server exploded")])
    with pytest.raises(ModelError, match="the model call failed: RuntimeError: server exploded"):
        agent.invoke("hi")
    agent2, _ = make(config, registry, [RuntimeError("stream broke")])
    with pytest.raises(ModelError, match="stream broke"):
        list(agent2.stream("hi"))


def test_async_only_tool_on_the_sync_path(config: Any, registry: Any) -> None:
    from langchain_core.tools import tool

    @tool
    async def shout(text: str) -> str:
        """Upper-case the text.

        Args:
            text: the text
        """
        return text.upper()

    registry.register(shout, plugin="test")
    agent, _ = make(
        config, registry, [react("shout", "shout", '{"text": "hi"}'), final("HI")], tools=["shout"]
    )
    result = agent.invoke("shout hi")
    assert result["steps"][0]["observation"] == "HI"


def test_worked_examples_reach_the_prompt(config: Any, registry: Any) -> None:
    from langchain_core.tools import tool

    @tool
    def capital(country: str) -> str:
        """Name the capital city of a country.

        Args:
            country: the country
        """
        return "Paris"

    capital.metadata = {
        "examples": [
            {"question": "Capital of Peru?", "input": {"country": "Peru"}, "observation": "Lima"},
            {"question": "Capital of Chad?", "input": {"country": "Chad"},
             "observation": "N'Djamena", "answer": "N'Djamena", "thought": "Look it up"},
        ]
    }  # fmt: skip
    registry.register(capital, plugin="test")
    agent, model = make(
        config, registry, [react("x", "capital", '{"country": "France"}'), final("Paris")],
        tools=["capital"],
    )  # fmt: skip
    assert agent.invoke("Capital of France?")["answer"] == "Paris"
    system = model.calls[0]["messages"][0].content
    assert 'Action Input: {"country": "Peru"}' in system and "Observation: Lima" in system
    assert "Thought: Look it up" in system and "Final Answer: N'Djamena" in system


def _first_and_second_grammar(act_first: bool) -> tuple[str, str]:
    """The grammars of a grammar-constrained run's first step and of the step after a tool."""
    from tests.helpers import drive_loop, echo
    from tooldeck.agents.core import Limits
    from tooldeck.agents.react import react_loop

    gen = react_loop("say hi", [echo], Limits(max_steps=3), use_grammar=True, act_first=act_first)
    _, calls = drive_loop(gen, [react("hi", "echo", '{"text": "hi"}'), final("hi")])
    return calls[0].options["grammar"], calls[1].options["grammar"]


def test_act_first_refuses_a_final_answer_until_a_tool_has_run() -> None:
    from tooldeck.testing import grammar_accepts

    first, second = _first_and_second_grammar(act_first=True)
    assert not grammar_accepts(first, final("hello"))
    assert grammar_accepts(first, react("I need it", "echo", '{"text": "hi"}'))
    assert grammar_accepts(second, final("hello"))


def test_without_act_first_a_final_answer_may_come_first() -> None:
    from tooldeck.testing import grammar_accepts

    first, _ = _first_and_second_grammar(act_first=False)
    assert grammar_accepts(first, final("hello"))
    assert grammar_accepts(first, react("I need it", "echo", '{"text": "hi"}'))


def test_act_first_without_tools_answers() -> None:
    from tests.helpers import drive_loop
    from tooldeck.agents.core import Limits
    from tooldeck.agents.react import react_loop
    from tooldeck.testing import grammar_accepts

    gen = react_loop("hi", [], Limits(max_steps=2), use_grammar=True, act_first=True)
    result, calls = drive_loop(gen, [final("hello")])
    assert grammar_accepts(calls[0].options["grammar"], final("hello"))
    assert result.answer == "hello"


def test_pipeline_acts_first_only_with_automatic_min_score(config: Any, registry: Any) -> None:
    from tooldeck.pipeline import build as build_module

    seen: list[tuple[float | None, bool]] = []
    original = build_module._react

    def spy(*args: Any) -> Any:
        seen.append((args[2], args[6]))
        return original(*args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(build_module, "_react", spy)
        patch.setattr(build_module, "wants_grammar", lambda *_: True)
        for min_score in (None, -1.0):
            agent, _ = make(config, registry, [final("x")], tool_min_score=min_score)
            agent.invoke("what is 2 + 2?")
    assert seen == [(0.0, True), (-1.0, False)]
