"""The ``summary`` kind: fold a session's older turns into a running summary, incrementally.

Each fold sends the model the summary so far and only the turns not yet covered, never the
whole conversation again. Summaries are best-effort: when the model fails, answers nothing,
echoes the prompt's instructions or loops on one line (the embedded 135M model often does),
the previous summary stays as it was and the turns are dropped from memory with a warning; a
turn never fails because of its summary.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from tooldeck.memory.budget import CountTokens, Turn, group_turns, message_cost

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import BaseMessage

    from tooldeck.memory.store import MemoryStore

__all__ = ["FoldPolicy", "Summarize", "fold", "memory_template", "model_summarizer"]

logger = logging.getLogger(__name__)

Summarize = Callable[[str, Sequence["BaseMessage"]], str]
"""(summary so far, messages to fold in) -> the new summary ('' when there is none)."""

MAX_FOLD_TURNS = 8
"""Turns sent to the model in one summary call."""
MAX_FOLD_CALLS = 4
"""Summary calls in one save; turns still over the limit wait for the next save."""
_MAX_INPUT_CHARS_PER_MESSAGE = 2_000
_MAX_CHARS_PER_TOKEN = 8


@lru_cache(maxsize=1)
def memory_template() -> dict[str, Any]:
    """The ``memory_summary`` prompt template (summary prompt and memory's labels)."""
    from tooldeck.prompts import load_template

    return dict(load_template("memory_summary"))


def model_summarizer(model: BaseChatModel, max_tokens: int) -> Summarize:
    """A :data:`Summarize` that asks ``model`` with the ``memory_summary`` template.

    Args:
        model: The chat model.
        max_tokens: The longest summary, in tokens (passed to the model as ``max_tokens``;
            a longer reply is cut to whole sentences within ``8 * max_tokens`` characters).
    """
    from langchain_core.messages import HumanMessage, SystemMessage

    from tooldeck.prompts import render

    def summarize(previous: str, messages: Sequence[BaseMessage]) -> str:
        """Ask the model for the summary covering ``previous`` and ``messages``."""
        template = memory_template()
        lines = "\n".join(
            f"{m.type}: {_text(m)[:_MAX_INPUT_CHARS_PER_MESSAGE]}" for m in messages
        )
        prompt = render(template["user"], summary=previous or template["none"], conversation=lines)
        reply = model.invoke(
            [SystemMessage(str(template["system"])), HumanMessage(prompt)], max_tokens=max_tokens
        )
        text = _bounded(_text(reply).strip(), max_tokens * _MAX_CHARS_PER_TOKEN)
        return "" if _echoes(text, template["user"]) or _repetitive(text) else text

    return summarize


def _repetitive(text: str) -> bool:
    """Whether ``text`` is mostly the same line again (a small model's loop)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return len(lines) >= 3 and len(set(lines)) * 2 <= len(lines)


def _echoes(text: str, prompt: str) -> bool:
    """Whether ``text`` repeats an instruction line of ``prompt`` (a small model's echo)."""
    lines = {line.strip() for line in prompt.splitlines() if "{" not in line}
    return any(len(line) >= 10 and line in text for line in lines)


def _text(message: BaseMessage) -> str:
    """The message's text (the text parts of a multi-part content)."""
    return message.content if isinstance(message.content, str) else message.text


def _bounded(text: str, max_chars: int) -> str:
    """``text`` cut to ``max_chars`` at the last sentence end within them."""
    if len(text) <= max_chars:
        return text
    head = text[:max_chars]
    ends = [m.end() for m in re.finditer(r"[.!?](?=\s|$)", head)]
    return head[: ends[-1]] if ends else head.rstrip()


class FoldPolicy:
    """When turns leave the verbatim tail for the summary.

    The tail (turns the summary does not cover) may hold at most ``max_turns`` turns (the
    window, when the ``window`` kind is on) and ``max_tokens`` tokens. Past either, its oldest
    turns are folded until it holds ``max_turns`` turns and half of ``max_tokens``, so that a
    summary call does not come back on every turn. The newest turn always stays verbatim
    unless ``max_turns`` is 0.

    Args:
        max_turns: Turns the tail may keep (None: no limit by count).
        max_tokens: Tokens the tail may hold (``memory.summary_max_tokens``).
    """

    def __init__(self, max_turns: int | None, max_tokens: int) -> None:
        """Set the limits."""
        self.max_turns = max_turns
        self.max_tokens = max_tokens

    def to_fold(self, tail: Sequence[Turn], count: CountTokens) -> int:
        """How many of the tail's oldest turns to fold now (0: none)."""
        costs = [sum(message_cost(m, count) for m in t.messages) for t in tail]
        limit = len(tail) if self.max_turns is None else self.max_turns
        if len(tail) <= limit and sum(costs) <= self.max_tokens:
            return 0
        keep_min = min(1, limit)
        n, total = 0, sum(costs)
        while len(tail) - n > keep_min and (len(tail) - n > limit or total > self.max_tokens // 2):
            total -= costs[n]
            n += 1
        return n


def fold(
    store: MemoryStore,
    session: str,
    policy: FoldPolicy,
    summarize: Summarize | None,
    count: CountTokens,
) -> None:
    """Fold the session's oldest uncovered turns into its summary, if the policy says so.

    At most :data:`MAX_FOLD_CALLS` model calls of :data:`MAX_FOLD_TURNS` turns each. Without
    a summarizer, or when it fails or answers nothing, the turns are dropped from memory (the
    summary stays as it was) with a warning.
    """
    for _ in range(MAX_FOLD_CALLS):
        stored = store.get_summary(session)
        previous, covered = (stored.text, stored.covered_seq) if stored else ("", 0)
        tail = group_turns(store.get_records(session, after_seq=covered))
        n = min(policy.to_fold(tail, count), MAX_FOLD_TURNS)
        if n == 0:
            return
        batch = tail[:n]
        text = _summarize_or_keep(summarize, previous, batch, session)
        if not store.set_summary(session, text, batch[-1].last_seq):
            return  # another writer folded these turns first


def _summarize_or_keep(
    summarize: Summarize | None, previous: str, batch: Sequence[Turn], session: str
) -> str:
    """The new summary, or ``previous`` (the batch dropped) with a warning."""
    if summarize is None:
        logger.warning(
            "memory: no model to summarise session %r; dropping its %d oldest turns",
            session, len(batch),
        )
        return previous
    try:
        text = summarize(previous, [m for turn in batch for m in turn.messages])
    except Exception as exc:  # best-effort: any model failure keeps the turn alive
        logger.warning(
            "memory: summarising session %r failed (%s: %s); dropping its %d oldest turns",
            session, type(exc).__name__, str(exc)[:200], len(batch),
        )
        return previous
    if not text.strip():
        logger.warning(
            "memory: the model's summary of session %r was empty, echoed the prompt or looped; "
            "dropping its %d oldest turns",
            session, len(batch),
        )
        return previous
    return text.strip()
