"""The hybrid index: Chroma vectors plus SQLite FTS5 BM25 over the same chunks, fused by RRF.

One folder per named index, ``data_dir/indexes/NAME``::

    index.sqlite   chunks, files (SHA-256), FTS5 BM25 index       (tooldeck.rag.store)
    chroma/        Chroma PersistentClient, collection "chunks"   (vectors we compute ourselves)
    lock           held by the one process that writes

Chroma never embeds: vectors come from :func:`tooldeck.models.embeddings.get_embeddings` and
are passed in explicitly (its default embedder downloads a model). Re-indexing compares each
file's SHA-256 with the stored one, so unchanged files cost one hash; a changed file has its
chunks replaced and only new chunk texts are embedded; files that are gone are deleted.
No pickle anywhere: SQLite rows, JSON metadata, Chroma's own files.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tooldeck.errors import (
    EmptyIndexError,
    IndexBusyError,
    IndexCorruptedError,
    IndexNotFoundError,
    InputError,
)
from tooldeck.rag.store import ChunkStore

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

    from tooldeck.config import IndexConfig, RagConfig

__all__ = [
    "HybridIndex", "IndexStats", "Match", "index_generation", "index_path", "list_indexes",
    "remove_index", "rrf_fuse",
]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_EMBED_BATCH = 256


@dataclass
class Match:
    """One search result: a chunk, its fused score and the ranks that made it."""

    id: str
    score: float
    text: str
    context: str
    metadata: dict[str, Any]
    bm25_rank: int | None = None
    vector_rank: int | None = None
    similarity: float | None = None

    @property
    def kind(self) -> str:
        """``rest``, ``function`` or ``doc``."""
        return str(self.metadata.get("kind", "doc"))

    @property
    def ref(self) -> str:
        """The operation (``POST /session``), symbol (``Client.create``) or doc id."""
        return str(self.metadata.get("ref", ""))

    @property
    def source(self) -> str:
        """The file the chunk came from."""
        return str(self.metadata.get("source", ""))


@dataclass
class IndexStats:
    """What one ``update`` did."""

    files_added: int = 0
    files_updated: int = 0
    files_unchanged: int = 0
    files_removed: int = 0
    skipped: dict[str, str] = field(default_factory=dict)
    chunks_embedded: int = 0
    chunks_total: int = 0
    seconds: float = 0.0


def index_path(data_dir: Path, name: str) -> Path:
    """The folder of index ``name``.

    Raises:
        InputError: a name that is not a plain identifier.
    """
    if not _NAME.match(name):
        raise InputError(
            f"index name {name!r} is not allowed; use letters, digits, '_', '-' or '.' "
            "(at most 64 characters, starting with a letter or digit)"
        )
    return Path(data_dir).expanduser() / "indexes" / name


def list_indexes(data_dir: Path) -> list[str]:
    """Names of the indexes under ``data_dir``."""
    root = Path(data_dir).expanduser() / "indexes"
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "index.sqlite").is_file())


def rrf_fuse(rankings: Sequence[Sequence[str]], k: int = 60) -> dict[str, float]:
    """Reciprocal rank fusion: ``sum(1 / (k + rank))`` over the rankings (rank from 1)."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return scores


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _chroma_metadata(meta: Mapping[str, Any]) -> dict[str, str | int | float | bool]:
    return {k: v for k, v in meta.items() if isinstance(v, str | int | float | bool)}


def _chroma_where(filters: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not filters:
        return None
    parts = [{k: v} for k, v in filters.items()]
    return parts[0] if len(parts) == 1 else {"$and": parts}


class HybridIndex:
    """A named hybrid index (see the module docstring).

    Args:
        name: the index name.
        rag: the ``rag`` config section.
        data_dir: where indexes live.
        embeddings: the embedding model; built from config on first need when ``None``.
        create: make the index if it does not exist (else :class:`IndexNotFoundError`).

    Raises:
        IndexNotFoundError: no such index and ``create`` is false.
        IndexCorruptedError: the index files cannot be read.
    """

    def __init__(
        self, name: str, rag: RagConfig, data_dir: Path,
        embeddings: Embeddings | Callable[[], Embeddings] | None = None, create: bool = False,
    ) -> None:
        self.name = name
        self.rag = rag
        self.dir = index_path(data_dir, name)
        self.hint = f"rebuild it with `tooldeck index {name} PATH... --rebuild`"
        exists = (self.dir / "index.sqlite").is_file()
        if not exists and not create:
            known = list_indexes(data_dir)
            raise IndexNotFoundError(
                f"no index named {name!r} in {self.dir.parent}; "
                + (f"known indexes: {', '.join(known)}" if known else "there are none yet")
                + f"; build it with `tooldeck index {name} PATH...`"
            )
        if exists and not (self.dir / "chroma").is_dir():
            raise IndexCorruptedError(
                f"index {name!r} has no vector store in {self.dir}; {self.hint}"
            )
        self.dir.mkdir(parents=True, exist_ok=True)
        self.store = ChunkStore(self.dir / "index.sqlite", self.hint)
        self._embeddings = embeddings
        self._collection: Any = None
        self._client: Any = None
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._model_checked = False

    # -- parts built on first use -------------------------------------------------------
    @property
    def embeddings(self) -> Embeddings:
        """The embedding model (built on first use)."""
        if self._embeddings is None:
            from tooldeck.config import EmbeddingsConfig
            from tooldeck.models.embeddings import get_embeddings

            self._embeddings = get_embeddings(EmbeddingsConfig())
        elif callable(self._embeddings) and not hasattr(self._embeddings, "embed_query"):
            self._embeddings = self._embeddings()
        return self._embeddings  # type: ignore[return-value]

    @property
    def collection(self) -> Any:
        """The Chroma collection (the client is opened on first use)."""
        if self._collection is None:
            try:
                import chromadb
                from chromadb.config import Settings

                client = chromadb.PersistentClient(
                    path=str(self.dir / "chroma"),
                    settings=Settings(anonymized_telemetry=False, allow_reset=False),
                )
                self._client = client
                self._collection = client.get_or_create_collection(
                    "chunks", embedding_function=None, metadata={"hnsw:space": "cosine"}
                )
            except Exception as exc:  # chromadb raises many unrelated types for a bad folder
                raise IndexCorruptedError(
                    f"the vector store of index {self.name!r} ({self.dir / 'chroma'}) cannot be "
                    f"opened ({type(exc).__name__}: {exc}); {self.hint}"
                ) from exc
        return self._collection

    def _workers(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(4, thread_name_prefix="tooldeck-bm25")
            return self._pool

    def close(self) -> None:
        """Release the database handles.

        Chroma shares one system per folder within a process; closing the client lets the next
        open (say after ``--rebuild`` deleted the folder) start afresh instead of writing
        through handles to deleted files.
        """
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self.store.close()
        if self._client is not None:
            self._client.close()
            self._client = None
            self._collection = None

    # -- writing ------------------------------------------------------------------------
    @contextlib.contextmanager
    def _write_lock(self) -> Iterator[None]:
        with (self.dir / "lock").open("a+") as handle:
            deadline = time.monotonic() + self.rag.lock_timeout_s
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise IndexBusyError(
                            f"index {self.name!r} is being written by another process; waited "
                            f"{self.rag.lock_timeout_s:g} s (rag.lock_timeout_s); try again when "
                            "it finishes"
                        ) from None
                    time.sleep(0.1)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _check_model(self) -> str:
        from tooldeck.models.embeddings import embeddings_id

        current = embeddings_id(self.embeddings)
        stored = self.store.get_meta("embeddings")
        if stored is not None and stored != current and self.store.count():
            raise IndexCorruptedError(
                f"index {self.name!r} was built with embeddings {stored!r} but the config now "
                f"gives {current!r}; {self.hint}, or set the embeddings back"
            )
        self._model_checked = True
        return current

    def _embed(self, texts: list[str]) -> list[list[float]]:
        vectors = self.embeddings.embed_documents(texts)
        if len(vectors) != len(texts):
            raise IndexCorruptedError("the embedding model returned a wrong number of vectors")
        return vectors

    def update(
        self,
        paths: Sequence[str | Path],
        config: IndexConfig,
        prune: bool = True,
        progress: Callable[[int, int], None] | None = None,
        warn: Callable[[str], None] | None = None,
    ) -> IndexStats:
        """Bring the index in line with the files under ``paths``.

        Args:
            paths: files and folders.
            config: the splitter settings of this index.
            prune: delete indexed files that are no longer under ``paths``.
            progress: called as ``progress(done, total)`` while chunks are embedded.
            warn: receives one message per skipped file.

        Raises:
            IndexBusyError: another process is writing this index.
        """
        from tooldeck.rag.loaders import iter_files, load_paths
        from tooldeck.rag.splitters import split_documents

        start = time.perf_counter()
        stats = IndexStats()
        files = iter_files(paths)
        with self._write_lock():
            model_id = self._check_model()
            known = self.store.files()
            changed: list[tuple[Path, str]] = []
            for path in files:
                digest = _sha256(path)
                if known.get(str(path)) == digest:
                    stats.files_unchanged += 1
                else:
                    changed.append((path, digest))
            report = load_paths([p for p, _ in changed], int(self.rag.max_file_mb * 1e6), warn)
            stats.skipped = report.skipped
            plan = []
            for path, digest in changed:
                docs = report.documents.get(str(path))
                if docs is None:
                    continue
                plan.append((path, digest, split_documents(docs, config)))
            todo = sum(len(chunks) for _, _, chunks in plan)
            done = 0
            for path, digest, chunks in plan:
                source = str(path)
                old = set(self.store.chunk_ids(source))
                fresh = [c for c in chunks if c.id not in old]
                for i in range(0, len(fresh), _EMBED_BATCH):
                    part = fresh[i : i + _EMBED_BATCH]
                    self.collection.upsert(
                        ids=[c.id for c in part], embeddings=self._embed([c.text for c in part]),
                        metadatas=[_chroma_metadata(c.metadata) for c in part],
                    )
                    stats.chunks_embedded += len(part)
                    done += len(part)
                    if progress is not None:
                        progress(done, todo)
                gone = list(old - {c.id for c in chunks})
                if gone:
                    self.collection.delete(ids=gone)
                self.store.replace_file(source, digest, path.stat().st_size, chunks)
                if source in known:
                    stats.files_updated += 1
                else:
                    stats.files_added += 1
                done += len(chunks) - len(fresh)
            if prune:
                current = {str(p) for p in files}
                for source in known:
                    if source not in current:
                        ids = self.store.chunk_ids(source)
                        if ids:
                            self.collection.delete(ids=ids)
                        self.store.remove_file(source)
                        stats.files_removed += 1
            if (stats.files_added or stats.files_updated or stats.files_removed
                    or self.store.term_df_missing()):
                self.store.refresh_term_df()
            self.store.commit_meta({"embeddings": model_id, "name": self.name})
            stats.chunks_total = self.store.count()
        stats.seconds = time.perf_counter() - start
        return stats

    # -- reading ------------------------------------------------------------------------
    def search(
        self, question: str, k: int | None = None, filters: Mapping[str, Any] | None = None
    ) -> list[Match]:
        """The ``k`` best chunks for ``question``: BM25 and vector rankings fused by RRF.

        Raises:
            EmptyIndexError: the index holds no chunks.
            IndexCorruptedError: the vector store and the chunk store disagree.
        """
        k = k or self.rag.top_k
        if self.store.is_empty():
            raise EmptyIndexError(
                f"index {self.name!r} has no documents; add some with "
                f"`tooldeck index {self.name} PATH...`"
            )
        n = max(self.rag.candidates, k)  # Chroma returns fewer when it holds fewer
        # The two retrievals are independent: BM25 runs in SQLite (no GIL) on a worker thread
        # while this one embeds the question (BLAS, no GIL) and asks Chroma.
        lexical_job = self._workers().submit(self.store.bm25, question, n, filters)
        vector, similarity = self._vector_ids(question, n, filters)
        lexical = lexical_job.result()
        scores = rrf_fuse([lexical, vector], self.rag.rrf_k)
        best = sorted(scores, key=lambda i: -scores[i])
        chunks = self.store.get(best[: k * 3])
        lex_rank = {cid: r for r, cid in enumerate(lexical, start=1)}
        vec_rank = {cid: r for r, cid in enumerate(vector, start=1)}
        out: list[Match] = []
        for cid in best:
            chunk = chunks.get(cid)
            if chunk is None:  # a vector whose chunk row is gone (an interrupted update)
                continue
            out.append(Match(cid, scores[cid], chunk.text, chunk.context, chunk.metadata,
                             lex_rank.get(cid), vec_rank.get(cid), similarity.get(cid)))
            if len(out) == k:
                break
        return out

    def search_documents(
        self, question: str, k: int | None = None, filters: Mapping[str, Any] | None = None
    ) -> list[Match]:
        """The ``k`` best documents (operations, symbols, sections): the best chunk of each.

        Chunks of one document (same source and document number) count once; four times ``k``
        chunks are searched so that ``k`` distinct documents are usually found.
        """
        k = k or self.rag.top_k
        seen: set[tuple[str, Any]] = set()
        out: list[Match] = []
        for match in self.search(question, k * 4, filters):
            key = (match.source, match.metadata.get("doc_index"))
            if key not in seen:
                seen.add(key)
                out.append(match)
                if len(out) == k:
                    break
        return out

    def _vector_ids(
        self, question: str, n: int, filters: Mapping[str, Any] | None
    ) -> tuple[list[str], dict[str, float]]:
        if not self._model_checked:  # once per instance, not on every query
            self._check_model()
        vector = self.embeddings.embed_query(question)
        try:
            result = self.collection.query(
                query_embeddings=[vector], n_results=n, where=_chroma_where(filters),
                include=["distances"],
            )
        except Exception as exc:
            raise IndexCorruptedError(
                f"vector search in index {self.name!r} failed ({type(exc).__name__}: {exc}); "
                f"{self.hint}"
            ) from exc
        ids = list(result["ids"][0])
        return ids, {i: 1.0 - float(d) for i, d in zip(ids, result["distances"][0], strict=True)}


def index_generation(data_dir: Path, name: str) -> str | None:
    """A token that changes whenever index ``name`` is built anew, removed or replaced.

    A long-lived reader (the server) compares it with the token it saw when it opened the
    index, and reopens the index when they differ. ``None`` when the index does not exist.
    """
    marker = index_path(data_dir, name) / "index.sqlite"
    try:
        st = marker.stat()
    except OSError:
        return None
    return f"{st.st_dev}:{st.st_ino}"


def remove_index(data_dir: Path, name: str) -> None:
    """Delete an index folder (used by ``--rebuild`` of a damaged index)."""
    import shutil

    folder = index_path(data_dir, name)
    if folder.is_dir():
        shutil.rmtree(folder)
    os.makedirs(folder.parent, exist_ok=True)
