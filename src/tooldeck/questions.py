"""The one check of a user's question, and the one reader of an agent's input forms.

:func:`check_question` is the rule every entry point applies (the agent pipeline's input
stage, ``ask``, the server's ask endpoint, the retriever tool). :func:`parse_agent_input`
turns each input form an agent accepts into ``(question, history)`` and checks the question.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tooldeck.errors import InputError

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage

__all__ = ["check_question", "parse_agent_input"]

_FORMS = (
    "a question string, {'input': question, 'history': [messages]}, a list of messages, "
    "{'messages': [...]} or a HumanMessage"
)


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


def _messages(value: Sequence[Any], what: str) -> list[BaseMessage]:
    """Messages, tuples ``("user", text)`` or dicts ``{"role", "content"}`` as messages."""
    from langchain_core.messages import convert_to_messages

    try:
        return list(convert_to_messages(list(value)))
    except (ValueError, TypeError, NotImplementedError) as exc:
        msg = f"{what} must be a list of chat messages ({exc})"
        raise InputError(msg) from None


def _split_messages(messages: list[BaseMessage]) -> tuple[str, list[BaseMessage]]:
    """The last human message is the question; the messages before it are the history."""
    last = max((i for i, m in enumerate(messages) if m.type == "human"), default=-1)
    if last < 0:
        kinds = ", ".join(sorted({m.type for m in messages})) or "none"
        msg = (
            f"the messages hold no human message (message types: {kinds}); the question must "
            "be a HumanMessage (or a ('user', text) pair), the last one in the list"
        )
        raise InputError(msg)
    if last != len(messages) - 1:
        after = messages[last + 1].type
        msg = (
            f"a {after} message follows the last human message; the question must be the "
            "last message of the list"
        )
        raise InputError(msg)
    return messages[last].text, messages[:last]


def parse_agent_input(value: Any, max_chars: int) -> tuple[str, list[BaseMessage]]:
    """Split an agent's input into ``(question, history)`` and check the question.

    Args:
        value: A question string; ``{"input" | "question": str, "history": [messages]}``;
            a list of messages (the last, a human message, is the question);
            ``{"messages": [...]}``; or a ``HumanMessage``.
        max_chars: The longest question accepted.

    Returns:
        The stripped question and the earlier conversation, oldest first.

    Raises:
        InputError: An unknown form, no human message, or an empty or oversized question.
    """
    from langchain_core.messages import BaseMessage

    history: list[BaseMessage] = []
    question: Any
    if isinstance(value, str):
        question = value
    elif isinstance(value, BaseMessage):
        question, history = _split_messages([value])
    elif isinstance(value, list | tuple):
        question, history = _split_messages(_messages(value, "the agent input"))
    elif isinstance(value, dict) and "messages" in value and "input" not in value:
        messages = value["messages"]
        if not isinstance(messages, list | tuple):
            raise InputError("'messages' must be a list of chat messages")
        question, history = _split_messages(_messages(messages, "'messages'"))
    elif isinstance(value, dict):
        question = value.get("input", value.get("question"))
        history = _messages(value.get("history") or [], "'history'")
    else:
        question = None
    if not isinstance(question, str):
        msg = f"agent input must be {_FORMS}; got {type(value).__name__}"
        raise InputError(msg)
    return check_question(question, max_chars), history
