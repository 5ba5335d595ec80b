"""The memory stages: load the session's history before the loop, save the turn after it.

They talk to :func:`tooldeck.memory.conversation.open_memory` only (``load`` / ``save``);
the memory kinds (window, summary, vector) and compaction live behind that. A turn with no
``session_id`` does no memory I/O at all: the memory is not even opened.

The history budget is ``memory.max_history_tokens``, or, when that is unset, derived from the
model's context (``n_ctx``, 4096 when the model does not say) so that the prompt, the tools,
the question, one observation and the answer still fit: the history gets at most a quarter
of the context and never what the rest needs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar

from tooldeck.pipeline.stages import Stage
from tooldeck.pipeline.state import TurnState

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.runnables import RunnableConfig

    from tooldeck.config import Config
    from tooldeck.memory.conversation import ConversationMemory

__all__ = [
    "MemoryHandle",
    "MemoryLoadStage",
    "MemorySaveStage",
    "approx_tokens",
    "history_budget",
]

_DEFAULT_CONTEXT = 4096
_DEFAULT_ANSWER_TOKENS = 512
_PROMPT_RESERVE = 1024  # system prompt, tool descriptions, few-shot examples


def approx_tokens(text: str) -> int:
    """A token count that errs high: UTF-8 bytes / 3 (English runs ~4 bytes a token)."""
    return len(text.encode("utf-8", "replace")) // 3 + 1


def _int_attr(model: Any, name: str) -> int | None:
    value = getattr(model, name, None)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


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
    n_ctx = _int_attr(model, "n_ctx") or _DEFAULT_CONTEXT
    answer = _int_attr(model, "max_tokens") or _DEFAULT_ANSWER_TOKENS
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
        room = max(0, budget - sum(approx_tokens(str(m.content)) for m in given))
        loaded = self.memory.get().load(
            state.session_id, state.question, room, count_tokens=approx_tokens
        )
        flags["memory_loaded"] = len(loaded)
        return replace(state, history=[*loaded, *given], flags=flags)


def _newest_within(messages: list[Any], budget: int) -> tuple[list[Any], int]:
    """The newest whole messages that fit ``budget`` tokens, and how many were dropped."""
    used = 0
    keep = len(messages)
    for i in range(len(messages) - 1, -1, -1):
        used += approx_tokens(str(messages[i].content))
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
