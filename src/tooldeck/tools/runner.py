"""Running one tool call safely: the one place where tool failures become observations.

A tool that raises, rejects its input, or runs past its timeout never crashes the loop: the
model gets an observation that says what went wrong. Sync tools run on a daemon thread so a
tool that hangs cannot block the process from exiting, on the sync path and the async path alike
(never on the event loop's default executor, which ``asyncio.run`` waits for). An async-only tool
(a ``@tool`` coroutine) runs on a private event loop in a worker thread on the sync path, where
its timeout cancels it. A thread cannot be stopped, though, and C-level work holds the GIL: a
CPU-bound tool must bound its input or do the heavy part through
:func:`tooldeck.tools.isolate.run_in_subprocess`, whose timeout kills the work.

A call is *abandoned* when its caller stops waiting for it while it runs: a ``result()`` or
``exception()`` that times out, or a ``cancel()`` that comes too late (``asyncio.wait_for``
on a wrapped future does that). Its worker runs on until the call returns, so at most
:data:`MAX_ABANDONED_CALLS` abandoned calls may be alive at once: past that, a new call fails
at once (its future holds a ``ToolExecutionError``, which every agent loop turns into an
observation) instead of starting yet another thread behind a tool that hangs.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import inspect
import queue
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from langchain_core.runnables import RunnableConfig
    from langchain_core.tools import BaseTool

__all__ = [
    "MAX_ABANDONED_CALLS",
    "Observation",
    "abandoned_calls",
    "arun_tool",
    "daemon_call",
    "failure_observation",
    "is_native_async",
    "run_coroutine_sync",
    "run_tool",
    "timeout_observation",
    "with_sync_path",
]

# Marks the sync function that with_sync_path gives an async-only tool.
_SHIM_MARK = "_tooldeck_runs_coroutine"

MAX_ABANDONED_CALLS = 32
"""Most calls still running after their caller gave up on them; past it, new calls fail fast."""


@dataclass(frozen=True)
class Observation:
    """What a tool call produced, as text for the model."""

    text: str
    error: bool = False


class _Call(concurrent.futures.Future[Any]):
    """A daemon call's future; it tells its pool when the caller stops waiting while it runs."""

    def __init__(self, pool: _DaemonPool) -> None:
        super().__init__()
        self._pool = pool
        self.abandoned = False  # guarded by the pool's lock

    def result(self, timeout: float | None = None) -> Any:
        try:
            return super().result(timeout)
        except concurrent.futures.TimeoutError:
            self._pool.abandon(self)
            raise

    def exception(self, timeout: float | None = None) -> BaseException | None:
        try:
            return super().exception(timeout)
        except concurrent.futures.TimeoutError:
            self._pool.abandon(self)
            raise

    def cancel(self) -> bool:
        if super().cancel():
            return True  # it had not started: it never will
        self._pool.abandon(self)  # running (or done, which abandon ignores)
        return False


class _DaemonPool:
    """Reusable daemon worker threads; a new one starts only when all are busy.

    Daemon threads let a hung tool be abandoned (it cannot block interpreter exit), and
    reusing them keeps the per-call cost to a queue hand-off instead of a thread start. The
    pool counts abandoned calls that still run and refuses new calls past the limit.
    """

    def __init__(self) -> None:
        self._tasks: queue.SimpleQueue[tuple[Callable[[], Any], _Call]] = queue.SimpleQueue()
        self._idle = 0
        self._abandoned = 0
        self._lock = threading.Lock()

    @property
    def abandoned(self) -> int:
        """Abandoned calls still running."""
        with self._lock:
            return self._abandoned

    def submit(self, fn: Callable[[], Any]) -> concurrent.futures.Future[Any]:
        future = _Call(self)
        with self._lock:
            if self._abandoned >= MAX_ABANDONED_CALLS:
                future.set_exception(_too_many(self._abandoned))
                return future
            if self._idle:
                self._idle -= 1
            else:
                threading.Thread(target=self._work, daemon=True, name="tooldeck-tool").start()
        self._tasks.put((fn, future))
        return future

    def abandon(self, future: _Call) -> None:
        """Count ``future`` as abandoned until it finishes (once; a finished one is ignored)."""
        with self._lock:
            if not future.abandoned and not future.done():
                future.abandoned = True
                self._abandoned += 1

    def _work(self) -> None:
        while True:
            fn, future = self._tasks.get()
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn())
                except BaseException as exc:  # delivered to the waiting caller
                    future.set_exception(exc)
            with self._lock:
                if future.abandoned:
                    self._abandoned -= 1
                self._idle += 1


def _too_many(running: int) -> Exception:
    from tooldeck.errors import ToolExecutionError

    msg = (
        f"too many tool calls still running after their timeout ({running}); this call was "
        "not started. Try again later, or answer without this tool"
    )
    return ToolExecutionError(msg)


_POOL = _DaemonPool()


def daemon_call(fn: Callable[[], Any]) -> concurrent.futures.Future[Any]:
    """Run ``fn`` on a daemon worker thread (a hung call cannot block exit); return its future.

    Waiting on the future with a timeout that expires, or cancelling it once it runs, abandons
    the call (see the module docstring). With :data:`MAX_ABANDONED_CALLS` abandoned calls still
    running, ``fn`` is not started and the future holds a ``ToolExecutionError``.
    """
    return _POOL.submit(fn)


def abandoned_calls() -> int:
    """How many daemon calls are still running after their caller stopped waiting for them."""
    return _POOL.abandoned


def run_coroutine_sync(factory: Callable[[], Awaitable[Any]]) -> Any:
    """Run a coroutine to completion from sync code, on a private event loop.

    Args:
        factory: Makes the awaitable (called on the thread that runs it).

    Returns:
        What it returned. In a thread that already runs an event loop, the private loop runs
        on a daemon worker thread and this call blocks until it is done.
    """

    async def main() -> Any:
        return await factory()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    return daemon_call(lambda: asyncio.run(main())).result()


def _is_async_only(tool: BaseTool) -> bool:
    """A ``@tool`` made from a coroutine alone (or given only :func:`with_sync_path`'s shim)."""
    func = getattr(tool, "func", ...)
    return getattr(tool, "coroutine", None) is not None and (
        func is None or bool(getattr(func, _SHIM_MARK, False))
    )


def with_sync_path(tool: BaseTool) -> BaseTool:
    """Give an async-only ``@tool`` a sync path: its coroutine on a private event loop.

    LangChain's ``invoke`` of a tool made from a coroutine alone raises ``NotImplementedError``;
    the registry passes every tool through here so ``tools run``, ``run``, ``chat`` and the
    tool-calling agent's sync path can call it. Other tools come back unchanged.

    Args:
        tool: Any tool.

    Returns:
        The tool, or a copy of it whose ``func`` runs its coroutine.
    """
    if not _is_async_only(tool) or getattr(tool, "func", None) is not None:
        return tool
    coroutine: Callable[..., Awaitable[Any]] = tool.coroutine  # type: ignore[attr-defined]

    @functools.wraps(coroutine)  # same signature: LangChain passes it config/callbacks alike
    def on_private_loop(*args: Any, **kwargs: Any) -> Any:
        return run_coroutine_sync(lambda: coroutine(*args, **kwargs))

    setattr(on_private_loop, _SHIM_MARK, True)
    return tool.model_copy(update={"func": on_private_loop})


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[output truncated: {len(text)} characters, limit {limit}]"


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    content = getattr(value, "content", None)
    return str(content if content is not None else value)


def failure_observation(
    tool_name: str, exc: BaseException, arg_names: Sequence[str] = ()
) -> Observation:
    """The observation for a tool call that raised (any agent loop uses this wording).

    Args:
        tool_name: The tool that was called.
        exc: What it raised; invalid-input, ``ToolException`` and ``ToolExecutionError`` (such
            as a :func:`~tooldeck.tools.isolate.run_in_subprocess` timeout) get their own text.
        arg_names: The tool's argument names, listed after an invalid-input error.

    Returns:
        An error observation for the model.
    """
    from langchain_core.tools import ToolException
    from pydantic import ValidationError

    from tooldeck.errors import ToolExecutionError, ToolTimeoutError

    if isinstance(exc, ValidationError):
        fields = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'input'}: {e['msg']}" for e in exc.errors()
        )
        args = ", ".join(arg_names) or "none"
        return Observation(
            f"Error: invalid input for {tool_name} ({fields}). Arguments: {args}.", True
        )
    if isinstance(exc, ToolException):
        return Observation(f"Error: {tool_name}: {exc}", True)
    if isinstance(exc, ToolTimeoutError):
        return Observation(f"Error: {tool_name} timed out: {exc}; try other input", True)
    if isinstance(exc, ToolExecutionError):
        return Observation(f"Error: {tool_name} failed: {exc}", True)
    return Observation(f"Error: {tool_name} failed: {type(exc).__name__}: {exc}", True)


def timeout_observation(tool_name: str, seconds: float) -> Observation:
    """The observation for a tool call that ran past its timeout."""
    return Observation(f"Error: {tool_name} timed out after {seconds:g} s; try other input", True)


def run_tool(
    tool: BaseTool,
    tool_input: str | dict[str, Any],
    *,
    timeout_s: float,
    max_chars: int = 4000,
    config: RunnableConfig | None = None,
) -> Observation:
    """Run a tool with a timeout, turning every failure into an observation.

    Args:
        tool: The tool.
        tool_input: Its arguments (a dict), or a single string argument.
        timeout_s: Seconds before giving up on it.
        max_chars: Longest observation passed back; longer output is cut with a note.
        config: Runnable config carrying callbacks to the tool.

    Returns:
        The observation.
    """
    if _is_async_only(tool):
        # The private loop's own timeout cancels the coroutine; the outer one is the backstop.
        future = daemon_call(
            lambda: run_coroutine_sync(
                lambda: asyncio.wait_for(tool.ainvoke(tool_input, config=config), timeout_s)
            )
        )
    else:
        future = daemon_call(lambda: tool.invoke(tool_input, config=config))
    try:
        return Observation(_clip(_as_text(future.result(timeout=timeout_s)), max_chars))
    except concurrent.futures.TimeoutError:
        return timeout_observation(tool.name, timeout_s)
    except Exception as exc:
        return failure_observation(tool.name, exc, list(tool.args))


def is_native_async(tool: BaseTool) -> bool:
    """Whether the tool has its own coroutine.

    ``Tool`` and ``StructuredTool`` define ``_arun`` but, with no ``coroutine``, it runs the sync
    function on the event loop's default executor, where a hung call would hold a slot of that
    small pool and keep ``asyncio.run`` from returning; those go to a daemon thread instead.
    """
    from langchain_core.tools import BaseTool

    if hasattr(tool, "coroutine"):
        return tool.coroutine is not None
    return type(tool)._arun is not BaseTool._arun and inspect.iscoroutinefunction(tool._arun)


async def arun_tool(
    tool: BaseTool,
    tool_input: str | dict[str, Any],
    *,
    timeout_s: float,
    max_chars: int = 4000,
    config: RunnableConfig | None = None,
) -> Observation:
    """Async twin of :func:`run_tool`; native async tools are awaited, sync ones threaded."""
    try:
        if is_native_async(tool):
            value = await asyncio.wait_for(tool.ainvoke(tool_input, config=config), timeout_s)
        else:
            future = daemon_call(lambda: tool.invoke(tool_input, config=config))
            value = await asyncio.wait_for(asyncio.wrap_future(future), timeout_s)
        return Observation(_clip(_as_text(value), max_chars))
    except TimeoutError:
        return timeout_observation(tool.name, timeout_s)
    except Exception as exc:
        return failure_observation(tool.name, exc, list(tool.args))
