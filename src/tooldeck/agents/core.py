"""The shared step/limit core of every agent loop.

A loop is written once, as a generator that yields requests (:class:`ModelCall`,
:class:`ToolCall`) and events (:class:`Step`) and receives the answers to requests through
``send``. The sync and async drivers in ``runnable.py`` fulfil the requests; the loop itself
does no I/O, so it is shared by ``invoke``, ``stream``, ``ainvoke`` and ``astream``.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage
    from langchain_core.tools import BaseTool

__all__ = [
    "AgentResult",
    "Deadline",
    "Limits",
    "LoopGen",
    "ModelCall",
    "RepeatTracker",
    "Step",
    "StopReason",
    "ToolCall",
    "close_run",
    "limit_message",
    "repeat_message",
    "single_arg_input",
]

StopReason = Literal["max_steps", "max_seconds", "repeated_action"]


@dataclass
class Step:
    """One Thought / Action / Observation round (or a malformed output and its feedback)."""

    thought: str
    tool: str | None
    tool_input: Any
    observation: str
    error: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The step as JSON-ready data (``thought, tool, tool_input, observation``)."""
        return {
            "thought": self.thought,
            "tool": self.tool,
            "tool_input": self.tool_input,
            "observation": self.observation,
        }


@dataclass
class AgentResult:
    """What a run produced."""

    answer: str
    steps: list[Step] = field(default_factory=list)
    stopped_by: StopReason | None = None
    model: str = ""
    elapsed_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """The result in the CLI's ``--json`` shape."""
        return {
            "answer": self.answer,
            "steps": [s.to_dict() for s in self.steps],
            "stopped_by": self.stopped_by,
            "model": self.model,
            "elapsed_s": round(self.elapsed_s, 3),
        }


@dataclass(frozen=True)
class Limits:
    """Bounds on one run."""

    max_steps: int = 8
    max_seconds: float = 120.0
    max_repeats: int = 2
    tool_timeout_s: float = 30.0
    max_observation_chars: int = 4000


@dataclass
class ModelCall:
    """Request: call the model with these messages and call options (stop, grammar).

    ``prompt`` names the template the messages were built from (``name`` or
    ``name@version``), for traces; drivers may ignore it.
    """

    messages: list[BaseMessage]
    options: dict[str, Any] = field(default_factory=dict)
    prompt: str | None = None


@dataclass
class ToolCall:
    """Request: run this tool with this input (the reply is an ``Observation``)."""

    tool: BaseTool
    tool_input: str | dict[str, Any]
    timeout_s: float


LoopGen = Generator["ModelCall | ToolCall | Step", Any, AgentResult]


class RepeatTracker:
    """Counts identical (tool, input) actions within a run."""

    def __init__(self) -> None:
        """Start with no actions seen."""
        self._seen: Counter[str] = Counter()
        self._last_observation: dict[str, str] = {}

    @staticmethod
    def _key(tool: str, tool_input: Any) -> str:
        return tool + "\x00" + json.dumps(tool_input, sort_keys=True, default=str)

    def count(self, tool: str, tool_input: Any) -> int:
        """Record one more request of this action and return how often it was requested."""
        key = self._key(tool, tool_input)
        self._seen[key] += 1
        return self._seen[key]

    def remember(self, tool: str, tool_input: Any, observation: str) -> None:
        """Keep the observation the action produced."""
        self._last_observation[self._key(tool, tool_input)] = observation

    def previous(self, tool: str, tool_input: Any) -> str:
        """The observation the action produced before ('' if none)."""
        return self._last_observation.get(self._key(tool, tool_input), "")


class Deadline:
    """Wall-clock budget of a run."""

    def __init__(self, seconds: float) -> None:
        """Start the clock."""
        self.start = time.monotonic()
        self.seconds = seconds

    def elapsed(self) -> float:
        """Seconds since the start."""
        return time.monotonic() - self.start

    def remaining(self) -> float:
        """Seconds left (never below zero)."""
        return max(0.0, self.seconds - self.elapsed())

    def expired(self) -> bool:
        """Whether the budget is spent."""
        return self.elapsed() >= self.seconds


def limit_message(reason: StopReason, limits: Limits, steps: list[Step]) -> str:
    """The final message of a run that a limit stopped."""
    what = {
        "max_steps": f"the step limit ({limits.max_steps} steps, agent.max_steps)",
        "max_seconds": f"the time limit ({limits.max_seconds:g} s, agent.max_seconds)",
        "repeated_action": (
            f"a repeated action (the same tool and input more than {limits.max_repeats} times, "
            "agent.max_repeats)"
        ),
    }[reason]
    text = f"Stopped without a final answer: the agent reached {what}."
    last = next((s for s in reversed(steps) if s.tool and not s.error), None)
    if last is not None:
        text += f" Last observation from {last.tool}: {last.observation[:500]}"
    return text


def repeat_message(tool: str, previous: str) -> str:
    """The observation of a repeated action: the result it gave before; answer next.

    Every loop (ReAct, self-ask, tool calling) answers a repeated action with this text
    (``texts.repeated`` of the ``react`` template) instead of running the tool again, and its
    next model call may only answer.
    """
    from tooldeck.prompts import load_template, render

    return render(load_template("react")["repeated"], tool=tool, observation=previous)


def close_run(result: AgentResult, limits: Limits, deadline: Deadline) -> AgentResult:
    """Finish a run: a limit-stopped run gets the limit message as its answer; set the time."""
    if result.stopped_by:
        result.answer = limit_message(result.stopped_by, limits, result.steps)
    result.elapsed_s = deadline.elapsed()
    return result


def single_arg_input(tool: BaseTool, value: Any) -> str | dict[str, Any]:
    """Fit a bare value to a tool's arguments: a dict passes, a scalar fills the one argument."""
    if isinstance(value, dict):
        return value
    names = list(tool.args)
    if len(names) == 1:
        return {names[0]: value if isinstance(value, str) else json.dumps(value)}
    return value if isinstance(value, str) else json.dumps(value)
