"""The plugin manager: pluggy hooks, loaded from entry points and then the built-in plugin.

A plugin is any module or object with a ``register_tools`` hook implementation::

    from tooldeck.plugins import hookimpl
    from tooldeck.tools.spec import ToolSpec          # light: imports no LangChain

    @hookimpl
    def register_tools(register):
        register(my_tool)                             # a BaseTool or a plain function
        register(search, requires_env=["KEY"])        # shown as unavailable without KEY
        register(scrape, requires_packages=["bs4"])   # unavailable unless bs4 imports
        register(lookup, availability=check)          # check() -> "needs ..." or None
        register(ToolSpec(                            # declared: built on first use
            "weather", "Current weather for a city.",
            build="my_pkg.weather:make_tool",           # a BaseTool, or a callable returning one
            args_schema="my_pkg.schemas:WeatherInput",  # pydantic model, JSON schema dict, ref
        ), requires_env=["WEATHER_KEY"])

A ready tool makes every command that loads plugins import LangChain (about half a second) and
whatever the tool's module imports; a :class:`~tooldeck.tools.spec.ToolSpec` lets
``tooldeck tools list`` (and ``--json``, which prints the argument schema) work from the
declaration alone, and the tool is built when an agent or ``tools run`` first uses it.

Third-party packages declare ``[project.entry-points.tooldeck]``; the built-in tools go
through the same hook, as the plugin named ``builtin``. A plugin that fails to import is
disabled with a warning; ``disabled_plugins`` names plugins not to load (entry-point names, or
``builtin``).
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

import pluggy

__all__ = [
    "BUILTIN_PLUGINS",
    "ENTRY_POINT_GROUP",
    "LoadedPlugins",
    "Register",
    "hookimpl",
    "hookspec",
    "load_plugins",
]

ENTRY_POINT_GROUP = "tooldeck"
# Plugin name -> module of tooldeck's own plugins.
BUILTIN_PLUGINS = {"builtin": "tooldeck.tools.builtin"}
NO_ENTRY_POINTS_ENV = "TOOLDECK_NO_ENTRY_POINTS"

hookspec = pluggy.HookspecMarker("tooldeck")
hookimpl = pluggy.HookimplMarker("tooldeck")

Register = Callable[..., None]
_log = logging.getLogger("tooldeck.plugins")


class _Specs:
    @hookspec
    def register_tools(self, register: Register) -> None:
        """Register tools by calling ``register(tool, ...)`` for each.

        Args:
            register: The callback; takes a LangChain ``BaseTool``, a typed, documented
                function, or a lazy :class:`~tooldeck.tools.spec.ToolSpec` (built on first
                use), and optionally what the tool needs to be available:
                ``requires_env`` (env var names), ``requires_packages`` (import names) and
                ``availability`` (a callable returning why the tool cannot run here, such as
                ``"needs index: run ..."``, or None). Its ``config`` attribute is the
                effective :class:`tooldeck.config.Config`, for plugins whose tools depend on
                settings (as the built-in retriever does). Metadata conventions (worked
                ``examples``, ``kind: "search"``) are in :mod:`tooldeck.tools.registry`.
        """


@dataclass
class LoadedPlugins:
    """The plugin manager and what could not be loaded."""

    manager: pluggy.PluginManager
    failed: dict[str, str] = field(default_factory=dict)

    def disable(self, name: str, reason: str) -> None:
        """Record a plugin as disabled and warn once in the log."""
        self.failed[name] = reason
        if self.manager.has_plugin(name):
            self.manager.unregister(name=name)
        _log.warning("plugin %r disabled: %s", name, reason)


def load_plugins(
    *,
    entry_points_enabled: bool | None = None,
    disabled: Iterable[str] = (),
    extra: Iterable[tuple[str, Any]] = (),
) -> LoadedPlugins:
    """Create the plugin manager: entry points first, then built-ins, then ``extra``.

    Args:
        entry_points_enabled: Load installed plugins; None reads ``TOOLDECK_NO_ENTRY_POINTS``
            (tests set it so installed plugins cannot change results).
        disabled: Plugin names to skip (entry-point names, or ``builtin``).
        extra: (name, plugin object) pairs registered last (used by tests and embedders).

    Returns:
        The manager, with a record of plugins that failed to load.
    """
    manager = pluggy.PluginManager("tooldeck")
    manager.add_hookspecs(_Specs)
    loaded = LoadedPlugins(manager)
    skip = set(disabled)
    if entry_points_enabled is None:
        entry_points_enabled = not os.environ.get(NO_ENTRY_POINTS_ENV)
    if entry_points_enabled:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if ep.name in skip or manager.has_plugin(ep.name):
                continue
            try:
                manager.register(ep.load(), name=ep.name)
            except Exception as exc:  # a broken plugin must not break the app
                loaded.disable(ep.name, f"{type(exc).__name__}: {exc}")
    for name, module_name in BUILTIN_PLUGINS.items():
        if name not in skip and module_name not in skip:
            manager.register(importlib.import_module(module_name), name=name)
    for name, plugin in extra:
        manager.register(plugin, name=name)
    return loaded
