"""The guarded tool runner and BM25 tool preselection."""

from __future__ import annotations

import time
from typing import Any

from tests.helpers import boom, echo, search, sleepy
from tooldeck.tools.builtin.calculator import calculator
from tooldeck.tools.runner import arun_tool, run_tool
from tooldeck.tools.select import preselect_tools, rank_tools


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


def test_ranking_prefers_matching_descriptions() -> None:
    tools: list[Any] = [echo, boom, sleepy, search, calculator]
    assert rank_tools("What is 17 * 23?", tools)[0][0] is calculator
    assert rank_tools("look up facts about Paris", tools)[0][0] is search
    assert rank_tools("sleep for two seconds", tools)[0][0] is sleepy
    assert preselect_tools("echo my text", tools, 2)[0] is echo
    assert len(preselect_tools("anything", tools, 2)) == 2


def test_min_score_drops_unrelated_tools() -> None:
    assert preselect_tools("Who wrote Hamlet?", [calculator], 3, min_score=0.0) == []
    assert preselect_tools("What is 4 + 4?", [calculator], 3, min_score=0.0) == [calculator]
    assert preselect_tools("Who wrote Hamlet?", [calculator], 3) == [calculator]
