"""The ``memory`` commands of the CLI: ``memory list``, ``show NAME``, ``clear NAME``."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tooldeck.config import Config

__all__ = ["add_parsers", "cmd_memory"]


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``memory`` subcommands to the CLI's subparsers."""
    memory = sub.add_parser("memory", help="conversation sessions: list, show, clear")
    actions = memory.add_subparsers(dest="memory_command", metavar="ACTION", required=True)
    actions.add_parser("list", help="every session: name, messages, last update",
                       parents=[common])
    show = actions.add_parser("show", help="the messages of one session", parents=[common])
    show.add_argument("name")
    clear = actions.add_parser("clear", help="delete one session's messages", parents=[common])
    clear.add_argument("name")


def cmd_memory(args: argparse.Namespace, config: Config) -> int:
    """``tooldeck memory list|show|clear`` (not built yet)."""
    from tooldeck.errors import UsageError

    raise UsageError("tooldeck memory is not built yet")
