"""The ``tools`` commands of the CLI: ``tools list`` and ``tools run``."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from tooldeck.errors import InputError

if TYPE_CHECKING:
    from tooldeck.config import Config

__all__ = ["add_parsers", "cmd_tools"]


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``tools`` subcommands to the CLI's subparsers."""
    tools = sub.add_parser("tools", help="list tools, or run one directly").add_subparsers(
        dest="tools_command", metavar="ACTION", required=True
    )
    tools_list = tools.add_parser(
        "list", help="name, plugin, description and availability of every tool", parents=[common]
    )
    tools_list.add_argument(
        "--json", action="store_true", help="print a JSON list, with each tool's args schema"
    )
    tool_run = tools.add_parser("run", help="run one tool with JSON arguments", parents=[common])
    tool_run.add_argument("name")
    tool_run.add_argument("arguments", help='JSON object, e.g. \'{"expression": "2*3"}\'')


def cmd_tools(args: argparse.Namespace, config: Config) -> int:
    """``tooldeck tools list|run``: list the registry, or run one tool with JSON arguments."""
    from tooldeck.console import print_tools, run_one_tool
    from tooldeck.tools.registry import build_registry

    registry = build_registry(config)
    if args.tools_command == "list":
        print_tools(registry, as_json=args.json)
        return 0
    try:
        arguments = json.loads(args.arguments)
    except json.JSONDecodeError as exc:
        msg = f"tool arguments are not valid JSON ({exc.msg} at char {exc.pos}); pass an object"
        raise InputError(msg) from None
    return run_one_tool(registry, args.name, arguments, config.agent.tool_timeout_s)
