"""The tool registry: every tool, which plugin gave it, and whether it can run here.

Every tool is checked as it is registered: a valid name, a usable input schema, and worked
examples (``metadata["examples"]``, see :class:`ToolExample`) whose input fits that schema. A
plugin whose hook registers a tool that fails a check is disabled with a warning, the tools it
had registered with it, and the app runs on without it. Two tools with one name stay an error.
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
import sys
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, ValidationError

from tooldeck.errors import ConfigError, PluginError, UnknownToolError
from tooldeck.plugins import LoadedPlugins, load_plugins

if TYPE_CHECKING:
    from langchain_core.tools import BaseTool

    from tooldeck.config import Config

__all__ = ["ToolEntry", "ToolExample", "ToolRegistry", "build_registry", "tool_examples"]

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")


class ToolExample(BaseModel):
    """One worked example in a tool's ``metadata["examples"]``, shown to the model by ReAct.

    Attributes:
        question: A question a user might ask.
        input: The tool's arguments for it (must validate against the tool's schema).
        observation: What the tool returns for that input.
        answer: The final answer the example ends with (optional).
        thought: The thought before the action (optional; a stock one otherwise).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    question: str
    input: dict[str, Any]
    observation: str
    answer: str | None = None
    thought: str | None = None


def _check_input(tool: BaseTool, arguments: dict[str, Any]) -> None:
    """Validate example arguments against the tool's schema (ValueError/ValidationError).

    Unknown arguments are refused too: the grammar lets a model write only the schema's own.
    """
    schema = tool.tool_call_schema
    model = schema if isinstance(schema, type) and issubclass(schema, BaseModel) else None
    spec: dict[str, Any] = model.model_json_schema() if model else dict(schema or {})  # type: ignore[arg-type]
    known = spec.get("properties", {})
    unknown = [name for name in arguments if name not in known]
    if unknown:
        msg = f"unknown arguments {unknown}; the tool takes {sorted(known)}"
        raise ValueError(msg)
    if model is not None:
        model.model_validate(arguments)
        return
    missing = [name for name in spec.get("required", []) if name not in arguments]
    if missing:
        msg = f"missing required arguments {missing}"
        raise ValueError(msg)


def _problem(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}" for e in exc.errors()
        )
    return str(exc)


def tool_examples(tool: BaseTool, plugin: str = "") -> list[ToolExample]:
    """The tool's worked examples, checked.

    Args:
        tool: The tool; its ``metadata["examples"]`` is a list of ``{question, input,
            observation[, answer, thought]}`` dicts (or :class:`ToolExample` objects).
        plugin: The plugin that gives it, named in the error.

    Returns:
        The examples, in order (none when the tool has none).

    Raises:
        PluginError: Not a list, or an example of another shape or with input the tool's
            schema refuses; the message names the tool and the example's index.
    """
    raw = (tool.metadata or {}).get("examples")
    where = f"plugin {plugin!r}: tool {tool.name!r}" if plugin else f"tool {tool.name!r}"
    if raw is None:
        return []
    if not isinstance(raw, list | tuple):
        msg = f"{where}: metadata['examples'] must be a list, not {type(raw).__name__}"
        raise PluginError(msg)
    examples = []
    for index, item in enumerate(raw):
        try:
            example = ToolExample.model_validate(item)
            _check_input(tool, example.input)
        except (ValidationError, ValueError, TypeError) as exc:
            msg = (
                f"{where}: example {index} is invalid ({_problem(exc)}); an example is "
                "{question: str, input: {arguments}, observation: str, answer?: str, "
                "thought?: str}"
            )
            raise PluginError(msg) from None
        examples.append(example)
    return examples


@dataclass(frozen=True)
class ToolEntry:
    """A registered tool."""

    tool: BaseTool
    plugin: str
    requires_env: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The tool's unique name."""
        return self.tool.name

    @property
    def summary(self) -> str:
        """The first line of the tool's description."""
        lines = (self.tool.description or "").strip().splitlines()
        return lines[0] if lines else ""

    def missing_env(self) -> list[str]:
        """Env vars the tool needs that are not set."""
        return [var for var in self.requires_env if not os.environ.get(var)]

    @property
    def availability(self) -> str:
        """``available`` or ``needs VAR[, VAR]``."""
        missing = self.missing_env()
        return "available" if not missing else "needs " + ", ".join(missing)


class ToolRegistry:
    """Tools by unique name."""

    def __init__(self) -> None:
        """Create an empty registry."""
        self._entries: dict[str, ToolEntry] = {}
        self.failed_plugins: dict[str, str] = {}

    def check(self, tool: BaseTool | Callable[..., Any], *, plugin: str) -> BaseTool:
        """Turn what a plugin registers into a checked tool (not yet added).

        Args:
            tool: A LangChain ``BaseTool``, or a typed function with a docstring.
            plugin: The name of the plugin that gives it.

        Returns:
            The tool (a function becomes a ``StructuredTool``; an async-only tool gets a sync
            path, see :func:`tooldeck.tools.runner.with_sync_path`).

        Raises:
            PluginError: Not a tool, an invalid name, an unusable schema, or invalid examples.
        """
        from langchain_core.tools import BaseTool
        from langchain_core.tools import tool as make_tool

        from tooldeck.tools.runner import with_sync_path

        if not isinstance(tool, BaseTool):
            if not callable(tool) or not inspect.getdoc(tool):
                msg = (
                    f"plugin {plugin!r} registered {tool!r}: not a BaseTool or documented function"
                )
                raise PluginError(msg)
            tool = make_tool(tool)
        tool = with_sync_path(tool)
        if not _NAME.match(tool.name):
            msg = f"plugin {plugin!r}: tool name {tool.name!r} must match {_NAME.pattern}"
            raise PluginError(msg)
        try:
            tool.tool_call_schema.model_json_schema()  # type: ignore[union-attr]
        except Exception as exc:
            msg = f"plugin {plugin!r}: tool {tool.name!r} has an unusable input schema: {exc}"
            raise PluginError(msg) from None
        tool_examples(tool, plugin)
        return tool

    def register(
        self, tool: BaseTool | Callable[..., Any], *, plugin: str, requires_env: Iterable[str] = ()
    ) -> ToolEntry:
        """Check a tool (see :meth:`check`) and add it.

        Args:
            tool: A LangChain ``BaseTool``, or a typed function with a docstring.
            plugin: The name of the plugin that gives it.
            requires_env: Env vars it needs to run.

        Returns:
            The new entry.

        Raises:
            PluginError: Duplicate name, or a tool that fails :meth:`check`.
        """
        tool = self.check(tool, plugin=plugin)
        if tool.name in self._entries:
            other = self._entries[tool.name].plugin
            msg = (
                f"duplicate tool name {tool.name!r} from plugin {plugin!r} "
                f"(already registered by {other!r}); rename one or disable a plugin"
            )
            raise PluginError(msg)
        entry = ToolEntry(tool, plugin, tuple(requires_env))
        self._entries[tool.name] = entry
        return entry

    def remove_plugin(self, plugin: str) -> None:
        """Drop every tool a plugin registered (it is being disabled)."""
        for name in [n for n, e in self._entries.items() if e.plugin == plugin]:
            del self._entries[name]

    def entries(self) -> list[ToolEntry]:
        """All entries, sorted by name."""
        return [self._entries[name] for name in sorted(self._entries)]

    def names(self) -> list[str]:
        """All tool names, sorted."""
        return sorted(self._entries)

    def get(self, name: str) -> ToolEntry:
        """Return one entry.

        Raises:
            UnknownToolError: No tool has that name; the message lists the known names.
        """
        if name not in self._entries:
            known = ", ".join(self.names()) or "(none)"
            msg = f"unknown tool {name!r}; registered tools: {known}"
            raise UnknownToolError(msg)
        return self._entries[name]

    def select(self, names: Sequence[str]) -> list[BaseTool]:
        """Return the named tools, or every available tool when ``names`` is empty.

        Raises:
            UnknownToolError: A name is not registered.
            ConfigError: A named tool is unavailable here (missing env var).
        """
        if not names:
            return [e.tool for e in self.entries() if not e.missing_env()]
        chosen = []
        for name in names:
            entry = self.get(name)
            if entry.missing_env():
                msg = f"tool {name!r} is unavailable: {entry.availability}"
                raise ConfigError(msg)
            chosen.append(entry.tool)
        return chosen


def build_registry(config: Config, plugins: LoadedPlugins | None = None) -> ToolRegistry:
    """Collect tools from every plugin's ``register_tools`` hook and ``config.custom_tools``.

    Args:
        config: The configuration (``disabled_plugins``, ``custom_tools``).
        plugins: A pre-built plugin manager; loaded from entry points when None.

    Returns:
        The registry. Plugins whose hook fails, or registers a tool that fails its checks, are
        disabled with a warning (see ``failed_plugins``) and none of their tools are kept.

    Raises:
        PluginError: Two plugins register the same tool name.
        ConfigError: A ``custom_tools`` module is not found (it is looked for in the working
            directory too), raises as it loads (the message gives the error, file and line),
            or has no tools.
    """
    loaded = plugins or load_plugins(disabled=config.disabled_plugins)
    registry = ToolRegistry()
    for impl in loaded.manager.hook.register_tools.get_hookimpls():
        name = impl.plugin_name
        if name in config.disabled_plugins:
            continue  # a pre-built manager may hold it
        register = _Register(registry, name, config)
        try:
            impl.function(register=register)
        except PluginError as exc:
            if exc is not register.rejected:
                raise  # two tools with one name: the user must choose
            registry.remove_plugin(name)
            loaded.disable(name, str(exc))
        except Exception as exc:
            registry.remove_plugin(name)
            loaded.disable(name, f"register_tools raised {type(exc).__name__}: {exc}")
    for module_name in config.custom_tools:
        _register_module(registry, module_name)
    registry.failed_plugins = dict(loaded.failed)
    return registry


class _Register:
    """The ``register`` callable a plugin's hook receives; ``register.config`` is the config."""

    def __init__(self, registry: ToolRegistry, plugin: str, config: Config) -> None:
        self._registry = registry
        self._plugin = plugin
        self.config = config
        self.rejected: PluginError | None = None

    def __call__(self, tool: Any, requires_env: Iterable[str] = ()) -> None:
        try:
            checked = self._registry.check(tool, plugin=self._plugin)
        except PluginError as exc:
            self.rejected = exc
            raise
        self._registry.register(checked, plugin=self._plugin, requires_env=requires_env)


def _register_module(registry: ToolRegistry, module_name: str) -> None:
    from langchain_core.tools import BaseTool

    module = _import_custom(module_name)
    tools = [obj for obj in vars(module).values() if isinstance(obj, BaseTool)]
    if not tools:
        msg = f"custom_tools: module {module_name!r} defines no @tool functions"
        raise ConfigError(msg)
    for tool in tools:
        registry.register(tool, plugin=f"custom:{module_name}")


def _is_the_module(exc: ModuleNotFoundError, module_name: str) -> bool:
    """Whether ``exc`` says the module (or a package on its path) is missing, not a dependency."""
    missing = exc.name or ""
    return bool(missing) and (module_name == missing or module_name.startswith(missing + "."))


def _import_custom(module_name: str) -> ModuleType:
    """Import a ``custom_tools`` module, from the working directory too.

    The ``tooldeck`` command does not put the working directory on ``sys.path`` (``python -m``
    does), so a module that is not found is looked for there as well, as ``python`` would.

    Raises:
        ConfigError: The module is not found (check the name), or it raised while importing
            (the real error, with the file and line it came from).
    """
    error: Exception
    try:
        return _import_with_cwd(module_name)
    except ModuleNotFoundError as exc:
        if _is_the_module(exc, module_name):
            msg = (
                f"custom_tools: module {module_name!r} not found in the working directory "
                f"({os.getcwd()}) or on the Python path; check the name"
            )
            raise ConfigError(msg) from None
        error = exc
    except Exception as exc:  # whatever the user's module raises while it loads
        error = exc
    msg = f"custom_tools: module {module_name!r} failed to import: {_where(error)}"
    raise ConfigError(msg) from None


def _import_with_cwd(module_name: str) -> ModuleType:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        cwd = os.getcwd()
        if not _is_the_module(exc, module_name) or cwd in sys.path:
            raise
    sys.path.insert(0, cwd)  # for the import and the imports it makes as it loads
    try:
        return importlib.import_module(module_name)
    finally:
        sys.path.remove(cwd)


def _where(exc: BaseException) -> str:
    """``Type: message (file, line N)`` for the innermost frame (or a syntax error's place)."""
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"{text} ({exc.filename}, line {exc.lineno})"
    frames = traceback.extract_tb(exc.__traceback__)
    user = [f for f in frames if "importlib" not in f.filename] or frames
    if user:
        return f"{text} ({user[-1].filename}, line {user[-1].lineno})"
    return text
