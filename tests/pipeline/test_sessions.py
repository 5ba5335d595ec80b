"""Sessions: configurable.session_id, run --session, /v1/run's session_id; isolation, budget."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.runnables import RunnableConfig

from tests.helpers import final
from tooldeck.errors import InputError
from tooldeck.pipeline import build_agent
from tooldeck.pipeline.memory import approx_tokens, history_budget
from tooldeck.testing import ScriptedChatModel


def session(name: str) -> RunnableConfig:
    return {"configurable": {"session_id": name}}


def texts(call: dict[str, Any]) -> str:
    return "\n".join(m.text for m in call["messages"])


def make(config: Any, replies: list[str]) -> tuple[Any, ScriptedChatModel]:
    model = ScriptedChatModel(responses=[final(r) for r in replies])
    return build_agent(config, model=model), model


def test_a_session_remembers_its_turns_and_sees_no_other(config: Any) -> None:
    agent, model = make(config, ["Hi Bob", "Hi Ann", "You are Bob", "You are Ann"])
    agent.invoke("My name is Bob", session("bob"))
    agent.invoke("My name is Ann", session("ann"))
    agent.invoke("Who am I?", session("bob"))
    agent.invoke("Who am I?", session("ann"))
    bob, ann = texts(model.calls[2]), texts(model.calls[3])
    assert "My name is Bob" in bob and "Hi Bob" in bob
    assert "Ann" not in bob
    assert "My name is Ann" in ann and "Hi Ann" in ann
    assert "Bob" not in ann


def test_async_turns_use_the_session_too(config: Any) -> None:
    import asyncio

    agent, model = make(config, ["noted", "blue"])

    async def run() -> None:
        await agent.ainvoke("My colour is blue", session("c"))
        async for _ in agent.astream("What is my colour?", session("c")):
            pass

    asyncio.run(run())
    assert "My colour is blue" in texts(model.calls[1])


def test_no_session_means_no_memory_io(config: Any, monkeypatch: Any) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the memory was opened without a session")

    monkeypatch.setattr("tooldeck.memory.conversation.open_memory", refuse)
    agent, model = make(config, ["one", "two"])
    agent.invoke("first")
    agent.invoke("second")
    assert not agent.memory.opened
    assert "first" not in texts(model.calls[1])


def test_a_limit_stopped_turn_is_not_kept(config: Any) -> None:
    config.agent.max_steps = 1
    model = ScriptedChatModel(responses=["rambling"], repeat_last=True)
    agent = build_agent(config, model=model)
    assert agent.invoke("loop", session("s"))["stopped_by"] == "max_steps"
    assert agent.memory.get().load("s", "", 10_000) == []


@pytest.mark.parametrize("name", ["a/b", "..", "x\x00y"])
def test_bad_session_names_are_refused(config: Any, name: str) -> None:
    agent, model = make(config, ["x"])
    with pytest.raises(InputError):
        agent.invoke("hi", session(name))
    assert model.calls == []


def test_history_budget_follows_the_model_context(config: Any) -> None:
    unknown = ScriptedChatModel(responses=[])  # no n_ctx: a 4096-token context is assumed
    assert history_budget(config, unknown, "q") == 4096 // 4

    class Tiny:
        n_ctx = 1500
        max_tokens = 256

    assert history_budget(config, Tiny(), "q") == 0  # 1500 - 256 - prompt - observation < 0
    config.memory.max_history_tokens = 77
    assert history_budget(config, Tiny(), "q") == 77


def test_long_sessions_stay_within_the_budget(config: Any) -> None:
    config.memory.max_history_tokens = 300
    config.memory.window_turns = 1000
    agent, model = make(config, ["ok"])
    store = agent.memory.get().store
    turns = []
    for i in range(500):
        turns += [HumanMessage(f"question {i} " + "x" * 40), AIMessage(f"answer {i} " + "y" * 40)]
    store.add_messages("long", turns)
    agent.invoke("and now?", session("long"))
    history = model.calls[0]["messages"][1:-1]
    used = sum(approx_tokens(m.text) for m in history if "and now?" not in m.text)
    assert 0 < used <= 300
    assert "answer 499" in texts(model.calls[0])  # the most recent turns are the ones kept


def test_run_endpoint_takes_a_session_id(config: Any, monkeypatch: Any) -> None:
    from fastapi.testclient import TestClient

    from tooldeck.server.app import create_app

    model = ScriptedChatModel(responses=[final("noted"), final("Bob"), final("who?")])
    monkeypatch.setattr("tooldeck.pipeline.build_agent",
                        lambda cfg: build_agent(cfg, model=model))
    client = TestClient(create_app(config, use_llm=False), base_url="http://localhost")
    first = client.post("/v1/run", json={"question": "My name is Bob", "session_id": "web-1"})
    assert first.status_code == 200 and first.json()["answer"] == "noted"
    second = client.post("/v1/run", json={"question": "Who am I?", "session_id": "web-1"})
    assert second.json()["answer"] == "Bob" and "My name is Bob" in texts(model.calls[1])
    other = client.post("/v1/run", json={"question": "Who am I?"})
    assert other.status_code == 200 and "Bob" not in texts(model.calls[2])
    bad = client.post("/v1/run", json={"question": "hi", "session_id": "../etc"})
    assert bad.status_code == 400 and bad.json()["error"] == "InputError"


def test_cli_run_session_remembers_the_previous_turn(
    tmp_path: Path, monkeypatch: Any, capsys: Any
) -> None:
    from tooldeck.cli import main

    model = ScriptedChatModel(responses=[final("Hi Bob"), final("You are Bob"), final("?")])
    monkeypatch.setattr("tooldeck.models.get_chat_model", lambda *a, **k: model)
    monkeypatch.setenv("TOOLDECK_DATA_DIR", str(tmp_path))
    assert main(["run", "--session", "me", "My name is Bob"]) == 0
    assert main(["run", "--json", "--session", "me", "Who am I?"]) == 0
    out = capsys.readouterr().out
    assert "Hi Bob" in out and json.loads(out.splitlines()[-1])["answer"] == "You are Bob"
    assert "My name is Bob" in texts(model.calls[1]) and "Hi Bob" in texts(model.calls[1])
    assert main(["run", "Who am I?"]) == 0  # no session: nothing remembered
    assert "My name is Bob" not in texts(model.calls[2])


def test_run_endpoint_streams_events_as_ndjson(config: Any, monkeypatch: Any) -> None:
    from fastapi.testclient import TestClient

    from tests.helpers import react
    from tooldeck.server.app import create_app

    config.tools = ["calculator"]
    script = [react("add", "calculator", '{"expression": "2+2"}'), final("4")]
    model = ScriptedChatModel(responses=script)
    monkeypatch.setattr("tooldeck.pipeline.build_agent",
                        lambda cfg: build_agent(cfg, model=model))
    client = TestClient(create_app(config, use_llm=False), base_url="http://localhost")
    reply = client.post("/v1/run", json={"question": "2+2?", "stream": True, "session_id": "n"})
    assert reply.status_code == 200 and reply.headers["content-type"] == "application/x-ndjson"
    events = [json.loads(line) for line in reply.text.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[-1] == "final" and kinds.count("step") == 1 and "token" in kinds
    assert events[-1]["result"]["answer"] == "4"
    assert events[kinds.index("step")]["step"]["observation"] == "4"
    tokens = "".join(e["text"] for e in events if e["event"] == "token")
    assert "Action: calculator" in tokens
    empty = client.post("/v1/run", json={"question": " ", "stream": True})
    assert empty.status_code == 400 and empty.json()["error"] == "InputError"


def test_a_run_failing_after_it_started_ends_with_an_error_line(
    config: Any, monkeypatch: Any
) -> None:
    from fastapi.testclient import TestClient

    from tests.helpers import react
    from tooldeck.server.app import create_app

    config.tools = ["calculator"]
    script = [react("add", "calculator", '{"expression": "2+2"}'), RuntimeError("fell over")]
    model = ScriptedChatModel(responses=script)
    monkeypatch.setattr("tooldeck.pipeline.build_agent",
                        lambda cfg: build_agent(cfg, model=model))
    client = TestClient(create_app(config, use_llm=False), base_url="http://localhost")
    reply = client.post("/v1/run", json={"question": "2+2?", "stream": True})
    events = [json.loads(line) for line in reply.text.splitlines()]
    assert reply.status_code == 200 and events[-1]["event"] == "error"
    assert events[-1]["error"] == "ModelError" and "fell over" in events[-1]["message"]
    assert "step" in [e["event"] for e in events]


def test_history_given_with_the_input_is_kept_within_the_budget(config: Any) -> None:
    config.memory.max_history_tokens = 100
    agent, model = make(config, ["ok"])
    history: list[BaseMessage] = [HumanMessage(f"old {i} " + "z" * 120) for i in range(10)]
    history.append(AIMessage("newest"))
    agent.invoke({"input": "now?", "history": history})
    sent = texts(model.calls[0])
    assert "newest" in sent and "old 0" not in sent and "old 9" in sent
    assert not agent.memory.opened  # trimming given history needs no memory


# -- the summary kind reaches every agent type as a human/AI pair ----------------------------

SUMMARY = "The user's name is Zed and their cat is called Miso."


@pytest.mark.parametrize(
    ("agent_type", "reply"),
    [
        ("react", final("Zed")),
        ("self-ask", "So the final answer is: Zed"),
        ("tool-calling", AIMessage("Zed")),
    ],
)
def test_the_summary_reaches_the_model_call_of_each_agent(
    config: Any, agent_type: str, reply: Any
) -> None:
    from langchain_core.tools import tool

    @tool
    def search(query: str) -> str:
        """Search the web.

        Args:
            query: what to look for
        """
        return "nothing"

    config.memory = config.memory.model_copy(
        update={"kinds": ["window", "summary"], "window_turns": 1}
    )
    config.agent = config.agent.model_copy(update={"type": agent_type, "search_tool": "search"})
    model = ScriptedChatModel(responses=[reply])
    agent = build_agent(config, model=model, tools=[search])
    store = agent.memory.get().store
    store.add_messages("s", [HumanMessage("My name is Zed"), AIMessage("Hi Zed"),
                             HumanMessage("My cat is Miso"), AIMessage("Nice")])
    assert store.set_summary("s", SUMMARY, covered_seq=2)

    assert agent.invoke("Who am I?", session("s"))["answer"] == "Zed"
    messages = model.calls[0]["messages"]
    kinds = [m.type for m in messages]
    assert "system" not in kinds[1:]  # only the agent's own system message, if any
    at = next(i for i, m in enumerate(messages) if SUMMARY in m.text)
    assert messages[at].type == "human" and messages[at + 1].type == "ai"
    assert [m.text for m in messages[at + 2 :]][:2] == ["My cat is Miso", "Nice"]
    assert "Who am I?" in messages[-1].text


def test_the_summary_pair_stays_within_the_history_budget(config: Any) -> None:
    from tooldeck.memory.budget import message_cost

    config.memory = config.memory.model_copy(
        update={"kinds": ["window", "summary"], "window_turns": 2, "max_history_tokens": 100}
    )
    agent, model = make(config, ["ok"])
    store = agent.memory.get().store
    store.add_messages("s", [HumanMessage("old"), AIMessage("older"),
                             HumanMessage("recent " * 8), AIMessage("fine " * 8)])
    long_summary = " ".join(f"Fact number {i} was said." for i in range(40))
    assert store.set_summary("s", long_summary, covered_seq=2)
    agent.invoke("and now?", session("s"))
    history = model.calls[0]["messages"][1:-1]
    assert any(m.additional_kwargs.get("memory") == "summary" for m in history), history
    assert sum(message_cost(m, approx_tokens) for m in history) <= 100
    assert "recent recent" in history[-2].text and "Fact number 0 was said." in history[0].text
