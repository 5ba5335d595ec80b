"""The store under LangChain's own history machinery, and its schema upgrade from version 1."""

from __future__ import annotations

import json
import sqlite3
import warnings
from pathlib import Path

import pytest
from langchain_core._api import LangChainDeprecationWarning
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, messages_to_dict
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables.history import RunnableWithMessageHistory

from tooldeck.memory import store as store_module
from tooldeck.memory.history import SQLiteChatMessageHistory
from tooldeck.memory.store import MemoryStore
from tooldeck.testing import ScriptedChatModel


def test_our_history_class_itself_warns_nothing(tmp_path: Path) -> None:
    # langchain-core 1.6.4 deprecated BaseChatMessageHistory; its warning fires only for
    # direct instances of LangChain's own classes, not for subclasses such as ours.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        history = SQLiteChatMessageHistory(MemoryStore(tmp_path), "s")
        history.add_user_message("hi")
        assert [m.content for m in history.messages] == ["hi"]


def test_runnable_with_message_history_reads_and_writes_the_store(tmp_path: Path) -> None:
    store = MemoryStore(tmp_path)
    model = ScriptedChatModel(responses=["Hello Ann.", "You are Ann."])
    prompt = ChatPromptTemplate.from_messages(
        [MessagesPlaceholder("history"), ("human", "{question}")]
    )
    # RunnableWithMessageHistory is deprecated in langchain-core 1.x (LangGraph persistence
    # replaces it) but still works; tooldeck's pipeline does not use it, other code may.
    with pytest.warns(LangChainDeprecationWarning, match="RunnableWithMessageHistory"):
        chain = RunnableWithMessageHistory(
            prompt | model,
            lambda session_id: SQLiteChatMessageHistory(store, session_id),
            input_messages_key="question",
            history_messages_key="history",
        )
    config = {"configurable": {"session_id": "ann"}}
    chain.invoke({"question": "I am Ann."}, config=config)  # type: ignore[arg-type]
    chain.invoke({"question": "Who am I?"}, config=config)  # type: ignore[arg-type]
    sent: list[BaseMessage] = model.calls[1]["messages"]
    assert [m.content for m in sent] == ["I am Ann.", "Hello Ann.", "Who am I?"]
    assert [(type(m), m.content) for m in store.get_messages("ann")] == [
        (HumanMessage, "I am Ann."), (AIMessage, "Hello Ann."),
        (HumanMessage, "Who am I?"), (AIMessage, "You are Ann."),
    ]
    assert store.get_messages("other") == []


def test_a_version_1_database_is_upgraded_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patch:
        patch.setattr(store_module, "_MIGRATIONS", store_module._MIGRATIONS[:1])
        patch.setattr(store_module, "SCHEMA_VERSION", 1)
        old = MemoryStore(tmp_path)
        assert old.schema_version() == 1
    conn = sqlite3.connect(old.path)
    with conn:  # rows as version 1 wrote them
        conn.execute("INSERT INTO sessions VALUES ('s', 0, 0)")
        for seq, message in enumerate([HumanMessage("q", id="h"), AIMessage("a", id="a")], 1):
            data = json.dumps(messages_to_dict([message])[0])
            conn.execute("INSERT INTO messages VALUES ('s', ?, ?, 0, ?)", (message.id, seq, data))
    conn.close()
    new = MemoryStore(tmp_path)
    assert new.schema_version() == 2
    assert [m.content for m in new.get_messages("s")] == ["q", "a"]
    assert new.get_index("s") == [(1, "h", "human"), (2, "a", "ai")]  # types filled in
    assert new.turn_start_seq("s", 1) == 1
    assert new.set_summary("s", "asked q", 1)
    assert not new.set_summary("s", "older", 1)  # a summary never moves backwards
    new.put_vectors("s", "m", {"h": b"\x00" * 8, "missing": b"\x00" * 8})
    assert set(new.get_vectors("s", "m")) == {"h"}
    new.clear("s")
    assert new.get_summary("s") is None and new.get_vectors("s", "m") == {}
    conn = sqlite3.connect(new.path)
    try:
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        conn.close()
