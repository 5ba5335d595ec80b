"""Agents as LangChain ``Runnable``s: invoke, ainvoke, stream, astream, batch, callbacks.

``stream`` yields event dicts as the run goes::

    {"event": "token", "text": "..."}        model output as it is decoded
    {"event": "step", "step": {...}}          a finished Thought/Action/Observation
    {"event": "final", "result": {...}}       the AgentResult (also what invoke returns)
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import patch_config

from tooldeck.agents.core import AgentResult, Limits, LoopGen, ModelCall, Step, ToolCall
from tooldeck.errors import InputError
from tooldeck.models.failures import model_failures
from tooldeck.questions import check_question
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
    "TextAgent",
    "amodel_errors",
    "model_errors",
    "parse_input",
]

AgentInput = str | dict[str, Any]
Event = dict[str, Any]
T = TypeVar("T")


def model_errors(items: Iterator[T]) -> Iterator[T]:
    """Pass a model's stream through, its failures turned into :class:`ModelError`."""
    with model_failures():
        yield from items


async def amodel_errors(items: AsyncIterator[T]) -> AsyncIterator[T]:
    """Async :func:`model_errors`."""
    with model_failures():
        async for item in items:
            yield item


def parse_input(value: AgentInput, max_chars: int) -> tuple[str, list[BaseMessage]]:
    """Check and split the input into (question, history).

    Args:
        value: A question string, or ``{"input" | "question": str, "history": [messages]}``.
        max_chars: The longest question accepted.

    Returns:
        The question and any earlier conversation messages.

    Raises:
        InputError: Missing, empty or oversized question.
    """
    history: list[BaseMessage] = []
    if isinstance(value, dict):
        question = value.get("input", value.get("question"))
        history = list(value.get("history") or [])
    else:
        question = value
    if not isinstance(question, str):
        msg = "agent input must be a question string or a dict with an 'input' string"
        raise InputError(msg)
    return check_question(question, max_chars), history


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
        for event in self.events(question, history, child, tokens=False):
            if event["event"] == "final":
                return dict(event["result"])
        raise AssertionError("agent produced no final event")  # pragma: no cover

    async def _arun(
        self,
        value: AgentInput,
        run_manager: AsyncCallbackManagerForChainRun,
        config: RunnableConfig,
    ) -> dict[str, Any]:
        question, history = parse_input(value, self.max_question_chars)
        child = patch_config(config, callbacks=run_manager.get_child())
        async for event in self.aevents(question, history, child, tokens=False):
            if event["event"] == "final":
                return dict(event["result"])
        raise AssertionError("agent produced no final event")  # pragma: no cover

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

    def _invoke_model(self, call: ModelCall, config: RunnableConfig) -> str:
        with model_failures():
            return self.model.invoke(call.messages, config, **call.options).text

    async def _ainvoke_model(self, call: ModelCall, config: RunnableConfig) -> str:
        with model_failures():
            return (await self.model.ainvoke(call.messages, config, **call.options)).text

    def events(
        self, question: str, history: list[BaseMessage], config: RunnableConfig, tokens: bool
    ) -> Iterator[Event]:
        """Drive the loop synchronously."""
        gen = self.loop(question, history)
        reply: Any = None
        while True:
            try:
                item = gen.send(reply)
            except StopIteration as done:
                yield self._finish(done.value)
                return
            reply = None
            if isinstance(item, ModelCall):
                if tokens:
                    parts = []
                    chunks = self.model.stream(item.messages, config, **item.options)
                    for chunk in model_errors(chunks):
                        parts.append(chunk.text)
                        yield {"event": "token", "text": chunk.text}
                    reply = "".join(parts)
                else:
                    reply = self._invoke_model(item, config)
            elif isinstance(item, ToolCall):
                reply = run_tool(
                    item.tool,
                    item.tool_input,
                    timeout_s=item.timeout_s,
                    max_chars=self.limits.max_observation_chars,
                    config=config,
                )
            elif isinstance(item, Step):
                yield {"event": "step", "step": item.to_dict()}

    async def aevents(
        self, question: str, history: list[BaseMessage], config: RunnableConfig, tokens: bool
    ) -> AsyncIterator[Event]:
        """Drive the loop asynchronously."""
        gen = self.loop(question, history)
        reply: Any = None
        while True:
            try:
                item = gen.send(reply)
            except StopIteration as done:
                yield self._finish(done.value)
                return
            reply = None
            if isinstance(item, ModelCall):
                if tokens:
                    parts = []
                    chunks = self.model.astream(item.messages, config, **item.options)
                    async for chunk in amodel_errors(chunks):
                        parts.append(chunk.text)
                        yield {"event": "token", "text": chunk.text}
                    reply = "".join(parts)
                else:
                    reply = await self._ainvoke_model(item, config)
            elif isinstance(item, ToolCall):
                reply = await arun_tool(
                    item.tool,
                    item.tool_input,
                    timeout_s=item.timeout_s,
                    max_chars=self.limits.max_observation_chars,
                    config=config,
                )
            elif isinstance(item, Step):
                yield {"event": "step", "step": item.to_dict()}
