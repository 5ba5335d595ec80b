"""Agent loops: ReAct and self-ask (text protocols) and native tool calling."""

from __future__ import annotations

__all__: list[str] = []
