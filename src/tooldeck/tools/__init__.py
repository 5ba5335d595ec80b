"""Tools: the registry, lazy declarations (``spec``), the built-in tools, preselection, and the
guarded runner."""

from __future__ import annotations

__all__: list[str] = []
