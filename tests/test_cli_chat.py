"""``tooldeck chat``: the REPL's commands, and Ctrl-C during a turn (issue 9, part 8)."""

from __future__ import annotations

import io
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage

from tooldeck.console import chat_loop
from tooldeck.pipeline import build_agent
from tooldeck.testing import ScriptedChatModel


class CtrlCOnFirstCall(ScriptedChatModel):
    """A scripted model whose first call is interrupted, as by Ctrl-C during a turn."""

    interrupted: bool = False

    def _next(self, messages: list[BaseMessage], stop: list[str] | None, **kwargs: Any) -> AIMessage:
        if not self.interrupted:
            self.interrupted = True
            raise KeyboardInterrupt
        return super()._next(messages, stop, **kwargs)


def chat(config: Any, monkeypatch: Any, lines: str, model: ScriptedChatModel) -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(lines))
    return chat_loop(build_agent(config, model=model))


def test_help_lists_the_commands(config: Any, monkeypatch: Any, capsys: Any) -> None:
    model = ScriptedChatModel(responses=[])
    assert chat(config, monkeypatch, "/help\n/exit\n", model) == 0
    err = capsys.readouterr().err
    assert all(command in err for command in ("/help", "/history", "/reset", "/exit", "Ctrl-C"))
    assert model.calls == []  # not sent to the model


def test_history_prints_the_kept_turns(config: Any, monkeypatch: Any, capsys: Any) -> None:
    model = ScriptedChatModel(responses=["Thought: t\nFinal Answer: Hi Bob"])
    assert chat(config, monkeypatch, "My name is Bob\n/history\n", model) == 0
    out = capsys.readouterr().out
    assert "you> My name is Bob" in out and "tooldeck> Hi Bob" in out
    assert len(model.calls) == 1


def test_reset_says_history_cleared(config: Any, monkeypatch: Any, capsys: Any) -> None:
    model = ScriptedChatModel(responses=["Thought: t\nFinal Answer: Hi Bob"])
    assert chat(config, monkeypatch, "My name is Bob\n/reset\n/history\n", model) == 0
    captured = capsys.readouterr()
    assert "history cleared" in captured.err and "history is empty" in captured.err
    assert "you> My name is Bob" not in captured.out


def test_unknown_command_says_so(config: Any, monkeypatch: Any, capsys: Any) -> None:
    model = ScriptedChatModel(responses=[])
    assert chat(config, monkeypatch, "/x\n", model) == 0
    assert "unknown command /x; /help lists the commands" in capsys.readouterr().err
    assert model.calls == []


def test_ctrl_c_during_a_turn_cancels_it(config: Any, monkeypatch: Any, capsys: Any) -> None:
    model = CtrlCOnFirstCall(responses=["Thought: t\nFinal Answer: second answer"])
    assert chat(config, monkeypatch, "first\nsecond\n/history\n", model) == 0
    captured = capsys.readouterr()
    assert "turn cancelled" in captured.err
    assert "second answer" in captured.out
    assert "you> second" in captured.out and "you> first" not in captured.out


@pytest.mark.parametrize("stop", [KeyboardInterrupt, EOFError])
def test_ctrl_c_or_ctrl_d_at_the_prompt_exits(
    config: Any, monkeypatch: Any, stop: type[BaseException]
) -> None:
    def prompt(_: str) -> str:
        raise stop

    monkeypatch.setattr("builtins.input", prompt)
    assert chat_loop(build_agent(config, model=ScriptedChatModel(responses=[]))) == 0


def test_a_session_outlives_the_chat(config: Any, monkeypatch: Any, capsys: Any) -> None:
    first = ScriptedChatModel(responses=["Thought: t\nFinal Answer: Hi Bob"])
    monkeypatch.setattr("sys.stdin", io.StringIO("My name is Bob\n"))
    assert chat_loop(build_agent(config, model=first), session="bob") == 0
    second = ScriptedChatModel(responses=["Thought: t\nFinal Answer: You are Bob"])
    monkeypatch.setattr("sys.stdin", io.StringIO("/history\nWho am I?\n/reset\n/history\n"))
    assert chat_loop(build_agent(config, model=second), session="bob") == 0
    captured = capsys.readouterr()
    assert "you> My name is Bob" in captured.out and "tooldeck> Hi Bob" in captured.out
    assert any("My name is Bob" in m.text for m in second.calls[0]["messages"])
    assert "history cleared" in captured.err and "history is empty" in captured.err
