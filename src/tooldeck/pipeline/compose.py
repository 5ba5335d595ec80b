"""The pipeline: stages composed into one ``Runnable`` from the user's input to the result dict.

``invoke`` / ``ainvoke`` / ``batch`` return ``{"answer", "steps", "stopped_by", "model",
"elapsed_s"}``; ``stream`` / ``astream`` yield that same dict (one chunk per turn), so the
agent streams inside anyone's LCEL chain (``pre | agent | post``). Tokens and steps reach
the caller as custom events (see :mod:`tooldeck.pipeline.state`).

One turn is one run named ``tooldeck_agent``: the pipeline calls each stage's ``step``
inside it (a run per stage would cost about a millisecond each); the model and tool calls
are that run's children, so callbacks and tracers see them as usual.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from langchain_core.runnables import Runnable, RunnableConfig

from tooldeck.pipeline.stages import Stage, alast_chunk, child_config, last_chunk
from tooldeck.pipeline.state import TurnState

if TYPE_CHECKING:
    from langchain_core.callbacks import (
        AsyncCallbackManagerForChainRun,
        CallbackManagerForChainRun,
    )

    from tooldeck.agents.runnable import BaseAgent
    from tooldeck.pipeline.memory import MemoryHandle

__all__ = ["RUN_NAME", "Pipeline"]

RUN_NAME = "tooldeck_agent"


def _result(state: TurnState) -> dict[str, Any]:
    """The turn's result dict."""
    if state.output is None:
        msg = "no output stage ran: the pipeline's stages must include OutputStage"
        raise RuntimeError(msg)
    return dict(state.output)


class Pipeline(Runnable[Any, dict[str, Any]]):
    """Named stages run in order over one :class:`TurnState`.

    Args:
        stages: ``(name, stage)`` pairs; the first takes the user's input, the others map a
            ``TurnState`` to a ``TurnState``; one of them must be an output stage.
        loop_agent: The bare agent inside the loop stage (its ``stream`` yields the raw
            token / step / final events).
        memory: The memory the memory stages share (opened on the first turn with a session).
    """

    def __init__(
        self,
        stages: Sequence[tuple[str, Stage]],
        *,
        loop_agent: BaseAgent,
        memory: MemoryHandle,
    ) -> None:
        """Keep the stages in order."""
        self.name = RUN_NAME
        self.stages = dict(stages)
        self.loop_agent = loop_agent
        self.memory = memory
        self.model_label = loop_agent.model_label

    def insert(self, before: str, name: str, stage: Stage) -> Pipeline:
        """A new pipeline with ``stage`` placed before the stage named ``before``.

        Raises:
            KeyError: No stage is named ``before``, or ``name`` is taken.
        """
        if before not in self.stages or name in self.stages:
            msg = f"cannot insert {name!r} before {before!r}; stages: {', '.join(self.stages)}"
            raise KeyError(msg)
        pairs: list[tuple[str, Stage]] = []
        for key, value in self.stages.items():
            if key == before:
                pairs.append((name, stage))
            pairs.append((key, value))
        return Pipeline(pairs, loop_agent=self.loop_agent, memory=self.memory)

    def _turn(self, value: Any, config: RunnableConfig, streaming: bool) -> dict[str, Any]:
        state: Any = value
        for stage in self.stages.values():
            state = stage.step(state, config, streaming=streaming)
        return _result(state)

    async def _aturn(self, value: Any, config: RunnableConfig, streaming: bool) -> dict[str, Any]:
        state: Any = value
        for stage in self.stages.values():
            state = await stage.astep(state, config, streaming=streaming)
        return _result(state)

    def _invoke(
        self, value: Any, run_manager: CallbackManagerForChainRun, config: RunnableConfig
    ) -> dict[str, Any]:
        return self._turn(value, child_config(config, run_manager), streaming=False)

    async def _ainvoke(
        self, value: Any, run_manager: AsyncCallbackManagerForChainRun, config: RunnableConfig
    ) -> dict[str, Any]:
        return await self._aturn(value, child_config(config, run_manager), streaming=False)

    def invoke(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        """Run one turn and return its result dict."""
        return self._call_with_config(self._invoke, input, config, run_type="chain")

    async def ainvoke(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        """Async :meth:`invoke`."""
        return await self._acall_with_config(self._ainvoke, input, config, run_type="chain")

    def _transform(
        self, inputs: Iterator[Any], run_manager: CallbackManagerForChainRun, config: RunnableConfig
    ) -> Iterator[dict[str, Any]]:
        got, value = last_chunk(inputs)
        if got:
            yield self._turn(value, child_config(config, run_manager), streaming=True)

    async def _atransform(
        self,
        inputs: AsyncIterator[Any],
        run_manager: AsyncCallbackManagerForChainRun,
        config: RunnableConfig,
    ) -> AsyncIterator[dict[str, Any]]:
        got, value = await alast_chunk(inputs)
        if got:
            yield await self._aturn(value, child_config(config, run_manager), streaming=True)

    def transform(
        self, input: Iterator[Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[dict[str, Any]]:
        """Stream inside a chain: the previous link's output in, the result dict out."""
        yield from self._transform_stream_with_config(input, self._transform, config)

    async def atransform(
        self, input: AsyncIterator[Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[dict[str, Any]]:
        """Async :meth:`transform`."""
        async for chunk in self._atransform_stream_with_config(input, self._atransform, config):
            yield chunk

    def stream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[dict[str, Any]]:
        """Run one turn with the model streamed; yield the result dict."""
        yield from self.transform(iter([input]), config)

    async def astream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[dict[str, Any]]:
        """Async :meth:`stream`."""

        async def one() -> AsyncIterator[Any]:
            yield input

        async for chunk in self.atransform(one(), config):
            yield chunk
