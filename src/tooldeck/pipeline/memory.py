"""The memory stages: load the session's history before the loop, save the turn after it.

They talk to :func:`tooldeck.memory.conversation.open_memory` only (``load`` / ``save``);
the memory kinds (window, summary, vector) and compaction live behind that. A turn with no
``session_id`` does no memory I/O at all: the memory is not even opened.

The history budget is ``memory.max_history_tokens``, or, when that is unset, derived from the
model's context (``n_ctx``, 4096 when the model does not say) so that the prompt, the tools,
the question, one observation and the answer still fit: the history gets at most a quarter
of the context and never what the rest needs. Tokens are counted with the one estimator,
:func:`tooldeck.models.tokens.approx_tokens`.

The memory's running summary (a system message tagged ``additional_kwargs["memory"] ==
"summary"``) reaches the agents as a human/AI pair in its place (the same text, then
``summary_ack`` of the ``memory_summary`` template): the agents put
history after their own system message, and a second system message in the middle of a
conversation is refused by some chat templates and providers (those that require roles to
alternate, or Anthropic's API) and is seldom seen in small models' training.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar

from tooldeck.memory.budget import message_cost
from tooldeck.models.tokens import answer_tokens, approx_tokens, context_tokens
from tooldeck.pipeline.stages import Stage
from tooldeck.pipeline.state import TurnState

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import BaseMessage
    from langchain_core.runnables import RunnableConfig

    from tooldeck.config import Config
    from tooldeck.memory.conversation import ConversationMemory

__all__ = [
    "MemoryHandle",
    "MemoryLoadStage",
    "MemorySaveStage",
    "approx_tokens",
    "history_budget",
    "summary_as_turn",
]

_PROMPT_RESERVE = 1024  # system prompt, tool descriptions, few-shot examples


def history_budget(config: Config, model: BaseChatModel | Any, question: str) -> int:
    """Tokens the history may take in this turn's prompt.

    Args:
        config: ``memory.max_history_tokens`` wins when set; ``agent.max_observation_chars``
            sizes the room kept for an observation.
        model: Its ``n_ctx`` and ``max_tokens`` (the answer), when it has them.
        question: This turn's question (its tokens are reserved).

    Returns:
        A budget of zero or more tokens.
    """
    if config.memory.max_history_tokens is not None:
        return config.memory.max_history_tokens
    n_ctx = context_tokens(model)
    answer = answer_tokens(model)
    reserve = (
        _PROMPT_RESERVE
        + approx_tokens(question)
        + approx_tokens("x" * config.agent.max_observation_chars)
    )
    return max(0, min(n_ctx // 4, n_ctx - answer - reserve))


class MemoryHandle:
    """The conversation memory, opened on first use (a turn with a session), then shared."""

    def __init__(self, opener: Callable[[], ConversationMemory]) -> None:
        """Keep the opener; nothing is opened yet."""
        self._opener = opener
        self._memory: ConversationMemory | None = None
        self._lock = threading.Lock()

    @property
    def opened(self) -> bool:
        """Whether the memory was opened."""
        return self._memory is not None

    def get(self) -> ConversationMemory:
        """The memory, opened once."""
        with self._lock:
            if self._memory is None:
                self._memory = self._opener()
            return self._memory


Budget = Callable[[str], int]


class MemoryLoadStage(Stage):
    """Put the session's history (compacted by the memory to the budget) before the turn's own."""

    blocking: ClassVar[bool] = True

    def __init__(self, memory: MemoryHandle, budget: Budget) -> None:
        """Use ``memory``; ``budget(question)`` gives the tokens the history may take."""
        self.name = "memory_load"
        self.memory = memory
        self.budget = budget

    def step(
        self, state: TurnState, config: RunnableConfig, *, streaming: bool = False
    ) -> TurnState:
        """Load the history of ``state.session_id`` (no session, no I/O), within the budget.

        History given with the input counts against the same budget: when it alone is over,
        its oldest messages are dropped (whole messages, flag ``history_dropped``).
        """
        budget = self.budget(state.question)
        given, dropped = _newest_within(state.history, budget)
        flags = dict(state.flags)
        if dropped:
            flags["history_dropped"] = dropped
        if state.session_id is None:
            return replace(state, history=given, flags=flags) if dropped else state
        memory = self.memory.get()
        room = budget - sum(message_cost(m, approx_tokens) for m in given)
        if "summary" in memory.kinds:  # the summary's pair costs one short message more
            room -= message_cost(_summary_ack(), approx_tokens)
        loaded = memory.load(
            state.session_id, state.question, max(0, room), count_tokens=approx_tokens
        )
        flags["memory_loaded"] = len(loaded)
        return replace(state, history=[*summary_as_turn(loaded), *given], flags=flags)


def _summary_ack() -> BaseMessage:
    """The AI half of the summary's pair."""
    from langchain_core.messages import AIMessage

    from tooldeck.memory.summary import memory_template

    return AIMessage(memory_template()["summary_ack"], additional_kwargs={"memory": "summary"})


def summary_as_turn(history: list[BaseMessage]) -> list[BaseMessage]:
    """``history`` with the memory's summary message turned into a human/AI pair.

    The human message carries the summary message's text (``summary_message`` of the
    ``memory_summary`` template, as compacted), the AI message acknowledges it
    (``summary_ack``); both keep the ``memory == "summary"`` tag. Every other message is
    passed through unchanged.

    Args:
        history: Messages as :meth:`ConversationMemory.load` returns them.

    Returns:
        The same history with no system message of the memory's in it.
    """
    from langchain_core.messages import HumanMessage

    out: list[BaseMessage] = []
    for message in history:
        if message.type != "system" or message.additional_kwargs.get("memory") != "summary":
            out.append(message)
            continue
        human = HumanMessage(message.content, additional_kwargs={"memory": "summary"})
        out += [human, _summary_ack()]
    return out


def _newest_within(messages: list[Any], budget: int) -> tuple[list[Any], int]:
    """The newest whole messages that fit ``budget`` tokens, and how many were dropped."""
    used = 0
    keep = len(messages)
    for i in range(len(messages) - 1, -1, -1):
        used += message_cost(messages[i], approx_tokens)
        if used > budget:
            break
        keep = i
    return messages[keep:], keep


class MemorySaveStage(Stage):
    """Append the answered turn to its session (a limit-stopped turn is not kept)."""

    blocking: ClassVar[bool] = True

    def __init__(self, memory: MemoryHandle) -> None:
        """Use ``memory``."""
        self.name = "memory_save"
        self.memory = memory

    def step(
        self, state: TurnState, config: RunnableConfig, *, streaming: bool = False
    ) -> TurnState:
        """Save question and answer under ``state.turn_id``; no session, no I/O."""
        if state.session_id is None or state.stopped_by or state.flags.get("no_memory"):
            return state
        answer = str((state.output or {}).get("answer", state.answer))
        self.memory.get().save(state.session_id, state.turn_id, state.question, answer)
        return replace(state, flags={**state.flags, "memory_saved": True})
