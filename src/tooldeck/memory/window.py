"""A window over the last turns of a conversation, fed to the agent as history."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage

__all__ = ["WindowMemory"]


class WindowMemory:
    """Keeps the last ``k`` question/answer pairs."""

    def __init__(self, k: int = 5) -> None:
        """Create an empty window of ``k`` turns."""
        if k < 1:
            msg = "k must be at least 1"
            raise ValueError(msg)
        self._turns: deque[tuple[str, str]] = deque(maxlen=k)

    def add(self, question: str, answer: str) -> None:
        """Record one finished turn."""
        self._turns.append((question, answer))

    def clear(self) -> None:
        """Forget every turn."""
        self._turns.clear()

    def __len__(self) -> int:
        """Number of turns kept."""
        return len(self._turns)

    def messages(self) -> list[BaseMessage]:
        """The kept turns as alternating human/AI messages, oldest first."""
        from langchain_core.messages import AIMessage, HumanMessage

        out: list[BaseMessage] = []
        for question, answer in self._turns:
            out += [HumanMessage(question), AIMessage(answer)]
        return out
