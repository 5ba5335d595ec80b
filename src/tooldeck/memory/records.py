"""What the memory store keeps: session names, message records, summaries.

The rules a session name and a stored message must follow live here, shared by the store, its
chat-history face and the CLI.
"""

from __future__ import annotations

import json
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from tooldeck.errors import InputError

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage

__all__ = [
    "MAX_MESSAGE_BYTES",
    "MAX_SESSION_NAME_CHARS",
    "SessionInfo",
    "StoredMessage",
    "StoredSummary",
    "encode_message",
    "validate_session_name",
]

MAX_SESSION_NAME_CHARS = 128
MAX_MESSAGE_BYTES = 256 * 1024
"""Bound on one message's JSON encoding (UTF-8 bytes); larger messages are refused."""


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A message with its place in the session (``seq`` grows by one per message)."""

    seq: int
    message: BaseMessage


@dataclass(frozen=True, slots=True)
class StoredSummary:
    """A session's running summary of its messages up to ``covered_seq``."""

    text: str
    covered_seq: int


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """One row of :meth:`MemoryStore.list_sessions`.

    Attributes:
        name: The session name.
        message_count: How many messages the session holds.
        updated_at: When a message was last written to (or cleared from) the session, UTC.
    """

    name: str
    message_count: int
    updated_at: datetime


def validate_session_name(name: str) -> str:
    """Check a session name and return it unchanged.

    Args:
        name: The proposed session name.

    Returns:
        ``name``, if it is acceptable.

    Raises:
        InputError: The name is empty, over 128 characters, or holds ``/``, ``\\``, ``..``,
            NUL or another control character; the message names the rule.
    """
    if not isinstance(name, str) or not name:
        msg = "session name must be a non-empty string"
        raise InputError(msg)
    if len(name) > MAX_SESSION_NAME_CHARS:
        msg = f"session name is {len(name)} characters; the limit is {MAX_SESSION_NAME_CHARS}"
        raise InputError(msg)
    if "\x00" in name:
        msg = "session name must not contain a NUL character"
        raise InputError(msg)
    if "/" in name or "\\" in name:
        msg = f"session name must not contain '/' or '\\\\': {name!r}"
        raise InputError(msg)
    if ".." in name:
        msg = f"session name must not contain '..': {name!r}"
        raise InputError(msg)
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        msg = f"session name must not contain control characters: {name!r}"
        raise InputError(msg)
    return name


def encode_message(message: BaseMessage) -> str:
    """Give ``message`` an id if it has none, and return its bounded JSON encoding.

    Raises:
        InputError: The message is not JSON-serialisable or over ``MAX_MESSAGE_BYTES``.
    """
    from langchain_core.messages import messages_to_dict

    if not message.id:
        message.id = str(uuid.uuid4())
    try:
        data = json.dumps(messages_to_dict([message])[0], ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        msg = f"message {message.id} cannot be stored as JSON: {exc}"
        raise InputError(msg) from exc
    try:
        size = len(data.encode("utf-8"))
    except UnicodeEncodeError:
        msg = f"message {message.id} holds text that is not valid Unicode (a lone surrogate)"
        raise InputError(msg) from None
    if size > MAX_MESSAGE_BYTES:
        msg = (
            f"message {message.id} is {size} bytes as JSON; the memory store's limit is "
            f"{MAX_MESSAGE_BYTES} bytes (256 KB) per message"
        )
        raise InputError(msg)
    return data
