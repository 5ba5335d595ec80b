"""The tool registry: every tool, which plugin gave it, and whether it can run here."""

from __future__ import annotations

import importlib
import inspect
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tooldeck.errors import ConfigError, PluginError, UnknownToolError
from tooldeck.plugins import LoadedPlugins, load_plugins

if TYPE_CHECKING:
    from langchain_core.tools import BaseTool

    from tooldeck.config import Config

__all__ = ["ToolEntry", "ToolRegistry", "build_registry"]

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")


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

    def register(
        self, tool: BaseTool | Callable[..., Any], *, plugin: str, requires_env: Iterable[str] = ()
    ) -> ToolEntry:
        """Add a tool.

        Args:
            tool: A LangChain ``BaseTool``, or a typed function with a docstring.
            plugin: The name of the plugin that gives it.
            requires_env: Env vars it needs to run.

        Returns:
            The new entry.

        Raises:
            PluginError: Duplicate name, invalid name, or an object that is not a tool.
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
        if tool.name in self._entries:
            other = self._entries[tool.name].plugin
            msg = (
                f"duplicate tool name {tool.name!r} from plugin {plugin!r} "
                f"(already registered by {other!r}); rename one or disable a plugin"
            )
            raise PluginError(msg)
        try:
            tool.tool_call_schema.model_json_schema()  # type: ignore[union-attr]
        except Exception as exc:
            msg = f"plugin {plugin!r}: tool {tool.name!r} has an unusable input schema: {exc}"
            raise PluginError(msg) from None
        entry = ToolEntry(tool, plugin, tuple(requires_env))
        self._entries[tool.name] = entry
        return entry

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
        The registry. Plugins whose hook fails are disabled (see ``failed_plugins``).

    Raises:
        PluginError: Two plugins register the same tool name.
        ConfigError: A ``custom_tools`` module cannot be imported.
    """
    loaded = plugins or load_plugins(disabled=config.disabled_plugins)
    registry = ToolRegistry()
    for impl in loaded.manager.hook.register_tools.get_hookimpls():
        name = impl.plugin_name

        try:
            impl.function(register=_Register(registry, name, config))
        except PluginError:
            raise
        except Exception as exc:
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

    def __call__(self, tool: Any, requires_env: Iterable[str] = ()) -> None:
        self._registry.register(tool, plugin=self._plugin, requires_env=requires_env)


def _register_module(registry: ToolRegistry, module_name: str) -> None:
    from langchain_core.tools import BaseTool

    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        msg = f"custom_tools: module {module_name!r} cannot be imported ({exc}); check the name"
        raise ConfigError(msg) from None
    tools = [obj for obj in vars(module).values() if isinstance(obj, BaseTool)]
    if not tools:
        msg = f"custom_tools: module {module_name!r} defines no @tool functions"
        raise ConfigError(msg)
    for tool in tools:
        registry.register(tool, plugin=f"custom:{module_name}")
