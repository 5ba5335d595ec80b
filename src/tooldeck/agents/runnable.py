"""Agents as LangChain ``Runnable``s, and the drivers that run a loop generator.

A loop (``core.py``) yields requests and events; a driver fulfils the requests. The step
dispatch (what to do with each thing a loop yields, where a run ends, what an event looks
like) is written once, in :class:`LoopTurn`; the sync and async drivers differ only in
``await`` on the two kinds of I/O (model calls and tool calls).

The bare agent's ``stream`` yields event dicts as the run goes::

    {"event": "token", "text": "..."}        model output as it is decoded
    {"event": "step", "step": {...}}          a finished Thought/Action/Observation
    {"event": "final", "result": {...}}       the AgentResult (also what invoke returns)

The pipeline (``tooldeck.pipeline``) wraps the agent: there ``stream`` yields the result and
tokens and steps travel as custom callback events.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import patch_config

from tooldeck.agents.core import AgentResult, Limits, LoopGen, ModelCall, Step, ToolCall
from tooldeck.models.failures import model_failures
from tooldeck.questions import parse_agent_input
from tooldeck.tools.runner import arun_tool, run_tool

if TYPE_CHECKING:
    from langchain_core.callbacks import (
        AsyncCallbackManagerForChainRun,
        CallbackManagerForChainRun,
    )
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import BaseMessage

__all__ = [
    "AgentInput",
    "BaseAgent",
    "Event",
    "LoopTurn",
    "TextAgent",
    "amodel_errors",
    "model_errors",
    "parse_input",
]

AgentInput = Any  # a string, {"input", "history"}, messages, {"messages"}, a HumanMessage
Event = dict[str, Any]
T = TypeVar("T")
parse_input = parse_agent_input  # the input stage's reader, for the bare agent


def model_errors(items: Iterator[T]) -> Iterator[T]:
    """Pass a model's stream through, its failures turned into :class:`ModelError`."""
    with model_failures():
        yield from items


async def amodel_errors(items: AsyncIterator[T]) -> AsyncIterator[T]:
    """Async :func:`model_errors`."""
    with model_failures():
        async for item in items:
            yield item


def _final_event(events: list[Event]) -> dict[str, Any]:
    if events and events[-1]["event"] == "final":
        return dict(events[-1]["result"])
    raise AssertionError("agent produced no final event")  # pragma: no cover


class BaseAgent(Runnable[AgentInput, dict[str, Any]]):
    """Shared Runnable plumbing; subclasses produce the event streams."""

    def __init__(self, *, model_label: str, limits: Limits, max_question_chars: int) -> None:
        """Set the common options."""
        self.model_label = model_label
        self.limits = limits
        self.max_question_chars = max_question_chars

    @abstractmethod
    def events(
        self, question: str, history: list[BaseMessage], config: RunnableConfig, tokens: bool
    ) -> Iterator[Event]:
        """Run synchronously, yielding events; the last one is ``final``."""

    @abstractmethod
    def aevents(
        self, question: str, history: list[BaseMessage], config: RunnableConfig, tokens: bool
    ) -> AsyncIterator[Event]:
        """Run asynchronously, yielding events; the last one is ``final``."""

    def _finish(self, result: AgentResult) -> Event:
        result.model = self.model_label
        return {"event": "final", "result": result.to_dict()}

    def _run(
        self, value: AgentInput, run_manager: CallbackManagerForChainRun, config: RunnableConfig
    ) -> dict[str, Any]:
        question, history = parse_input(value, self.max_question_chars)
        child = patch_config(config, callbacks=run_manager.get_child())
        last: list[Event] = []
        for event in self.events(question, history, child, tokens=False):
            last = [event]
        return _final_event(last)

    async def _arun(
        self,
        value: AgentInput,
        run_manager: AsyncCallbackManagerForChainRun,
        config: RunnableConfig,
    ) -> dict[str, Any]:
        question, history = parse_input(value, self.max_question_chars)
        child = patch_config(config, callbacks=run_manager.get_child())
        last: list[Event] = []
        async for event in self.aevents(question, history, child, tokens=False):
            last = [event]
        return _final_event(last)

    def invoke(
        self, input: AgentInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        """Run to the end and return the result dict."""
        return self._call_with_config(self._run, input, config, run_type="chain")

    async def ainvoke(
        self, input: AgentInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        """Async :meth:`invoke`."""
        return await self._acall_with_config(self._arun, input, config, run_type="chain")

    def _transform(
        self,
        inputs: Iterator[AgentInput],
        run_manager: CallbackManagerForChainRun,
        config: RunnableConfig,
    ) -> Iterator[Event]:
        child = patch_config(config, callbacks=run_manager.get_child())
        for value in inputs:
            question, history = parse_input(value, self.max_question_chars)
            yield from self.events(question, history, child, tokens=True)

    async def _atransform(
        self,
        inputs: AsyncIterator[AgentInput],
        run_manager: AsyncCallbackManagerForChainRun,
        config: RunnableConfig,
    ) -> AsyncIterator[Event]:
        child = patch_config(config, callbacks=run_manager.get_child())
        async for value in inputs:
            question, history = parse_input(value, self.max_question_chars)
            async for event in self.aevents(question, history, child, tokens=True):
                yield event

    def stream(
        self, input: AgentInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[Event]:
        """Yield token, step and final events as the run goes."""
        yield from self._transform_stream_with_config(iter([input]), self._transform, config)

    async def astream(
        self, input: AgentInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Event]:
        """Async :meth:`stream`."""

        async def one() -> AsyncIterator[AgentInput]:
            yield input

        async for event in self._atransform_stream_with_config(one(), self._atransform, config):
            yield event


LoopFactory = Callable[[str, list["BaseMessage"]], LoopGen]


class LoopTurn:
    """The step dispatch shared by the sync and async drivers: everything but the I/O.

    ``advance(reply)`` sends the answer to the last request into the loop and runs it to its
    next request: a :class:`ModelCall` or :class:`ToolCall` the driver must fulfil, or
    ``None`` when the run is over (``result`` is then set). Steps the loop reported on the
    way wait in ``pending`` as step events, for the driver to emit before it does more I/O.
    """

    def __init__(self, loop: LoopGen) -> None:
        """Wrap a loop generator that has not started."""
        self.loop = loop
        self.pending: list[Event] = []
        self.result: AgentResult | None = None

    def advance(self, reply: Any) -> ModelCall | ToolCall | None:
        """Resume the loop with ``reply``; return its next request, or None at its end."""
        while True:  # bounded: the loop yields a request after at most one step event
            try:
                item = self.loop.send(reply)
            except StopIteration as done:
                self.result = done.value
                return None
            reply = None
            if isinstance(item, Step):
                self.pending.append({"event": "step", "step": item.to_dict()})
            else:
                return item

    def final(self) -> AgentResult:
        """The loop's result (once :meth:`advance` returned None)."""
        if self.result is None:
            raise RuntimeError("the loop has not ended")  # pragma: no cover - a driver bug
        return self.result

    def drain(self) -> list[Event]:
        """The step events reported since the last call, in order."""
        out, self.pending = self.pending, []
        return out


def _model_config(call: ModelCall, config: RunnableConfig) -> RunnableConfig:
    """The model call's config; a call that names its prompt template carries it as metadata."""
    prompt = call.prompt
    if not prompt:
        return config
    metadata = {**config.get("metadata", {}), "prompt": prompt}
    merged: RunnableConfig = {**config, "metadata": metadata}
    return merged


class TextAgent(BaseAgent):
    """An agent driven by a text-protocol loop (ReAct or self-ask) over any chat model."""

    def __init__(
        self,
        model: BaseChatModel,
        loop: LoopFactory,
        *,
        model_label: str,
        limits: Limits,
        max_question_chars: int,
    ) -> None:
        """Wrap a loop factory ``loop(question, history)`` and the model it talks to."""
        super().__init__(
            model_label=model_label, limits=limits, max_question_chars=max_question_chars
        )
        self.model = model
        self.loop = loop

    def _tool_kwargs(self, call: ToolCall, config: RunnableConfig) -> dict[str, Any]:
        return {
            "timeout_s": call.timeout_s,
            "max_chars": self.limits.max_observation_chars,
            "config": config,
        }

    def _model(
        self, call: ModelCall, config: RunnableConfig, tokens: bool, out: list[Event]
    ) -> Iterator[Event]:
        """Call the model; its text lands in ``out`` as one event, tokens are yielded."""
        config = _model_config(call, config)
        if not tokens:
            with model_failures():
                text = self.model.invoke(call.messages, config, **call.options).text
            out.append({"text": text})
            return
        parts = []
        for chunk in model_errors(self.model.stream(call.messages, config, **call.options)):
            parts.append(chunk.text)
            yield {"event": "token", "text": chunk.text}
        out.append({"text": "".join(parts)})

    async def _amodel(
        self, call: ModelCall, config: RunnableConfig, tokens: bool, out: list[Event]
    ) -> AsyncIterator[Event]:
        """Async :meth:`_model`."""
        config = _model_config(call, config)
        if not tokens:
            with model_failures():
                text = (await self.model.ainvoke(call.messages, config, **call.options)).text
            out.append({"text": text})
            return
        parts = []
        async for chunk in amodel_errors(self.model.astream(call.messages, config, **call.options)):
            parts.append(chunk.text)
            yield {"event": "token", "text": chunk.text}
        out.append({"text": "".join(parts)})

    def events(
        self, question: str, history: list[BaseMessage], config: RunnableConfig, tokens: bool
    ) -> Iterator[Event]:
        """Drive the loop synchronously."""
        turn = LoopTurn(self.loop(question, history))
        request = turn.advance(None)
        while request is not None:
            yield from turn.drain()
            reply: Any
            if isinstance(request, ModelCall):
                out: list[Event] = []
                yield from self._model(request, config, tokens, out)
                reply = out[0]["text"]
            else:
                kwargs = self._tool_kwargs(request, config)
                reply = run_tool(request.tool, request.tool_input, **kwargs)
            request = turn.advance(reply)
        yield from turn.drain()
        yield self._finish(turn.final())

    async def aevents(
        self, question: str, history: list[BaseMessage], config: RunnableConfig, tokens: bool
    ) -> AsyncIterator[Event]:
        """Drive the loop asynchronously (the same :class:`LoopTurn`, awaited I/O)."""
        turn = LoopTurn(self.loop(question, history))
        request = turn.advance(None)
        while request is not None:
            for event in turn.drain():
                yield event
            reply: Any
            if isinstance(request, ModelCall):
                out: list[Event] = []
                async for event in self._amodel(request, config, tokens, out):
                    yield event
                reply = out[0]["text"]
            else:
                kwargs = self._tool_kwargs(request, config)
                reply = await arun_tool(request.tool, request.tool_input, **kwargs)
            request = turn.advance(reply)
        for event in turn.drain():
            yield event
        yield self._finish(turn.final())
