"""LangChain's chat-history interface over :class:`~tooldeck.memory.store.MemoryStore`.

Any LangChain code that takes a ``BaseChatMessageHistory`` (``RunnableWithMessageHistory``,
for one) can read and write tooldeck's memory through this class, one instance per session.

langchain-core 1.6.4 marked ``BaseChatMessageHistory`` deprecated (removal in 2.0). Its
warning fires only when LangChain's own classes are instantiated directly, never for a
subclass, so this class warns nothing; ``RunnableWithMessageHistory`` does warn (deprecated
since 1.3.3) but still works with it (``tests/memory/test_history.py`` checks both). tooldeck's
own pipeline uses :class:`~tooldeck.memory.conversation.ConversationMemory` and neither.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from langchain_core.chat_history import BaseChatMessageHistory

from tooldeck.memory.store import validate_session_name

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage

    from tooldeck.memory.store import MemoryStore

__all__ = ["SQLiteChatMessageHistory"]


class SQLiteChatMessageHistory(BaseChatMessageHistory):
    """The messages of one session of a :class:`MemoryStore`.

    ``aget_messages``, ``aadd_messages`` and ``aclear`` are LangChain's defaults: the sync
    methods run in an executor.

    Args:
        store: The open memory store.
        session: The session name; validated here so a bad name fails early.

    Raises:
        InputError: ``session`` breaks a naming rule.
    """

    def __init__(self, store: MemoryStore, session: str) -> None:
        """Bind the history to ``session`` of ``store``."""
        super().__init__()
        self.store = store
        self.session = validate_session_name(session)

    @property
    def messages(self) -> list[BaseMessage]:  # type: ignore[override]
        """The session's messages, oldest first, read from the database on each access."""
        return self.store.get_messages(self.session)

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Append one turn's messages in a single transaction (ids assigned if missing).

        Args:
            messages: The messages to store, oldest first.
        """
        self.store.add_messages(self.session, messages)

    def clear(self) -> None:
        """Remove every message of this session."""
        self.store.clear(self.session)
