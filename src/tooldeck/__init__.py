"""tooldeck: LangChain agents over a plugin registry of tools, offline by default.

Public API (imported lazily so ``tooldeck --help`` stays instant)::

    from tooldeck import load_config, build_agent
    agent = build_agent(load_config())          # a Pipeline: one Runnable of stages
    agent.invoke("What is 17 * 23?")["answer"]
    agent.invoke("And doubled?", {"configurable": {"session_id": "me"}})
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "AgentResult",
    "Config",
    "Pipeline",
    "ToolDeckError",
    "TurnState",
    "ToolRegistry",
    "ToolSpec",
    "build_agent",
    "build_registry",
    "get_chat_model",
    "hookimpl",
    "load_config",
    "tool",
]

__version__: str  # from the package metadata, read on first use (see ``__getattr__``)

_LAZY = {
    "AgentResult": "tooldeck.agents.core",
    "Config": "tooldeck.config",
    "Pipeline": "tooldeck.pipeline.compose",
    "ToolDeckError": "tooldeck.errors",
    "TurnState": "tooldeck.pipeline.state",
    "ToolRegistry": "tooldeck.tools.registry",
    "ToolSpec": "tooldeck.tools.spec",
    "build_agent": "tooldeck.pipeline",
    "build_registry": "tooldeck.tools.registry",
    "get_chat_model": "tooldeck.models",
    "hookimpl": "tooldeck.plugins",
    "load_config": "tooldeck.config",
    "tool": "langchain_core.tools",
}


def __getattr__(name: str) -> Any:
    if name == "__version__":
        return _version()
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    msg = f"module 'tooldeck' has no attribute {name!r}"
    raise AttributeError(msg)


def _version() -> str:
    """The installed distribution's version (``pyproject.toml``), read when asked for."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tooldeck")
    except PackageNotFoundError:
        return "0+unknown"
