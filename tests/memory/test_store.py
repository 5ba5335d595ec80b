"""The SQLite memory store and its LangChain chat-history face."""

from __future__ import annotations

import importlib.util
import json
import logging
import random
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from types import ModuleType

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

from tooldeck.errors import InputError, MemoryStoreError
from tooldeck.memory import store as store_module
from tooldeck.memory.history import SQLiteChatMessageHistory
from tooldeck.memory.store import MAX_MESSAGE_BYTES, MemoryStore

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(tmp_path: Path) -> MemoryStore:
    return MemoryStore(tmp_path / "data")


def _turn(session: str, n: int) -> list[HumanMessage | AIMessage]:
    return [
        HumanMessage(f"{session} q{n}", id=f"{session}-{n}-h"),
        AIMessage(f"{session} a{n}", id=f"{session}-{n}-a"),
    ]


def _raw_rows(store: MemoryStore) -> list[tuple[str, str, str]]:
    conn = sqlite3.connect(store.path)
    try:
        return conn.execute("SELECT session, id, data FROM messages ORDER BY seq").fetchall()
    finally:
        conn.close()


# -- the file: WAL, schema version, migrations -----------------------------------------------


def test_database_is_one_wal_file_with_a_schema_version(store: MemoryStore) -> None:
    assert store.path.name == "memory.sqlite"
    assert store.schema_version() == store_module.SCHEMA_VERSION == 2
    conn = sqlite3.connect(store.path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(1,), (2,)]
    finally:
        conn.close()


def test_reopening_does_not_rerun_migrations(tmp_path: Path) -> None:
    first = MemoryStore(tmp_path)
    first.add_messages("s", _turn("s", 0))
    second = MemoryStore(tmp_path)
    assert second.schema_version() == 2
    assert [m.content for m in second.get_messages("s")] == ["s q0", "s a0"]


def test_migrations_run_in_order_from_the_stored_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    MemoryStore(tmp_path).add_messages("s", _turn("s", 0))
    extra = ("ALTER TABLE sessions ADD COLUMN title TEXT",)
    monkeypatch.setattr(store_module, "_MIGRATIONS", (*store_module._MIGRATIONS, extra))
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", 3)
    upgraded = MemoryStore(tmp_path)
    assert upgraded.schema_version() == 3
    assert len(upgraded.get_messages("s")) == 2
    conn = sqlite3.connect(upgraded.path)
    try:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(sessions)")]
    finally:
        conn.close()
    assert "title" in columns


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    store = MemoryStore(tmp_path)
    conn = sqlite3.connect(store.path)
    with conn:
        conn.execute("INSERT INTO schema_version (version, applied_at) VALUES (99, 0)")
    conn.close()
    with pytest.raises(MemoryStoreError, match="schema version 99"):
        MemoryStore(tmp_path)


# -- corruption at open ----------------------------------------------------------------------


def test_a_file_that_is_not_sqlite_is_moved_aside(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    junk = b"this is not a database, just text " * 200
    (tmp_path / "memory.sqlite").write_bytes(junk)
    with caplog.at_level(logging.WARNING, logger="tooldeck.memory.store"):
        store = MemoryStore(tmp_path)
    aside = list(tmp_path.glob("memory.sqlite.corrupt-*"))
    assert len(aside) == 1
    assert aside[0].read_bytes() == junk
    assert "corrupted" in caplog.text and aside[0].name in caplog.text
    store.add_messages("s", _turn("s", 0))
    assert store.integrity_check() == ["ok"]
    assert len(store.get_messages("s")) == 2


def test_a_file_failing_its_check_is_moved_aside(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = MemoryStore(tmp_path)
    for n in range(200):
        store.add_messages("s", _turn("s", n))
    del store  # every connection is closed: the WAL is checkpointed into the main file
    raw = bytearray((tmp_path / "memory.sqlite").read_bytes())
    page = 4096
    assert len(raw) > 6 * page
    raw[2 * page : 5 * page] = bytes([0xA5]) * (3 * page)  # page 1 (the header) stays intact
    (tmp_path / "memory.sqlite").write_bytes(bytes(raw))
    with caplog.at_level(logging.WARNING, logger="tooldeck.memory.store"):
        fresh = MemoryStore(tmp_path)
    assert len(list(tmp_path.glob("memory.sqlite.corrupt-*"))) == 1
    assert "corrupted" in caplog.text
    assert fresh.get_messages("s") == []
    assert fresh.integrity_check() == ["ok"]


# -- messages: JSON, ids, one transaction, bounds --------------------------------------------


def test_messages_round_trip_as_json_with_their_types(store: MemoryStore) -> None:
    sent = [
        SystemMessage("be brief", id="m0"),
        HumanMessage("what is 2+2?", id="m1"),
        AIMessage("", id="m2", tool_calls=[{"name": "calc", "args": {"x": "2+2"}, "id": "c1"}]),
        ToolMessage("4", tool_call_id="c1", id="m3"),
        AIMessage("4 ✓", id="m4"),
    ]
    store.add_messages("s", sent)
    got = store.get_messages("s")
    assert got == sent
    assert isinstance(got[2], AIMessage) and got[2].tool_calls[0]["args"] == {"x": "2+2"}
    for _session, _id, data in _raw_rows(store):
        assert json.loads(data)["type"] in {"system", "human", "ai", "tool"}


def test_a_message_without_id_gets_one_and_a_retry_does_not_duplicate(store: MemoryStore) -> None:
    turn = [HumanMessage("hi"), AIMessage("hello")]
    store.add_messages("s", turn)
    assert all(m.id for m in turn)
    store.add_messages("s", turn)  # the same write retried
    got = store.get_messages("s")
    assert [m.id for m in got] == [m.id for m in turn]
    assert [m.content for m in got] == ["hi", "hello"]


def test_a_partly_stored_turn_retried_keeps_order(store: MemoryStore) -> None:
    store.add_messages("s", [HumanMessage("q0", id="a")])
    store.add_messages("s", [HumanMessage("q0", id="a"), AIMessage("a0", id="b")])
    assert [m.id for m in store.get_messages("s")] == ["a", "b"]


def test_the_same_message_id_in_two_sessions_is_stored_in_both(store: MemoryStore) -> None:
    store.add_messages("a", [HumanMessage("hi", id="same")])
    store.add_messages("b", [HumanMessage("hi", id="same")])
    assert len(store.get_messages("a")) == len(store.get_messages("b")) == 1


def test_a_one_megabyte_message_is_refused_and_its_turn_not_written(store: MemoryStore) -> None:
    big = AIMessage("x" * 1_000_000)
    with pytest.raises(InputError, match=rf"{MAX_MESSAGE_BYTES} bytes \(256 KB\) per message"):
        store.add_messages("s", [HumanMessage("q"), big])
    assert store.get_messages("s") == []


def test_a_lone_surrogate_is_refused_by_name(store: MemoryStore) -> None:
    with pytest.raises(InputError, match="not valid Unicode"):
        store.add_messages("s", [HumanMessage("x \udc80", id="m1")])
    assert store.get_messages("s") == []


def test_a_message_under_the_bound_is_stored(store: MemoryStore) -> None:
    store.add_messages("s", [AIMessage("é" * 100_000)])  # 200 KB of UTF-8
    assert store.get_messages("s")[0].content == "é" * 100_000


def test_an_unreadable_row_is_skipped_with_a_warning(
    store: MemoryStore, caplog: pytest.LogCaptureFixture
) -> None:
    store.add_messages("s", _turn("s", 0))
    conn = sqlite3.connect(store.path)
    with conn:
        conn.execute("UPDATE messages SET data = ? WHERE id = ?", ("{not json", "s-0-h"))
    conn.close()
    with caplog.at_level(logging.WARNING, logger="tooldeck.memory.store"):
        got = store.get_messages("s")
    assert [m.content for m in got] == ["s a0"]
    assert "s-0-h" in caplog.text


# -- session names ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("", "non-empty"),
        ("a/b", "'/'"),
        ("a\\b", "'/'"),
        ("..", r"'\.\.'"),
        ("a..b", r"'\.\.'"),
        ("a\x00b", "NUL"),
        ("a\nb", "control characters"),
        ("a\x1bb", "control characters"),
        ("a\x7f", "control characters"),
        ("x" * 129, "129 characters; the limit is 128"),
    ],
)
def test_bad_session_names_are_refused_naming_the_rule(
    store: MemoryStore, name: str, rule: str
) -> None:
    with pytest.raises(InputError, match=rule):
        store.add_messages(name, [HumanMessage("hi")])
    with pytest.raises(InputError, match=rule):
        SQLiteChatMessageHistory(store, name)


@pytest.mark.parametrize(
    "name", ["x" * 128, "chat-1", "café ☕", "a.b", "O'Brien'); DROP TABLE x;--"]
)
def test_good_session_names_are_accepted(store: MemoryStore, name: str) -> None:
    store.add_messages(name, [HumanMessage("hi", id="1")])
    assert [s.name for s in store.list_sessions()] == [name]
    assert len(store.get_messages(name)) == 1


# -- sessions: isolation, listing, clearing, deleting ----------------------------------------


def test_sessions_are_isolated_listed_cleared_and_deleted(store: MemoryStore) -> None:
    store.add_messages("a", _turn("a", 0))
    store.add_messages("b", _turn("b", 0) + _turn("b", 1))
    assert [m.content for m in store.get_messages("a")] == ["a q0", "a a0"]
    assert all(str(m.content).startswith("b ") for m in store.get_messages("b"))
    listed = {s.name: s for s in store.list_sessions()}
    assert {k: v.message_count for k, v in listed.items()} == {"a": 2, "b": 4}
    assert listed["b"].updated_at >= listed["a"].updated_at
    assert listed["a"].updated_at.tzinfo is not None

    store.clear("a")
    assert store.get_messages("a") == []
    assert store.get_messages("b") != []
    assert {s.name: s.message_count for s in store.list_sessions()} == {"a": 0, "b": 4}

    assert store.delete_session("b") is True
    assert store.delete_session("b") is False
    assert [s.name for s in store.list_sessions()] == ["a"]
    assert [r for r in _raw_rows(store) if r[0] == "b"] == []
    assert store.get_messages("never") == []


# -- BaseChatMessageHistory ------------------------------------------------------------------


def test_chat_history_interface(store: MemoryStore) -> None:
    history = SQLiteChatMessageHistory(store, "s")
    other = SQLiteChatMessageHistory(store, "t")
    history.add_user_message("hi")
    history.add_ai_message("hello")
    history.add_messages([HumanMessage("q2"), AIMessage("a2")])
    other.add_message(HumanMessage("elsewhere"))
    assert [m.content for m in history.messages] == ["hi", "hello", "q2", "a2"]
    assert [m.content for m in other.messages] == ["elsewhere"]
    history.clear()
    assert history.messages == []
    assert len(other.messages) == 1


async def test_chat_history_async_defaults(store: MemoryStore) -> None:
    history = SQLiteChatMessageHistory(store, "s")
    await history.aadd_messages([HumanMessage("q"), AIMessage("a")])
    assert [m.content for m in await history.aget_messages()] == ["q", "a"]
    await history.aclear()
    assert await history.aget_messages() == []


# -- busy: retried inside, bounded -----------------------------------------------------------


def test_a_held_write_lock_is_waited_for(
    store: MemoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "_BUSY_TIMEOUT_MS", 50)  # force the retry path
    holder = sqlite3.connect(store.path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.3, lambda: holder.execute("COMMIT"))
    release.start()
    try:
        store.add_messages("s", _turn("s", 0))
    finally:
        release.join()
        holder.close()
    assert len(store.get_messages("s")) == 2


def test_busy_retries_are_bounded(store: MemoryStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "_BUSY_TIMEOUT_MS", 10)
    monkeypatch.setattr(store_module, "_BUSY_RETRIES", 2)
    holder = sqlite3.connect(store.path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(MemoryStoreError, match="stayed busy through 2 retries"):
            store.add_messages("s", _turn("s", 0))
    finally:
        holder.execute("ROLLBACK")
        holder.close()


# -- connections: one per thread -------------------------------------------------------------


def _count_connects(
    store: MemoryStore, monkeypatch: pytest.MonkeyPatch
) -> list[tuple[int, sqlite3.Connection]]:
    opened: list[tuple[int, sqlite3.Connection]] = []
    connect = store._connect

    def counting() -> sqlite3.Connection:
        conn = connect()
        opened.append((threading.get_ident(), conn))
        return conn

    monkeypatch.setattr(store, "_connect", counting)
    return opened


def test_a_thread_keeps_one_connection_until_close(
    store: MemoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = _count_connects(store, monkeypatch)
    for n in range(5):
        store.add_messages("s", _turn("s", n))
        assert len(store.get_messages("s")) == 2 * (n + 1)
    assert len(opened) == 1
    store.close()
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        opened[0][1].execute("SELECT 1")
    assert len(store.get_messages("s")) == 10  # a closed store reopens
    assert len(opened) == 2


def test_each_thread_has_its_own_connection_closed_when_it_ends(
    store: MemoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gc

    opened = _count_connects(store, monkeypatch)
    store.add_messages("main", _turn("main", 0))
    worker = threading.Thread(target=lambda: store.add_messages("t", _turn("t", 0)))
    worker.start()
    worker.join()
    gc.collect()
    assert len({ident for ident, _ in opened}) == 2
    assert len(store._held) == 1  # the worker's went with its thread, closed
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        opened[1][1].execute("SELECT 1")
    assert [s.name for s in store.list_sessions()] == ["t", "main"]


def test_close_checkpoints_the_wal(store: MemoryStore) -> None:
    store.add_messages("s", _turn("s", 0))
    wal = store.path.with_name(store.path.name + "-wal")
    assert wal.exists()
    store.close()
    assert not wal.exists() or wal.stat().st_size == 0


# -- concurrency -----------------------------------------------------------------------------

SESSIONS, TURNS = 16, 30


def _write_sessions(store: MemoryStore, names: list[str]) -> list[BaseException]:
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            for n in range(TURNS):
                store.add_messages(name, _turn(name, n))
        except BaseException as exc:  # reported to the test thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def _assert_all_turns(store: MemoryStore) -> None:
    names = [f"s{i}" for i in range(SESSIONS)]
    assert {s.name: s.message_count for s in store.list_sessions()} == dict.fromkeys(
        names, 2 * TURNS
    )
    for name in names:
        expected = [m for n in range(TURNS) for m in _turn(name, n)]
        assert [(m.id, m.content) for m in store.get_messages(name)] == [
            (m.id, m.content) for m in expected
        ]
    assert store.integrity_check() == ["ok"]


def test_sixteen_sessions_from_threads(store: MemoryStore) -> None:
    errors = _write_sessions(store, [f"s{i}" for i in range(SESSIONS)])
    assert errors == []
    _assert_all_turns(store)


_PROCESS_WRITER = """
import sys
from tests.memory.test_store import _write_sessions
from tooldeck.memory.store import MemoryStore

errors = _write_sessions(MemoryStore(sys.argv[1]), sys.argv[2:])
for exc in errors:
    print(type(exc).__name__, exc, file=sys.stderr)
sys.exit(1 if errors else 0)
"""


def test_sixteen_sessions_from_two_processes(tmp_path: Path) -> None:
    halves = [[f"s{i}" for i in range(0, SESSIONS, 2)], [f"s{i}" for i in range(1, SESSIONS, 2)]]
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _PROCESS_WRITER, str(tmp_path), *half],
            cwd=REPO,
            stderr=subprocess.PIPE,
            text=True,
        )
        for half in halves
    ]
    for child in children:
        _, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
        assert "locked" not in err
    _assert_all_turns(MemoryStore(tmp_path))


# -- kill -9 ---------------------------------------------------------------------------------


def _load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "memory_crash", REPO / "bench" / "memory_crash.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("memory_crash", module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_kill_9_while_writing_loses_at_most_the_turn_in_flight(tmp_path: Path) -> None:
    bench = _load_bench()
    rng = random.Random(9)
    stored = 0
    for _ in range(10):
        result = bench.crash_round(tmp_path, rng, 0.15)
        assert result.integrity == ["ok"]
        assert result.problem is None, result.problem
        assert result.stored >= stored  # nothing committed earlier is ever lost
        stored = result.stored
    assert stored > 0
