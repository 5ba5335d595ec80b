"""Render an agent result (the dict ``invoke`` returns) as plain text."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["format_step", "format_result"]


def format_step(step: dict[str, Any]) -> str:
    """One step as ReAct-style lines."""
    lines = []
    if step.get("thought"):
        lines.append(f"Thought: {step['thought']}")
    if step.get("tool"):
        lines.append(f"Action: {step['tool']}")
        lines.append(f"Action Input: {json.dumps(step.get('tool_input'), ensure_ascii=False)}")
    lines.append(f"Observation: {step.get('observation', '')}")
    return "\n".join(lines)


def format_result(result: dict[str, Any], *, with_steps: bool = False) -> str:
    """The final answer, optionally preceded by every step."""
    parts = [format_step(s) for s in result.get("steps", [])] if with_steps else []
    answer = str(result.get("answer", ""))
    parts.append(answer if result.get("stopped_by") else f"Final Answer: {answer}")
    return "\n\n".join(parts)
