"""The built-in plugin: registers tooldeck's own tools through the same hook as any plugin.

The calculator and one retriever per index come first; then each module of
:data:`TOOL_MODULES` registers its tools with its ``register_into(register, config)``.
"""

from __future__ import annotations

import importlib
import logging

from tooldeck.plugins import Register, hookimpl

__all__ = ["TOOL_MODULES", "register_tools"]

_log = logging.getLogger("tooldeck.tools")

# Modules under tooldeck.tools.builtin with a register_into(register, config), in listing order.
TOOL_MODULES = ("search", "web_fetch", "summarize", "wikipedia", "youtube")


@hookimpl
def register_tools(register: Register) -> None:
    """Register the built-in tools."""
    from tooldeck.tools.builtin.calculator import calculator

    register(calculator)
    config = getattr(register, "config", None)
    if config is not None:
        from tooldeck.tools.builtin.retriever import index_availability, retriever_tools

        for tool in retriever_tools(config):
            register(tool, availability=index_availability(tool))
    for name in TOOL_MODULES:
        try:
            module = importlib.import_module(f"tooldeck.tools.builtin.{name}")
        except ImportError as exc:  # a missing optional package costs its tools, not the others
            _log.warning("built-in tools of %s are unavailable: %s", name, exc)
            continue
        module.register_into(register, config)
