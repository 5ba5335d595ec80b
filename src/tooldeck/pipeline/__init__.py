"""The agent pipeline: ``build_agent(config)`` and the stages it composes.

``from tooldeck.pipeline import build_agent, limits_from, wants_grammar`` is the entry point;
the stages (:class:`InputStage`, :class:`MemoryLoadStage`, :class:`AgentLoopStage`,
:class:`OutputStage`, :class:`MemorySaveStage`) can be used alone or composed anew.
"""

from __future__ import annotations

from tooldeck.pipeline.build import (
    as_tools,
    build_agent,
    build_loop_agent,
    default_stages,
    limits_from,
    wants_grammar,
)
from tooldeck.pipeline.state import STEP_EVENT, TOKEN_EVENT, TurnState

__all__ = [
    "STEP_EVENT",
    "TOKEN_EVENT",
    "TurnState",
    "as_tools",
    "build_agent",
    "build_loop_agent",
    "default_stages",
    "limits_from",
    "wants_grammar",
]
