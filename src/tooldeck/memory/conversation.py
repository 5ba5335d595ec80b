"""Conversation memory for the pipeline: load a session's history within a budget, save a turn.

The seam between the pipeline's memory stages and the memory kinds (issue 9, part 5),
combinable through ``memory.kinds``:

- ``window``: the last ``window_turns`` turns, verbatim;
- ``summary``: older turns folded into a running summary by the chat model (incrementally,
  at save time, see :mod:`tooldeck.memory.summary`); the turns it does not cover yet stay
  verbatim (at most ``window_turns`` of them when ``window`` is on too);
- ``vector``: the ``vector_k`` older turns most similar to the question, recalled by
  embedding similarity (:mod:`tooldeck.memory.recall`) and marked as recalled.

:meth:`ConversationMemory.load` returns, oldest first: the summary (a ``SystemMessage``
tagged ``additional_kwargs["memory"] == "summary"``), the recalled turns (their text prefixed
as recalled, tagged ``"recalled"``), then the recent turns; always within ``max_tokens``
(see :mod:`tooldeck.memory.budget`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tooldeck.memory.budget import (
    CountTokens,
    Turn,
    TurnRef,
    approx_tokens,
    excerpt,
    fit_history,
    group_refs,
    group_turns,
)
from tooldeck.memory.recall import Embed, Recall
from tooldeck.memory.summary import (
    FoldPolicy,
    Summarize,
    fold,
    memory_template,
    model_summarizer,
)

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import BaseMessage

    from tooldeck.config import Config
    from tooldeck.config_schema import EmbeddingsConfig, MemoryConfig
    from tooldeck.memory.store import MemoryStore

__all__ = ["MAX_SAVED_CHARS", "ConversationMemory", "Embed", "Summarize", "open_memory"]

logger = logging.getLogger(__name__)

MAX_SAVED_CHARS = 32_000
"""A question or answer longer than this is saved as an excerpt with a note (the store's
per-message bound is 256 KB of JSON; 32,000 characters stay under it in any script)."""


class ConversationMemory:
    """A session's history as an agent prompt needs it, from one :class:`MemoryStore`.

    Args:
        config: The ``memory`` section.
        data_dir: Where the SQLite database lives.
        summarize: Folds older messages into the summary (the ``summary`` kind); without
            it, turns past the summary's limits are dropped with a warning.
        embed: Embeds texts (the ``vector`` kind).
        embed_model_id: The embedder's id, stored with each vector.
        embed_factory: Builds ``(embed, embed_model_id)`` on first use when ``embed`` is None.
        count_tokens: The token counter for save-time decisions and loads that pass none.
    """

    def __init__(
        self,
        config: MemoryConfig,
        data_dir: Path,
        *,
        summarize: Summarize | None = None,
        embed: Embed | None = None,
        embed_model_id: str = "custom",
        embed_factory: Callable[[], tuple[Embed, str]] | None = None,
        count_tokens: CountTokens | None = None,
    ) -> None:
        """Open the store under ``data_dir``."""
        from tooldeck.memory.store import MemoryStore

        self.config = config
        self.store: MemoryStore = MemoryStore(data_dir)
        self.summarize = summarize
        self.embed = embed
        self.count_tokens: CountTokens = count_tokens or approx_tokens
        self._embed_model_id = embed_model_id
        self._embed_factory = embed_factory
        self._recall: Recall | None = None

    @property
    def kinds(self) -> frozenset[str]:
        """The memory kinds switched on."""
        return frozenset(self.config.kinds)

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
            max_tokens: Tokens the history may take in the prompt (``memory.
                max_history_tokens`` lowers it further when set).
            count_tokens: Counts a text's tokens; ~4 characters per token when None.

        Returns:
            Whole messages only, never a message cut in the middle; only a turn too big to
            ever fit has its huge messages represented by an excerpt with a note.

        Raises:
            InputError: A bad session name.
            MemoryStoreError: The database stayed busy or failed.
        """
        from tooldeck.memory.store import validate_session_name

        validate_session_name(session)
        count = count_tokens or self.count_tokens
        if self.config.max_history_tokens is not None:
            max_tokens = min(max_tokens, self.config.max_history_tokens)
        kinds = self.kinds
        if not kinds or max_tokens <= 0:
            return []
        stored = self.store.get_summary(session) if "summary" in kinds else None
        recent = self._recent(session, stored.covered_seq if stored is not None else 0)
        recalled: list[Turn] = []
        if "vector" in kinds:
            recalled = self._recalled(session, question, recent[0].first_seq if recent else None)
        summary = self._summary_message(stored.text) if stored and stored.text else None
        return fit_history(summary, recalled, recent, max_tokens, count, self._note)

    def _recent(self, session: str, covered: int) -> list[Turn]:
        """The turns shown verbatim: reads only as far back as they go."""
        kinds = self.kinds
        if "window" in kinds:
            k = self.config.window_turns
            if k == 0:
                return []
            start = self.store.turn_start_seq(session, k)
            after = max(covered, start - 1)
            return group_turns(self.store.get_records(session, after_seq=after))[-k:]
        if "summary" in kinds:
            return group_turns(self.store.get_records(session, after_seq=covered))
        return []

    def save(
        self,
        session: str,
        turn_id: str,
        question: str,
        answer: str,
        *,
        count_tokens: CountTokens | None = None,
    ) -> None:
        """Append one turn; saving the same ``turn_id`` again changes nothing.

        A question or answer over :data:`MAX_SAVED_CHARS` is saved as an excerpt with a
        note. With ``vector`` on, the turn is embedded (best-effort); with ``summary`` on,
        older turns past the limits are folded into the summary (best-effort).

        Args:
            session: The session name.
            turn_id: The turn's id (its messages get ``<turn_id>-q`` and ``<turn_id>-a``).
            question: The user's question.
            answer: The final answer.
            count_tokens: Counts a text's tokens for the summary's limits.
        """
        from langchain_core.messages import AIMessage, HumanMessage

        turn = (
            HumanMessage(self._bounded(question), id=f"{turn_id}-q"),
            AIMessage(self._bounded(answer), id=f"{turn_id}-a"),
        )
        self.store.add_messages(session, list(turn))
        kinds = self.kinds
        if "vector" in kinds and (recall := self._recaller()) is not None:
            recall.index(session, [Turn(0, 0, turn)])
        if "summary" in kinds:
            turns = self.config.window_turns if "window" in kinds else None
            policy = FoldPolicy(turns, self.config.summary_max_tokens)
            fold(self.store, session, policy, self.summarize, count_tokens or self.count_tokens)

    def clear(self, session: str) -> None:
        """Forget a session: its messages, summary and vectors (it stays listed, empty).

        Args:
            session: The session name.

        Raises:
            InputError: A bad session name.
            MemoryStoreError: The database stayed busy or failed.
        """
        self.store.clear(session)

    def close(self) -> None:
        """Close the store's database connections (the next call reopens them)."""
        self.store.close()

    # -- helpers ---------------------------------------------------------------------------

    def _bounded(self, text: str) -> str:
        """``text`` as it is saved: valid Unicode, at most about MAX_SAVED_CHARS characters."""
        text = text.encode("utf-8", "replace").decode("utf-8")  # a lone surrogate becomes '?'
        if len(text) <= MAX_SAVED_CHARS:
            return text
        logger.info("memory: saving a %d-character message as an excerpt", len(text))
        return excerpt(text, MAX_SAVED_CHARS // 4, approx_tokens, self._note(len(text)))

    @staticmethod
    def _note(chars: int) -> str:
        """The excerpt note for a message of ``chars`` characters."""
        from tooldeck.prompts import render

        return render(memory_template()["excerpt_note"], chars=f"{chars:,}")

    @staticmethod
    def _summary_message(text: str) -> BaseMessage:
        """The stored summary as the system message memory hands to the prompt."""
        from langchain_core.messages import SystemMessage

        from tooldeck.prompts import render

        content = render(memory_template()["summary_message"], summary=text)
        return SystemMessage(content, additional_kwargs={"memory": "summary"})

    def _recaller(self) -> Recall | None:
        """The vector kind's :class:`Recall`, built on first use (None: no embedder)."""
        if self._recall is None:
            if self.embed is None and self._embed_factory is not None:
                try:
                    self.embed, self._embed_model_id = self._embed_factory()
                except Exception as exc:  # best-effort: no embedder, no recall
                    logger.warning("memory: no embedder for the vector kind (%s)", exc)
                    self._embed_factory = None
            if self.embed is None:
                return None
            self._recall = Recall(self.store, self.embed, self._embed_model_id)
        return self._recall

    def _recalled(self, session: str, question: str, before_seq: int | None) -> list[Turn]:
        """The older turns recalled for ``question``, marked, most similar first."""
        recall = self._recaller()
        if recall is None:
            return []
        refs = group_refs(self.store.get_index(session, before_seq=before_seq))
        found = recall.recall(
            session, question, refs, self.config.vector_k, lambda refs: self._fetch(session, refs)
        )
        prefix = memory_template()["recalled_prefix"]
        return [Turn(t.first_seq, t.last_seq, tuple(_marked(m, prefix) for m in t.messages))
                for t in self._fetch(session, found)]

    def _fetch(self, session: str, refs: Sequence[TurnRef]) -> list[Turn]:
        """The turns ``refs`` point at, read from the store (one query per turn)."""
        out: list[Turn] = []
        for ref in refs:
            records = self.store.get_records(
                session, after_seq=ref.first_seq - 1, upto_seq=ref.last_seq
            )
            if records:
                out.append(Turn(ref.first_seq, ref.last_seq, tuple(r.message for r in records)))
        return out


def _marked(message: BaseMessage, prefix: str) -> BaseMessage:
    """A copy of ``message`` marked as recalled (text prefix and ``memory`` tag)."""
    content = message.content
    if isinstance(content, str):
        content = prefix + content
    kwargs = {**message.additional_kwargs, "memory": "recalled"}
    return message.model_copy(update={"content": content, "additional_kwargs": kwargs})


def _embedder(config: EmbeddingsConfig) -> tuple[Embed, str]:
    """The configured embedder's ``embed_documents`` and its model id."""
    from tooldeck.models.embeddings import embeddings_id, get_embeddings

    embeddings = get_embeddings(config)
    return embeddings.embed_documents, embeddings_id(embeddings)


def open_memory(config: Config, model: BaseChatModel | None = None) -> ConversationMemory:
    """The conversation memory the configuration describes.

    Args:
        config: The whole configuration (``memory``, ``data_dir``, ``embeddings``).
        model: The chat model that writes summaries (``summary`` kind); without one, older
            turns are dropped instead, with a warning.
    """
    memory = config.memory
    summarize = None
    if "summary" in memory.kinds and model is not None:
        summarize = model_summarizer(model, memory.summary_max_tokens)
    return ConversationMemory(
        memory,
        Path(config.data_dir),
        summarize=summarize,
        embed_factory=lambda: _embedder(config.embeddings),
    )
