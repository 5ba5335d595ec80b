"""The built-in plugin: registers tooldeck's own tools through the same hook as any plugin."""

from __future__ import annotations

from tooldeck.plugins import Register, hookimpl

__all__ = ["register_tools"]


@hookimpl
def register_tools(register: Register) -> None:
    """Register the built-in tools."""
    from tooldeck.tools.builtin.calculator import calculator

    register(calculator)
    config = getattr(register, "config", None)
    if config is not None:
        from tooldeck.tools.builtin.retriever import retriever_tools

        for tool in retriever_tools(config):
            register(tool)
