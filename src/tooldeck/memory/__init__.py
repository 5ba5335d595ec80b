"""Conversation memory: sessions in one SQLite store, and the window, summary and vector kinds.

- :mod:`~tooldeck.memory.store`: the SQLite file (WAL, migrations, busy retries, corruption).
- :mod:`~tooldeck.memory.history`: LangChain's ``BaseChatMessageHistory`` over the store.
- :mod:`~tooldeck.memory.conversation`: what the pipeline uses, ``open_memory(config, model)``
  with ``load`` (history within a token budget) and ``save`` (one turn).
- :mod:`~tooldeck.memory.budget`, :mod:`~tooldeck.memory.summary`,
  :mod:`~tooldeck.memory.recall`: the budget, the summary kind, the vector kind.
"""

from __future__ import annotations

__all__: list[str] = []
