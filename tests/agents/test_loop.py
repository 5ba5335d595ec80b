"""The one bounded loop: ReAct and self-ask follow the same policy on the same script.

The loops are driven directly (``tests.helpers.drive_loop``) so that what each step requests,
and with which call options, can be checked.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.tools import tool

from tests.helpers import drive_loop, final, grammar_accepts, react, search
from tooldeck.agents.core import Limits, repeat_message
from tooldeck.agents.react import react_loop
from tooldeck.agents.self_ask import self_ask_loop
from tooldeck.tools.builtin.calculator import calculator

PARIS = "Paris has 2.1 million people."


@tool
def fetch(url: str) -> str:
    """Read a page.

    Args:
        url: the page's address
    """
    return f"Read {url}. See also https://example.org/next and http://127.0.0.1:9/b."


def _react(replies: list[str], limits: Limits, grammar: bool = True) -> tuple[Any, list[Any]]:
    loop = react_loop("How many people live in Paris?", [search], limits, use_grammar=grammar)
    return drive_loop(loop, replies)


def _self_ask(replies: list[str], limits: Limits, grammar: bool = True) -> tuple[Any, list[Any]]:
    loop = self_ask_loop("How many people live in Paris?", search, limits, use_grammar=grammar)
    return drive_loop(loop, replies)


REPEAT_REACT = [react("look it up", "search", '{"query": "paris"}')]
REPEAT_SELF_ASK = ["Follow up: paris"]


@pytest.mark.parametrize("grammar", [True, False])
def test_a_repeated_action_gets_the_same_observation_and_stop_in_both_loops(
    grammar: bool,
) -> None:
    limits = Limits(max_steps=10, max_repeats=2)
    by_react, react_calls = _react(REPEAT_REACT, limits, grammar)
    by_self_ask, self_ask_calls = _self_ask(REPEAT_SELF_ASK, limits, grammar)
    expected = [PARIS, repeat_message("search", PARIS)]
    for result, calls in ((by_react, react_calls), (by_self_ask, self_ask_calls)):
        assert [s.observation for s in result.steps] == expected
        assert [s.error for s in result.steps] == [False, True]
        assert result.stopped_by == "repeated_action" and len(calls) == 3
        assert "repeated action" in result.answer and f"search: {PARIS}" in result.answer
    assert by_react.answer == by_self_ask.answer


def test_after_a_repeat_the_next_step_may_only_answer() -> None:
    limits = Limits(max_steps=10, max_repeats=2)
    _, react_calls = _react(REPEAT_REACT, limits)
    _, self_ask_calls = _self_ask(REPEAT_SELF_ASK, limits)
    act, answer = REPEAT_REACT[0], final("2.1 million")
    assert grammar_accepts(react_calls[1].options["grammar"], act)
    assert not grammar_accepts(react_calls[2].options["grammar"], act)
    assert grammar_accepts(react_calls[2].options["grammar"], answer)
    ask, done = "Follow up: paris", "So the final answer is: 2.1 million"
    assert grammar_accepts(self_ask_calls[1].options["grammar"], ask)
    assert not grammar_accepts(self_ask_calls[2].options["grammar"], ask)
    assert grammar_accepts(self_ask_calls[2].options["grammar"], done)


def test_a_repeat_within_the_limit_then_an_answer() -> None:
    limits = Limits(max_steps=10, max_repeats=2)
    result, _ = _react([*REPEAT_REACT, *REPEAT_REACT, final("2.1 million")], limits)
    answer = "So the final answer is: 2.1 million"
    again, _ = _self_ask(["Follow up: paris", "Follow up: paris", answer], limits)
    for run in (result, again):
        assert run.stopped_by is None and run.answer == "2.1 million"
        assert [s.observation for s in run.steps] == [PARIS, repeat_message("search", PARIS)]


def test_max_repeats_one_stops_at_the_first_repeat_in_both_loops() -> None:
    limits = Limits(max_steps=10, max_repeats=1)
    for result, calls in (_react(REPEAT_REACT, limits), _self_ask(REPEAT_SELF_ASK, limits)):
        assert result.stopped_by == "repeated_action"
        assert [s.observation for s in result.steps] == [PARIS] and len(calls) == 2


def test_the_step_limit_and_the_last_step_in_both_loops() -> None:
    limits = Limits(max_steps=3, max_repeats=5)
    queries = [react("t", "search", f'{{"query": "q{i}"}}') for i in range(5)]
    by_react, react_calls = _react(queries, limits)
    by_self_ask, self_ask_calls = _self_ask([f"Follow up: q{i}" for i in range(5)], limits)
    for result, calls in ((by_react, react_calls), (by_self_ask, self_ask_calls)):
        assert result.stopped_by == "max_steps" and len(calls) == 3 and len(result.steps) == 3
        assert "step limit (3 steps, agent.max_steps)" in result.answer
    assert not grammar_accepts(react_calls[2].options["grammar"], queries[0])
    assert not grammar_accepts(self_ask_calls[2].options["grammar"], "Follow up: q0")


def test_the_time_limit_in_both_loops() -> None:
    limits = Limits(max_seconds=0.0)
    for result, calls in (_react(REPEAT_REACT, limits), _self_ask(REPEAT_SELF_ASK, limits)):
        assert result.stopped_by == "max_seconds" and calls == [] and result.steps == []
        assert "time limit" in result.answer


def test_malformed_replies_are_fed_back_and_bounded_in_both_loops() -> None:
    limits = Limits(max_steps=2)
    for result, _ in (_react(["chatting"], limits), _self_ask(["chatting"], limits)):
        assert result.stopped_by == "max_steps" and len(result.steps) == 2
        assert all(s.error and s.tool is None for s in result.steps)
        assert all("Follow up:" in s.observation or "format" in s.observation
                   for s in result.steps)  # fmt: skip


def test_model_calls_name_their_prompt() -> None:
    _, react_calls = _react([final("x")], Limits())
    _, self_ask_calls = _self_ask(["So the final answer is: x"], Limits())
    assert react_calls[0].prompt.split("@")[0] == "react"
    assert self_ask_calls[0].prompt.split("@")[0] == "self_ask"


def test_url_arguments_are_narrowed_to_the_urls_seen_so_far() -> None:
    page = "http://127.0.0.1:8123/article"
    step = react("read it", "fetch", f'{{"url": "{page}"}}')
    loop = react_loop(f"What does {page} say?", [fetch], Limits(max_steps=3), use_grammar=True)
    result, calls = drive_loop(loop, [step, final("done")])
    assert result.answer == "done"
    first, second = (c.options["grammar"] for c in calls)
    assert grammar_accepts(first, step)
    assert not grammar_accepts(first, step.replace("http://", "https://"))
    assert not grammar_accepts(first, react("t", "fetch", '{"url": "https://example.org/next"}'))
    # the observation's links are choices from the next step on
    assert grammar_accepts(second, react("t", "fetch", '{"url": "https://example.org/next"}'))
    assert grammar_accepts(second, react("t", "fetch", '{"url": "http://127.0.0.1:9/b"}'))
    assert grammar_accepts(second, step)


def test_url_arguments_are_free_when_no_url_was_seen() -> None:
    loop = react_loop("Read the example page", [fetch], Limits(), use_grammar=True)
    _, calls = drive_loop(loop, [final("done")])
    grammar = calls[0].options["grammar"]
    assert grammar_accepts(grammar, react("t", "fetch", '{"url": "https://example.com/"}'))


def test_a_url_in_the_question_is_read_before_answering() -> None:
    page = "http://127.0.0.1:8123/article"
    step = react("read it", "fetch", f'{{"url": "{page}"}}')
    loop = react_loop(f"What does {page} say?", [fetch], Limits(max_steps=3), use_grammar=True)
    _, calls = drive_loop(loop, [step, final("done")])
    first, second = (c.options["grammar"] for c in calls)
    assert not grammar_accepts(first, final("it says nothing"))
    assert grammar_accepts(first, step)
    assert grammar_accepts(second, final("done"))


def test_no_read_first_without_a_url_tool_or_without_a_url() -> None:
    for question, tools in (("What does http://127.0.0.1:9/ say?", [search]),
                            ("How big is Paris?", [fetch])):  # fmt: skip
        loop = react_loop(question, tools, Limits(), use_grammar=True)
        _, calls = drive_loop(loop, [final("x")])
        assert grammar_accepts(calls[0].options["grammar"], final("x"))


def test_the_question_is_restated_with_each_observation() -> None:
    loop = react_loop("How many people live in Paris?", [search], Limits(), use_grammar=False)
    _, calls = drive_loop(loop, [REPEAT_REACT[0], final("2.1 million")])
    text = calls[1].messages[-1].content
    assert text.startswith("Question: How many people live in Paris?\nObservation: " + PARIS)
    long_question = "Why? " * 300
    loop = react_loop(long_question, [search], Limits(), use_grammar=False)
    _, calls = drive_loop(loop, [REPEAT_REACT[0], final("x")])
    assert long_question.strip() not in calls[1].messages[-1].content


def test_the_nearest_worked_example_comes_last() -> None:
    from tooldeck.tools.fewshot import examples_for

    loop = react_loop("What is 17 * 23?", [calculator], Limits(), use_grammar=False)
    _, calls = drive_loop(loop, [final("391")])
    system = calls[0].messages[0].content
    chosen = examples_for("What is 17 * 23?", [calculator], 2)
    assert len(chosen) == 2
    best, second = (ex.question for _, ex in chosen)
    assert system.index(second) < system.index(best)
