"""Worked examples shown in an agent prompt: the ones that fit the question, within a budget.

This is the seam between the loops (``agents/react.py`` shows what this returns) and example
selection; it starts as "the first examples of each offered tool" and is replaced by selection
for the question (issue 9, part 4).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from langchain_core.tools import BaseTool

    from tooldeck.tools.examples import ToolExample

__all__ = ["examples_for"]


def examples_for(
    question: str,
    tools: Sequence[BaseTool],
    limit: int = 2,
    max_chars: int | None = None,
) -> list[tuple[BaseTool, ToolExample]]:
    """The worked examples to show for ``question``, best first.

    Args:
        question: The user's question.
        tools: The tools offered to the model (already preselected).
        limit: How many examples at most.
        max_chars: Characters the examples may take in all (whole examples only); None: no cap.

    Returns:
        (tool, example) pairs; a tool whose examples are malformed contributes none.
    """
    from tooldeck.errors import PluginError
    from tooldeck.tools.examples import tool_examples

    chosen: list[tuple[BaseTool, ToolExample]] = []
    for tool in tools:
        try:
            examples = tool_examples(tool)
        except PluginError:
            continue
        chosen.extend((tool, example) for example in examples[:2])
    return chosen[:limit] if limit >= 0 else chosen
