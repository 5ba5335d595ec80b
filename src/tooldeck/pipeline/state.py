"""The turn state every pipeline stage reads and returns, and the custom event names.

A stage is a ``Runnable[TurnState, TurnState]`` that returns a new state (``replace``), never
mutating the one it got: tracers keep references to each stage's input.

Events the pipeline dispatches while it runs (``dispatch_custom_event``; in
``astream_events(version="v2")`` they are ``on_custom_event`` with this ``name``, and a callback
handler gets them in ``on_custom_event``):

    ``tooldeck.token``  ``{"text": str}``: model output as it is decoded (stream / astream)
    ``tooldeck.step``   ``{"thought", "tool", "tool_input", "observation"}``: a finished step
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage

__all__ = ["OUTPUT_KEYS", "STEP_EVENT", "TOKEN_EVENT", "TurnState"]

TOKEN_EVENT = "tooldeck.token"  # noqa: S105 - an event name, not a secret
STEP_EVENT = "tooldeck.step"
OUTPUT_KEYS = ("answer", "steps", "stopped_by", "model", "elapsed_s")


@dataclass
class TurnState:
    """One turn as it passes through the stages.

    Attributes:
        question: The checked question.
        history: Earlier messages the prompt shows, oldest first (given, then loaded).
        session_id: ``config["configurable"]["session_id"]``; None means no memory I/O.
        turn_id: Names this turn in the memory (a retried save never duplicates it).
        started: ``time.monotonic()`` when the input stage ran.
        answered: A stage before the loop answered already (cache hit, guard refusal): the
            loop stage passes such a state through untouched.
        answer: The final answer (or the message of the limit that stopped the run).
        steps: The steps, as ``Step.to_dict()``.
        stopped_by: The limit that stopped the run, or None.
        model: The model's label.
        elapsed_s: Seconds the whole turn took (set by the output stage).
        flags: What stages decided, for later stages and the output (``cache_hit``,
            guard decisions, ``memory_loaded``, ...).
        output: The result dict the pipeline returns (set by the output stage).
    """

    question: str
    history: list[BaseMessage] = field(default_factory=list)
    session_id: str | None = None
    turn_id: str = ""
    started: float = 0.0
    answered: bool = False
    answer: str = ""
    steps: list[dict[str, Any]] = field(default_factory=list)
    stopped_by: str | None = None
    model: str = ""
    elapsed_s: float = 0.0
    flags: dict[str, Any] = field(default_factory=dict)
    output: dict[str, Any] | None = None
