"""The chunk store of one index: SQLite (WAL) with an FTS5 BM25 index over the same chunks.

Tables: ``meta`` (schema version, embedding model), ``files`` (path, SHA-256, chunk count: what
makes re-indexing incremental), ``chunks`` (text, returned context, metadata as JSON), the
FTS5 table ``fts`` kept in step by triggers, and ``term_df`` (each indexed term's document
frequency, recounted after each update, so BM25 can pick a question's rare words in
microseconds). Every statement is parameterized.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tooldeck.errors import IndexCorruptedError
from tooldeck.rag.splitters import Chunk

__all__ = ["POSTINGS_BUDGET", "SCHEMA_VERSION", "ChunkStore", "StoredChunk", "fts_query"]

SCHEMA_VERSION = "1"
# The FTS5 tokenizer of the index; the stemmer that looks up a question's terms must use the same.
_TOKENIZER = "porter unicode61"
POSTINGS_BUDGET = 5_000  # see ChunkStore.selective_words
_COLUMNS = ("kind", "source", "ref")
_META_KEY = re.compile(r"^\w{1,64}$")
_STOP = frozenset(
    "a an and are as at be by can do does for from how i in is it me my of on or so that the "
    "this to use using what when which with you your".split()
)
# Only the fixed _TOKENIZER constant is interpolated.
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files(
    path TEXT PRIMARY KEY, sha256 TEXT NOT NULL, size INTEGER NOT NULL,
    n_chunks INTEGER NOT NULL, indexed_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS chunks(
    rowid INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, source TEXT NOT NULL,
    kind TEXT NOT NULL, ref TEXT NOT NULL, title TEXT NOT NULL, text TEXT NOT NULL,
    context TEXT, metadata TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS chunks_source ON chunks(source);
CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(
    text, title, ref, content='chunks', content_rowid='rowid', tokenize='{_TOKENIZER}');
CREATE VIRTUAL TABLE IF NOT EXISTS fts_terms USING fts5vocab('fts', 'row');
CREATE TABLE IF NOT EXISTS term_df(term TEXT PRIMARY KEY, df INTEGER NOT NULL) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS chunks_ai AFTER INSERT ON chunks BEGIN
    INSERT INTO fts(rowid, text, title, ref) VALUES (new.rowid, new.text, new.title, new.ref);
END;
CREATE TRIGGER IF NOT EXISTS chunks_ad AFTER DELETE ON chunks BEGIN
    INSERT INTO fts(fts, rowid, text, title, ref)
    VALUES ('delete', old.rowid, old.text, old.title, old.ref);
END;
"""  # noqa: S608


class StoredChunk:
    """A chunk read back from the store."""

    __slots__ = ("context", "id", "metadata", "text")

    def __init__(self, id: str, text: str, context: str | None, metadata: str) -> None:
        self.id = id
        self.text = text
        self.context = context if context is not None else text
        self.metadata: dict[str, Any] = json.loads(metadata)


def _query_words(question: str, max_terms: int = 32) -> list[str]:
    """The question's distinct words, stop words left out (unless that leaves none)."""
    words: list[str] = []
    for word in re.findall(r"[^\W_]+", question.lower()):
        if word not in _STOP and word not in words:
            words.append(word)
    if not words:
        words = re.findall(r"[^\W_]+", question.lower())
    return words[:max_terms]


def fts_query(words: Iterable[str]) -> str:
    """An FTS5 OR-query of ``words`` (each quoted, so no FTS syntax gets through)."""
    return " OR ".join(f'"{w}"' for w in words)


class _Stemmer:
    """The index tokenizer's terms for words: an in-memory FTS5 table with the same tokenizer."""

    def __init__(self) -> None:
        self.db = sqlite3.connect(":memory:", check_same_thread=False)
        self.db.executescript(
            f"CREATE VIRTUAL TABLE q USING fts5(x, tokenize='{_TOKENIZER}');"
            "CREATE VIRTUAL TABLE q_terms USING fts5vocab('q', 'instance');")
        self.lock = threading.Lock()

    def terms(self, words: list[str]) -> dict[str, list[str]]:
        """Each word's indexed terms (usually one stem)."""
        out: dict[str, list[str]] = {w: [] for w in words}
        with self.lock, self.db:
            self.db.executemany("INSERT INTO q(rowid, x) VALUES (?, ?)",
                                list(enumerate(words, start=1)))
            for term, doc in self.db.execute("SELECT term, doc FROM q_terms"):
                out[words[int(doc) - 1]].append(str(term))
            self.db.execute("DELETE FROM q")
        return out


class ChunkStore:
    """The SQLite side of an index.

    Args:
        path: the database file (created when missing, unless ``read_only``).
        rebuild_hint: how to fix a damaged file, appended to error messages.
        read_only: open an existing file for reading only (no schema, no writes).

    Raises:
        IndexCorruptedError: the file is not a readable tooldeck index.
    """

    def __init__(self, path: Path, rebuild_hint: str, read_only: bool = False) -> None:
        self.path = path
        self._hint = rebuild_hint
        self._stemmer: _Stemmer | None = None
        try:
            if read_only:
                self.db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True,
                                          timeout=30.0, check_same_thread=False)
                self.get_meta("schema_version")
                return
            self.db = sqlite3.connect(str(path), timeout=30.0, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(_SCHEMA)
            version = self.get_meta("schema_version")
            if version is None:
                self.set_meta("schema_version", SCHEMA_VERSION)
                self.db.commit()
            elif version != SCHEMA_VERSION:
                raise IndexCorruptedError(
                    f"index {path.parent} has schema {version}, this tooldeck reads "
                    f"{SCHEMA_VERSION}; {rebuild_hint}"
                )
        except sqlite3.DatabaseError as exc:
            msg = f"index file {path} is damaged ({exc}); {rebuild_hint}"
            raise IndexCorruptedError(msg) from exc

    @contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.DatabaseError as exc:
            raise IndexCorruptedError(
                f"index file {self.path} is damaged ({exc}); {self._hint}"
            ) from exc

    def close(self) -> None:
        """Close the database."""
        self.db.close()

    def get_meta(self, key: str) -> str | None:
        """A value from ``meta``."""
        with self._guard():
            row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        """Set a value in ``meta`` (committed with the next transaction)."""
        self.db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def files(self) -> dict[str, str]:
        """Indexed files and their SHA-256."""
        with self._guard():
            return dict(self.db.execute("SELECT path, sha256 FROM files").fetchall())

    def chunk_ids(self, source: str) -> list[str]:
        """Ids of the chunks of one file."""
        with self._guard():
            rows = self.db.execute("SELECT id FROM chunks WHERE source = ?", (source,))
            return [r[0] for r in rows]

    def count(self) -> int:
        """Number of chunks."""
        with self._guard():
            return int(self.db.execute("SELECT count(*) FROM chunks").fetchone()[0])

    def is_empty(self) -> bool:
        """Whether there are no chunks (without counting them: O(1), not O(chunks))."""
        with self._guard():
            return self.db.execute("SELECT 1 FROM chunks LIMIT 1").fetchone() is None

    def all_ids(self) -> set[str]:
        """Every chunk id."""
        with self._guard():
            return {r[0] for r in self.db.execute("SELECT id FROM chunks")}

    def chunks_of(self, sources: Iterable[str]) -> int:
        """How many chunks the files ``sources`` hold (by the ``files`` table)."""
        wanted = list(sources)
        total = 0
        with self._guard():
            for start in range(0, len(wanted), 500):
                part = wanted[start : start + 500]
                marks = ",".join("?" * len(part))
                row = self.db.execute(
                    f"SELECT coalesce(sum(n_chunks), 0) FROM files WHERE path IN ({marks})",  # noqa: S608
                    part,
                ).fetchone()
                total += int(row[0])
        return total

    def updated_at(self) -> float | None:
        """When the index was last written (seconds since the epoch), if known."""
        stamp = self.get_meta("updated_at")
        if stamp is not None:
            return float(stamp)
        with self._guard():
            row = self.db.execute("SELECT max(indexed_at) FROM files").fetchone()
        return None if row[0] is None else float(row[0])

    def count_files(self) -> int:
        """Number of files."""
        with self._guard():
            return int(self.db.execute("SELECT count(*) FROM files").fetchone()[0])

    def replace_file(self, source: str, sha256: str, size: int, chunks: list[Chunk]) -> None:
        """Swap one file's chunks for new ones, in one transaction."""
        rows = [
            (c.id, source, str(c.metadata.get("kind", "doc")), str(c.metadata.get("ref", "")),
             str(c.metadata.get("title", "")), c.text, None if c.context == c.text else c.context,
             json.dumps(c.metadata, ensure_ascii=False, default=str))
            for c in chunks
        ]
        with self._guard(), self.db:
            self.db.execute("DELETE FROM chunks WHERE source = ?", (source,))
            self.db.executemany(
                "INSERT OR REPLACE INTO chunks(id, source, kind, ref, title, text, context, "
                "metadata) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
            self.db.execute(
                "INSERT OR REPLACE INTO files(path, sha256, size, n_chunks, indexed_at) "
                "VALUES (?, ?, ?, ?, ?)", (source, sha256, size, len(rows), time.time()))

    def remove_file(self, source: str) -> None:
        """Forget one file and its chunks."""
        with self._guard(), self.db:
            self.db.execute("DELETE FROM chunks WHERE source = ?", (source,))
            self.db.execute("DELETE FROM files WHERE path = ?", (source,))

    def commit_meta(self, values: Mapping[str, str]) -> None:
        """Write several ``meta`` values in one transaction."""
        with self._guard(), self.db:
            for key, value in values.items():
                self.set_meta(key, value)

    @staticmethod
    def _where(filters: Mapping[str, Any] | None) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        for key, value in (filters or {}).items():
            if key in _COLUMNS:
                clauses.append(f"c.{key} = ?")
            elif _META_KEY.match(key):
                clauses.append("json_extract(c.metadata, ?) = ?")
                params.append(f"$.{key}")
            else:
                continue
            params.append(value)
        return ("".join(f" AND {c}" for c in clauses), params)

    def selective_words(self, question: str) -> list[str]:
        """The question's words worth a BM25 lookup: in the index, rarest first, within budget.

        FTS5 scores every chunk that holds any query word (~1 us each), so a query costs about
        the sum of its words' document frequencies. Words are taken rarest first (highest IDF,
        the ones BM25 weighs most) while that sum stays within ``POSTINGS_BUDGET``; the three
        rarest are always kept. Indexes of a few hundred chunks never lose a word, and on the
        APIBench hubs (700-900 chunks) retrieval is as good as plain BM25's; at 100k chunks BM25
        takes ~7 ms (``bench/rag_scale.py``; 27 ms with a 20,000-postings budget).
        """
        words = _query_words(question)
        if not words:
            return []
        if self._stemmer is None:
            self._stemmer = _Stemmer()
        df: dict[str, int] = {}
        seen: set[tuple[str, ...]] = set()
        with self._guard():
            for word, terms in self._stemmer.terms(words).items():
                if tuple(terms) not in seen:  # "session" and "sessions" are one term
                    seen.add(tuple(terms))
                    df[word] = max((self._df(t) for t in terms), default=0)
        kept: list[str] = []
        spent = 0
        for word in sorted((w for w, n in df.items() if n > 0), key=df.__getitem__):
            if len(kept) >= 3 and spent + df[word] > POSTINGS_BUDGET:
                break
            kept.append(word)
            spent += df[word]
        return kept

    def _df(self, term: str) -> int:
        row = self.db.execute("SELECT df FROM term_df WHERE term = ?", (term,)).fetchone()
        if row is None:  # not in the table (not indexed, or an index from before the table)
            # fts5vocab counts by walking the term's postings: fast for the rare and unknown
            row = self.db.execute("SELECT doc FROM fts_terms WHERE term = ?", (term,)).fetchone()
        return 0 if row is None else int(row[0])

    def refresh_term_df(self) -> None:
        """Recount every term's document frequency (after writes; ~0.3 s at 100k chunks)."""
        with self._guard(), self.db:
            self.db.execute("DELETE FROM term_df")
            self.db.execute("INSERT INTO term_df(term, df) SELECT term, doc FROM fts_terms")

    def term_df_missing(self) -> bool:
        """Whether the chunks have no document-frequency table yet (an older index)."""
        with self._guard():
            empty = self.db.execute("SELECT 1 FROM term_df LIMIT 1").fetchone() is None
        return empty and not self.is_empty()

    def bm25(self, question: str, limit: int, filters: Mapping[str, Any] | None = None
             ) -> list[str]:
        """Chunk ids ranked by BM25 (text, and title/ref weighted double).

        Args:
            question: the question.
            limit: how many ids.
            filters: column or metadata equalities.
        """
        words = self.selective_words(question)
        if not words:
            return []
        where, params = self._where(filters)
        # Only fixed column names and "?" placeholders are interpolated; values are parameters.
        if where:
            sql = ("SELECT c.id FROM fts JOIN chunks c ON c.rowid = fts.rowid "  # noqa: S608
                   f"WHERE fts MATCH ?{where} ORDER BY bm25(fts, 1.0, 2.0, 2.0) LIMIT ?")
        else:  # rank first, then look up only the ids kept
            sql = ("SELECT c.id FROM (SELECT rowid, bm25(fts, 1.0, 2.0, 2.0) AS score FROM fts "
                   "WHERE fts MATCH ? ORDER BY score LIMIT ?) AS best JOIN chunks c "
                   "ON c.rowid = best.rowid ORDER BY best.score")
        with self._guard():
            args = (fts_query(words), *params, limit)
            return [r[0] for r in self.db.execute(sql, args)]

    def operations(self, skip: set[str], limit: int = 200_000) -> list[dict[str, Any]]:
        """Metadata of the REST operations stored, leaving out the files in ``skip``."""
        with self._guard():
            rows = self.db.execute(
                "SELECT source, metadata FROM chunks WHERE kind = 'rest' LIMIT ?", (limit,))
            return [json.loads(meta) for source, meta in rows if source not in skip]

    def get(self, ids: Iterable[str]) -> dict[str, StoredChunk]:
        """Chunks by id."""
        wanted = list(ids)
        found: dict[str, StoredChunk] = {}
        with self._guard():
            for start in range(0, len(wanted), 500):
                part = wanted[start : start + 500]
                marks = ",".join("?" * len(part))
                for row in self.db.execute(
                    f"SELECT id, text, context, metadata FROM chunks WHERE id IN ({marks})",  # noqa: S608
                    part,
                ):
                    found[row[0]] = StoredChunk(*row)
        return found
