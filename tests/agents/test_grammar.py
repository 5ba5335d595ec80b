"""Grammars built from tool schemas: shape, and acceptance by llama.cpp."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.tools import tool

from tests.helpers import echo, search
from tooldeck.agents.grammar import react_grammar, self_ask_grammar, tool_args_schema
from tooldeck.agents.react import ParsedAction, ParsedFinal, parse_react
from tooldeck.tools.builtin.calculator import calculator


@tool
def rich_args(city: str, days: int, units: str = "metric", detailed: bool = False) -> str:
    """A tool with several typed arguments.

    Args:
        city: the city
        days: how many days
        units: metric or imperial
        detailed: more detail
    """
    return city


def test_react_grammar_shape() -> None:
    text = react_grammar([calculator, echo])
    assert text.startswith('root ::= "Thought: " line "\\n" step')
    assert (
        '"Action: calculator\\nAction Input: "' in text
        and '"Action: echo\\nAction Input: "' in text
    )
    assert "final ::=" in text
    assert "[0-9(-] [0-9 .,+*/()^%×÷xeE-]{0,299}" in text
    only_final = react_grammar([])
    assert "step ::= final" in only_final and "Action" not in only_final


def test_schema_types_become_rules() -> None:
    text = react_grammar([rich_args])
    line = next(r for r in text.splitlines() if r.startswith("args-rich-args ::="))
    assert '"\\"city\\""' in line and "jstr" in line and "jint" in line
    assert "units" not in line  # optional arguments are left out
    assert tool_args_schema(rich_args)["required"] == ["city", "days"]


@pytest.mark.integration
@pytest.mark.parametrize("tools", [[calculator], [calculator, echo, search, rich_args], []])
def test_llamacpp_accepts_and_obeys_the_grammar(tools: list[Any], tmp_path: Any) -> None:
    from tooldeck.config import ModelConfig
    from tooldeck.models import get_chat_model

    chat = get_chat_model(ModelConfig(max_tokens=1024), tmp_path)
    for question in ("What is 3 + 4?", "Who are you?"):
        text = chat.invoke(question, grammar=react_grammar(tools)).content
        parsed = parse_react(text)
        assert isinstance(parsed, ParsedAction | ParsedFinal), text
        if isinstance(parsed, ParsedAction):
            assert parsed.tool in {t.name for t in tools} and isinstance(parsed.tool_input, dict)
    text = chat.invoke("Who is the president?", grammar=self_ask_grammar()).content
    assert text.startswith(("Follow up: ", "So the final answer is: "))
