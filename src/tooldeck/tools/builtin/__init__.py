"""The built-in plugin: registers tooldeck's own tools through the same hook as any plugin."""

from __future__ import annotations

from tooldeck.plugins import Register, hookimpl

__all__ = ["register_tools"]


@hookimpl
def register_tools(register: Register) -> None:
    """Register the built-in tools."""
    from tooldeck.tools.builtin.calculator import calculator

    register(calculator)
