"""The ``prompts`` commands of the CLI: ``prompts list`` and ``prompts show NAME``."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tooldeck.config import Config
    from tooldeck.prompts import PromptLibrary, TemplateSpec

__all__ = ["add_parsers", "cmd_prompts", "parse_vars"]


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


def parse_vars(items: list[str]) -> dict[str, str]:
    """``--var key=value`` arguments as a mapping (the value may hold ``=`` and braces).

    Raises:
        UsageError: an item without ``=`` or with an empty key.
    """
    from tooldeck.errors import UsageError

    values: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            msg = f"--var {item!r} is not KEY=VALUE; write e.g. --var question='What is 2+2?'"
            raise UsageError(msg)
        values[key.strip()] = value
    return values


def _source(spec: TemplateSpec) -> str:
    if spec.replaces_builtin:
        return f"{spec.source} (replaces the built-in)"
    return spec.source


def _list(library: PromptLibrary) -> int:
    rows = [(s.name, s.version, ", ".join(s.variables) or "-", _source(s))
            for s in library.templates()]
    header = ("NAME", "VERSION", "VARIABLES", "SOURCE")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(3)]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths, strict=True)), row[3])
    return 0


def _show(library: PromptLibrary, name: str, values: dict[str, str]) -> int:
    from tooldeck.errors import PromptError

    spec = library.get(name)
    prompt = library.chat_prompt(name)
    unknown = sorted(set(values) - set(prompt.input_variables))
    if unknown:
        takes = ", ".join(prompt.input_variables) or "no variables"
        msg = f"prompt template {name!r} has no variable {unknown[0]!r}; it takes {takes}"
        raise PromptError(msg)
    messages = prompt.invoke(values).to_messages()
    print(f"# {spec.name} {spec.version} ({_source(spec)})")
    for message in messages:
        print(f"--- {message.type} ---")
        print(message.text)
    others = [t for t in spec.texts if t != spec.input]
    if others:
        print(f"--- texts the code fills itself: {', '.join(others)} ---")
    return 0


def cmd_prompts(args: argparse.Namespace, config: Config) -> int:
    """``tooldeck prompts list|show``: the templates, or one filled with ``--var`` values."""
    from tooldeck.prompts import configure_prompts

    library = configure_prompts(config)
    if args.prompts_command == "list":
        return _list(library)
    return _show(library, args.name, parse_vars(args.var))
