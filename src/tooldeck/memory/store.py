"""The one place where conversation memory touches disk: a SQLite file under ``data_dir``.

Invariants this module owns:

* one database, ``data_dir/memory.sqlite``, in WAL mode with a ``busy_timeout``; its schema
  is versioned in ``schema_version`` and migrations run in order, each in its own transaction;
* a message is keyed by ``(session, id)``; a message without an id gets a uuid at write time
  (set on the message itself), so retrying the same write never stores it twice;
* messages are stored as JSON (``messages_to_dict``), never pickled; embeddings as
  little-endian float32 blobs; every statement is parameterized;
* a session's running summary covers its messages up to ``covered_seq``, which only moves
  forward; a vector belongs to one message and goes when the message goes (foreign key);
* one ``add_messages`` call (a turn) is one transaction: all of its messages or none;
* a file that is not SQLite, or fails ``PRAGMA quick_check`` at open, is moved aside to
  ``memory.sqlite.corrupt-<timestamp>`` with a warning and a new database is started;
* SQLITE_BUSY is retried with backoff inside the store; the caller never sees
  "database is locked" unless the bounded retries run out (then a ``MemoryStoreError``);
* each thread keeps one connection (``synchronous = NORMAL`` in WAL: a commit is not fsynced
  but survives a killed process; checkpoints run by ``wal_autocheckpoint``), closed by
  :meth:`MemoryStore.close`, when its thread ends, or at interpreter exit. Opening and closing
  a connection per call cost a checkpoint and an fsync each time (``bench/agent_overhead.py``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import random
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from tooldeck.errors import MemoryStoreError
from tooldeck.memory.records import (
    MAX_MESSAGE_BYTES,
    MAX_SESSION_NAME_CHARS,
    SessionInfo,
    StoredMessage,
    StoredSummary,
    encode_message,
    validate_session_name,
)
from tooldeck.memory.schema import MIGRATIONS

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage

__all__ = [
    "DB_FILENAME",
    "MAX_MESSAGE_BYTES",
    "MAX_SESSION_NAME_CHARS",
    "SCHEMA_VERSION",
    "MemoryStore",
    "SessionInfo",
    "StoredMessage",
    "StoredSummary",
    "validate_session_name",
]

logger = logging.getLogger(__name__)

DB_FILENAME = "memory.sqlite"

_BUSY_TIMEOUT_MS = 5_000
_BUSY_RETRIES = 8
_BACKOFF_BASE_S = 0.02
_BACKOFF_CAP_S = 1.0

_MIGRATIONS: tuple[tuple[str, ...], ...] = MIGRATIONS  # tests patch this name
SCHEMA_VERSION = len(_MIGRATIONS)

_T = TypeVar("_T")


class _Held:
    """One thread's connection; a weak-referenceable holder (connections are not)."""

    __slots__ = ("__weakref__", "conn", "pid")

    def __init__(self, conn: sqlite3.Connection) -> None:
        """Hold ``conn``, opened by this process."""
        self.conn = conn
        self.pid = os.getpid()

    def __del__(self) -> None:
        """Close the connection when its thread ends (a fork's copy is left alone)."""
        if self.pid == os.getpid():
            with contextlib.suppress(sqlite3.Error):
                self.conn.close()


def _close_all(held: weakref.WeakSet[_Held]) -> None:
    """Close every connection this process opened and still holds (a finalizer)."""
    for holder in list(held):
        if holder.pid == os.getpid():
            with contextlib.suppress(sqlite3.Error):
                holder.conn.close()
    held.clear()


def _is_busy(exc: sqlite3.Error) -> bool:
    """Whether ``exc`` says another connection holds a lock (worth retrying)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return (code & 0xFF) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    text = str(exc).lower()
    return "locked" in text or "busy" in text


class MemoryStore:
    """Chat messages of many sessions in one SQLite database.

    Safe to share between threads and processes: each thread uses its own connection
    (opened on its first call), and writes take the database's write lock with
    ``BEGIN IMMEDIATE``. :meth:`close` closes them; a closed store reopens on its next call.

    Args:
        data_dir: The directory that holds ``memory.sqlite`` (created if missing).
    """

    def __init__(self, data_dir: Path | str) -> None:
        """Open (or create, or replace a corrupted) database and apply pending migrations."""
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / DB_FILENAME
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._held: weakref.WeakSet[_Held] = weakref.WeakSet()
        self._finalizer = weakref.finalize(self, _close_all, self._held)
        with self._open_lock():
            self._retry(self._check_or_move_aside)
            self._retry(self._migrate)

    # -- opening ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def _open_lock(self) -> Iterator[None]:
        """Serialise the open-check-migrate step between processes (not the writes)."""
        fd = os.open(self.data_dir / f"{DB_FILENAME}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def close(self) -> None:
        """Close the connections of every thread; the next call opens a new one."""
        _close_all(self._held)

    def _connect(self) -> sqlite3.Connection:
        """A new connection in autocommit mode with the store's pragmas."""
        conn = sqlite3.connect(
            self.path,
            timeout=_BUSY_TIMEOUT_MS / 1000,
            isolation_level=None,
            check_same_thread=False,  # used by one thread; closed by close() from any
        )
        conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS:d}")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    def _check_or_move_aside(self) -> None:
        """Move the file aside if it is not SQLite or fails ``PRAGMA quick_check``."""
        if not self.path.exists():
            return
        problem: str | None = None
        try:
            conn = self._connect()
            try:
                rows = conn.execute("PRAGMA quick_check").fetchall()
            finally:
                conn.close()
            if [tuple(r) for r in rows] != [("ok",)]:
                problem = "; ".join(str(r[0]) for r in rows[:5])
        except sqlite3.DatabaseError as exc:
            if _is_busy(exc):
                raise
            problem = str(exc)
        if problem is not None:
            self._move_aside(problem)

    def _move_aside(self, problem: str) -> None:
        """Rename the database (and its -wal/-shm files) aside, with a warning."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        target = self.path.with_name(f"{DB_FILENAME}.corrupt-{stamp}")
        os.replace(self.path, target)
        for suffix in ("-wal", "-shm"):
            side = self.path.with_name(DB_FILENAME + suffix)
            if side.exists():
                os.replace(side, target.with_name(target.name + suffix))
        logger.warning(
            "memory database %s is corrupted (%s); moved it to %s and started a new one",
            self.path,
            problem,
            target,
        )

    def _migrate(self) -> None:
        """Switch to WAL and apply the migrations the database has not had yet."""
        conn = self._connect()
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version ("
                "version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)"
            )
            row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
            current = int(row[0] or 0)
            if current > SCHEMA_VERSION:
                msg = (
                    f"memory database {self.path} has schema version {current}, newer than "
                    f"this tooldeck knows ({SCHEMA_VERSION}); upgrade tooldeck"
                )
                raise MemoryStoreError(msg)
            for version in range(current + 1, SCHEMA_VERSION + 1):
                with self._transaction(conn):
                    # Another process may have migrated between our read and our lock.
                    done = conn.execute(
                        "SELECT 1 FROM schema_version WHERE version = ?", (version,)
                    ).fetchone()
                    if done:
                        continue
                    for statement in _MIGRATIONS[version - 1]:
                        conn.execute(statement)
                    conn.execute(
                        "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                        (version, time.time()),
                    )
        finally:
            conn.close()

    # -- plumbing --------------------------------------------------------------------------

    @staticmethod
    @contextlib.contextmanager
    def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
        """A write transaction: ``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on error."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _retry(self, operation: Callable[[], _T]) -> _T:
        """Run ``operation``, retrying with jittered backoff while the database is busy."""
        for attempt in range(_BUSY_RETRIES + 1):
            try:
                return operation()
            except sqlite3.Error as exc:
                if not _is_busy(exc):
                    msg = f"memory database {self.path}: {exc}"
                    raise MemoryStoreError(msg) from exc
                if attempt == _BUSY_RETRIES:
                    msg = (
                        f"memory database {self.path} stayed busy through {_BUSY_RETRIES} "
                        "retries; another program holds its write lock"
                    )
                    raise MemoryStoreError(msg) from exc
                delay = min(_BACKOFF_CAP_S, _BACKOFF_BASE_S * 2**attempt)
                time.sleep(delay * (0.5 + random.random()))  # noqa: S311 - jitter, not crypto
        raise AssertionError("unreachable")  # pragma: no cover

    def _thread_conn(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use (again after close or a fork)."""
        holder: _Held | None = getattr(self._local, "held", None)
        if holder is None or holder not in self._held or holder.pid != os.getpid():
            holder = _Held(self._connect())  # a fork's inherited connection is left unused
            self._held.add(holder)
            self._local.held = holder
        return holder.conn

    def _drop_thread_conn(self) -> None:
        """Close this thread's connection after an error that may have left it unusable."""
        holder: _Held | None = getattr(self._local, "held", None)
        self._local.held = None
        if holder is not None and holder.pid == os.getpid():
            self._held.discard(holder)
            with contextlib.suppress(sqlite3.Error):
                holder.conn.close()

    def _run(self, body: Callable[[sqlite3.Connection], _T], *, write: bool) -> _T:
        """Run ``body`` on this thread's connection (in a write transaction when ``write``)."""

        def operation() -> _T:
            conn = self._thread_conn()
            try:
                if not write:
                    return body(conn)
                with self._transaction(conn):
                    return body(conn)
            except sqlite3.Error as exc:
                if not _is_busy(exc):
                    self._drop_thread_conn()
                elif conn.in_transaction:  # a COMMIT that found the database busy
                    conn.rollback()
                raise

        return self._retry(operation)

    # -- public API ------------------------------------------------------------------------

    def add_messages(self, session: str, messages: Sequence[BaseMessage]) -> None:
        """Append messages to a session in one transaction (all of them or none).

        A message without an ``id`` gets a fresh uuid, set on the message object, so a retry
        of the same call stores nothing twice; messages whose id the session already holds
        are skipped.

        Args:
            session: The session name (see :func:`validate_session_name`).
            messages: The messages of one turn, oldest first.

        Raises:
            InputError: A bad session name, or a message over ``MAX_MESSAGE_BYTES``.
            MemoryStoreError: The database stayed busy or failed.
        """
        validate_session_name(session)
        encoded = [encode_message(m) for m in messages]  # sets a missing id on each message first
        rows = [(str(m.id), m.type, data) for m, data in zip(messages, encoded, strict=True)]
        if not rows:
            return

        def body(conn: sqlite3.Connection) -> None:
            now = time.time()
            conn.execute(
                "INSERT INTO sessions (name, created_at, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT(name) DO UPDATE SET updated_at = excluded.updated_at",
                (session, now, now),
            )
            (seq,) = conn.execute(
                "SELECT COALESCE(MAX(seq), 0) FROM messages WHERE session = ?", (session,)
            ).fetchone()
            for message_id, kind, data in rows:
                cur = conn.execute(
                    "INSERT OR IGNORE INTO messages (session, id, seq, created_at, type, data) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (session, message_id, seq + 1, now, kind, data),
                )
                seq += cur.rowcount

        self._run(body, write=True)

    def get_messages(self, session: str) -> list[BaseMessage]:
        """Return a session's messages, oldest first (empty for an unknown session).

        Args:
            session: The session name.

        Returns:
            The stored messages; a row that no longer decodes is skipped with a warning.
        """
        return [record.message for record in self.get_records(session)]

    def get_records(self, session: str, *, after_seq: int = 0, upto_seq: int | None = None
                    ) -> list[StoredMessage]:
        """Return a session's messages with their sequence numbers, oldest first.

        Args:
            session: The session name.
            after_seq: Only messages with a larger sequence number.
            upto_seq: Only messages with this sequence number or a smaller one.

        Returns:
            The stored messages; a row that no longer decodes is skipped with a warning.
        """
        from langchain_core.messages import messages_from_dict

        validate_session_name(session)
        rows: list[tuple[int, str, str]] = self._run(
            lambda conn: conn.execute(
                "SELECT seq, id, data FROM messages WHERE session = ? AND seq > ? AND seq <= ? "
                "ORDER BY seq",
                (session, after_seq, upto_seq if upto_seq is not None else 2**62),
            ).fetchall(),
            write=False,
        )
        out: list[StoredMessage] = []
        for seq, message_id, data in rows:
            try:
                out += [StoredMessage(int(seq), m) for m in messages_from_dict([json.loads(data)])]
            except (ValueError, KeyError, TypeError) as exc:
                logger.warning("skipping unreadable message %s of %r: %s", message_id, session, exc)
        return out

    def get_index(self, session: str, *, before_seq: int | None = None
                  ) -> list[tuple[int, str, str]]:
        """``(seq, id, type)`` of a session's messages, oldest first, without decoding them.

        Args:
            session: The session name.
            before_seq: Only messages with a smaller sequence number.
        """
        validate_session_name(session)
        limit = before_seq if before_seq is not None else 2**62
        rows: list[tuple[int, str, str]] = self._run(
            lambda conn: conn.execute(
                "SELECT seq, id, type FROM messages "
                "WHERE session = ? AND seq < ? ORDER BY seq",
                (session, limit),
            ).fetchall(),
            write=False,
        )
        return [(int(seq), str(mid), str(kind)) for seq, mid, kind in rows]

    def turn_start_seq(self, session: str, turns: int) -> int:
        """The sequence number where the session's last ``turns`` turns begin.

        A turn begins at a human message. Reads back only as far as it needs to, so a window
        over a long session costs no more than a window over a short one.

        Args:
            session: The session name.
            turns: How many turns back (at least 1).

        Returns:
            The seq of the ``turns``-th last human message, or 0 if the session has fewer.
        """
        validate_session_name(session)
        row: tuple[int] | None = self._run(
            lambda conn: conn.execute(
                "SELECT seq FROM messages WHERE session = ? "
                "AND type = 'human' "
                "ORDER BY seq DESC LIMIT 1 OFFSET ?",
                (session, max(turns, 1) - 1),
            ).fetchone(),
            write=False,
        )
        return 0 if row is None else int(row[0])

    def get_summary(self, session: str) -> StoredSummary | None:
        """The session's running summary, or None if it has none."""
        validate_session_name(session)
        row: tuple[str, int] | None = self._run(
            lambda conn: conn.execute(
                "SELECT text, covered_seq FROM summaries WHERE session = ?", (session,)
            ).fetchone(),
            write=False,
        )
        return None if row is None else StoredSummary(str(row[0]), int(row[1]))

    def set_summary(self, session: str, text: str, covered_seq: int) -> bool:
        """Store the session's summary of its messages up to ``covered_seq``.

        A summary never moves backwards: if another writer already stored one that covers
        more, this one is ignored.

        Args:
            session: The session name (it must hold messages already).
            text: The summary (may be empty: older turns dropped without a summary).
            covered_seq: The last message sequence number the summary covers.

        Returns:
            Whether the summary was stored.
        """
        validate_session_name(session)

        def body(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "INSERT INTO summaries (session, text, covered_seq, updated_at) "
                "SELECT ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM sessions WHERE name = ?) "
                "ON CONFLICT(session) DO UPDATE SET text = excluded.text, "
                "covered_seq = excluded.covered_seq, updated_at = excluded.updated_at "
                "WHERE excluded.covered_seq > summaries.covered_seq",
                (session, text, covered_seq, time.time(), session),
            )
            return cur.rowcount > 0

        return self._run(body, write=True)

    def put_vectors(self, session: str, model: str, vectors: Mapping[str, bytes]) -> None:
        """Store embeddings (float32 blobs) of messages; those of deleted messages are skipped.

        Args:
            session: The session name.
            model: The embedding model's id (vectors of another model are not compared).
            vectors: Message id -> little-endian float32 blob.
        """
        validate_session_name(session)
        rows = [(session, mid, model, blob, session, mid) for mid, blob in vectors.items()]

        def body(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT OR REPLACE INTO vectors (session, id, model, vector) SELECT ?, ?, ?, ? "
                "WHERE EXISTS (SELECT 1 FROM messages WHERE session = ? AND id = ?)",
                rows,
            )

        if rows:
            self._run(body, write=True)

    def get_vectors(self, session: str, model: str) -> dict[str, bytes]:
        """Message id -> float32 blob, for the session's vectors made by ``model``."""
        validate_session_name(session)
        rows: list[tuple[str, bytes]] = self._run(
            lambda conn: conn.execute(
                "SELECT id, vector FROM vectors WHERE session = ? AND model = ?", (session, model)
            ).fetchall(),
            write=False,
        )
        return {str(mid): bytes(blob) for mid, blob in rows}

    def list_sessions(self) -> list[SessionInfo]:
        """Every session with its message count and last update, most recent first."""
        rows: list[tuple[str, int, float]] = self._run(
            lambda conn: conn.execute(
                "SELECT s.name, COUNT(m.id), s.updated_at FROM sessions AS s "
                "LEFT JOIN messages AS m ON m.session = s.name "
                "GROUP BY s.name ORDER BY s.updated_at DESC, s.name"
            ).fetchall(),
            write=False,
        )
        return [
            SessionInfo(name, int(count), datetime.fromtimestamp(updated, UTC))
            for name, count, updated in rows
        ]

    def clear(self, session: str) -> None:
        """Remove a session's messages, summary and vectors; it stays listed, empty.

        Args:
            session: The session name.
        """
        validate_session_name(session)

        def body(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM messages WHERE session = ?", (session,))
            conn.execute("DELETE FROM summaries WHERE session = ?", (session,))
            conn.execute(
                "UPDATE sessions SET updated_at = ? WHERE name = ?", (time.time(), session)
            )

        self._run(body, write=True)

    def delete_session(self, session: str) -> bool:
        """Remove a session and all of its messages.

        Args:
            session: The session name.

        Returns:
            Whether the session existed.
        """
        validate_session_name(session)

        def body(conn: sqlite3.Connection) -> bool:
            conn.execute("DELETE FROM messages WHERE session = ?", (session,))
            cur = conn.execute("DELETE FROM sessions WHERE name = ?", (session,))
            return cur.rowcount > 0

        return self._run(body, write=True)

    def integrity_check(self) -> list[str]:
        """Run ``PRAGMA integrity_check``; ``["ok"]`` means the file is sound."""
        rows: list[tuple[str]] = self._run(
            lambda conn: conn.execute("PRAGMA integrity_check").fetchall(), write=False
        )
        return [str(r[0]) for r in rows]

    def schema_version(self) -> int:
        """The highest migration applied to the database."""
        row: tuple[int | None] = self._run(
            lambda conn: conn.execute("SELECT MAX(version) FROM schema_version").fetchone(),
            write=False,
        )
        return int(row[0] or 0)
