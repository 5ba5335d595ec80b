"""The standard checks every tooldeck tool must pass (the shape of langchain_tests' tool suites).

Subclass :class:`ToolSuite` in a test module and give it a ``tool`` fixture (parametrize it to
run the suite over many tools). What is checked:

- the name is one the registry, the grammar and a model can spell; the description is there;
- the argument schema is a JSON object schema whose arguments are described, and the ReAct
  grammar built from it compiles (llguidance, the engine llama.cpp runs grammars with);
- the worked examples (``metadata["examples"]``) are valid, and the first one, written as a
  ReAct step, is a step the grammar accepts;
- invoking the first example returns a string, or raises a ``ToolException`` or an error of
  tooldeck's tree (never ``KeyError``, ``TypeError``...), and through the runner it is an
  observation; a tool listed in ``offline`` must succeed (the others may need the network,
  which the tests block, so their error path is what runs);
- the sync and async runners return within a short timeout's bound, however slow the tool.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import time
from typing import TYPE_CHECKING, Any, ClassVar

import pytest

from tests.helpers import grammar_accepts
from tooldeck.agents.grammar import react_grammar
from tooldeck.errors import ToolDeckError
from tooldeck.tools.examples import ToolExample, tool_examples
from tooldeck.tools.runner import arun_tool, daemon_call, run_tool

if TYPE_CHECKING:
    from langchain_core.tools import BaseTool

__all__ = ["ToolSuite"]

_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
_SHORT_TIMEOUT_S = 0.05
_BOUND_S = 3.0  # the runner's return after a timeout, with room for a busy machine
_INVOKE_S = 60.0  # longest a direct invoke of a first example may take (network errors)


def _llguidance() -> Any:
    return pytest.importorskip("llguidance", reason="the grammar checker (pip install llguidance)")


def _schema(tool: BaseTool) -> dict[str, Any]:
    schema = tool.tool_call_schema
    data: dict[str, Any] = schema if isinstance(schema, dict) else schema.model_json_schema()  # type: ignore[union-attr]
    return data


class ToolSuite:
    """Standard tool checks; a subclass provides the ``tool`` fixture."""

    offline: ClassVar[frozenset[str]] = frozenset()  # names that must succeed with no network
    require_examples: ClassVar[bool] = True

    @pytest.fixture
    def tool(self) -> BaseTool:
        """The tool under test (override in the subclass)."""
        raise NotImplementedError

    @pytest.fixture
    def first_example(self, tool: BaseTool) -> ToolExample:
        """The tool's first worked example (skips when it has none and none are required)."""
        examples = tool_examples(tool)
        if not examples:
            if self.require_examples:
                pytest.fail(f"{tool.name} has no worked example in metadata['examples']")
            pytest.skip(f"{tool.name} has no worked example")
        return examples[0]

    def test_name_is_spellable(self, tool: BaseTool) -> None:
        assert tool.name and tool.name[0].isalpha() and len(tool.name) <= 64
        assert set(tool.name) <= _NAME_CHARS, tool.name

    def test_description_is_there(self, tool: BaseTool) -> None:
        assert 10 <= len((tool.description or "").strip()) <= 2000

    def test_schema_is_an_object_with_described_arguments(self, tool: BaseTool) -> None:
        schema = _schema(tool)
        assert schema.get("type") == "object"
        json.dumps(schema)
        for name, spec in schema.get("properties", {}).items():
            assert spec.get("description"), f"argument {name!r} of {tool.name} has no description"

    def test_grammar_expresses_the_schema(self, tool: BaseTool) -> None:
        llguidance = _llguidance()
        matcher = llguidance.LLMatcher(llguidance.LLTokenizer("byte"), react_grammar([tool]))
        assert not matcher.is_error(), matcher.get_error()

    def test_examples_are_valid(self, tool: BaseTool) -> None:
        examples = tool_examples(tool)  # raises PluginError naming the bad one
        assert examples or not self.require_examples, f"{tool.name} has no worked example"

    def test_first_example_is_a_step_the_grammar_accepts(
        self, tool: BaseTool, first_example: ToolExample
    ) -> None:
        arguments = json.dumps(first_example.input, ensure_ascii=False)
        step = f"Thought: I should use {tool.name}\nAction: {tool.name}\nAction Input: {arguments}"
        assert grammar_accepts(react_grammar([tool]), step), step

    def test_first_example_returns_text_or_a_tool_error(
        self, tool: BaseTool, first_example: ToolExample
    ) -> None:
        from langchain_core.tools import ToolException

        future = daemon_call(lambda: tool.invoke(first_example.input))
        try:
            out = future.result(timeout=_INVOKE_S)
        except concurrent.futures.TimeoutError:
            pytest.fail(f"{tool.name} ran past {_INVOKE_S:g} s on its first example")
        except (ToolException, ToolDeckError) as exc:
            assert tool.name not in self.offline, f"{tool.name} failed offline: {exc}"
            assert str(exc).strip(), "a tool error must say what went wrong"
            return
        assert isinstance(out, str) and out.strip(), repr(out)

    def test_first_example_through_the_runner(
        self, tool: BaseTool, first_example: ToolExample
    ) -> None:
        observation = run_tool(tool, first_example.input, timeout_s=_INVOKE_S)
        assert isinstance(observation.text, str) and observation.text.strip()
        assert "Traceback" not in observation.text
        if tool.name in self.offline:
            assert not observation.error, observation.text

    def test_timeouts_return_within_their_bound(
        self, tool: BaseTool, first_example: ToolExample
    ) -> None:
        start = time.monotonic()
        run_tool(tool, first_example.input, timeout_s=_SHORT_TIMEOUT_S)
        assert time.monotonic() - start < _BOUND_S
        start = time.monotonic()
        asyncio.run(arun_tool(tool, first_example.input, timeout_s=_SHORT_TIMEOUT_S))
        assert time.monotonic() - start < _BOUND_S  # asyncio.run itself returned
