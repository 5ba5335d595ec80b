"""Test doubles shipped with tooldeck: scripted chat models and standard tool tests.

``ScriptedChatModel`` replays fixed replies: strings (ReAct or self-ask text) or
``AIMessage``s (with ``tool_calls`` for the tool-calling agent). It records every call.
``ToolStandardTests`` is a mixin of checks every tool must pass; subclass it in a pytest
class and set ``tool`` and ``valid_input``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.tools import BaseTool
from pydantic import Field, PrivateAttr

__all__ = ["ScriptedChatModel", "ToolStandardTests"]


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


class ToolStandardTests:
    """Checks every tooldeck tool must pass. Set ``tool`` and ``valid_input`` in a subclass."""

    tool: BaseTool
    valid_input: dict[str, Any]
    invalid_input: dict[str, Any] = {"__no_such_argument__": 1}
    check_output: Callable[[str], bool] | None = None

    def test_name_is_valid(self) -> None:
        """Names are short identifiers the grammar and the model can spell."""
        assert self.tool.name.replace("_", "").replace("-", "").isalnum()
        assert len(self.tool.name) <= 64

    def test_description_is_written_for_the_model(self) -> None:
        """A description that says what the tool does, in a sentence or two."""
        assert 10 <= len(self.tool.description) <= 1024

    def test_schema_is_json(self) -> None:
        """Every argument has a JSON type and a description."""
        schema = self.tool.tool_call_schema
        data = schema if isinstance(schema, dict) else schema.model_json_schema()  # type: ignore[union-attr]
        assert data.get("type") == "object"
        for name, spec in data.get("properties", {}).items():
            assert "description" in spec, f"argument {name!r} has no description"

    def test_invoke_returns_text(self) -> None:
        """A valid call returns a non-empty string."""
        out = self.tool.invoke(self.valid_input)
        assert isinstance(out, str) and out
        if self.check_output is not None:
            assert type(self).check_output(out)  # type: ignore[misc]

    async def test_ainvoke_matches_invoke(self) -> None:
        """The async path gives the same answer."""
        assert await self.tool.ainvoke(self.valid_input) == self.tool.invoke(self.valid_input)

    def test_bad_input_becomes_an_observation(self) -> None:
        """Invalid arguments come back as an error observation, never an exception."""
        from tooldeck.tools.runner import run_tool

        obs = run_tool(self.tool, self.invalid_input, timeout_s=10)
        assert obs.error and obs.text.startswith("Error:")
