"""The hybrid index, the API helper CLI and its bad-input cases, on the real embedder."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest

from tooldeck.cli import main
from tooldeck.errors import (
    EmptyIndexError,
    IndexBusyError,
    IndexCorruptedError,
    IndexNotFoundError,
)
from tooldeck.rag import open_index
from tooldeck.rag.index import index_generation, list_indexes, rrf_fuse
from tooldeck.rag.lifecycle import write_lock

API = Path(__file__).resolve().parent.parent / "fixtures" / "api"


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    shutil.copytree(API, folder)
    return folder


@pytest.fixture
def built(config: Any, corpus: Path) -> Any:
    index = open_index(config, "api", create=True)
    stats = index.update([corpus], config.rag.index("api"))
    assert stats.files_added == 3 and not stats.skipped
    yield index
    index.close()


def test_rrf_fuse() -> None:
    scores = rrf_fuse([["a", "b"], ["b", "c"]], k=60)
    assert max(scores, key=lambda i: scores[i]) == "b"
    assert scores["a"] == pytest.approx(1 / 61)


def test_search_finds_operation_function_and_doc(built: Any) -> None:
    top = built.search("how do I create a new session?", 5)
    assert top[0].ref == "POST /session"  # the operation first, its function among the five
    assert {m.ref for m in top} >= {"POST /session", "ComputeSession.create"}
    assert built.search("terminate a running session", 3)[0].ref in {
        "DELETE /session/{session_id}", "ComputeSession.terminate"}
    assert built.search("how long are tokens valid", 1)[0].ref == "guide.md#authentication"
    only_rest = built.search("create a session", 5, {"kind": "rest"})
    assert only_rest and all(m.kind == "rest" for m in only_rest)


def test_index_links_functions_and_operations(built: Any) -> None:
    found = {m.ref: m for m in built.search("terminate a running session", 5)}
    op, fn = found["DELETE /session/{session_id}"], found["ComputeSession.terminate"]
    assert op.metadata["functions"] == "ComputeSession.terminate"
    assert fn.metadata["operations"] == "DELETE /session/{session_id}"
    assert "client: ComputeSession.terminate" in op.text  # searched, not shown
    assert "client:" not in op.context and "words:" not in op.context


def test_reindex_is_incremental_and_deletes(config: Any, built: Any, corpus: Path) -> None:
    again = built.update([corpus], config.rag.index("api"))
    assert (again.files_unchanged, again.chunks_embedded) == (3, 0)
    guide = corpus / "guide.md"
    guide.write_text(guide.read_text() + "\n## Regions\n\nSessions run in eu-west or us-east.\n")
    changed = built.update([corpus], config.rag.index("api"))
    assert changed.files_updated == 1 and 0 < changed.chunks_embedded <= 2
    assert built.search("which regions can sessions run in", 1)[0].ref == "guide.md#regions"
    (corpus / "client.py").unlink()
    removed = built.update([corpus], config.rag.index("api"))
    assert removed.files_removed == 1
    assert all(m.kind != "function" for m in built.search("ComputeSession create", 10))
    assert built.collection.count() == built.store.count()


def test_empty_unknown_and_corrupted_indexes(config: Any, built: Any) -> None:
    empty = open_index(config, "empty", create=True)  # creates nothing until update
    with pytest.raises(EmptyIndexError, match="tooldeck index empty PATH"):
        empty.search("anything")
    with pytest.raises(IndexNotFoundError, match="known indexes: api;"):
        open_index(config, "nope")
    built.close()
    assert built.build is not None and built.build.parent.name == "builds"
    (built.build / "index.sqlite").write_bytes(b"this is not sqlite" * 100)
    for suffix in ("-wal", "-shm"):
        (built.build / f"index.sqlite{suffix}").unlink(missing_ok=True)
    with pytest.raises(IndexCorruptedError, match="--rebuild"):
        open_index(config, "api").search("x")
    shutil.rmtree(built.build / "chroma")  # not a complete index any more: not one at all
    with pytest.raises(IndexNotFoundError, match="build it with `tooldeck index api PATH"):
        open_index(config, "api")
    assert list_indexes(config.data_dir) == []


def test_rebuild_while_a_reader_has_it_open(config: Any, built: Any, corpus: Path) -> None:
    before = built.search("create a session", 1)[0].id
    seen = built.generation
    assert seen is not None and index_generation(config.data_dir, "api") == seen
    again = open_index(config, "api")
    try:
        stats = again.update([corpus], config.rag.index("api"), rebuild=True)
        assert stats.rebuilt and stats.files_added == 3
        assert again.search("create a session", 1)[0].ref in {"POST /session",
                                                              "ComputeSession.create"}
    finally:
        again.close()
    assert built.search("create a session", 1)[0].id == before  # the old build, still whole
    assert index_generation(config.data_dir, "api") not in {None, seen}  # readers reopen


def test_concurrent_writer_fails_clearly(config: Any, built: Any, corpus: Path) -> None:
    config.rag.lock_timeout_s = 0.3
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with write_lock(config.data_dir, "api", 5):
            held.set()
            release.wait(5)

    thread = threading.Thread(target=hold)
    thread.start()
    held.wait(5)
    try:
        with pytest.raises(IndexBusyError, match="being written by another process"):
            built.update([corpus], config.rag.index("api"))
    finally:
        release.set()
        thread.join()
    assert built.update([corpus], config.rag.index("api")).files_unchanged == 3


def _cli(argv: list[str], capsys: Any) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_index_and_ask(config: Any, corpus: Path, tmp_path: Path, capsys: Any,
                           monkeypatch: Any) -> None:
    monkeypatch.setenv("TOOLDECK_DATA_DIR", str(config.data_dir))
    (corpus / "broken.json").write_text("{nope")
    code, out, err = _cli(["index", "myapi", str(corpus)], capsys)
    assert code == 0, err
    assert "3 added" in out and "1 skipped" in out and "broken.json: invalid JSON" in err
    code, out, _ = _cli(["index", "myapi", str(corpus)], capsys)
    assert "3 unchanged" in out and "0 chunks embedded" in out
    code, out, err = _cli(["ask", "myapi", "how do I create a new session?", "--no-llm",
                           "--json"], capsys)
    assert code == 0, err
    data = json.loads(out)
    assert data["matches"][0]["id"] in {"POST /session", "ComputeSession.create"}
    assert {m["kind"] for m in data["matches"]} <= {"rest", "function", "doc"}
    scores = [m["score"] for m in data["matches"]]
    assert scores == sorted(scores, reverse=True)
    assert data["sources"] and "Example:" in data["answer"]
    code, out, _ = _cli(["ask", "myapi", "create session", "--no-llm", "--kind", "rest",
                         "--top-k", "2"], capsys)
    assert code == 0 and out.startswith("Endpoint: POST /session") and "curl -X POST" in out
    code, _, err = _cli(["ask", "nope", "q", "--no-llm"], capsys)
    assert code == 2 and "no index named 'nope'" in err and "known indexes: myapi" in err
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("x" * 1_000_000))
    code, _, err = _cli(["ask", "myapi", "-", "--no-llm"], capsys)
    assert code == 2 and "1,000,000 characters long; the limit is 100,000" in err
    code, _, err = _cli(["index", "bad/name", str(corpus)], capsys)
    assert code == 2 and "not allowed" in err


def test_rag_chain_and_retriever_tool(config: Any, built: Any) -> None:
    from tooldeck.rag.retriever import IndexRetriever, build_rag_chain

    config.rag.default_index = "api"
    chain = build_rag_chain(config, None, "api", 3)
    out = chain.invoke({"question": "download invoices for a month"})
    assert out["matches"][0]["id"] in {"download_invoices", "GET /billing/invoices"}
    docs = IndexRetriever(config=config, index_name="api", k=2).invoke("rate limits")
    assert docs[0].metadata["id"] == "guide.md#rate-limits" and "score" in docs[0].metadata
