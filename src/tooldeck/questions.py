"""The one check every entry point applies to a user's question (agents, ``ask``, the server)."""

from __future__ import annotations

from tooldeck.errors import InputError

__all__ = ["check_question"]


def check_question(question: str, limit: int) -> str:
    """Strip a question and reject empty or oversized ones.

    Args:
        question: the question as given.
        limit: the longest question accepted (``max_question_chars``).

    Returns:
        The stripped question.

    Raises:
        InputError: empty, or longer than ``limit`` characters.
    """
    if not question.strip():
        raise InputError("the question is empty; ask something, e.g. 'What is 17 * 23?'")
    if len(question) > limit:
        msg = (
            f"the question is {len(question):,} characters long; the limit is {limit:,} "
            "(max_question_chars in config)"
        )
        raise InputError(msg)
    return question.strip()
