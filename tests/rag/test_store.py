"""The SQLite/FTS5 side of an index: BM25 words within the postings budget, parameterized SQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from tooldeck.rag import store as store_module
from tooldeck.rag.splitters import Chunk
from tooldeck.rag.store import ChunkStore


@pytest.fixture
def store(tmp_path: Path) -> ChunkStore:
    db = ChunkStore(tmp_path / "index.sqlite", "rebuild it")
    texts = [f"model {i} for image classification" for i in range(40)]
    texts += ["create a session with the compute API", "terminate sessions quickly",
              "quantum flux capacitor settings"]
    chunks = [Chunk(f"c{i}", t, t, {"kind": "doc", "ref": f"r{i}"}) for i, t in enumerate(texts)]
    db.replace_file("corpus.txt", "sha", 1, chunks)
    yield db
    db.close()


def test_small_index_keeps_every_word(store: ChunkStore) -> None:
    words = store.selective_words("Which model does image classification of sessions?")
    assert set(words) == {"model", "image", "classification", "sessions"}  # "does": not indexed
    assert words[0] == "sessions"  # rarest first; "sessions" is looked up by its stem "session"
    assert store.bm25("create session", 5)[0] == "c40"


def test_budget_drops_the_most_common_words(store: ChunkStore,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "POSTINGS_BUDGET", 10)
    words = store.selective_words("model image classification flux session compute")
    # the three rarest always stay; the 40-chunk words do not fit in 10 postings
    assert words[:3] == ["flux", "compute", "session"]
    assert not {"model", "image", "classification"} & set(words)
    assert store.bm25("model image flux capacitor", 3)[0] == "c42"


def test_term_table_gives_the_same_words(store: ChunkStore) -> None:
    question = "Which model does image classification of sessions, flux and zyzzyva?"
    before = store.selective_words(question)  # counted from FTS5's postings
    assert store.term_df_missing()
    store.refresh_term_df()
    assert not store.term_df_missing()
    assert store.selective_words(question) == before  # from the table; unknown words still out
    assert "zyzzyva" not in before
    assert store.selective_words("session sessions") == ["session"]  # one stem, looked up once


def test_fts_syntax_in_a_question_is_only_text(store: ChunkStore) -> None:
    for question in ['" OR 1=1 --', "NEAR(model image)", "session*", "col:text ^model", "'; DROP"]:
        store.bm25(question, 5)  # no FTS5 syntax error, no injection
    assert store.count() == 43
