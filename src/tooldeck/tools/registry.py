"""The tool registry: every tool, which plugin gave it, and whether it can run here.

A tool is available unless something it needs is missing here: an env var (``requires_env``),
a Python package (``requires_packages``, import names), or whatever its own ``availability``
check reports (a callable returning a reason such as ``needs index: run ...``, or None).
Unavailable tools are listed with the reason and are never offered to a model.

Tool metadata conventions (``tool.metadata``), for plugins and the built-in tools alike:

- ``"examples"``: worked examples, a list of
  :class:`~tooldeck.tools.examples.ToolExample` dicts, checked at registration;
- ``"kind": "search"``: the tool answers a free-text query (its one required argument) with
  text passages, as web search and the ``retriever`` do; self-ask can use any such tool as its
  ``agent.search_tool``, and only these are suggested for it.

A plugin registers either a ready tool (a ``BaseTool`` or a documented function) or a lazy
declaration, :class:`~tooldeck.tools.spec.ToolSpec`: name, description, argument schema, kind,
and how to build the tool. Listing (``tooldeck tools list``) reads declarations and builds
nothing, so it imports no LangChain; the tool is built when something uses it
(:attr:`ToolEntry.tool`: an agent, ``tools run``, :meth:`ToolRegistry.select`).

Every ready tool is checked as it is registered: a valid name, a usable input schema, and
worked examples whose input fits that schema (:mod:`tooldeck.tools.examples`). A
plugin whose hook registers a tool that fails a check is disabled with a warning, the tools it
had registered with it, and the app runs on without it. A declared tool is checked for its name
as it is registered and for everything else when it is built; one that fails is listed as
``broken: ...`` with the reason and is never offered to a model. Two tools with one name stay
an error.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import logging
import os
import re
import sys
import traceback
from collections.abc import Callable, Iterable, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

from tooldeck.errors import ConfigError, PluginError, UnknownToolError
from tooldeck.plugins import LoadedPlugins, load_plugins
from tooldeck.tools.entry import Availability, ToolEntry
from tooldeck.tools.spec import ToolSpec

if TYPE_CHECKING:
    from langchain_core.tools import BaseTool

    from tooldeck.config import Config

__all__ = ["Availability", "ToolEntry", "ToolRegistry", "ToolSpec", "build_registry"]

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")


_log = logging.getLogger("tooldeck.tools")


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

        from tooldeck.tools.examples import tool_examples
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
        self,
        tool: BaseTool | ToolSpec | Callable[..., Any],
        *,
        plugin: str,
        requires_env: Iterable[str] = (),
        requires_packages: Iterable[str] = (),
        availability: Availability | None = None,
    ) -> ToolEntry:
        """Check a tool (see :meth:`check`) and add it; a declaration is checked when built.

        Args:
            tool: A LangChain ``BaseTool``, a typed function with a docstring, or a
                :class:`ToolSpec` (built on first use).
            plugin: The name of the plugin that gives it.
            requires_env: Env vars it needs to run.
            requires_packages: Python packages (import names) it needs to run.
            availability: Called when availability is shown or tools are chosen: returns why
                the tool cannot run here (``needs index: run ...``), or None when it can.

        Returns:
            The new entry.

        Raises:
            PluginError: Duplicate name, an invalid declaration, or a tool that fails
                :meth:`check`.
        """
        finish = None
        if isinstance(tool, ToolSpec):
            _check_spec(tool, plugin)
            finish = functools.partial(self._finish, tool, plugin)
        else:
            tool = self.check(tool, plugin=plugin)
        if tool.name in self._entries:
            other = self._entries[tool.name].plugin
            msg = (
                f"duplicate tool name {tool.name!r} from plugin {plugin!r} "
                f"(already registered by {other!r}); rename one or disable a plugin"
            )
            raise PluginError(msg)
        entry = ToolEntry(
            tool, plugin, tuple(requires_env), tuple(requires_packages), availability,
            finish=finish,
        )  # fmt: skip
        self._entries[tool.name] = entry
        return entry

    def _finish(self, spec: ToolSpec, plugin: str, made: Any) -> BaseTool:
        """Check a tool built from ``spec``: :meth:`check`, and the declared name."""
        tool = self.check(made, plugin=plugin)
        if tool.name != spec.name:
            msg = (
                f"plugin {plugin!r}: tool {spec.name!r} was declared under that name but built "
                f"as {tool.name!r}; make the names equal"
            )
            raise PluginError(msg)
        return tool

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

    def search_tools(self) -> list[ToolEntry]:
        """Entries whose ``metadata["kind"]`` is ``"search"`` (see the module docstring)."""
        return [entry for entry in self.entries() if entry.kind == "search"]

    def select(self, names: Sequence[str]) -> list[BaseTool]:
        """Return the named tools, or every available tool when ``names`` is empty.

        Raises:
            UnknownToolError: A name is not registered.
            ConfigError: A named tool is unavailable here; the message says what it needs.
        """
        if not names:
            return [tool for entry in self.entries() if (tool := _usable(entry)) is not None]
        chosen = []
        for name in names:
            entry = self.get(name)
            reason = entry.unavailable()
            if reason is None:
                try:
                    chosen.append(entry.tool)
                    continue
                except PluginError as exc:
                    reason = f"broken: {exc}"
            msg = f"tool {name!r} is unavailable: {reason}"
            raise ConfigError(msg)
        return chosen


def _usable(entry: ToolEntry) -> BaseTool | None:
    """The entry's tool when it is available and builds (a failed build is logged once)."""
    if entry.unavailable() is not None:
        return None
    try:
        return entry.tool
    except PluginError:
        return None


def _check_spec(spec: ToolSpec, plugin: str) -> None:
    """What can be checked of a declaration without building it: name, description, kind."""
    if not isinstance(spec.name, str) or not _NAME.match(spec.name):
        msg = f"plugin {plugin!r}: tool name {spec.name!r} must match {_NAME.pattern}"
        raise PluginError(msg)
    if not isinstance(spec.description, str) or not spec.description.strip():
        msg = f"plugin {plugin!r}: tool {spec.name!r} has no description; write one for the model"
        raise PluginError(msg)
    if spec.kind is not None and not isinstance(spec.kind, str):
        msg = f"plugin {plugin!r}: tool {spec.name!r}: kind must be a string such as 'search'"
        raise PluginError(msg)
    if not isinstance(spec.build, str) and not callable(spec.build):
        msg = (
            f"plugin {plugin!r}: tool {spec.name!r}: build must be 'package.module:attr' or a "
            "callable that returns the tool"
        )
        raise PluginError(msg)


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

    def __call__(
        self,
        tool: Any,
        requires_env: Iterable[str] = (),
        requires_packages: Iterable[str] = (),
        availability: Availability | None = None,
    ) -> None:
        try:
            if isinstance(tool, ToolSpec):
                _check_spec(tool, self._plugin)
            else:
                tool = self._registry.check(tool, plugin=self._plugin)
        except PluginError as exc:
            self.rejected = exc
            raise
        self._registry.register(
            tool,
            plugin=self._plugin,
            requires_env=requires_env,
            requires_packages=requires_packages,
            availability=availability,
        )


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
