"""The guarded tool runner and CPU-bound work in a worker process (preselection: test_select)."""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
import time
from collections.abc import Iterator
from fractions import Fraction
from typing import Any

import pytest
from langchain_core.tools import ToolException, tool

from tests.helpers import boom, echo, sleepy
from tooldeck.errors import ToolExecutionError, ToolTimeoutError
from tooldeck.tools.isolate import run_in_subprocess
from tooldeck.tools.runner import Observation, arun_tool, failure_observation, run_tool


def test_ok_error_and_timeout() -> None:
    assert run_tool(echo, {"text": "a"}, timeout_s=5).text == "echo: a"
    failed = run_tool(boom, {"text": "a"}, timeout_s=5)
    assert failed.error and failed.text == "Error: boom failed: RuntimeError: kaboom"
    start = time.monotonic()
    slow = run_tool(sleepy, {"seconds": 30}, timeout_s=0.2)
    assert slow.error and "timed out after 0.2 s" in slow.text
    assert time.monotonic() - start < 5


def test_long_output_is_clipped() -> None:
    obs = run_tool(echo, {"text": "x" * 5000}, timeout_s=5, max_chars=100)
    assert len(obs.text) < 200 and "output truncated: 5006 characters, limit 100" in obs.text


async def test_async_runner() -> None:
    assert (await arun_tool(echo, {"text": "b"}, timeout_s=5)).text == "echo: b"
    slow = await arun_tool(sleepy, {"seconds": 30}, timeout_s=0.2)
    assert slow.error and "timed out" in slow.text
    assert (await arun_tool(boom, {"text": "b"}, timeout_s=5)).error


async def test_sync_tools_do_not_hold_the_event_loops_executor() -> None:
    slow = await arun_tool(sleepy, {"seconds": 30}, timeout_s=0.2)
    assert slow.error
    start = time.monotonic()
    await asyncio.get_running_loop().shutdown_default_executor()  # waited 30 s for sleepy
    assert time.monotonic() - start < 5


# --- CPU-bound work in a worker process (tooldeck.tools.isolate) -----------------------------
# The functions a worker runs are module-level here, so the worker can import them by name.


def _grind(rounds: int) -> str:
    """Deliberately CPU-bound: each big-int power is one C call that holds the GIL ~25 s."""
    total = 0
    for k in range(rounds):
        total += pow(7, 10**7 + k)
    return str(total.bit_length())


def _square(n: int) -> int:
    return n * n


def _pid() -> int:
    return os.getpid()


def _refuse(text: str) -> str:
    raise ToolException(text)


def _fail(text: str) -> str:
    raise ValueError(text)


def _echo(value: object) -> object:
    return value


def _not_plain() -> Fraction:
    return Fraction(1, 3)


@tool
def grinder(rounds: int) -> str:
    """Grind big numbers for a number of rounds.

    Args:
        rounds: how many rounds
    """
    return run_in_subprocess(_grind, rounds, timeout_s=1.0)


def _heartbeat() -> tuple[list[float], threading.Event]:
    beats: list[float] = []
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(0.005):
            beats.append(time.monotonic())

    threading.Thread(target=beat, daemon=True).start()
    return beats, stop


def _longest_gap(beats: list[float], start: float, end: float) -> float:
    points = [start, *[b for b in beats if start < b < end], end]
    return max(b - a for a, b in itertools.pairwise(points))


def test_a_gil_holding_call_on_a_thread_freezes_the_heartbeat() -> None:
    """Why the helper exists: the runner's thread cannot stop this, nor can anything run."""
    beats, stop = _heartbeat()
    time.sleep(0.05)
    start = time.monotonic()
    pow(7, 10**6)  # one C call, a fraction of a second
    end = time.monotonic()
    stop.set()
    assert end - start > 0.05
    assert _longest_gap(beats, start, end) > 0.9 * (end - start)  # not one beat meanwhile


def test_cpu_bound_tool_in_a_worker_times_out_at_its_bound_while_threads_run() -> None:
    assert run_in_subprocess(_square, 3, timeout_s=60) == 9  # a worker with this module loaded
    beats, stop = _heartbeat()
    start = time.monotonic()
    obs = run_tool(grinder, {"rounds": 3}, timeout_s=30)
    end = time.monotonic()
    stop.set()
    assert obs.error and obs.text == (
        "Error: grinder timed out: the computation ran past 1 s and was stopped; try other input"
    )
    assert 1.0 <= end - start < 3.0
    assert _longest_gap(beats, start, end) < 0.5  # a frozen process would show a 1 s gap
    assert len([b for b in beats if start < b < end]) > 30
    assert run_in_subprocess(_square, 12, timeout_s=60) == 144  # a fresh worker took over


def test_worker_results_and_errors() -> None:
    assert run_in_subprocess(_pid, timeout_s=60) != os.getpid()
    assert run_in_subprocess(_square, 2**70, timeout_s=60) == 2**140
    with pytest.raises(ToolException, match="^no such city$"):
        run_in_subprocess(_refuse, "no such city", timeout_s=60)
    with pytest.raises(ToolExecutionError, match="^ValueError: bad$"):
        run_in_subprocess(_fail, "bad", timeout_s=60)
    with pytest.raises(ToolExecutionError, match="other than plain data"):
        run_in_subprocess(_not_plain, timeout_s=60)
    with pytest.raises(ToolExecutionError, match="pass a module-level function"):
        run_in_subprocess(lambda: 1, timeout_s=60)


def test_only_plain_data_crosses_as_json() -> None:
    assert run_in_subprocess(_echo, {"a": [1, 2.5, "x", None, True]}, timeout_s=60) == {
        "a": [1, 2.5, "x", None, True]}
    with pytest.raises(ToolExecutionError, match="pass plain data"):
        run_in_subprocess(_echo, Fraction(1, 3), timeout_s=60)
    with pytest.raises(ToolExecutionError, match="pass a module-level function"):
        run_in_subprocess(_square.__call__, 2, timeout_s=60)


def test_tool_errors_become_observations() -> None:
    timed_out = failure_observation("t", ToolTimeoutError("it ran past 2 s"))
    assert timed_out == Observation("Error: t timed out: it ran past 2 s; try other input", True)
    failed = failure_observation("t", ToolExecutionError("ValueError: bad"))
    assert failed == Observation("Error: t failed: ValueError: bad", True)


# --- async-only tools and the event loop's executor (issue 10, item 1) ------------------------


@tool
async def shout(text: str) -> str:
    """Upper-case the text (a coroutine-only tool).

    Args:
        text: the text
    """
    await asyncio.sleep(0)
    return text.upper()


@tool
async def nap(seconds: float) -> str:
    """Sleep asynchronously, then answer (a coroutine-only tool).

    Args:
        seconds: how long to sleep
    """
    await asyncio.sleep(seconds)
    return "rested"


def test_async_only_tool_runs_on_the_sync_path() -> None:
    with pytest.raises(NotImplementedError):
        shout.invoke({"text": "a"})  # what LangChain does on its own
    assert run_tool(shout, {"text": "a"}, timeout_s=5) == Observation("A")
    start = time.monotonic()
    slow = run_tool(nap, {"seconds": 30}, timeout_s=0.2)
    assert slow.error and "timed out after 0.2 s" in slow.text
    assert time.monotonic() - start < 5


def test_registered_async_only_tool_has_a_sync_path() -> None:
    from tooldeck.tools.registry import ToolRegistry

    registry = ToolRegistry()
    registry.register(shout, plugin="p")
    registered = registry.get("shout").tool
    assert registered.invoke({"text": "b"}) == "B"  # e.g. the tool-calling agent's sync path
    assert run_tool(registered, {"text": "c"}, timeout_s=5).text == "C"
    assert shout.func is None  # the plugin's own object is left alone
    slow = run_tool(registry.get("shout").tool, {"text": "d"}, timeout_s=5)
    assert not slow.error


async def test_async_only_tool_on_the_sync_path_inside_a_running_loop() -> None:
    from tooldeck.tools.runner import with_sync_path

    assert with_sync_path(shout).invoke({"text": "e"}) == "E"  # private loop on a worker


def test_asyncio_run_returns_when_a_sync_tool_times_out() -> None:
    start = time.monotonic()
    slow = asyncio.run(arun_tool(sleepy, {"seconds": 8}, timeout_s=0.2))
    assert slow.error and "timed out" in slow.text
    assert time.monotonic() - start < 5  # the default executor would hold asyncio.run for 8 s


# --- abandoned workers are bounded ---


@pytest.fixture
def small_pool(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """A fresh daemon pool that allows 2 abandoned calls; set the event to release hung ones."""
    from tooldeck.tools import runner

    monkeypatch.setattr(runner, "_POOL", runner._DaemonPool())
    monkeypatch.setattr(runner, "MAX_ABANDONED_CALLS", 2)
    release = threading.Event()
    yield release
    release.set()


def _hang_until(release: threading.Event, started: list[str]) -> Any:
    @tool
    def hang(text: str) -> str:
        """Wait until released, then answer.

        Args:
            text: anything
        """
        started.append(text)
        release.wait(10)
        return "released"

    return hang


def _wait_for(condition: Any, seconds: float = 5) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_abandoned_calls_are_bounded_and_freed_when_they_finish(
    small_pool: threading.Event,
) -> None:
    from tooldeck.tools.runner import abandoned_calls

    started: list[str] = []
    hang = _hang_until(small_pool, started)
    assert run_tool(hang, {"text": "a"}, timeout_s=0.1).text.endswith("try other input")
    assert run_tool(hang, {"text": "b"}, timeout_s=0.1).error
    assert abandoned_calls() == 2
    workers = [t for t in threading.enumerate() if t.name == "tooldeck-tool"]

    start = time.monotonic()
    refused = run_tool(hang, {"text": "c"}, timeout_s=5)
    assert time.monotonic() - start < 1  # fails fast instead of waiting for its timeout
    assert refused.error and refused.text.startswith(
        "Error: hang failed: too many tool calls still running after their timeout (2)"
    )
    assert not run_tool(echo, {"text": "x"}, timeout_s=5).text.startswith("echo")
    assert started == ["a", "b"]  # the refused calls never started
    assert [t for t in threading.enumerate() if t.name == "tooldeck-tool"] == workers

    small_pool.set()  # the hung calls return: their workers are free again
    assert _wait_for(lambda: abandoned_calls() == 0)
    assert run_tool(echo, {"text": "x"}, timeout_s=5).text == "echo: x"


async def test_abandoned_calls_on_the_async_path_count_too(small_pool: threading.Event) -> None:
    from tooldeck.tools.runner import abandoned_calls

    hang = _hang_until(small_pool, [])
    for text in ("a", "b"):
        assert (await arun_tool(hang, {"text": text}, timeout_s=0.1)).error
    assert abandoned_calls() == 2  # asyncio.wait_for's cancel came too late: abandoned
    refused = await arun_tool(echo, {"text": "x"}, timeout_s=5)
    assert refused.error and "too many tool calls still running" in refused.text
    small_pool.set()
    assert _wait_for(lambda: abandoned_calls() == 0)
    assert (await arun_tool(echo, {"text": "y"}, timeout_s=5)).text == "echo: y"


def test_finished_or_cancelled_calls_are_never_counted(small_pool: threading.Event) -> None:
    from tooldeck.tools.runner import abandoned_calls, daemon_call

    done = daemon_call(lambda: 1)
    assert done.result(timeout=5) == 1
    assert not done.cancel()  # too late, but finished: not abandoned
    slow = daemon_call(lambda: small_pool.wait(10))
    with pytest.raises(TimeoutError):
        slow.result(timeout=0.05)
    with pytest.raises(TimeoutError):
        slow.exception(timeout=0.05)  # the same call abandoned twice counts once
    assert not slow.cancel()
    assert abandoned_calls() == 1
    small_pool.set()
    assert slow.result(timeout=5) is True
    assert _wait_for(lambda: abandoned_calls() == 0)
