"""Index lifecycle (issue 8, items 5 and 6): the write lock, publishing builds, recovery.

Readers never see a half-made or half-deleted index; a failed, empty or killed run leaves the
previous index or nothing; a plain re-run recovers from every state a crash can leave.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.embeddings import Embeddings

from tooldeck.cli import main
from tooldeck.errors import IndexNotFoundError
from tooldeck.rag import open_index
from tooldeck.rag.index import HybridIndex, index_generation, list_indexes
from tooldeck.rag.lifecycle import write_lock

REPO = Path(__file__).resolve().parents[2]
API = REPO / "tests" / "fixtures" / "api"


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    shutil.copytree(API, folder)
    return folder


@pytest.fixture
def env(config: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The CLI (in this process and in children) uses the test's data_dir."""
    values = {"TOOLDECK_DATA_DIR": str(config.data_dir), "TOOLDECK_RAG__LOCK_TIMEOUT_S": "60"}
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


def _cli(capsys: Any, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


class GatedEmbeddings(Embeddings):
    """The configured embedder, but ``embed_documents`` waits at a gate (a writer mid-run)."""

    def __init__(self, inner: Embeddings) -> None:
        self.inner = inner
        self.model_id = getattr(inner, "model_id", None)
        self.entered = threading.Event()
        self.gate = threading.Event()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.entered.set()
        assert self.gate.wait(60)
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)


@pytest.fixture
def gated(config: Any) -> GatedEmbeddings:
    from tooldeck.models.embeddings import get_embeddings

    return GatedEmbeddings(get_embeddings(config.embeddings))


class Writer:
    """``update`` on a thread; ``result`` holds its stats or the exception it raised."""

    def __init__(self, index: HybridIndex, paths: list[Path], **kwargs: Any) -> None:
        self.result: Any = None
        self.thread = threading.Thread(target=self._run, args=(index, paths, kwargs))
        self.thread.start()

    def _run(self, index: HybridIndex, paths: list[Path], kwargs: dict[str, Any]) -> None:
        try:
            self.result = index.update(paths, index.rag.index(index.name), **kwargs)
        except Exception as exc:
            self.result = exc
        finally:
            index.close()

    def join(self) -> Any:
        self.thread.join(120)
        return self.result


@pytest.fixture
def built(config: Any, corpus: Path) -> Iterator[HybridIndex]:
    index = open_index(config, "api", create=True)
    assert index.update([corpus], config.rag.index("api")).files_added == 3
    yield index
    index.close()


def _expected_ids(corpus: Path, config: Any) -> set[str]:
    """The chunk ids a clean build of ``corpus`` holds (ids are content hashes)."""
    from tooldeck.rag.links import link_chunks
    from tooldeck.rag.loaders import iter_files, load_paths
    from tooldeck.rag.splitters import split_documents

    report = load_paths(iter_files([corpus]))
    files = [split_documents(docs, config.rag.index("api")) for docs in report.documents.values()]
    return {c.id for chunks in link_chunks(files) for c in chunks}  # functions linked to ops


def _stored_ids(config: Any, name: str = "api") -> tuple[set[str], set[str]]:
    index = open_index(config, name)
    try:
        return index.store.all_ids(), set(index.collection.get(include=[])["ids"])
    finally:
        index.close()


# -- item 5: --rebuild takes the write lock; readers never see a half-deleted index ----------

def test_rebuild_waits_for_a_running_index_and_does_not_break_it(
    config: Any, built: HybridIndex, corpus: Path, gated: GatedEmbeddings, capsys: Any,
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    (corpus / "guide.md").write_text((corpus / "guide.md").read_text() + "\n## Regions\n\neu.\n")
    running = Writer(HybridIndex("api", config.rag, config.data_dir, gated), [corpus])
    assert gated.entered.wait(60)  # the running `index` holds the lock, mid-write
    monkeypatch.setenv("TOOLDECK_RAG__LOCK_TIMEOUT_S", "0.5")
    code, _, err = _cli(capsys, "index", "api", str(corpus), "--rebuild")
    assert code == 1 and "being written by another process" in err
    assert built.search("create a session", 1)  # the published index was not touched
    gated.gate.set()
    stats = running.join()
    assert not isinstance(stats, Exception), stats  # was: attempt to write a readonly database
    assert stats.files_updated == 1
    monkeypatch.setenv("TOOLDECK_RAG__LOCK_TIMEOUT_S", "60")
    code, out, err = _cli(capsys, "index", "api", str(corpus), "--rebuild")
    assert code == 0, err
    assert "3 added" in out
    sqlite_ids, vector_ids = _stored_ids(config)
    assert sqlite_ids == vector_ids == _expected_ids(corpus, config)


def test_a_reader_keeps_answering_during_and_after_a_rebuild(
    config: Any, built: HybridIndex, corpus: Path, gated: GatedEmbeddings,
) -> None:
    reader = open_index(config, "api")  # what `tooldeck serve` holds
    try:
        first = reader.search("create a session", 3)
        seen = reader.generation
        rebuild = Writer(HybridIndex("api", config.rag, config.data_dir, gated), [corpus],
                         rebuild=True)
        assert gated.entered.wait(60)
        assert [m.id for m in reader.search("create a session", 3)] == [m.id for m in first]
        assert list_indexes(config.data_dir) == ["api"]
        assert index_generation(config.data_dir, "api") == seen  # nothing published yet
        gated.gate.set()
        assert rebuild.join().rebuilt
        # the replaced build stays until the next write, so a reader that has it open finishes
        assert [m.id for m in reader.search("create a session", 3)] == [m.id for m in first]
        assert index_generation(config.data_dir, "api") not in {None, seen}
    finally:
        reader.close()
    fresh = open_index(config, "api")  # a reader that noticed the new generation reopens
    try:
        assert fresh.search("create a session", 1)[0].ref in {"POST /session",
                                                              "ComputeSession.create"}
    finally:
        fresh.close()


# -- item 6: no half-made index, ever ------------------------------------------------------

def test_missing_path_fails_before_anything_is_created(
    config: Any, capsys: Any, env: dict[str, str], tmp_path: Path,
) -> None:
    code, _, err = _cli(capsys, "index", "x", str(tmp_path / "does-not-exist"))
    assert code == 2 and "does-not-exist" in err
    assert not (config.data_dir / "indexes").exists()


def test_a_first_run_that_skips_every_file_leaves_nothing(
    config: Any, capsys: Any, env: dict[str, str], tmp_path: Path, corpus: Path,
) -> None:
    from tooldeck.tools.builtin.retriever import retriever_tools

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "a.json").write_text("{nope")
    code, _, err = _cli(capsys, "index", "x", str(broken))
    assert code == 2 and "nothing to index" in err and "a.json" in err
    assert list_indexes(config.data_dir) == []
    assert not (config.data_dir / "indexes" / "x").exists()
    assert not (config.data_dir / "indexes" / ".locks" / "x.lock").exists()
    assert "retriever_x" not in {t.name for t in retriever_tools(config)}
    code, _, err = _cli(capsys, "ask", "x", "anything", "--no-llm")
    assert code == 2 and "no index named 'x'" in err
    code, out, err = _cli(capsys, "index", "x", str(corpus))  # a plain re-run just works
    assert code == 0 and "3 added" in out, err


def test_a_rebuild_that_finds_nothing_keeps_the_old_index(
    config: Any, built: HybridIndex, capsys: Any, env: dict[str, str], tmp_path: Path,
    corpus: Path,
) -> None:
    seen = built.generation
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "a.json").write_text("{nope")
    code, _, err = _cli(capsys, "index", "api", str(broken), "--rebuild")
    assert code == 2 and "left as it was" in err
    assert index_generation(config.data_dir, "api") == seen
    code, out, err = _cli(capsys, "ask", "api", "create a session", "--no-llm", "--json")
    assert code == 0, err
    code, out, err = _cli(capsys, "index", "api", str(corpus))
    assert code == 0 and "3 unchanged" in out, err


def test_a_second_first_run_waits_and_nothing_half_made_is_visible(
    config: Any, corpus: Path, gated: GatedEmbeddings,
) -> None:
    first = Writer(HybridIndex("api", config.rag, config.data_dir, gated, create=True), [corpus])
    assert gated.entered.wait(60)
    assert list_indexes(config.data_dir) == []  # was: listed with no vector store
    with pytest.raises(IndexNotFoundError):
        open_index(config, "api")
    second = Writer(open_index(config, "api", create=True), [corpus])
    gated.gate.set()
    stats = [first.join(), second.join()]
    assert not any(isinstance(s, Exception) for s in stats), stats
    assert sorted((s.files_added, s.files_unchanged) for s in stats) == [(0, 3), (3, 0)]
    sqlite_ids, vector_ids = _stored_ids(config)
    assert sqlite_ids == vector_ids == _expected_ids(corpus, config)


def test_a_store_without_vectors_is_no_index_and_a_plain_run_repairs_it(
    config: Any, capsys: Any, env: dict[str, str], corpus: Path,
) -> None:
    from tooldeck.rag.store import ChunkStore

    folder = config.data_dir / "indexes" / "api"  # what an interrupted first run used to leave
    folder.mkdir(parents=True)
    ChunkStore(folder / "index.sqlite", "").close()
    assert list_indexes(config.data_dir) == []
    assert index_generation(config.data_dir, "api") is None
    code, _, err = _cli(capsys, "ask", "api", "create a session", "--no-llm")
    assert code == 2 and "no index named 'api'" in err and "has no vector store" not in err
    code, out, err = _cli(capsys, "index", "api", str(corpus))
    assert code == 0 and "3 added" in out, err
    assert not (folder / "index.sqlite").exists()  # the leftover went
    sqlite_ids, vector_ids = _stored_ids(config)
    assert sqlite_ids == vector_ids == _expected_ids(corpus, config)


def test_an_unreadable_build_is_built_anew_by_a_plain_run(
    config: Any, built: HybridIndex, corpus: Path, capsys: Any, env: dict[str, str],
) -> None:
    built.close()
    assert built.build is not None
    (built.build / "index.sqlite").write_bytes(b"this is not sqlite" * 100)
    for suffix in ("-wal", "-shm"):
        (built.build / f"index.sqlite{suffix}").unlink(missing_ok=True)
    code, out, err = _cli(capsys, "index", "api", str(corpus))
    assert code == 0 and "built anew" in out and "3 added" in out, err
    assert "cannot be read" in err and "building it anew" in err
    sqlite_ids, vector_ids = _stored_ids(config)
    assert sqlite_ids == vector_ids == _expected_ids(corpus, config)


def test_a_changed_embedding_model_is_not_rebuilt_silently(
    config: Any, built: HybridIndex, corpus: Path,
) -> None:
    from tooldeck.errors import IndexCorruptedError

    class Other(GatedEmbeddings):
        pass

    other = Other(built.embeddings)
    other.model_id = "another-model"
    other.gate.set()
    index = HybridIndex("api", config.rag, config.data_dir, other)
    try:
        with pytest.raises(IndexCorruptedError, match="was built with embeddings"):
            index.update([corpus], config.rag.index("api"))
    finally:
        index.close()
    assert index_generation(config.data_dir, "api") == built.generation


def test_an_index_from_before_builds_is_read_and_adopted(
    config: Any, built: HybridIndex, corpus: Path, capsys: Any, env: dict[str, str],
) -> None:
    built.close()
    folder = built.dir
    assert built.build is not None
    for part in built.build.iterdir():
        part.rename(folder / part.name)
    shutil.rmtree(folder / "builds")
    (folder / "CURRENT").unlink()
    assert list_indexes(config.data_dir) == ["api"]
    legacy = index_generation(config.data_dir, "api")
    assert legacy is not None and legacy.startswith("legacy")
    code, _, err = _cli(capsys, "ask", "api", "create a session", "--no-llm", "--json")
    assert code == 0, err
    code, out, err = _cli(capsys, "index", "api", str(corpus))
    assert code == 0 and "3 unchanged" in out, err
    assert index_generation(config.data_dir, "api") not in {None, legacy}
    assert not (folder / "index.sqlite").exists() and (folder / "CURRENT").is_file()


def test_indexes_list_and_delete(
    config: Any, built: HybridIndex, capsys: Any, env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, out, err = _cli(capsys, "indexes", "list", "--json")
    assert code == 0, err
    [row] = json.loads(out)
    assert row["name"] == "api" and row["files"] == 3 and row["chunks"] == built.store.count()
    assert row["embeddings"].startswith("local:") and row["updated"]
    code, out, _ = _cli(capsys, "indexes", "list")
    assert out.split()[:5] == ["NAME", "CHUNKS", "FILES", "EMBEDDINGS", "UPDATED"]
    assert "api" in out
    code, _, err = _cli(capsys, "indexes", "delete", "nope")
    assert code == 2 and "no index named 'nope'" in err and "known indexes: api" in err
    code, _, err = _cli(capsys, "indexes", "delete", "../x")
    assert code == 2 and "not allowed" in err
    monkeypatch.setenv("TOOLDECK_RAG__LOCK_TIMEOUT_S", "0.3")
    with write_lock(config.data_dir, "api", 5):
        code, _, err = _cli(capsys, "indexes", "delete", "api")
    assert code == 1 and "being written by another process" in err
    code, out, err = _cli(capsys, "indexes", "delete", "api")
    assert code == 0 and "deleted index api" in out, err
    assert list_indexes(config.data_dir) == []
    assert sorted(p.name for p in (config.data_dir / "indexes").iterdir()) == [".locks", ".trash"]
    assert not list((config.data_dir / "indexes" / ".locks").iterdir())
    assert not list((config.data_dir / "indexes" / ".trash").iterdir())
    code, out, _ = _cli(capsys, "indexes", "list")
    assert code == 0 and "no indexes" in out


def test_apibench_builds_its_index_in_scratch(config: Any, tmp_path: Path) -> None:
    from tooldeck.eval.apibench import run_apibench

    calls = [f"hub.load('https://tfhub.dev/google/model_{i}/1')" for i in range(3)]
    api = tmp_path / "tensorflowhub_api.jsonl"
    api.write_text("".join(json.dumps({"domain": f"Domain {i}", "api_call": c,
                                       "description": f"model number {i} for task {i}"}) + "\n"
                           for i, c in enumerate(calls)))
    gold = tmp_path / "eval.json"
    gold.write_text("".join(json.dumps({"api_data": {"domain": f"Domain {i}", "api_call": c}})
                            + "\n" for i, c in enumerate(calls)))
    questions = tmp_path / "questions.jsonl"
    questions.write_text(json.dumps({"question_id": 1, "text": "model number 1 for task 1"})
                         + "\n")
    report = run_apibench(config, api_file=str(api), eval_file=str(gold),
                          questions_file=str(questions))
    assert report["chunks"] == 3 and report["official"]["n"] == 1
    assert list_indexes(config.data_dir) == []
    assert not (config.data_dir / "indexes").exists()


# -- recovery from kill -9 at chosen moments -------------------------------------------------

_KILLER = """
import importlib, os, signal, sys
spec, nth, argv = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
module, _, qualname = spec.partition(":")
owner = importlib.import_module(module)
*path, attr = qualname.split(".")
for part in path:
    owner = getattr(owner, part)
original = getattr(owner, attr)
calls = 0
def killer(*args, **kwargs):
    global calls
    calls += 1
    if calls >= nth:
        os.kill(os.getpid(), signal.SIGKILL)
    return original(*args, **kwargs)
setattr(owner, attr, killer)
from tooldeck.cli import main
sys.exit(main(argv))
"""

CRASHES = {
    "first run: vectors written, rows not": (
        False, False, "tooldeck.rag.store:ChunkStore.replace_file", 1, ["index", "api", "{c}"]),
    "rebuild: complete, not yet published": (
        True, False, "tooldeck.rag.lifecycle:publish", 1, ["index", "api", "{c}", "--rebuild"]),
    "update in place: second file half written": (
        True, True, "tooldeck.rag.store:ChunkStore.replace_file", 2, ["index", "api", "{c}"]),
    "delete: moved to the trash, not yet removed": (
        True, False, "shutil:rmtree", 1, ["indexes", "delete", "api"]),
}


@pytest.mark.parametrize("case", list(CRASHES))
def test_kill_9_then_a_plain_run_recovers(
    case: str, config: Any, corpus: Path, capsys: Any, env: dict[str, str],
) -> None:
    build_first, edit, point, nth, argv = CRASHES[case]
    if build_first:
        assert _cli(capsys, "index", "api", str(corpus))[0] == 0
    if edit:
        guide, client = corpus / "guide.md", corpus / "client.py"
        guide.write_text(guide.read_text() + "\n## Regions\n\nSessions run in eu-west.\n")
        client.write_text('"""A client, changed."""\n' + client.read_text())
    child = subprocess.run(
        [sys.executable, "-c", _KILLER, point, str(nth), *(a.format(c=corpus) for a in argv)],
        cwd=REPO, env={**os.environ, **env}, capture_output=True, text=True, timeout=300,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert list_indexes(config.data_dir) in ([], ["api"])
    if list_indexes(config.data_dir):  # whatever is listed can be searched
        assert _search_and_close(config, "create a session")
    code, out, err = _cli(capsys, "index", "api", str(corpus))
    assert code == 0, err
    code, out, err = _cli(capsys, "ask", "api", "how do I create a session?", "--no-llm", "--json")
    assert code == 0, err
    assert json.loads(out)["matches"]
    sqlite_ids, vector_ids = _stored_ids(config)
    assert sqlite_ids == vector_ids == _expected_ids(corpus, config)
    trash = config.data_dir / "indexes" / ".trash"
    assert not trash.exists() or not list(trash.iterdir())
    index = open_index(config, "api")
    index.close()
    assert index.build is not None  # the leftovers went: only the published build is left
    assert list((config.data_dir / "indexes" / "api" / "builds").iterdir()) == [index.build]


def _search_and_close(config: Any, question: str) -> list[Any]:
    index = open_index(config, "api")
    try:
        return index.search(question, 1)
    finally:
        index.close()


def test_the_lock_file_can_go_without_splitting_the_lock(config: Any) -> None:
    """A holder deletes the lock file of an index that is gone; a waiter then locks a new one."""
    from tooldeck.errors import IndexBusyError

    order: list[str] = []
    first_in = threading.Event()

    def waiter() -> None:
        first_in.wait(10)
        with write_lock(config.data_dir, "x", 10):
            order.append("second in")
            with pytest.raises(IndexBusyError):  # and it excludes everyone else
                with write_lock(config.data_dir, "x", 0.2):
                    pass
            order.append("second out")

    thread = threading.Thread(target=waiter)
    thread.start()
    with write_lock(config.data_dir, "x", 10):  # no folder "x": the file goes on release
        first_in.set()
        threading.Event().wait(0.5)
        order.append("first out")
    thread.join(20)
    assert order == ["first out", "second in", "second out"]
    assert not (config.data_dir / "indexes" / ".locks" / "x.lock").exists()


def test_a_file_swapped_for_a_fifo_before_hashing_is_skipped_not_hung(tmp_path: Path) -> None:
    from tooldeck.config import IndexConfig, RagConfig
    from tooldeck.rag import writer

    good, swapped = tmp_path / "good.md", tmp_path / "swapped.md"
    good.write_text("# Good\n\nText.\n", "utf-8")
    swapped.write_text("# Swapped\n\nText.\n", "utf-8")
    files = [good, swapped]  # as listed, before the swap
    swapped.unlink()
    os.mkfifo(swapped)
    warnings: list[str] = []
    result: list[Any] = []
    worker = threading.Thread(
        target=lambda: result.append(writer.plan_update(
            files, {}, IndexConfig(), RagConfig(), True, warnings.append)),
        daemon=True,
    )
    worker.start()
    worker.join(10)
    assert not worker.is_alive(), "hashing a FIFO hung"
    plan = result[0]
    assert str(swapped) in plan.skipped and "not a regular file" in plan.skipped[str(swapped)]
    assert [str(p) for p, _, _ in plan.changed] == [str(good)]
    assert any("swapped.md" in w for w in warnings)
