"""The pipeline: stages composed into one ``Runnable`` from the user's input to the result dict.

``invoke`` / ``ainvoke`` / ``batch`` return ``{"answer", "steps", "stopped_by", "model",
"elapsed_s"}``; ``stream`` / ``astream`` yield that same dict (one chunk per turn), so the
agent streams inside anyone's LCEL chain (``pre | agent | post``). Tokens and steps reach
the caller as custom events (see :mod:`tooldeck.pipeline.state`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda, RunnableSequence

from tooldeck.pipeline.state import TurnState

if TYPE_CHECKING:
    from tooldeck.agents.runnable import BaseAgent
    from tooldeck.pipeline.memory import MemoryHandle

__all__ = ["Pipeline"]

RUN_NAME = "tooldeck_agent"


def _result(state: TurnState) -> dict[str, Any]:
    """The last link: the turn's result dict."""
    if state.output is None:
        msg = "no output stage ran: the pipeline's stages must include OutputStage"
        raise RuntimeError(msg)
    return dict(state.output)


class Pipeline(Runnable[Any, dict[str, Any]]):
    """Named stages run in order over one :class:`TurnState`.

    Args:
        stages: ``(name, runnable)`` pairs; the first takes the user's input, the others map
            a ``TurnState`` to a ``TurnState``; one of them must be an output stage.
        loop_agent: The bare agent inside the loop stage (its ``stream`` yields the raw
            token / step / final events).
        memory: The memory the memory stages share (opened on the first turn with a session).
    """

    def __init__(
        self,
        stages: Sequence[tuple[str, Runnable[Any, Any]]],
        *,
        loop_agent: BaseAgent,
        memory: MemoryHandle,
    ) -> None:
        """Compose the stages into one sequence."""
        self.stages = dict(stages)
        self.loop_agent = loop_agent
        self.memory = memory
        self.model_label = loop_agent.model_label
        links: list[Runnable[Any, Any]] = [*self.stages.values(), RunnableLambda(_result)]
        self.chain: Runnable[Any, dict[str, Any]] = RunnableSequence(*links).with_config(
            run_name=RUN_NAME
        )

    def insert(self, before: str, name: str, stage: Runnable[Any, Any]) -> Pipeline:
        """A new pipeline with ``stage`` placed before the stage named ``before``.

        Raises:
            KeyError: No stage is named ``before``, or ``name`` is taken.
        """
        if before not in self.stages or name in self.stages:
            msg = f"cannot insert {name!r} before {before!r}; stages: {', '.join(self.stages)}"
            raise KeyError(msg)
        pairs: list[tuple[str, Runnable[Any, Any]]] = []
        for key, value in self.stages.items():
            if key == before:
                pairs.append((name, stage))
            pairs.append((key, value))
        return Pipeline(pairs, loop_agent=self.loop_agent, memory=self.memory)

    def invoke(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        """Run one turn and return its result dict."""
        return self.chain.invoke(input, config, **kwargs)

    async def ainvoke(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        """Async :meth:`invoke`."""
        return await self.chain.ainvoke(input, config, **kwargs)

    def stream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[dict[str, Any]]:
        """Run one turn with the model streamed; yield the result dict."""
        yield from self.chain.stream(input, config, **kwargs)

    async def astream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[dict[str, Any]]:
        """Async :meth:`stream`."""
        async for chunk in self.chain.astream(input, config, **kwargs):
            yield chunk

    def transform(
        self, input: Iterator[Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[dict[str, Any]]:
        """Stream inside a chain: the previous link's output in, the result dict out."""
        yield from self.chain.transform(input, config, **kwargs)

    async def atransform(
        self, input: AsyncIterator[Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[dict[str, Any]]:
        """Async :meth:`transform`."""
        async for chunk in self.chain.atransform(input, config, **kwargs):
            yield chunk
