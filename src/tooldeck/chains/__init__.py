"""Chains around the agent loop (output formatting now; guardrails and cache later)."""

from __future__ import annotations

__all__: list[str] = []
