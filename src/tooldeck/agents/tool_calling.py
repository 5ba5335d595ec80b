"""The native tool-calling agent: LangChain ``create_agent`` plus tooldeck's guard middleware.

The guard adds what ``create_agent`` lacks by default, with the same policy and messages as the
text loops (:mod:`tooldeck.agents.loop`): a step limit (the last model call is offered no
tools), a wall-clock limit, repeated actions (a repeat is not run again: its result is the
earlier one, and the next model call is offered no tools; more than ``max_repeats`` requests of
one action end the run), each limit ending the run with :func:`~tooldeck.agents.core.limit_message`;
tool timeouts, and tool exceptions returned to the model as error results instead of aborting
the run. Transient
model errors are retried by LangChain's ``ModelRetryMiddleware``. With many tools, the
guard offers the model only the ``tool_top_k`` best BM25 matches for the question.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, NotRequired, cast

from langchain.agents import create_agent
from langchain.agents.middleware import (
    AgentMiddleware,
    AgentState,
    ModelRequest,
    ModelResponse,
    ModelRetryMiddleware,
    ToolCallRequest,
    hook_config,
)
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.tools import BaseTool

from tooldeck.agents.core import (
    AgentResult,
    Deadline,
    Limits,
    Step,
    StopReason,
    close_run,
    limit_message,
    repeat_message,
)
from tooldeck.agents.runnable import BaseAgent, Event, amodel_errors, model_errors
from tooldeck.prompts import load_template
from tooldeck.tools.runner import (
    Observation,
    daemon_call,
    failure_observation,
    is_native_async,
    timeout_observation,
)
from tooldeck.tools.select import preselect_tools

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.runnables import RunnableConfig
    from langgraph.runtime import Runtime

__all__ = ["GuardMiddleware", "ToolCallingAgent", "is_transient"]

_STOP_KEY = "tooldeck_stopped_by"


_TRANSIENT_NAMES = frozenset(
    {
        "RateLimitError",
        "APIConnectionError",
        "APITimeoutError",
        "InternalServerError",
        "ServiceUnavailableError",
        "ReadTimeout",
        "ConnectTimeout",
        "RemoteProtocolError",
    }
)


def is_transient(exc: Exception) -> bool:
    """Whether a model error is worth retrying: network trouble, rate limits, 5xx."""
    if isinstance(exc, ConnectionError | TimeoutError):
        return True
    if any(cls.__name__ in _TRANSIENT_NAMES for cls in type(exc).__mro__):
        return True
    status = getattr(exc, "status_code", None)
    return status in (408, 429, 500, 502, 503, 504)


class _GuardState(AgentState[Any]):
    tooldeck_started: NotRequired[float]
    # how often each (tool, arguments) was requested in this run, counted as replies arrive
    tooldeck_actions: NotRequired[dict[str, int]]


def _question(messages: Sequence[BaseMessage]) -> str:
    human = [m for m in messages if isinstance(m, HumanMessage)]
    return human[-1].text if human else ""


def _run_calls(messages: Sequence[BaseMessage]) -> list[AIMessage]:
    start = max((i for i, m in enumerate(messages) if isinstance(m, HumanMessage)), default=-1)
    return [m for m in messages[start + 1 :] if isinstance(m, AIMessage) and m.tool_calls]


def _key(name: str, args: Any) -> str:
    return name + "\x00" + json.dumps(args, sort_keys=True, default=str)


def _actions(state: Any) -> dict[str, int]:
    """The run's action counts kept in the agent state (see ``after_model``)."""
    counts = state.get("tooldeck_actions") if isinstance(state, dict) else None
    return cast(dict[str, int], counts) if isinstance(counts, dict) else {}


def _earlier_result(messages: Sequence[BaseMessage], call_id: str, key: str) -> str | None:
    """The result of an earlier identical request in the run, or None if this is the first.

    The request being run is the last one with ``call_id`` (ids may repeat across replies).
    """
    calls = [call for message in _run_calls(messages) for call in message.tool_calls]
    current = max((i for i, c in enumerate(calls) if c["id"] == call_id), default=len(calls))
    earlier = [c for c in calls[:current] if _key(c["name"], c["args"]) == key]
    if not earlier:
        return None
    results = {m.tool_call_id: m.text for m in messages if isinstance(m, ToolMessage)}
    return results.get(earlier[-1]["id"] or "", "")


class GuardMiddleware(AgentMiddleware[_GuardState, Any]):
    """Limits, repeated-action detection, tool timeouts/errors and tool preselection."""

    state_schema = _GuardState

    def __init__(self, limits: Limits, tool_top_k: int) -> None:
        """Keep the limits."""
        super().__init__()
        self.limits = limits
        self.tool_top_k = tool_top_k

    def before_agent(self, state: _GuardState, runtime: Runtime[Any]) -> dict[str, Any] | None:
        """Start the clock and the action counts."""
        return {"tooldeck_started": time.monotonic(), "tooldeck_actions": {}}

    def _stop(self, reason: StopReason) -> dict[str, Any]:
        text = limit_message(reason, self.limits, [])
        return {
            "jump_to": "end",
            "messages": [AIMessage(text, additional_kwargs={_STOP_KEY: reason})],
        }

    @hook_config(can_jump_to=["end"])
    def before_model(self, state: _GuardState, runtime: Runtime[Any]) -> dict[str, Any] | None:
        """End the run when the step or time limit is reached."""
        calls = _run_calls(state["messages"])
        if len(calls) >= self.limits.max_steps:
            return self._stop("max_steps")
        started = state.get("tooldeck_started", time.monotonic())
        if time.monotonic() - started >= self.limits.max_seconds:
            return self._stop("max_seconds")
        return None

    @hook_config(can_jump_to=["end"])
    def after_model(self, state: _GuardState, runtime: Runtime[Any]) -> dict[str, Any] | None:
        """Count the reply's actions; end the run, before any tool runs, past ``max_repeats``."""
        last = state["messages"][-1] if state["messages"] else None
        if not isinstance(last, AIMessage) or not last.tool_calls:
            return None
        counts = dict(state.get("tooldeck_actions", {}))
        for call in last.tool_calls:
            key = _key(call["name"], call["args"])
            counts[key] = counts.get(key, 0) + 1
        if any(n > self.limits.max_repeats for n in counts.values()):
            return self._stop("repeated_action")
        return {"tooldeck_actions": counts}

    def _must_answer(self, request: ModelRequest[Any]) -> bool:
        """The last allowed step, or a step after a repeated action: only an answer."""
        counts = _actions(request.state)
        if any(n > 1 for n in counts.values()):
            return True
        return len(_run_calls(request.messages)) >= self.limits.max_steps - 1

    def _narrow(self, request: ModelRequest[Any]) -> ModelRequest[Any]:
        if self._must_answer(request):
            return request.override(tools=[])
        tools = [t for t in request.tools if not isinstance(t, dict)]
        if len(tools) <= self.tool_top_k:
            return request
        keep: list[BaseTool | dict[str, Any]] = list(
            preselect_tools(_question(request.messages), tools, self.tool_top_k)
        )
        return request.override(tools=keep)

    def wrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], ModelResponse[Any]],
    ) -> ModelResponse[Any]:
        """Offer only the best-matching tools; none when the step must answer."""
        return handler(self._narrow(request))

    async def awrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], Awaitable[ModelResponse[Any]]],
    ) -> ModelResponse[Any]:
        """Async :meth:`wrap_model_call`."""
        return await handler(self._narrow(request))

    def _error(self, request: ToolCallRequest, observation: Observation) -> ToolMessage:
        call = request.tool_call
        return ToolMessage(
            observation.text, tool_call_id=call["id"], name=call["name"], status="error"
        )

    def _failed(self, request: ToolCallRequest, exc: Exception) -> ToolMessage:
        args = list(request.tool.args) if request.tool is not None else []
        return self._error(request, failure_observation(request.tool_call["name"], exc, args))

    def _timed_out(self, request: ToolCallRequest) -> ToolMessage:
        name = request.tool_call["name"]
        return self._error(request, timeout_observation(name, self.limits.tool_timeout_s))

    def _repeat(self, request: ToolCallRequest) -> ToolMessage | None:
        """A repeated request's result (the earlier one, not run again), or None."""
        call = request.tool_call
        key = _key(call["name"], call["args"])
        if _actions(request.state).get(key, 0) < 2:
            return None
        messages = request.state.get("messages", []) if isinstance(request.state, dict) else []
        previous = _earlier_result(messages, call["id"] or "", key)
        if previous is None:
            return None
        return self._error(request, Observation(repeat_message(call["name"], previous), True))

    def wrap_tool_call(self, request: ToolCallRequest, handler: Callable[..., Any]) -> Any:
        """Run the tool with a timeout; an exception becomes an error result for the model."""
        repeated = self._repeat(request)
        if repeated is not None:
            return repeated
        future = daemon_call(lambda: handler(request))
        try:
            return future.result(timeout=self.limits.tool_timeout_s)
        except concurrent.futures.TimeoutError:
            return self._timed_out(request)
        except Exception as exc:
            return self._failed(request, exc)

    async def awrap_tool_call(
        self, request: ToolCallRequest, handler: Callable[..., Awaitable[Any]]
    ) -> Any:
        """Async :meth:`wrap_tool_call`; sync tools run on a daemon thread, not the loop's pool."""
        repeated = self._repeat(request)
        if repeated is not None:
            return repeated
        try:
            return await asyncio.wait_for(handler(_off_loop(request)), self.limits.tool_timeout_s)
        except TimeoutError:
            return self._timed_out(request)
        except Exception as exc:
            return self._failed(request, exc)


class _OffLoop(BaseTool):
    """A sync tool as the async tool node sees it: ``ainvoke`` runs ``invoke`` on a daemon thread.

    LangChain would run it on the event loop's default executor, where a call that hangs past
    its timeout keeps ``asyncio.run`` (and a server's shutdown) from returning.
    """

    inner: BaseTool

    def _run(self, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover - ainvoke is used
        return self.inner.invoke(*args, **kwargs)

    async def ainvoke(
        self, input: str | dict[str, Any] | Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Any:
        """Run the wrapped tool's sync call on a daemon thread and await it."""
        future = daemon_call(lambda: self.inner.invoke(input, config, **kwargs))
        return await asyncio.wrap_future(future)


def _off_loop(request: ToolCallRequest) -> ToolCallRequest:
    tool = request.tool
    if tool is None or is_native_async(tool):
        return request
    twin = _OffLoop(name=tool.name, description=tool.description, inner=tool)
    return request.override(tool=twin)


class _StepCollector:
    """Turns the graph's message updates into steps and a result."""

    def __init__(self, limits: Limits) -> None:
        self.pending: dict[str, tuple[str, str, Any]] = {}
        self.result = AgentResult(answer="")
        self.limits = limits
        self.deadline = Deadline(limits.max_seconds)

    def feed(self, message: BaseMessage) -> Step | None:
        if isinstance(message, AIMessage):
            for call in message.tool_calls:
                self.pending[call["id"] or ""] = (message.text, call["name"], call["args"])
            if not message.tool_calls:
                self.result.answer = message.text
                self.result.stopped_by = message.additional_kwargs.get(_STOP_KEY)
            return None
        if isinstance(message, ToolMessage):
            thought, tool, args = self.pending.pop(message.tool_call_id, ("", message.name, None))
            text = message.text if isinstance(message.content, str | list) else str(message.content)
            step = Step(thought, tool, args, text, error=message.status == "error")
            self.result.steps.append(step)
            return step
        return None

    def finish(self) -> AgentResult:
        return close_run(self.result, self.limits, self.deadline)


def _updates(chunk: dict[str, Any]) -> Iterator[BaseMessage]:
    for update in chunk.values():
        if isinstance(update, dict):
            yield from update.get("messages", []) or []


class ToolCallingAgent(BaseAgent):
    """An agent for chat models with native tool calling (``bind_tools``)."""

    def __init__(
        self,
        model: BaseChatModel,
        tools: Sequence[BaseTool],
        *,
        model_label: str,
        limits: Limits,
        max_question_chars: int,
        tool_top_k: int,
    ) -> None:
        """Compile the ``create_agent`` graph with the guard and retry middleware."""
        super().__init__(
            model_label=model_label, limits=limits, max_question_chars=max_question_chars
        )
        middleware: list[Any] = [
            GuardMiddleware(limits, tool_top_k),
            ModelRetryMiddleware(
                max_retries=2,
                retry_on=is_transient,
                on_failure="error",
                initial_delay=0.5,
                jitter=False,
            ),
        ]
        self.graph = create_agent(
            model,
            list(tools),
            system_prompt=load_template("tool_calling")["system"],
            middleware=middleware,
        )

    def _graph_input(self, question: str, history: list[BaseMessage]) -> Any:
        return cast(Any, {"messages": [*history, HumanMessage(question)]})

    def events(
        self, question: str, history: list[BaseMessage], config: RunnableConfig, tokens: bool
    ) -> Iterator[Event]:
        """Run the graph, yielding a step event per tool result."""
        collector = _StepCollector(self.limits)
        graph_config: RunnableConfig = {**config, "recursion_limit": 4 * self.limits.max_steps + 10}
        stream = self.graph.stream(
            self._graph_input(question, history), graph_config, stream_mode="updates"
        )
        for chunk in model_errors(stream):
            for message in _updates(chunk):
                step = collector.feed(message)
                if step is not None:
                    yield {"event": "step", "step": step.to_dict()}
        yield self._finish(collector.finish())

    async def aevents(
        self, question: str, history: list[BaseMessage], config: RunnableConfig, tokens: bool
    ) -> AsyncIterator[Event]:
        """Async :meth:`events`."""
        collector = _StepCollector(self.limits)
        graph_config: RunnableConfig = {**config, "recursion_limit": 4 * self.limits.max_steps + 10}
        stream = self.graph.astream(
            self._graph_input(question, history), graph_config, stream_mode="updates"
        )
        async for chunk in amodel_errors(stream):
            for message in _updates(chunk):
                step = collector.feed(message)
                if step is not None:
                    yield {"event": "step", "step": step.to_dict()}
        yield self._finish(collector.finish())
