"""The pipeline's stages: input check, agent loop, output. Each is a Runnable of its own.

A stage maps a :class:`~tooldeck.pipeline.state.TurnState` to a new one (the input stage
makes the first from the user's input). Stages know nothing of each other: a new one (a
guardrail, a cache, a formatter) is inserted into the list ``build_agent`` composes, and the
loops never change for it. The agent loop stage is the one place the loop's token and step
events become custom callback events.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar

from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import patch_config

from tooldeck.pipeline.state import OUTPUT_KEYS, STEP_EVENT, TOKEN_EVENT, TurnState
from tooldeck.questions import parse_agent_input

if TYPE_CHECKING:
    from langchain_core.callbacks import (
        AsyncCallbackManagerForChainRun,
        CallbackManagerForChainRun,
    )

    from tooldeck.agents.runnable import BaseAgent, Event

    RunManager = CallbackManagerForChainRun | AsyncCallbackManagerForChainRun

__all__ = ["AgentLoopStage", "InputStage", "OutputStage", "Stage", "configurable"]


def _child(config: RunnableConfig, run_manager: RunManager) -> RunnableConfig:
    """The config for what runs inside this stage's run (custom events attach to it)."""
    return patch_config(config, callbacks=run_manager.get_child())


def configurable(config: RunnableConfig | None, key: str) -> Any:
    """``config["configurable"][key]``, or None."""
    return ((config or {}).get("configurable") or {}).get(key)


class Stage(Runnable[TurnState, TurnState]):
    """A pipeline stage: ``step(state, config)`` once per turn, traced as its own run.

    ``blocking`` stages (disk or network I/O) run on a worker thread under ``ainvoke``; the
    others run inline on the event loop.
    """

    blocking: ClassVar[bool] = False

    def step(self, state: TurnState, config: RunnableConfig) -> TurnState:
        """Return the next state."""
        raise NotImplementedError  # pragma: no cover - every stage defines it

    def _step(
        self, state: TurnState, run_manager: CallbackManagerForChainRun, config: RunnableConfig
    ) -> TurnState:
        return self.step(state, _child(config, run_manager))

    async def _astep(
        self,
        state: TurnState,
        run_manager: AsyncCallbackManagerForChainRun,
        config: RunnableConfig,
    ) -> TurnState:
        return self.step(state, _child(config, run_manager))

    def invoke(
        self, input: TurnState, config: RunnableConfig | None = None, **kwargs: Any
    ) -> TurnState:
        """Run the stage on one state."""
        return self._call_with_config(self._step, input, config, run_type="chain")

    async def ainvoke(
        self, input: TurnState, config: RunnableConfig | None = None, **kwargs: Any
    ) -> TurnState:
        """Async :meth:`invoke` (a blocking stage runs on a worker thread)."""
        if self.blocking:
            return await super().ainvoke(input, config, **kwargs)
        return await self._acall_with_config(self._astep, input, config, run_type="chain")


class InputStage(Runnable[Any, TurnState]):
    """Check the question and read the input forms and the session: the first stage.

    Accepts a string, ``{"input", "history"}``, a list of messages, ``{"messages": [...]}``
    or a ``HumanMessage`` (see :func:`tooldeck.questions.parse_agent_input`); the session is
    ``config["configurable"]["session_id"]``, the turn id ``configurable.turn_id`` or new.
    """

    def __init__(self, max_question_chars: int) -> None:
        """Set the longest question accepted (``max_question_chars``)."""
        self.name = "input"
        self.max_question_chars = max_question_chars

    def _parse(self, value: Any, run_manager: RunManager, config: RunnableConfig) -> TurnState:
        question, history = parse_agent_input(value, self.max_question_chars)
        session = configurable(config, "session_id")
        return TurnState(
            question=question,
            history=history,
            session_id=None if session is None else str(session),
            turn_id=str(configurable(config, "turn_id") or uuid.uuid4().hex),
            started=time.monotonic(),
        )

    async def _aparse(
        self, value: Any, run_manager: AsyncCallbackManagerForChainRun, config: RunnableConfig
    ) -> TurnState:
        return self._parse(value, run_manager, config)

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> TurnState:
        """Check one input and start its turn state."""
        return self._call_with_config(self._parse, input, config, run_type="chain")

    async def ainvoke(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> TurnState:
        """Async :meth:`invoke`."""
        return await self._acall_with_config(self._aparse, input, config, run_type="chain")


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

    Under ``invoke`` / ``ainvoke`` the model is called whole; under ``stream`` / ``astream``
    (and so ``astream_events``) it is streamed and each token is dispatched.
    """

    def __init__(self, agent: BaseAgent) -> None:
        """Wrap the bare agent (its ``events`` / ``aevents`` drive the loop)."""
        self.name = "agent"
        self.agent = agent

    def _run(self, state: TurnState, config: RunnableConfig, tokens: bool) -> TurnState:
        from langchain_core.callbacks.manager import dispatch_custom_event

        if state.answered:
            return state
        emit = _wanted(config)
        for event in self.agent.events(state.question, state.history, config, tokens):
            custom = _custom(event) if emit else None
            if custom is not None:
                dispatch_custom_event(*custom, config=config)
            elif event["event"] == "final":
                return _finished(state, event["result"])
        raise RuntimeError("the agent produced no final event")  # pragma: no cover

    async def _arun(self, state: TurnState, config: RunnableConfig, tokens: bool) -> TurnState:
        from langchain_core.callbacks.manager import adispatch_custom_event

        if state.answered:
            return state
        emit = _wanted(config)
        async for event in self.agent.aevents(state.question, state.history, config, tokens):
            custom = _custom(event) if emit else None
            if custom is not None:
                await adispatch_custom_event(*custom, config=config)
            elif event["event"] == "final":
                return _finished(state, event["result"])
        raise RuntimeError("the agent produced no final event")  # pragma: no cover

    def step(self, state: TurnState, config: RunnableConfig) -> TurnState:
        """Run the loop, the model called whole."""
        return self._run(state, config, tokens=False)

    async def _astep(
        self,
        state: TurnState,
        run_manager: AsyncCallbackManagerForChainRun,
        config: RunnableConfig,
    ) -> TurnState:
        return await self._arun(state, _child(config, run_manager), tokens=False)

    def _transform(
        self,
        inputs: Iterator[TurnState],
        run_manager: CallbackManagerForChainRun,
        config: RunnableConfig,
    ) -> Iterator[TurnState]:
        state = None
        for chunk in inputs:  # one state per turn; keep the last if more arrive
            state = chunk
        if state is not None:
            yield self._run(state, _child(config, run_manager), tokens=True)

    async def _atransform(
        self,
        inputs: AsyncIterator[TurnState],
        run_manager: AsyncCallbackManagerForChainRun,
        config: RunnableConfig,
    ) -> AsyncIterator[TurnState]:
        state = None
        async for chunk in inputs:
            state = chunk
        if state is not None:
            yield await self._arun(state, _child(config, run_manager), tokens=True)

    def transform(
        self, input: Iterator[TurnState], config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[TurnState]:
        """Run the loop with the model streamed (tokens dispatched as they come)."""
        yield from self._transform_stream_with_config(input, self._transform, config)

    async def atransform(
        self,
        input: AsyncIterator[TurnState],
        config: RunnableConfig | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[TurnState]:
        """Async :meth:`transform`."""
        async for state in self._atransform_stream_with_config(input, self._atransform, config):
            yield state

    def stream(
        self, input: TurnState, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[TurnState]:
        """Stream one turn: the final state, tokens and steps as custom events."""
        yield from self.transform(iter([input]), config)

    async def astream(
        self, input: TurnState, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[TurnState]:
        """Async :meth:`stream`."""

        async def one() -> AsyncIterator[TurnState]:
            yield input

        async for state in self.atransform(one(), config):
            yield state


class OutputStage(Stage):
    """Make the result dict (``answer, steps, stopped_by, model, elapsed_s``) of the turn."""

    def __init__(self) -> None:
        """No options."""
        self.name = "output"

    def step(self, state: TurnState, config: RunnableConfig) -> TurnState:
        """Set ``elapsed_s`` (the whole turn) and ``output``."""
        elapsed = round(time.monotonic() - state.started, 3) if state.started else 0.0
        done = replace(state, elapsed_s=elapsed)
        output = {key: getattr(done, key) for key in OUTPUT_KEYS}
        return replace(done, output=output)
