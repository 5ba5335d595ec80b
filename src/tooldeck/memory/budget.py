"""The one place that decides what history fits a token budget.

Invariants this module owns:

* the history handed to a prompt costs at most ``max_tokens`` (each message's text plus
  :data:`MESSAGE_OVERHEAD` tokens for its role markers), counted with the caller's counter;
* only whole messages are kept, and a turn (a human message and what followed it) is kept or
  dropped as a whole; the one exception is a turn that could never fit the budget: its
  messages over half the budget (a 1 MB paste, say) are represented by a bounded excerpt of
  their start with a note saying so;
* compaction runs in a fixed order: drop recalled turns (least similar first), shorten the
  summary (whole sentences from its start), drop the oldest window turns.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tooldeck.models.tokens import approx_tokens  # the one estimator (re-exported)

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage

    from tooldeck.memory.records import StoredMessage

__all__ = [
    "MESSAGE_OVERHEAD",
    "CountTokens",
    "Turn",
    "TurnRef",
    "approx_tokens",
    "excerpt",
    "fit_history",
    "group_refs",
    "group_turns",
    "message_cost",
    "message_text",
]

CountTokens = Callable[[str], int]

MESSAGE_OVERHEAD = 4
"""Tokens counted per message on top of its text, for the chat template's role markers."""

_MAX_CHARS_PER_TOKEN = 16
"""No tokenizer in use makes a token of more characters: bounds the excerpt search."""

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def message_text(message: BaseMessage) -> str:
    """The message's text (the text parts of a multi-part content)."""
    return message.content if isinstance(message.content, str) else message.text


def message_cost(message: BaseMessage, count: CountTokens) -> int:
    """Tokens the message takes in a prompt: its text plus :data:`MESSAGE_OVERHEAD`."""
    return count(message_text(message)) + MESSAGE_OVERHEAD


@dataclass(frozen=True, slots=True)
class Turn:
    """One human message and the messages that answered it, in store order.

    Attributes:
        first_seq: The sequence number of the turn's first message.
        last_seq: The sequence number of its last message.
        messages: The turn's messages, oldest first.
    """

    first_seq: int
    last_seq: int
    messages: tuple[BaseMessage, ...]

    @property
    def key(self) -> str:
        """The id of the turn's first message: the turn's id in the vector table."""
        return str(self.messages[0].id)

    def text(self, max_chars: int) -> str:
        """The turn as ``role: text`` lines, each message cut to ``max_chars`` characters."""
        return "\n".join(f"{m.type}: {message_text(m)[:max_chars]}" for m in self.messages)


@dataclass(frozen=True, slots=True)
class TurnRef:
    """Where a turn lies in the store, without its messages (see :func:`group_refs`)."""

    first_seq: int
    last_seq: int
    key: str


def _bounds(seqs: Sequence[int], types: Sequence[str]) -> list[tuple[int, int]]:
    """``(first, last)`` list indices of each turn: a new turn starts at each human message."""
    if not types:
        return []
    starts = [i for i, kind in enumerate(types) if i == 0 or kind == "human"]
    return list(zip(starts, [*starts[1:], len(seqs)], strict=True))


def group_turns(records: Sequence[StoredMessage]) -> list[Turn]:
    """Split a session's messages into turns: a new turn starts at each human message."""
    bounds = _bounds([r.seq for r in records], [r.message.type for r in records])
    return [
        Turn(records[a].seq, records[b - 1].seq, tuple(r.message for r in records[a:b]))
        for a, b in bounds
    ]


def group_refs(index: Sequence[tuple[int, str, str]]) -> list[TurnRef]:
    """The same split over ``(seq, id, type)`` rows (:meth:`MemoryStore.get_index`)."""
    bounds = _bounds([row[0] for row in index], [row[2] for row in index])
    return [TurnRef(index[a][0], index[b - 1][0], index[a][1]) for a, b in bounds]


def excerpt(text: str, max_tokens: int, count: CountTokens, note: str) -> str:
    """The longest start of ``text`` that fits ``max_tokens`` together with ``note``.

    Args:
        text: The text to shorten.
        max_tokens: The tokens the result may take.
        count: The token counter.
        note: Appended on its own line (says that and how much was left out).

    Returns:
        ``text`` itself if it fits, else its start (ending at a space if one is near) and the
        note; just the note if no text fits beside it.
    """
    if len(text) <= max_tokens * _MAX_CHARS_PER_TOKEN and count(text) <= max_tokens:
        return text
    room = max_tokens - count(note) - 1
    lo, hi = 0, min(len(text), max(room, 0) * _MAX_CHARS_PER_TOKEN)
    while lo < hi:  # the longest prefix that fits: at most log2(16 * max_tokens) counts
        mid = (lo + hi + 1) // 2
        if count(text[:mid]) <= room:
            lo = mid
        else:
            hi = mid - 1
    head = text[:lo]
    space = head.rfind(" ", int(lo * 0.9))
    head = (head[:space] if space > 0 else head).rstrip()
    return f"{head}\n{note}" if head else note


def _excerpted(message: BaseMessage, cap: int, count: CountTokens, note: Callable[[int], str]
               ) -> BaseMessage:
    """The message itself if it costs at most ``cap``, else a copy holding an excerpt."""
    text = message_text(message)
    if message_cost(message, count) <= cap:
        return message
    short = excerpt(text, cap - MESSAGE_OVERHEAD, count, note(len(text)))
    kwargs = {**message.additional_kwargs, "memory_excerpt": True}
    return message.model_copy(update={"content": short, "additional_kwargs": kwargs})


def _shorten(text: str, room: int, count: CountTokens) -> str:
    """Whole sentences from the start of ``text`` that fit ``room`` tokens ('' if none)."""
    kept = ""
    for sentence in _SENTENCE_END.split(text):
        candidate = f"{kept} {sentence}".strip()
        if count(candidate) > room:
            break
        kept = candidate
    return kept


def fit_history(
    summary: BaseMessage | None,
    recalled: Sequence[Turn],
    window: Sequence[Turn],
    max_tokens: int,
    count: CountTokens,
    note: Callable[[int], str],
) -> list[BaseMessage]:
    """Compact summary, recalled turns and window turns into ``max_tokens``.

    Args:
        summary: The summary message, if any.
        recalled: Recalled turns, most similar first (already marked as recalled).
        window: The recent turns, oldest first.
        max_tokens: The budget.
        count: The token counter.
        note: The excerpt note for a message of so many characters.

    Returns:
        Summary, recalled turns (in conversation order), window turns: whole messages only.
    """
    if max_tokens <= 0:
        return []
    cap = max(MESSAGE_OVERHEAD + 1, max_tokens // 2)

    def shrink(turns: Sequence[Turn]) -> list[tuple[Turn, list[BaseMessage], int]]:
        """Each turn with its messages (excerpted if it can never fit whole) and cost."""
        out = []
        for turn in turns:
            messages = list(turn.messages)
            cost = sum(message_cost(m, count) for m in messages)
            if cost > max_tokens:  # too big to ever fit whole: excerpt its huge messages
                messages = [_excerpted(m, cap, count, note) for m in messages]
                cost = sum(message_cost(m, count) for m in messages)
            out.append((turn, messages, cost))
        return out

    recalls, recent = shrink(recalled), shrink(window)
    summary_cost = message_cost(summary, count) if summary is not None else 0
    total = summary_cost + sum(c for *_, c in recalls) + sum(c for *_, c in recent)
    while total > max_tokens and recalls:  # 1. recalled turns, least similar first
        total -= recalls.pop()[2]
    if total > max_tokens and summary is not None:  # 2. the summary, whole sentences
        total -= summary_cost
        room = max_tokens - total - MESSAGE_OVERHEAD
        text = _shorten(message_text(summary), room, count) if room > 0 else ""
        summary = summary.model_copy(update={"content": text}) if text else None
        total += message_cost(summary, count) if summary is not None else 0
    while total > max_tokens and recent:  # 3. the oldest window turns
        total -= recent.pop(0)[2]
    ordered = sorted(recalls, key=lambda item: item[0].first_seq)
    head: list[BaseMessage] = [summary] if summary is not None else []
    return head + [m for _, ms, _ in [*ordered, *recent] for m in ms]
