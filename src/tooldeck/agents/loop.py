"""The one bounded loop of the text-protocol agents (ReAct, self-ask); it owns their policy.

Every text loop runs :func:`run_loop` and supplies only what differs, as a
:class:`TextProtocol`: the opening messages, how a reply is read (an :class:`Act`, an
:class:`Answer` or a :class:`Malformed` step), the model call options for a normal step and
for a step that must be the final answer, and how an observation is written back. The policy
is the same for every loop:

* at most ``max_steps`` model calls, the last one allowed only to answer; then ``max_steps``;
* past ``max_seconds`` of wall time, no new step starts: ``max_seconds``;
* a repeated action (same tool, same input) is not run again: its observation is the earlier
  result (:func:`~tooldeck.agents.core.repeat_message`) and every later step may only
  answer; more than ``max_repeats`` requests of one action stop the run: ``repeated_action``;
* a malformed reply becomes an observation saying what was wrong (it counts as a step, so
  malformed replies are bounded by ``max_steps`` too).

The native tool-calling agent applies the same rules in its middleware
(:mod:`tooldeck.agents.tool_calling`).
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

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
    repeat_message,
)
from tooldeck.agents.grammar import SeenUrls

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage
    from langchain_core.tools import BaseTool

    from tooldeck.tools.runner import Observation

__all__ = ["Act", "Answer", "Malformed", "Reading", "TextProtocol", "prompt_id", "run_loop"]


@dataclass(frozen=True)
class Act:
    """The reply asks for a tool (already resolved among the offered ones)."""

    thought: str
    tool: BaseTool
    tool_input: str | dict[str, Any]


@dataclass(frozen=True)
class Answer:
    """The reply is the final answer."""

    thought: str
    answer: str


@dataclass(frozen=True)
class Malformed:
    """The reply is not a usable step; ``feedback`` tells the model what was wrong."""

    thought: str
    feedback: str
    tool: str | None = None
    tool_input: Any = None


Reading = Act | Answer | Malformed


class TextProtocol(Protocol):
    """What one text loop supplies to :func:`run_loop`."""

    prompt: str | None
    """The template's name (``name@version``) for :attr:`ModelCall.prompt`."""

    def opening(self) -> list[BaseMessage]:
        """The messages before the first step (system prompt, history, question)."""
        ...

    def read(self, text: str) -> Reading:
        """Read one model reply."""
        ...

    def options(self, *, must_answer: bool, urls: Sequence[str]) -> dict[str, Any]:
        """Model call options for the next step (``must_answer``: only an answer allowed).

        ``urls`` are the URLs seen so far (question and observations), for grammars that
        narrow URL arguments to them.
        """
        ...

    def observe(self, step: Step) -> BaseMessage:
        """The message that gives a step's observation back to the model."""
        ...


def prompt_id(name: str, template: Mapping[str, Any]) -> str:
    """A template's name for traces: ``name@version`` when the template has a version."""
    version = template.get("version")
    return f"{name}@{version}" if version is not None else name


def _act(
    act: Act, repeats: RepeatTracker, limits: Limits, deadline: Deadline
) -> Generator[ToolCall, Any, tuple[Step, bool] | None]:
    """Run an action under the repeat policy: (step, was it a repeat), or None to stop."""
    name = act.tool.name
    seen = repeats.count(name, act.tool_input)
    if seen > limits.max_repeats:
        return None
    if seen > 1:
        feedback = repeat_message(name, repeats.previous(name, act.tool_input))
        return Step(act.thought, name, act.tool_input, feedback, error=True), True
    timeout = min(limits.tool_timeout_s, max(deadline.remaining(), 0.01))
    obs: Observation = yield ToolCall(act.tool, act.tool_input, timeout)
    repeats.remember(name, act.tool_input, obs.text)
    return Step(act.thought, name, act.tool_input, obs.text, error=obs.error), False


def run_loop(protocol: TextProtocol, question: str, limits: Limits) -> LoopGen:
    """The bounded loop as a request/reply generator (see ``agents.core``).

    Args:
        protocol: What the loop supplies (messages, reading, options, write-back).
        question: The user's question (its URLs are the first a URL argument may take).
        limits: Step, time and repetition bounds.

    Returns:
        A generator whose return value is the :class:`AgentResult`.
    """
    from langchain_core.messages import AIMessage

    messages = protocol.opening()
    deadline, repeats, urls = Deadline(limits.max_seconds), RepeatTracker(), SeenUrls(question)
    result = AgentResult(answer="")
    must_answer = False
    for index in range(limits.max_steps):
        if deadline.expired():
            result.stopped_by = "max_seconds"
            break
        last = must_answer or index == limits.max_steps - 1
        options = protocol.options(must_answer=last, urls=urls.urls)
        text: str = yield ModelCall(list(messages), options, prompt=protocol.prompt)
        messages.append(AIMessage(text.strip()))
        reading = protocol.read(text)
        if isinstance(reading, Answer):
            result.answer = reading.answer
            break
        if isinstance(reading, Malformed):
            step = Step(reading.thought, reading.tool, reading.tool_input, reading.feedback, True)
        else:
            outcome = yield from _act(reading, repeats, limits, deadline)
            if outcome is None:
                result.stopped_by = "repeated_action"
                break
            step, repeated = outcome
            must_answer = must_answer or repeated
            urls.add(step.observation)
        result.steps.append(step)
        yield step
        messages.append(protocol.observe(step))
    else:
        result.stopped_by = "max_steps"
    return close_run(result, limits, deadline)
