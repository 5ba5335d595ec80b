"""Conversation memory (a window of recent turns for now; summary and vector recall later)."""

from __future__ import annotations

__all__: list[str] = []
