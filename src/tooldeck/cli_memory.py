"""The ``memory`` commands of the CLI: ``memory list``, ``show NAME``, ``clear NAME``.

Everything printed passes through :func:`tooldeck.redact.scrub` first: a secret pasted into a
conversation is never echoed back.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tooldeck.config import Config
    from tooldeck.memory.store import MemoryStore

__all__ = ["add_parsers", "cmd_memory"]


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``memory`` subcommands to the CLI's subparsers."""
    memory = sub.add_parser("memory", help="conversation sessions: list, show, clear")
    actions = memory.add_subparsers(dest="memory_command", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="every session: name, messages, last update",
                                 parents=[common])
    listing.add_argument("--json", action="store_true", help="print a JSON list")
    show = actions.add_parser("show", help="the messages of one session", parents=[common])
    show.add_argument("name")
    show.add_argument("--json", action="store_true", help="print a JSON list of messages")
    clear = actions.add_parser(
        "clear", help="forget one session: its messages, summary and vectors", parents=[common]
    )
    clear.add_argument("name")


def cmd_memory(args: argparse.Namespace, config: Config) -> int:
    """``tooldeck memory list|show|clear``: the sessions of the memory database.

    Args:
        args: The parsed command line (``memory_command``, ``name``, ``json``).
        config: The configuration (``data_dir`` holds the database).

    Returns:
        0, or raises: a bad session name or an unknown session for ``clear`` is an
        :class:`~tooldeck.errors.InputError` (exit 2).
    """
    from tooldeck.memory.store import MemoryStore, validate_session_name

    name: str = getattr(args, "name", "") or ""
    if args.memory_command != "list":
        validate_session_name(name)  # before the database is opened or created
    store = MemoryStore(config.data_dir)
    if args.memory_command == "list":
        _print_sessions(store, as_json=args.json)
    elif args.memory_command == "show":
        _print_session(store, name, as_json=args.json)
    else:
        _clear(store, name)
    return 0


def _print_sessions(store: MemoryStore, *, as_json: bool) -> None:
    """Print every session: name, message count, last update."""
    from tooldeck.redact import scrub

    sessions = store.list_sessions()
    if as_json:
        rows = [{"name": s.name, "messages": s.message_count,
                 "updated_at": s.updated_at.isoformat()} for s in sessions]
        print(scrub(json.dumps(rows, ensure_ascii=False, indent=2)))
        return
    if not sessions:
        print("no sessions yet (tooldeck run|chat --session NAME starts one)")
        return
    width = max(len(s.name) for s in sessions)
    for s in sessions:
        stamp = s.updated_at.strftime("%Y-%m-%d %H:%M:%S UTC")
        print(scrub(f"{s.name:<{width}}  {s.message_count:>6} messages  {stamp}"))


def _print_session(store: MemoryStore, name: str, *, as_json: bool) -> None:
    """Print one session's summary and messages (``role: content``), scrubbed."""
    from tooldeck.errors import InputError
    from tooldeck.memory.budget import message_text
    from tooldeck.redact import scrub

    if name not in {s.name for s in store.list_sessions()}:
        msg = f"no session named {name!r}; `tooldeck memory list` shows the sessions"
        raise InputError(msg)
    messages = store.get_messages(name)
    summary = store.get_summary(name)
    if as_json:
        rows: list[dict[str, Any]] = [
            {"role": m.type, "content": message_text(m), "id": m.id} for m in messages
        ]
        out: dict[str, Any] = {"session": name, "messages": rows}
        if summary is not None:
            out["summary"] = summary.text
        print(scrub(json.dumps(out, ensure_ascii=False, indent=2)))
        return
    if summary is not None and summary.text:
        print(scrub(f"summary: {summary.text}"))
    for message in messages:
        print(scrub(f"{message.type}: {message_text(message)}"))


def _clear(store: MemoryStore, name: str) -> None:
    """Forget one session, or fail naming it if there is none."""
    from tooldeck.errors import InputError
    from tooldeck.redact import scrub

    if not store.delete_session(name):
        msg = f"no session named {name!r}; `tooldeck memory list` shows the sessions"
        raise InputError(msg)
    print(scrub(f"cleared session {name!r}"))
