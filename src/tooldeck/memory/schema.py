"""The memory database's schema: one tuple of SQL statements per version, applied in order.

:class:`tooldeck.memory.store.MemoryStore` runs the ones a database has not had yet, each
version in its own transaction. Never edit a released version: add a new one.
"""

from __future__ import annotations

__all__ = ["MIGRATIONS"]

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # version 1
    (
        """CREATE TABLE sessions (
            name       TEXT PRIMARY KEY,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        )""",
        """CREATE TABLE messages (
            session    TEXT    NOT NULL REFERENCES sessions(name) ON DELETE CASCADE,
            id         TEXT    NOT NULL,
            seq        INTEGER NOT NULL,
            created_at REAL    NOT NULL,
            data       TEXT    NOT NULL,
            PRIMARY KEY (session, id)
        )""",
        "CREATE UNIQUE INDEX messages_by_session_seq ON messages(session, seq)",
    ),
    # version 2: the summary kind's running summary, the vector kind's embeddings, types
    (
        """CREATE TABLE summaries (
            session     TEXT    PRIMARY KEY REFERENCES sessions(name) ON DELETE CASCADE,
            text        TEXT    NOT NULL,
            covered_seq INTEGER NOT NULL,
            updated_at  REAL    NOT NULL
        )""",
        """CREATE TABLE vectors (
            session TEXT NOT NULL,
            id      TEXT NOT NULL,
            model   TEXT NOT NULL,
            vector  BLOB NOT NULL,
            PRIMARY KEY (session, id),
            FOREIGN KEY (session, id) REFERENCES messages(session, id) ON DELETE CASCADE
        )""",
        # the message's type, so that turns are found without decoding every message
        "ALTER TABLE messages ADD COLUMN type TEXT",
        "UPDATE messages SET type = json_extract(data, '$.type')",
        "CREATE INDEX messages_by_session_type_seq ON messages(session, type, seq)",
    ),
)
