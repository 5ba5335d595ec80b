"""The pipeline's stages: input check, agent loop, output. Each is a Runnable of its own.

A stage maps a :class:`~tooldeck.pipeline.state.TurnState` to a new one (the input stage
makes the first from the user's input). Stages know nothing of each other: a new one (a
guardrail, a cache, a formatter) is inserted into the list ``build_agent`` composes, and the
loops never change for it. The agent loop stage is the one place the loop's token and step
events become custom callback events.

A stage's work is ``step(state, config, streaming=...)`` (and ``astep``); the pipeline calls
those directly inside its one run, while a stage taken alone is a full ``Runnable`` (its own
run, callbacks, ``invoke`` / ``ainvoke`` / ``stream`` / ``astream``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar

from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import patch_config, run_in_executor

from tooldeck.pipeline.state import OUTPUT_KEYS, STEP_EVENT, TOKEN_EVENT, TurnState
from tooldeck.questions import parse_agent_input

if TYPE_CHECKING:
    from langchain_core.callbacks import (
        AsyncCallbackManagerForChainRun,
        CallbackManagerForChainRun,
    )

    from tooldeck.agents.runnable import BaseAgent, Event

    RunManager = CallbackManagerForChainRun | AsyncCallbackManagerForChainRun

__all__ = [
    "AgentLoopStage",
    "InputStage",
    "OutputStage",
    "Stage",
    "alast_chunk",
    "child_config",
    "configurable",
    "last_chunk",
]


def last_chunk(chunks: Iterator[Any]) -> tuple[bool, Any]:
    """Whether a stream of whole inputs had any, and its last (each chunk is a whole turn).

    Args:
        chunks: The previous link's stream.

    Returns:
        ``(True, last)``, or ``(False, None)`` for an empty stream.
    """
    got, last = False, None
    for last in chunks:  # noqa: B007 - the last chunk counts
        got = True
    return got, last


async def alast_chunk(chunks: AsyncIterator[Any]) -> tuple[bool, Any]:
    """Async :func:`last_chunk`."""
    got, last = False, None
    async for last in chunks:  # noqa: B007 - the last chunk counts
        got = True
    return got, last


def configurable(config: RunnableConfig | None, key: str) -> Any:
    """``config["configurable"][key]``, or None."""
    return ((config or {}).get("configurable") or {}).get(key)


def child_config(config: RunnableConfig, run_manager: RunManager) -> RunnableConfig:
    """The config for what runs inside a run (custom events and model calls attach to it)."""
    return patch_config(config, callbacks=run_manager.get_child())


class Stage(Runnable[Any, TurnState]):
    """A pipeline stage.

    Subclasses define :meth:`step` (and :meth:`astep` when they have async I/O of their own).
    ``blocking`` stages (disk or network I/O) run on a worker thread under ``astep``; the
    others run inline on the event loop.
    """

    blocking: ClassVar[bool] = False

    def step(self, state: Any, config: RunnableConfig, *, streaming: bool = False) -> TurnState:
        """Return the next state (``streaming``: the caller streams; tokens are wanted)."""
        raise NotImplementedError  # pragma: no cover - every stage defines it

    async def astep(
        self, state: Any, config: RunnableConfig, *, streaming: bool = False
    ) -> TurnState:
        """Async :meth:`step`."""
        if self.blocking:
            return await run_in_executor(config, self.step, state, config, streaming=streaming)
        return self.step(state, config, streaming=streaming)

    def _invoke(
        self, state: Any, run_manager: CallbackManagerForChainRun, config: RunnableConfig
    ) -> TurnState:
        return self.step(state, child_config(config, run_manager))

    async def _ainvoke(
        self, state: Any, run_manager: AsyncCallbackManagerForChainRun, config: RunnableConfig
    ) -> TurnState:
        return await self.astep(state, child_config(config, run_manager))

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> TurnState:
        """Run the stage alone, as its own run."""
        return self._call_with_config(self._invoke, input, config, run_type="chain")

    async def ainvoke(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> TurnState:
        """Async :meth:`invoke`."""
        return await self._acall_with_config(self._ainvoke, input, config, run_type="chain")

    def _transform(
        self, inputs: Iterator[Any], run_manager: CallbackManagerForChainRun, config: RunnableConfig
    ) -> Iterator[TurnState]:
        got, state = last_chunk(inputs)
        if got:
            yield self.step(state, child_config(config, run_manager), streaming=True)

    async def _atransform(
        self,
        inputs: AsyncIterator[Any],
        run_manager: AsyncCallbackManagerForChainRun,
        config: RunnableConfig,
    ) -> AsyncIterator[TurnState]:
        got, state = await alast_chunk(inputs)
        if got:
            yield await self.astep(state, child_config(config, run_manager), streaming=True)

    def transform(
        self, input: Iterator[Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[TurnState]:
        """Run streaming (the agent stage then streams the model and dispatches tokens)."""
        yield from self._transform_stream_with_config(input, self._transform, config)

    async def atransform(
        self, input: AsyncIterator[Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[TurnState]:
        """Async :meth:`transform`."""
        async for state in self._atransform_stream_with_config(input, self._atransform, config):
            yield state

    def stream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[TurnState]:
        """One state in, the next out, run streaming."""
        yield from self.transform(iter([input]), config)

    async def astream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[TurnState]:
        """Async :meth:`stream`."""

        async def one() -> AsyncIterator[Any]:
            yield input

        async for state in self.atransform(one(), config):
            yield state


class InputStage(Stage):
    """Check the question and read the input forms and the session: the first stage.

    Accepts a string, ``{"input", "history"}``, a list of messages, ``{"messages": [...]}``
    or a ``HumanMessage`` (see :func:`tooldeck.questions.parse_agent_input`); the session is
    ``config["configurable"]["session_id"]``, the turn id ``configurable.turn_id`` or new.
    """

    def __init__(self, max_question_chars: int) -> None:
        """Set the longest question accepted (``max_question_chars``)."""
        self.name = "input"
        self.max_question_chars = max_question_chars

    def step(self, state: Any, config: RunnableConfig, *, streaming: bool = False) -> TurnState:
        """Start the turn state from the user's input."""
        question, history = parse_agent_input(state, self.max_question_chars)
        session = configurable(config, "session_id")
        return TurnState(
            question=question,
            history=history,
            session_id=None if session is None else str(session),
            turn_id=str(configurable(config, "turn_id") or uuid.uuid4().hex),
            started=time.monotonic(),
        )


def _wanted(config: RunnableConfig) -> bool:
    """Whether anyone listens for custom events (no handler: skip the dispatch cost)."""
    callbacks = config.get("callbacks")
    return callbacks is not None and bool(getattr(callbacks, "handlers", callbacks))


def _custom(event: Event) -> tuple[str, Any] | None:
    kind = event["event"]
    if kind == "token":
        return (TOKEN_EVENT, {"text": event["text"]}) if event["text"] else None
    if kind == "step":
        return STEP_EVENT, event["step"]
    return None


def _finished(state: TurnState, result: dict[str, Any]) -> TurnState:
    return replace(
        state,
        answer=str(result["answer"]),
        steps=list(result["steps"]),
        stopped_by=result["stopped_by"],
        model=str(result["model"]),
    )


class AgentLoopStage(Stage):
    """Run the agent loop for the turn; token and step events become custom events.

    Called whole (``invoke`` / ``ainvoke``) the model is invoked whole; streaming (``stream``
    / ``astream``, and so ``astream_events``) it is streamed and each token is dispatched.
    A state a stage before answered (``answered``) passes through untouched.
    """

    def __init__(self, agent: BaseAgent) -> None:
        """Wrap the bare agent (its ``events`` / ``aevents`` drive the loop)."""
        self.name = "agent"
        self.agent = agent

    def step(
        self, state: TurnState, config: RunnableConfig, *, streaming: bool = False
    ) -> TurnState:
        """Run the loop."""
        from langchain_core.callbacks.manager import dispatch_custom_event

        if state.answered:
            return state
        emit = _wanted(config)
        for event in self.agent.events(state.question, state.history, config, streaming):
            custom = _custom(event) if emit else None
            if custom is not None:
                dispatch_custom_event(*custom, config=config)
            elif event["event"] == "final":
                return _finished(state, event["result"])
        raise RuntimeError("the agent produced no final event")  # pragma: no cover

    async def astep(
        self, state: TurnState, config: RunnableConfig, *, streaming: bool = False
    ) -> TurnState:
        """Async :meth:`step`."""
        from langchain_core.callbacks.manager import adispatch_custom_event

        if state.answered:
            return state
        emit = _wanted(config)
        async for event in self.agent.aevents(state.question, state.history, config, streaming):
            custom = _custom(event) if emit else None
            if custom is not None:
                await adispatch_custom_event(*custom, config=config)
            elif event["event"] == "final":
                return _finished(state, event["result"])
        raise RuntimeError("the agent produced no final event")  # pragma: no cover


class OutputStage(Stage):
    """Make the result dict (``answer, steps, stopped_by, model, elapsed_s``) of the turn."""

    def __init__(self) -> None:
        """No options."""
        self.name = "output"

    def step(
        self, state: TurnState, config: RunnableConfig, *, streaming: bool = False
    ) -> TurnState:
        """Set ``elapsed_s`` (the whole turn) and ``output``."""
        elapsed = round(time.monotonic() - state.started, 3) if state.started else 0.0
        done = replace(state, elapsed_s=elapsed)
        output = {key: getattr(done, key) for key in OUTPUT_KEYS}
        return replace(done, output=output)
