"""Self-ask with search: follow-up questions answered by one search tool, then the answer."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tooldeck.agents.core import (
    AgentResult,
    Deadline,
    Limits,
    LoopGen,
    ModelCall,
    RepeatTracker,
    Step,
    ToolCall,
    close_run,
    single_arg_input,
)
from tooldeck.agents.grammar import GRAMMAR_MAX_TOKENS, self_ask_grammar
from tooldeck.prompts import load_template, render

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage
    from langchain_core.tools import BaseTool

    from tooldeck.tools.runner import Observation

__all__ = ["STOP_SEQUENCES", "parse_self_ask", "self_ask_loop"]

STOP_SEQUENCES = ["\nIntermediate answer:", "Intermediate answer:"]
_FINAL = re.compile(r"So the final answer is\s*:\s*(.*)", re.S | re.I)
_FOLLOW = re.compile(r"Follow up\s*:\s*(.*)", re.I)


def parse_self_ask(text: str) -> tuple[str, str] | None:
    """Return ``("final", answer)`` or ``("follow_up", question)``, or None if malformed."""
    final = _FINAL.search(text)
    follow = _FOLLOW.search(text)
    if final and (not follow or final.start() < follow.start()):
        answer = final.group(1).strip().splitlines()[0].strip() if final.group(1).strip() else ""
        return ("final", answer) if answer else None
    if follow and follow.group(1).strip():
        return ("follow_up", follow.group(1).strip())
    return None


def self_ask_loop(
    question: str,
    search: BaseTool,
    limits: Limits,
    *,
    use_grammar: bool,
    history: Sequence[BaseMessage] = (),
) -> LoopGen:
    """The self-ask loop as a request/reply generator (see ``agents.core``).

    Args:
        question: The user's question.
        search: The tool that answers follow-up questions.
        limits: Step, time and repetition bounds.
        use_grammar: Constrain decoding with the self-ask grammar (llama.cpp models).
        history: Earlier conversation turns placed before the question.

    Returns:
        A generator whose return value is the :class:`AgentResult`.
    """
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

    tpl = load_template("self_ask")
    messages: list[BaseMessage] = [SystemMessage(tpl["system"]), *history]
    messages.append(HumanMessage(render(tpl["question"], question=question)))
    options: dict[str, Any] = {"stop": STOP_SEQUENCES}
    if use_grammar:
        options = {"grammar": self_ask_grammar(), "max_tokens": GRAMMAR_MAX_TOKENS}
    deadline, repeats = Deadline(limits.max_seconds), RepeatTracker()
    steps: list[Step] = []
    result = AgentResult(answer="", steps=steps)
    for _ in range(limits.max_steps):
        if deadline.expired():
            result.stopped_by = "max_seconds"
            break
        text: str = yield ModelCall(list(messages), options)
        messages.append(AIMessage(text.strip()))
        parsed = parse_self_ask(text)
        if parsed is None:
            feedback = render(tpl["malformed"], problem="no 'Follow up:' or final answer line")
            step = Step(text.strip()[:200], None, None, feedback, error=True)
        elif parsed[0] == "final":
            result.answer = parsed[1]
            break
        else:
            tool_input = single_arg_input(search, parsed[1])
            if repeats.count(search.name, tool_input) > limits.max_repeats:
                result.stopped_by = "repeated_action"
                break
            timeout = min(limits.tool_timeout_s, max(deadline.remaining(), 0.01))
            obs: Observation = yield ToolCall(search, tool_input, timeout)
            step = Step(parsed[1], search.name, tool_input, obs.text, error=obs.error)
        steps.append(step)
        yield step
        template = tpl["intermediate"] if step.tool else "{answer}"
        messages.append(HumanMessage(render(template, answer=step.observation)))
    else:
        result.stopped_by = "max_steps"
    return close_run(result, limits, deadline)
