"""Test doubles shipped with tooldeck: scripted chat models and standard tool tests.

``ScriptedChatModel`` replays fixed replies: strings (ReAct or self-ask text) or
``AIMessage``s (with ``tool_calls`` for the tool-calling agent). It records every call.
``ToolStandardTests`` is the one suite of checks every tool must pass (tooldeck's own tools
and plugins' alike); subclass it in a pytest class and set ``tool`` (and ``valid_input``, or
give the tool a worked example). :data:`HEAVY_LIBRARIES` names what listing tools must never
import and :data:`RUN_ONLY_LIBRARIES` what building them must not (``tests/test_cold_imports.py``
and ``bench/cold_start.py`` check them).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.tools import BaseTool
from pydantic import Field, PrivateAttr

__all__ = [
    "HEAVY_LIBRARIES",
    "RUN_ONLY_LIBRARIES",
    "ScriptedChatModel",
    "ToolStandardTests",
    "grammar_accepts",
]

# Libraries only running a tool, an index or a model may import: building a tool imports none.
RUN_ONLY_LIBRARIES = (
    "httpx",
    "trafilatura",
    "ddgs",
    "youtube_transcript_api",
    "lxml",
    "chromadb",
    "numpy",
    "xllamacpp",
    "llguidance",
)
# What `tooldeck tools list` (and `--json`) must not import: LangChain and LangSmith too.
HEAVY_LIBRARIES = (
    "langchain_core",
    "langsmith",
    "langchain",
    "langgraph",
    "langchain_openai",
    *RUN_ONLY_LIBRARIES,
)
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
_SHORT_TIMEOUT_S = 0.05
_BOUND_S = 3.0  # the runner's return after a timeout, with room for a busy machine
_INVOKE_S = 60.0  # the longest one call may take (a network error path included)


class ScriptedChatModel(BaseChatModel):
    """A chat model that answers with the next scripted reply.

    Attributes:
        responses: Replies in order; a ``str`` becomes an ``AIMessage``.
        repeat_last: After the script ends, keep returning the last reply (else raise).
        calls: Each call's messages and options, for assertions.
    """

    responses: list[Any]
    repeat_last: bool = False
    calls: list[dict[str, Any]] = Field(default_factory=list)
    _index: int = PrivateAttr(default=0)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def _next(
        self, messages: list[BaseMessage], stop: list[str] | None, **kwargs: Any
    ) -> AIMessage:
        with self._lock:
            self.calls.append({"messages": list(messages), "stop": stop, **kwargs})
            if self._index >= len(self.responses):
                if not self.repeat_last or not self.responses:
                    msg = f"ScriptedChatModel ran out of replies after {self._index} calls"
                    raise RuntimeError(msg)
                reply = self.responses[-1]
            else:
                reply = self.responses[self._index]
            self._index += 1
        if isinstance(reply, Exception):
            raise reply
        return reply.model_copy() if isinstance(reply, AIMessage) else AIMessage(content=str(reply))

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(
            generations=[ChatGeneration(message=self._next(messages, stop, **kwargs))]
        )

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        message = self._next(messages, stop, **kwargs)
        words = message.text.split(" ")
        for i, word in enumerate(words):
            text = word if i == len(words) - 1 else word + " "
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=text))
            if run_manager is not None:
                run_manager.on_llm_new_token(text, chunk=chunk)
            yield chunk

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ScriptedChatModel:
        """Accept tools (the script already knows which calls to make)."""
        return self


def grammar_accepts(grammar: str, text: str) -> bool:
    """Whether ``text`` is a complete sentence of ``grammar`` (a GBNF/Lark grammar string).

    Checked with llguidance, the engine llama.cpp runs these grammars with, on a byte tokenizer;
    the calling test is skipped when llguidance is not installed.
    """
    llguidance = _llguidance()
    tokenizer = llguidance.LLTokenizer("byte")
    matcher = llguidance.LLMatcher(tokenizer, grammar)
    if matcher.is_error():
        msg = f"the grammar does not compile: {matcher.get_error()}"
        raise AssertionError(msg)
    tokens = tokenizer.tokenize_str(text)
    if matcher.validate_tokens(tokens) < len(tokens):
        return False
    return bool(matcher.consume_tokens(tokens)) and bool(matcher.is_accepting())


def _llguidance() -> Any:
    import pytest

    return pytest.importorskip("llguidance", reason="the grammar checker (pip install llguidance)")


def _schema(tool: BaseTool) -> dict[str, Any]:
    schema = tool.tool_call_schema
    data: dict[str, Any] = (
        schema if isinstance(schema, dict) else schema.model_json_schema()  # type: ignore[union-attr]
    )
    return data


class ToolStandardTests:
    """Checks every tool must pass; subclass in a pytest class and set ``tool``.

    What is checked: a name the registry, the grammar and a model can spell; a description; a
    JSON object schema whose arguments are described, and a ReAct grammar built from it that
    compiles (with llguidance, when installed); valid worked examples (``metadata["examples"]``)
    whose first one, as a ReAct step, is a step the grammar accepts; a call that returns text
    (or, for a tool that ``may_fail``, a ``ToolException`` or tooldeck error that says what went
    wrong: never ``KeyError``, ``TypeError``...), the same through ``ainvoke``, and an
    observation through the runner; bad input that becomes an error observation; and sync and
    async timeouts that return within their bound however slow the tool is.

    Attributes:
        tool: The tool under test (a class attribute, or set by an autouse fixture).
        valid_input: Arguments for a call that must succeed; None to use the first worked
            example's input.
        invalid_input: Arguments the tool's schema refuses.
        check_output: Optional predicate on the output of ``valid_input``.
        may_fail: The call may end in a tool error (it needs the network, a key or an index
            the test does not give it); its error path is checked instead.
        require_examples: Fail when the tool has no worked example.
    """

    tool: BaseTool
    valid_input: dict[str, Any] | None = None
    invalid_input: ClassVar[dict[str, Any]] = {"__no_such_argument__": 1}
    check_output: Callable[[str], bool] | None = None
    may_fail: bool = False
    require_examples: bool = False

    def _examples(self) -> list[Any]:
        from tooldeck.tools.examples import tool_examples

        return list(tool_examples(self.tool))

    def _input(self) -> dict[str, Any]:
        """``valid_input``, else the first worked example's input (skip when neither)."""
        if self.valid_input is not None:
            return self.valid_input
        examples = self._examples()
        if not examples:
            import pytest

            pytest.skip(f"{self.tool.name}: set valid_input or give it a worked example")
        return dict(examples[0].input)

    def test_name_is_valid(self) -> None:
        """Names are short identifiers the grammar and the model can spell."""
        name = self.tool.name
        assert name and name[0].isalpha() and len(name) <= 64, name
        assert set(name) <= _NAME_CHARS, name

    def test_description_is_written_for_the_model(self) -> None:
        """A description that says what the tool does, in a sentence or a few."""
        assert 10 <= len((self.tool.description or "").strip()) <= 1024

    def test_schema_is_json(self) -> None:
        """The arguments are a JSON object schema, every argument described."""
        data = _schema(self.tool)
        assert data.get("type") == "object"
        json.dumps(data)
        for name, spec in data.get("properties", {}).items():
            assert spec.get("description"), f"argument {name!r} has no description"

    def test_grammar_expresses_the_schema(self) -> None:
        """The ReAct grammar built from the tool compiles (llguidance, as llama.cpp runs it)."""
        from tooldeck.agents.grammar import react_grammar

        llguidance = _llguidance()
        matcher = llguidance.LLMatcher(llguidance.LLTokenizer("byte"), react_grammar([self.tool]))
        assert not matcher.is_error(), matcher.get_error()

    def test_examples_are_valid(self) -> None:
        """Worked examples fit their shape and the schema (``PluginError`` names a bad one)."""
        examples = self._examples()
        assert examples or not self.require_examples, f"{self.tool.name} has no worked example"

    def test_first_example_is_a_step_the_grammar_accepts(self) -> None:
        """The first worked example, written as a ReAct step, is one the grammar accepts."""
        import pytest

        from tooldeck.agents.grammar import react_grammar

        examples = self._examples()
        if not examples:
            pytest.skip(f"{self.tool.name} has no worked example")
        name, arguments = self.tool.name, json.dumps(examples[0].input, ensure_ascii=False)
        step = f"Thought: I should use {name}\nAction: {name}\nAction Input: {arguments}"
        assert grammar_accepts(react_grammar([self.tool]), step), step

    def test_invoke_returns_text(self) -> None:
        """A call returns non-empty text (or, when it ``may_fail``, a tool error with a message)."""
        import pytest
        from langchain_core.tools import ToolException

        from tooldeck.errors import ToolDeckError
        from tooldeck.tools.runner import daemon_call

        arguments = self._input()
        future = daemon_call(lambda: self.tool.invoke(arguments))
        try:
            out = future.result(timeout=_INVOKE_S)
        except concurrent.futures.TimeoutError:
            pytest.fail(f"{self.tool.name} ran past {_INVOKE_S:g} s")
        except (ToolException, ToolDeckError) as exc:
            assert self.may_fail, f"{self.tool.name} failed: {exc}"
            assert str(exc).strip(), "a tool error must say what went wrong"
            return
        assert isinstance(out, str) and out.strip(), repr(out)
        if self.check_output is not None and not self.may_fail:
            assert type(self).check_output(out)  # type: ignore[misc]

    async def test_ainvoke_matches_invoke(self) -> None:
        """The async path gives the same answer."""
        if self.may_fail:
            import pytest

            pytest.skip("an error path need not repeat itself word for word")
        arguments = self._input()
        assert await self.tool.ainvoke(arguments) == self.tool.invoke(arguments)

    def test_call_through_the_runner_is_an_observation(self) -> None:
        """Through the runner a call is an observation: text, never a traceback."""
        from tooldeck.tools.runner import run_tool

        observation = run_tool(self.tool, self._input(), timeout_s=_INVOKE_S)
        assert isinstance(observation.text, str) and observation.text.strip()
        assert "Traceback" not in observation.text
        assert self.may_fail or not observation.error, observation.text

    def test_bad_input_becomes_an_observation(self) -> None:
        """Invalid arguments come back as an error observation, never an exception."""
        from tooldeck.tools.runner import run_tool

        obs = run_tool(self.tool, self.invalid_input, timeout_s=10)
        assert obs.error and obs.text.startswith("Error:")

    def test_timeouts_return_within_their_bound(self) -> None:
        """Sync and async runners return within a short timeout's bound, however slow the tool."""
        from tooldeck.tools.runner import arun_tool, run_tool

        arguments = self._input()
        start = time.monotonic()
        run_tool(self.tool, arguments, timeout_s=_SHORT_TIMEOUT_S)
        assert time.monotonic() - start < _BOUND_S
        start = time.monotonic()
        asyncio.run(arun_tool(self.tool, arguments, timeout_s=_SHORT_TIMEOUT_S))
        assert time.monotonic() - start < _BOUND_S  # asyncio.run itself returned
