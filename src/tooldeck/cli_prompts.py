"""The ``prompts`` commands of the CLI: ``prompts list`` and ``prompts show NAME``."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tooldeck.config import Config

__all__ = ["add_parsers", "cmd_prompts"]


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``prompts`` subcommands to the CLI's subparsers."""
    prompts = sub.add_parser("prompts", help="list or show prompt templates").add_subparsers(
        dest="prompts_command", metavar="ACTION", required=True
    )
    prompts.add_parser("list", help="every template: name, version, variables, source",
                       parents=[common])
    show = prompts.add_parser("show", help="one template, filled with --var values",
                              parents=[common])
    show.add_argument("name")
    show.add_argument("--var", action="append", default=[], metavar="KEY=VALUE",
                      help="a value for one of the template's variables (repeatable)")


def cmd_prompts(args: argparse.Namespace, config: Config) -> int:
    """``tooldeck prompts list|show`` (not built yet)."""
    from tooldeck.errors import UsageError

    raise UsageError("tooldeck prompts is not built yet")
