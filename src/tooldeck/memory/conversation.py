"""Conversation memory for the pipeline: load a session's history within a budget, save a turn.

The seam between the pipeline's memory stages and the memory kinds (window, summary, vector;
issue 9, part 5). This first version is the window kind only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import BaseMessage

    from tooldeck.config import Config
    from tooldeck.config_schema import MemoryConfig
    from tooldeck.memory.store import MemoryStore

__all__ = ["ConversationMemory", "open_memory"]

Summarize = Callable[[Sequence["BaseMessage"]], str]
Embed = Callable[[list[str]], list[list[float]]]


class ConversationMemory:
    """A session's history as an agent prompt needs it, from one :class:`MemoryStore`.

    Args:
        config: The ``memory`` section.
        data_dir: Where the SQLite database lives.
        summarize: Turns older messages into a summary (the ``summary`` kind).
        embed: Embeds texts (the ``vector`` kind).
    """

    def __init__(
        self,
        config: MemoryConfig,
        data_dir: Path,
        *,
        summarize: Summarize | None = None,
        embed: Embed | None = None,
    ) -> None:
        """Open the store under ``data_dir``."""
        from tooldeck.memory.store import MemoryStore

        self.config = config
        self.store: MemoryStore = MemoryStore(data_dir)
        self.summarize = summarize
        self.embed = embed

    def load(
        self,
        session: str,
        question: str,
        max_tokens: int,
        count_tokens: Callable[[str], int] | None = None,
    ) -> list[BaseMessage]:
        """The history to place before ``question``, within ``max_tokens``, oldest first.

        Args:
            session: The session name (validated by the store).
            question: This turn's question (the ``vector`` kind recalls by it).
            max_tokens: Tokens the history may take in the prompt.
            count_tokens: Counts a text's tokens; ~4 characters per token when None.

        Returns:
            Whole messages only: never a message cut in the middle.
        """
        count = count_tokens or (lambda text: len(text) // 4 + 1)
        messages = self.store.get_messages(session)[-2 * self.config.window_turns :]
        kept: list[BaseMessage] = []
        used = 0
        for message in reversed(messages):
            cost = count(str(message.content))
            if used + cost > max_tokens:
                break
            kept.append(message)
            used += cost
        return list(reversed(kept))

    def save(self, session: str, turn_id: str, question: str, answer: str) -> None:
        """Append one turn; saving the same ``turn_id`` again changes nothing."""
        from langchain_core.messages import AIMessage, HumanMessage

        self.store.add_messages(
            session,
            [HumanMessage(question, id=f"{turn_id}-q"), AIMessage(answer, id=f"{turn_id}-a")],
        )


def open_memory(config: Config, model: BaseChatModel | None = None) -> ConversationMemory:
    """The conversation memory the configuration describes (``model`` summarises, if asked)."""
    return ConversationMemory(config.memory, Path(config.data_dir))
