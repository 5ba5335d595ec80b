"""Per-step overhead of agent loops, and the pipeline's per-turn cost over the bare loop.

Table 1 compares tooldeck's ReAct and tool-calling agents with LangChain's ``create_agent``
and langchain-classic's ``AgentExecutor`` + ``create_react_agent``. Each run takes STEPS tool
steps and then a final answer; the table shows microseconds per step (best of REPEATS) and
the ratio to ``create_agent``.

Table 2 runs TURNS one-call turns (a scripted instant model that answers at once) through the
bare ReAct loop (``TextAgent.invoke``, the baseline, measured in the same run) and through the
whole pipeline ``build_agent`` returns (input -> memory_load -> agent -> output ->
memory_save): without a session (no memory I/O), and with a SQLite session that holds 1,000
messages before the first turn. Per-turn overhead = pipeline minus bare loop.

    python bench/agent_overhead.py [--steps 200] [--repeats 3] [--turns 300]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from langchain_core.messages import AIMessage
from langchain_core.tools import tool

from tooldeck.agents.core import Limits
from tooldeck.agents.react import react_loop
from tooldeck.agents.runnable import TextAgent
from tooldeck.agents.tool_calling import ToolCallingAgent
from tooldeck.testing import ScriptedChatModel


@tool
def noop(x: str) -> str:
    """Return the input unchanged.

    Args:
        x: any text
    """
    return x


def react_script(steps: int) -> list[Any]:
    actions = [f'Thought: go\nAction: noop\nAction Input: {{"x": "{i}"}}' for i in range(steps)]
    return [*actions, "Thought: done\nFinal Answer: ok"]


def classic_script(steps: int) -> list[Any]:
    actions = [f"Thought: go\nAction: noop\nAction Input: {i}" for i in range(steps)]
    return [*actions, "Thought: done\nFinal Answer: ok"]


def call_script(steps: int) -> list[Any]:
    calls = [
        AIMessage("", tool_calls=[{"name": "noop", "args": {"x": str(i)}, "id": f"c{i}"}])
        for i in range(steps)
    ]
    return [*calls, AIMessage("ok")]


def limits(steps: int) -> Limits:
    return Limits(max_steps=steps + 1, max_seconds=3600, max_repeats=steps, tool_timeout_s=60)


def ours_react(steps: int) -> Callable[[], Any]:
    model = ScriptedChatModel(responses=react_script(steps))
    agent = TextAgent(
        model,
        lambda q, h: react_loop(q, [noop], limits(steps), use_grammar=False, history=h),
        model_label="scripted",
        limits=limits(steps),
        max_question_chars=1000,
    )
    return lambda: agent.invoke("go")


def ours_tool_calling(steps: int) -> Callable[[], Any]:
    model = ScriptedChatModel(responses=call_script(steps))
    agent = ToolCallingAgent(
        model,
        [noop],
        model_label="scripted",
        limits=limits(steps),
        max_question_chars=1000,
        tool_top_k=5,
    )
    return lambda: agent.invoke("go")


def lc_create_agent(steps: int) -> Callable[[], Any]:
    from langchain.agents import create_agent

    model = ScriptedChatModel(responses=call_script(steps))
    graph = create_agent(model, [noop])
    config: Any = {"recursion_limit": 4 * steps + 10}
    return lambda: graph.invoke({"messages": [("user", "go")]}, config)


def classic_executor(steps: int) -> Callable[[], Any]:
    from langchain_classic.agents import AgentExecutor, create_react_agent
    from langchain_core.prompts import PromptTemplate

    prompt = PromptTemplate.from_template(
        "Tools:\n{tools}\nUse one of [{tool_names}].\nQuestion: {input}\n{agent_scratchpad}"
    )
    model = ScriptedChatModel(responses=classic_script(steps))
    agent = create_react_agent(model, [noop], prompt)
    executor = AgentExecutor(agent=agent, tools=[noop], max_iterations=steps + 2)
    return lambda: executor.invoke({"input": "go"})


def bare_cost(steps: int, repeats: int) -> float:
    """µs per step of what every loop must pay: one model call and one tool call.

    The model sees a history growing by two messages a step, as in the loops.
    """
    from langchain_core.messages import HumanMessage

    best = float("inf")
    for _ in range(repeats):
        model = ScriptedChatModel(responses=["x"], repeat_last=True)
        history: list[Any] = [HumanMessage("go")]
        start = time.perf_counter()
        for i in range(steps):
            model.invoke(history)
            noop.invoke({"x": str(i)})
            history += [AIMessage("a"), HumanMessage("o")]
        best = min(best, time.perf_counter() - start)
    return best / steps * 1e6


def measure(factory: Callable[[int], Callable[[], Any]], steps: int, repeats: int) -> float:
    factory(5)()  # warm up imports and caches
    best = float("inf")
    for _ in range(repeats):
        run = factory(steps)
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best / steps * 1e6


def _pipeline(data_dir: str) -> Any:
    """The whole pipeline over an instant scripted model, with only the noop tool."""
    from tooldeck.config import load_config
    from tooldeck.pipeline import build_agent

    config = load_config(None, {"data_dir": data_dir}, environ={}, read_dotenv=False)
    model = ScriptedChatModel(responses=["Thought: done\nFinal Answer: ok"], repeat_last=True)
    return build_agent(config, model=model, tools=[noop])


def _per_turn(run: Callable[[int], Any], turns: int, repeats: int) -> float:
    """µs per turn of ``run(i)`` over ``turns`` turns, best of ``repeats``."""
    for i in range(20):
        run(i)  # warm up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(turns):
            run(i)
        best = min(best, time.perf_counter() - start)
    return best / turns * 1e6


def pipeline_rows(turns: int, repeats: int) -> list[tuple[str, float]]:
    """(label, µs per turn): the bare loop, the pipeline, the pipeline with a session."""
    import tempfile

    from langchain_core.messages import AIMessage, HumanMessage

    with tempfile.TemporaryDirectory() as data_dir:
        agent = _pipeline(data_dir)
        bare = agent.loop_agent
        history = []
        for i in range(500):
            history += [HumanMessage(f"question {i}"), AIMessage(f"answer {i}")]
        agent.memory.get().store.add_messages("bench", history)
        session: Any = {"configurable": {"session_id": "bench"}}
        memory = agent.memory.get()
        runs: list[tuple[str, Callable[[int], Any]]] = [
            ("bare ReAct loop (TextAgent.invoke)", lambda i: bare.invoke("go")),
            ("pipeline, no session (no memory I/O)", lambda i: agent.invoke("go")),
            ("pipeline, SQLite session of 1,000+ messages", lambda i: agent.invoke("go", session)),
            ("  of which ConversationMemory.load alone",
             lambda i: memory.load("bench", "go", 1024)),
            ("  of which ConversationMemory.save alone",
             lambda i: memory.save("bench-2", f"t{time.perf_counter_ns()}", "go", "ok")),
        ]
        return [(name, _per_turn(run, turns, repeats)) for name, run in runs]


def print_pipeline_table(turns: int, repeats: int) -> None:
    """Table 2: the pipeline's per-turn cost over the bare loop."""
    rows = pipeline_rows(turns, repeats)
    base = rows[0][1]
    print(f"\n{turns} one-call turns, best of {repeats}, instant ScriptedChatModel")
    print(f"| {'run':<44} | {'µs/turn':>8} | {'÷ bare':>6} | {'overhead ms':>11} |")
    print(f"|{'-' * 46}|{'-' * 10}|{'-' * 8}|{'-' * 13}|")
    for name, micros in rows:
        if name.startswith("  "):  # a part of the session run, not a run over the bare loop
            print(f"| {name:<44} | {micros:>8.0f} | {'':>6} | {micros / 1000:>11.2f} |")
            continue
        print(f"| {name:<44} | {micros:>8.0f} | {micros / base:>6.2f} | "
              f"{(micros - base) / 1000:>11.2f} |")
    print("\ntargets: overhead under 2 ms per turn without memory I/O, under 5 ms with the session")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--turns", type=int, default=300)
    parser.add_argument("--pipeline-only", action="store_true", help="only table 2")
    args = parser.parse_args()
    if args.pipeline_only:
        print_pipeline_table(args.turns, args.repeats)
        return
    rows = [
        ("tooldeck react (TextAgent)", ours_react),
        ("tooldeck tool-calling (create_agent + guard)", ours_tool_calling),
        ("langchain create_agent", lc_create_agent),
        ("langchain-classic AgentExecutor + create_react_agent", classic_executor),
    ]
    results = [(name, measure(f, args.steps, args.repeats)) for name, f in rows]
    floor = bare_cost(args.steps, args.repeats)
    base = dict(results)["langchain create_agent"]
    print(f"{args.steps} steps, best of {args.repeats}, same ScriptedChatModel and trivial tool")
    print(f"bare model.invoke + tool.invoke per step (paid by every loop): {floor:.0f} µs\n")
    head = f"| {'agent loop':<52} | {'µs/step':>8} | {'÷':>5} | {'overhead µs':>11} | {'÷':>5} |"
    print(head)
    print(f"|{'-' * 54}|{'-' * 10}|{'-' * 7}|{'-' * 13}|{'-' * 7}|")
    for name, micros in results:
        over = micros - floor
        print(
            f"| {name:<52} | {micros:>8.0f} | {micros / base:>5.2f} | {over:>11.0f} "
            f"| {over / (base - floor):>5.2f} |"
        )
    print("\n÷: ratio to langchain create_agent; overhead = µs/step minus the bare calls")
    print_pipeline_table(args.turns, args.repeats)


if __name__ == "__main__":
    main()
