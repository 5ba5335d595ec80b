"""The ``tooldeck`` command line: parse, call, print. Heavy imports happen inside commands.

Exit codes: 0 ok, 1 the run failed (or stopped at a limit without an answer), 2 usage or
configuration error, 130 interrupted.

``--verbose`` (or ``log_level: DEBUG``) shows the ``tooldeck`` logger's debug records on stderr:
the config files read or ignored, the model and its load time, the tools offered, each tool call.

Nothing leaves here unscrubbed: error messages, ``--verbose`` tracebacks, log records and
warnings pass through :func:`tooldeck.redact.scrub`. A setting that steers the model (provider,
URL) and comes from a file in the working directory is named on stderr (``note: ...``).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import traceback
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tooldeck.errors import ToolDeckError
from tooldeck.redact import scrub, scrubbed_output

if TYPE_CHECKING:
    from tooldeck.config import Config, ConfigSources, Source
    from tooldeck.pipeline.compose import Pipeline

__all__ = ["build_parser", "main", "model_override"]

_PROVIDERS = ("local", "gguf", "openai", "ollama")
_log = logging.getLogger("tooldeck.cli")


class _VersionAction(argparse.Action):
    """``--version``: print ``tooldeck X.Y.Z`` from the package metadata and exit."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        import tooldeck

        print(f"tooldeck {tooldeck.__version__}")
        parser.exit()


def _common_flags(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument(
        "--config",
        default=default,
        help="config file, used instead of ~/.config/tooldeck/config.yaml and ./tooldeck.yaml",
    )
    parser.add_argument(
        "--verbose", "-v", action="store_true", default=default, help="debug logs and tracebacks"
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every command; ``--config``/``--verbose`` go anywhere."""
    parser = argparse.ArgumentParser(
        prog="tooldeck",
        description="LangChain agents over a registry of tools, offline by default.",
    )
    parser.add_argument("--version", action=_VersionAction, help="print the version and exit")
    _common_flags(parser, None)
    common = argparse.ArgumentParser(add_help=False)
    _common_flags(common, argparse.SUPPRESS)  # a subcommand's flag wins, absence keeps the global
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="answer one question with the agent", parents=[common])
    run.add_argument("question", help="the question, or - to read it from standard input")
    _agent_flags(run)
    run.add_argument("--json", action="store_true", help="print one JSON object, no streaming")

    chat = sub.add_parser(
        "chat", help="an interactive conversation (/help, /history, /reset, /exit)",
        parents=[common]
    )
    _agent_flags(chat)

    config = sub.add_parser("config", help="show the effective configuration").add_subparsers(
        dest="config_command", metavar="ACTION", required=True
    )
    show = config.add_parser(
        "show", help="print the effective config, secrets masked", parents=[common]
    )
    show.add_argument(
        "--sources",
        action="store_true",
        help="one line per setting with its source: default, file, env var, .env or flag",
    )

    models = sub.add_parser("models", help="list or download local models").add_subparsers(
        dest="models_command", metavar="ACTION", required=True
    )
    models.add_parser("list", help="installed models and the catalogue", parents=[common])
    pull = models.add_parser(
        "pull", help="download a catalogue model (resumable, verified)", parents=[common]
    )
    pull.add_argument("name")
    pull.add_argument("--sha256", metavar="HEX", type=_sha256_arg,
                      help="expected SHA-256 of the file (for an entry with no pinned hash)")
    pull.add_argument("--trust-hub-hash", action="store_true",
                      help="with no pinned hash, accept the hub's own hash header (same origin)")

    from tooldeck import cli_eval, cli_index, cli_memory, cli_prompts, cli_serve, cli_tools

    for module in (cli_tools, cli_index, cli_serve, cli_eval, cli_prompts, cli_memory):
        module.add_parsers(sub, common)
    return parser


def _sha256_arg(value: str) -> str:
    """``--sha256``: 64 hexadecimal digits (argparse turns the ValueError into exit 2)."""
    text = value.strip().lower()
    if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
        msg = f"--sha256 wants 64 hexadecimal digits, got {len(text)} characters"
        raise argparse.ArgumentTypeError(msg)
    return text


def _agent_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--agent", help="react | self-ask | tool-calling")
    parser.add_argument(
        "--model",
        help="local | gguf:PATH | openai:NAME | ollama:NAME | CATALOGUE_NAME | pkg.mod:Class",
    )
    parser.add_argument("--tools", help="comma-separated tool names (empty: all available)")
    parser.add_argument(
        "--session",
        metavar="NAME",
        help="a stored conversation: earlier turns are read from it and this turn is saved",
    )


def model_override(value: str) -> dict[str, Any]:
    """Turn a ``--model`` value into ``model`` config keys.

    Args:
        value: ``local``, ``PROVIDER:NAME``, a catalogue name, or ``package.module:Class``.

    Returns:
        The keys to override.
    """
    head, sep, tail = value.partition(":")
    if head in _PROVIDERS:
        return {"provider": head, "name": tail or None}
    if sep:
        return {"provider": value}
    return {"provider": "gguf", "name": value}


def _load(args: argparse.Namespace) -> Config:
    return _load_with_sources(args)[0]


def _load_with_sources(args: argparse.Namespace) -> tuple[Config, ConfigSources]:
    from tooldeck.config import load_config_with_sources
    from tooldeck.prompts import configure_prompts

    overrides: dict[str, Any] = {}
    if getattr(args, "agent", None):
        overrides["agent"] = {"type": args.agent}
    if getattr(args, "model", None):
        overrides["model"] = model_override(args.model)
    if getattr(args, "tools", None) is not None:
        overrides["tools"] = [t.strip() for t in args.tools.split(",") if t.strip()]
    config, sources = load_config_with_sources(args.config, overrides)
    configure_prompts(config)  # prompts_dir and example_files, for every command
    logging.getLogger("tooldeck").setLevel("DEBUG" if args.verbose else config.log_level)
    _log.debug("config files read: %s", ", ".join(sources.files) or "none (defaults)")
    _tell_sources(config, sources, verbose=args.verbose)
    return config, sources


def _tell_sources(config: Config, sources: ConfigSources, *, verbose: bool) -> None:
    """Name the working-directory files that steer the model; with --verbose, every source."""
    by_file: dict[str, list[str]] = {}
    for name, value, source in sources.from_working_directory(config):
        by_file.setdefault(source.path or "?", []).append(f"{name}={value}")
    for path, settings in by_file.items():
        _say(f"note: {', '.join(settings)} from {path} (working directory)")
    if verbose:
        for key, value, source in _setting_rows(config, sources):
            if source.kind != "default":
                _say(f"setting {key} = {value} from {source}")


def _setting_rows(config: Config, sources: ConfigSources) -> list[tuple[str, str, Source]]:
    """``(dotted.key, value as JSON, source)`` for every setting, secrets masked."""
    from tooldeck.config import masked_dump

    rows: list[tuple[str, str, Source]] = []
    pending: list[tuple[str, Any]] = list(masked_dump(config).items())
    while pending:
        key, value = pending.pop(0)
        if isinstance(value, dict) and value:
            pending[:0] = [(f"{key}.{k}", v) for k, v in value.items()]
        else:
            rows.append((key, json.dumps(value, ensure_ascii=False), sources.of(key)))
    return rows


def _say(message: str) -> None:
    """One line on stderr, scrubbed of every secret."""
    print(scrub(message), file=sys.stderr)


def _session_config(args: argparse.Namespace) -> dict[str, Any] | None:
    """The run config that names ``--session`` (None without one: no memory I/O)."""
    if not args.session:
        return None
    return {"configurable": {"session_id": args.session}}


def _cmd_run(args: argparse.Namespace) -> int:
    from tooldeck.console import print_json, stream_run
    from tooldeck.pipeline.stages import InputStage

    if args.question == "-":
        args.question = sys.stdin.read()
    config = _load(args)
    InputStage(config.max_question_chars).invoke(args.question)  # before the model is loaded
    agent = _build_agent(config)
    run_config: Any = _session_config(args)
    if args.json:
        result = agent.invoke(args.question, run_config)
        print_json(result)
    else:
        result = stream_run(agent, args.question, verbose=args.verbose, config=run_config)
    return 1 if result.get("stopped_by") else 0


def _cmd_chat(args: argparse.Namespace) -> int:
    from tooldeck.console import chat_loop

    config = _load(args)
    return chat_loop(_build_agent(config), verbose=args.verbose, session=args.session or None)


def _build_agent(config: Config) -> Pipeline:
    """Build the agent pipeline, logging the model, its load time and the tools offered."""
    from tooldeck.models import describe_model
    from tooldeck.pipeline import build_agent

    started = time.monotonic()
    agent = build_agent(config)
    _log.debug(
        "model %s (agent %s) ready in %.2f s",
        describe_model(config.model),
        config.agent.type,
        time.monotonic() - started,
    )
    _log.debug("tools offered: %s", ", ".join(config.tools) or "every available tool")
    return agent


def _cmd_config(args: argparse.Namespace) -> int:
    import yaml

    from tooldeck.config import masked_dump

    config, sources = _load_with_sources(args)
    if args.sources:
        for key, value, source in _setting_rows(config, sources):
            print(scrub(f"{key}: {value}  # {source}"))
        return 0
    print(scrub(yaml.safe_dump(masked_dump(config), sort_keys=False)), end="")
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    from tooldeck.console import print_models, pull_model

    config = _load(args)
    if args.models_command == "list":
        print_models(config.data_dir)
        return 0
    pull_model(args.name, config.data_dir, sha256=args.sha256,
               trust_hub_hash=args.trust_hub_hash)
    return 0


def _delegate(module: str, name: str) -> Any:
    """A command implemented in ``tooldeck.<module>`` (imported only when it runs)."""

    def command(args: argparse.Namespace) -> int:
        import importlib

        return int(getattr(importlib.import_module(f"tooldeck.{module}"), name)(args, _load(args)))

    return command


_COMMANDS = {
    "run": _cmd_run,
    "chat": _cmd_chat,
    "tools": _delegate("cli_tools", "cmd_tools"),
    "config": _cmd_config,
    "models": _cmd_models,
    "index": _delegate("cli_index", "cmd_index"),
    "ask": _delegate("cli_index", "cmd_ask"),
    "indexes": _delegate("cli_index", "cmd_indexes"),
    "serve": _delegate("cli_serve", "cmd_serve"),
    "eval": _delegate("cli_eval", "cmd_eval"),
    "prompts": _delegate("cli_prompts", "cmd_prompts"),
    "memory": _delegate("cli_memory", "cmd_memory"),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    if not args.command:
        parser.print_help()
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.verbose:  # before the config loads, so that its debug records show too
        logging.getLogger("tooldeck").setLevel(logging.DEBUG)
    with scrubbed_output():
        return _dispatch(args)


def _dispatch(args: argparse.Namespace) -> int:
    """Run the command; turn errors into an exit code and one scrubbed line on stderr."""
    try:
        code = int(_COMMANDS[args.command](args))
        sys.stdout.flush()  # a closed pipe shows here, not as a warning at interpreter exit
        return code
    except BrokenPipeError:
        return _closed_pipe()
    except ToolDeckError as exc:
        _fail(f"error: {exc}", verbose=args.verbose)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        _fail(
            f"error: unexpected {type(exc).__name__}: {exc} (rerun with --verbose)",
            verbose=args.verbose,
        )
        return 1


def _closed_pipe() -> int:
    """The reader of stdout went away (``tooldeck ask ... | head``): stop quietly.

    Further writes (and the flush at exit) go to ``/dev/null``, as the Python docs advise for
    SIGPIPE; the exit code is the shell's for a process ended by SIGPIPE.
    """
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 141


def _fail(message: str, *, verbose: bool) -> None:
    if verbose:
        sys.stderr.write(scrub(traceback.format_exc()))
    _say(message)
