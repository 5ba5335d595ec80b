"""The conversation window used by `tooldeck chat`."""

from __future__ import annotations

import pytest

from tooldeck.memory.window import WindowMemory


def test_keeps_the_last_k_turns() -> None:
    memory = WindowMemory(k=2)
    for i in range(3):
        memory.add(f"q{i}", f"a{i}")
    assert len(memory) == 2
    assert [m.content for m in memory.messages()] == ["q1", "a1", "q2", "a2"]
    assert [m.type for m in memory.messages()] == ["human", "ai", "human", "ai"]
    memory.clear()
    assert memory.messages() == []


def test_k_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        WindowMemory(k=0)
