"""The hybrid index: Chroma vectors plus SQLite FTS5 BM25 over the same chunks, fused.

Fusion is weighted reciprocal rank fusion, ``lexical_weight / (k + BM25 rank) + 1 / (k +
vector rank)``, with the weight and ``k`` fitted across several API sets (leave-one-set-out
checked; ``tooldeck eval retrieval --fit-fusion``) and shipped as data in ``rag/fusion.json``;
``rag.lexical_weight`` and ``rag.rrf_k`` override them (:mod:`tooldeck.rag.fusion`).
When a spec and its client code are indexed together, functions and the operations they call
are linked (:mod:`tooldeck.rag.links`) before anything is written.

One folder per named index, ``data_dir/indexes/NAME``, holding builds (see
:mod:`tooldeck.rag.lifecycle` for the layout, the write lock and how a build is published)::

    CURRENT                       the published build
    builds/BUILD/index.sqlite     chunks, files (SHA-256), FTS5 BM25 index  (tooldeck.rag.store)
    builds/BUILD/chroma/          Chroma PersistentClient, collection "chunks"

Chroma never embeds: vectors come from :func:`tooldeck.models.embeddings.get_embeddings` and
are passed in explicitly (its default embedder downloads a model). Re-indexing compares each
file's SHA-256 with the stored one, so unchanged files cost one hash; a changed file has its
chunks replaced and only new chunk texts are embedded; files that are gone are deleted
(:mod:`tooldeck.rag.writer`). A first run, a ``--rebuild`` and the repair of an unreadable
build write a new build beside the published one and publish it when it is complete, so readers
never see a part. No pickle anywhere: SQLite rows, JSON metadata, Chroma's own files.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tooldeck.errors import (
    EmptyIndexError,
    IndexCorruptedError,
    IndexNotFoundError,
    ToolDeckError,
)
from tooldeck.rag import lifecycle, writer
from tooldeck.rag.fusion import fitted_fusion, fusion_settings, group_rankings, rrf_fuse
from tooldeck.rag.lifecycle import index_generation, index_path, list_indexes
from tooldeck.rag.store import ChunkStore
from tooldeck.rag.writer import IndexStats

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

    from tooldeck.config import IndexConfig, RagConfig

__all__ = [
    "HybridIndex", "IndexStats", "Match", "fitted_fusion", "fusion_settings", "index_generation",
    "index_path", "list_indexes", "rrf_fuse",
]


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


def _chroma_where(filters: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not filters:
        return None
    parts = [{k: v} for k, v in filters.items()]
    return parts[0] if len(parts) == 1 else {"$and": parts}


class HybridIndex:
    """A named hybrid index (see the module docstring).

    The instance reads the build that was published when it was opened (or last wrote); a
    long-lived reader compares :attr:`generation` with :func:`index_generation` and reopens.

    Args:
        name: the index name.
        rag: the ``rag`` config section.
        data_dir: where indexes live.
        embeddings: the embedding model; built from config on first need when ``None``.
        create: allow an index that does not exist yet (``update`` builds it).

    Raises:
        IndexNotFoundError: no complete index of that name and ``create`` is false.
        InputError: a name that is not allowed.
    """

    def __init__(
        self, name: str, rag: RagConfig, data_dir: Path,
        embeddings: Embeddings | Callable[[], Embeddings] | None = None, create: bool = False,
    ) -> None:
        self.name = name
        self.rag = rag
        self.data_dir = Path(data_dir).expanduser()
        self.dir = index_path(self.data_dir, name)
        self.hint = f"rebuild it with `tooldeck index {name} PATH... --rebuild`"
        self._embeddings = embeddings
        self._store: ChunkStore | None = None
        self._collection: Any = None
        self._client: Any = None
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._model_checked = False
        self.build: Path | None = None
        self.generation: str | None = None
        self._open_published()
        if self.build is None and not create:
            known = list_indexes(self.data_dir)
            raise IndexNotFoundError(
                f"no index named {name!r} in {self.dir.parent}; "
                + (f"known indexes: {', '.join(known)}" if known else "there are none yet")
                + f"; build it with `tooldeck index {name} PATH...`"
            )

    def _open_published(self) -> None:
        """Point at the published build (closing handles to any other)."""
        self._release()
        self.build, self.generation = lifecycle.published(self.dir)

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

    def _build_dir(self) -> Path:
        if self.build is None:
            raise EmptyIndexError(
                f"index {self.name!r} has no documents; add some with "
                f"`tooldeck index {self.name} PATH...`"
            )
        return self.build

    @property
    def store(self) -> ChunkStore:
        """The chunk store of the open build (opened on first use).

        Raises:
            EmptyIndexError: the index has no build yet.
            IndexCorruptedError: the file cannot be read.
        """
        if self._store is None:
            self._store = ChunkStore(self._build_dir() / "index.sqlite", self.hint)
        return self._store

    @property
    def collection(self) -> Any:
        """The Chroma collection of the open build (the client is opened on first use)."""
        if self._collection is None:
            folder = self._build_dir() / "chroma"
            try:
                import chromadb
                from chromadb.config import Settings

                client = chromadb.PersistentClient(
                    path=str(folder), settings=Settings(anonymized_telemetry=False,
                                                        allow_reset=False),
                )
                self._client = client
                self._collection = client.get_or_create_collection(
                    "chunks", embedding_function=None, metadata={"hnsw:space": "cosine"}
                )
            except Exception as exc:  # chromadb raises many unrelated types for a bad folder
                raise IndexCorruptedError(
                    f"the vector store of index {self.name!r} ({folder}) cannot be opened "
                    f"({type(exc).__name__}: {exc}); {self.hint}"
                ) from exc
        return self._collection

    def _workers(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(4, thread_name_prefix="tooldeck-bm25")
            return self._pool

    def _release(self) -> None:
        """Close the store and the Chroma client (Chroma keeps one system per folder)."""
        if self._store is not None:
            self._store.close()
            self._store = None
        if self._client is not None:
            self._client.close()
            self._client = None
        self._collection = None

    def close(self) -> None:
        """Release the database handles and the search threads."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self._release()

    # -- writing ------------------------------------------------------------------------
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
        rebuild: bool = False,
    ) -> IndexStats:
        """Bring the index in line with the files under ``paths``.

        Holds the write lock throughout. A first run, ``rebuild`` and the repair of a build
        that cannot be read write a new build and publish it only when it is complete; a run
        that fails or finds nothing to index leaves the published index as it was.

        Args:
            paths: files and folders.
            config: the splitter settings of this index.
            prune: delete indexed files that are no longer under ``paths``.
            progress: called as ``progress(done, total)`` while chunks are embedded.
            warn: receives one message per skipped file (and per repair).
            rebuild: build the index anew from ``paths`` (readers keep the old one meanwhile).

        Raises:
            InputError: a path that does not exist (checked before anything is written).
            IndexBusyError: another process held the lock for ``rag.lock_timeout_s``.
            EmptyIndexError: nothing under ``paths`` can be indexed.
        """
        from tooldeck.rag.loaders import iter_files

        start = time.perf_counter()
        listing_skips: dict[str, str] = {}
        files = iter_files(paths, rag=self.rag, warn=warn, skipped=listing_skips)
        with lifecycle.write_lock(self.data_dir, self.name, self.rag.lock_timeout_s):
            lifecycle.clean_leftovers(self.dir)
            lifecycle.adopt_legacy(self.dir)
            self._open_published()  # another writer may have published while this one waited
            stats = None if rebuild else self._update_in_place(files, paths, config, prune,
                                                               progress, warn)
            if stats is None:
                stats = self._write_new_build(files, paths, config, progress, warn)
        stats.skipped = {**listing_skips, **stats.skipped}
        stats.seconds = time.perf_counter() - start
        return stats

    def _update_in_place(
        self, files: list[Path], paths: Sequence[str | Path], config: IndexConfig, prune: bool,
        progress: Callable[[int, int], None] | None, warn: Callable[[str], None] | None,
    ) -> IndexStats | None:
        """Update the published build; ``None`` when there is none that can be read."""
        if self.build is None:
            return None
        try:  # both stores open, and do their chunk counts agree?
            dirty = self.store.get_meta("dirty") == "1"
            repair = dirty or self.collection.count() != self.store.count()
        except Exception as exc:
            self._unreadable(exc, warn)
            return None
        model_id = self._check_model()  # a model change is the user's call: no rebuild here
        repaired = 0
        if repair:  # after a crash: Chroma is made to hold exactly SQLite's chunk ids
            try:
                repaired = writer.reconcile(self.store, self.collection, self._embed)
            except Exception as exc:
                self._unreadable(exc, warn)
                return None
        plan = writer.plan_update(files, self.store.files(), config, self.rag, prune, warn)
        self._link(plan, stored=True)
        writer.refuse_empty(plan, self.store, self.name, paths)
        stats = writer.apply_plan(self.store, self.collection, self._embed, plan, progress)
        stats.repaired = repaired
        writer.finish(self.store, stats, model_id, self.name, force_df=dirty)
        if stats.files_added or stats.files_updated or stats.files_removed or repaired:
            build = self._build_dir()
            self._release()
            lifecycle.publish(self.dir, build)  # a new generation: readers reopen
            self._open_published()
        return stats

    def _link(self, plan: writer.Plan, stored: bool) -> None:
        """Link the planned functions to the operations they call (:mod:`tooldeck.rag.links`).

        With ``stored``, operations already in the published build count too.
        """
        from tooldeck.rag.links import link_chunks

        if not plan.changed:
            return
        skip = {str(path) for path, _, _ in plan.changed} | set(plan.removed)
        ops = self.store.operations(skip) if stored else []
        linked = link_chunks([chunks for _, _, chunks in plan.changed], ops)
        plan.changed = [(path, digest, chunks) for (path, digest, _), chunks
                        in zip(plan.changed, linked, strict=True)]

    def _unreadable(self, exc: Exception, warn: Callable[[str], None] | None) -> None:
        """A published build that cannot be read is built anew (re-raise anything else)."""
        if isinstance(exc, ToolDeckError) and not isinstance(exc, IndexCorruptedError):
            raise exc
        if warn is not None:
            warn(f"index {self.name!r} cannot be read ({type(exc).__name__}: {exc}); "
                 "building it anew from the given paths")
        self._release()

    def _write_new_build(
        self, files: list[Path], paths: Sequence[str | Path], config: IndexConfig,
        progress: Callable[[int, int], None] | None, warn: Callable[[str], None] | None,
    ) -> IndexStats:
        """Write a build from scratch beside the published one; publish it when complete."""
        plan = writer.plan_update(files, {}, config, self.rag, True, warn)
        self._link(plan, stored=False)
        writer.refuse_empty(plan, None, self.name, paths)
        self._release()
        self.build = lifecycle.new_build(self.dir)
        try:
            model_id = self._check_model()
            stats = writer.apply_plan(self.store, self.collection, self._embed, plan, progress)
            writer.finish(self.store, stats, model_id, self.name, force_df=False)
            self._release()
            lifecycle.publish(self.dir, self.build)
        except BaseException:
            self._release()
            lifecycle.clean_leftovers(self.dir)  # the unpublished build (and an empty folder)
            self._open_published()
            raise
        stats.rebuilt = True
        self._open_published()
        return stats

    # -- reading ------------------------------------------------------------------------
    def search(
        self, question: str, k: int | None = None, filters: Mapping[str, Any] | None = None
    ) -> list[Match]:
        """The ``k`` best chunks for ``question``: BM25 and vector rankings, weighted RRF.

        Raises:
            EmptyIndexError: the index holds no chunks.
            IndexCorruptedError: the vector store and the chunk store disagree.
        """
        k = k or self.rag.top_k
        self._refuse_empty()
        n = max(self.rag.candidates, k)  # Chroma returns fewer when it holds fewer
        lexical, vector, similarity = self.rankings(question, n, filters)
        weight, rrf_k = fusion_settings(self.rag)
        scores = rrf_fuse([lexical, vector], rrf_k, [weight, 1.0])
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

    def rankings(
        self, question: str, n: int, filters: Mapping[str, Any] | None = None
    ) -> tuple[list[str], list[str], dict[str, float]]:
        """The BM25 ranking, the vector ranking (``n`` chunk ids each) and the similarities.

        The two retrievals are independent: BM25 runs in SQLite (no GIL) on a worker thread
        while this one embeds the question (BLAS, no GIL) and asks Chroma.
        """
        lexical_job = self._workers().submit(self.store.bm25, question, n, filters)
        vector, similarity = self._vector_ids(question, n, filters)
        return lexical_job.result(), vector, similarity

    def search_documents(
        self, question: str, k: int | None = None, filters: Mapping[str, Any] | None = None
    ) -> list[Match]:
        """The ``k`` best documents (operations, symbols, sections): the best chunk of each.

        The two rankings are first made rankings of documents (:func:`group_rankings`: chunks of
        one document, and operations or functions with the same ref, count once, at their best
        chunk's place), then fused; ``max(rag.candidates, 4 * k)`` chunks are taken from each.

        Raises:
            EmptyIndexError: the index holds no chunks.
        """
        k = k or self.rag.top_k
        self._refuse_empty()
        lexical, vector, similarity = self.rankings(question, max(self.rag.candidates, 4 * k),
                                                    filters)
        chunks = self.store.get({*lexical, *vector})

        def group(cid: str) -> tuple[Any, ...] | None:
            chunk = chunks.get(cid)
            if chunk is None:  # a vector whose chunk row is gone (an interrupted update)
                return None
            meta = chunk.metadata
            if meta.get("kind") in ("rest", "function"):
                return ("ref", meta.get("kind"), meta.get("ref"))
            return ("doc", meta.get("source"), meta.get("doc_index"))

        (lex, vec), _ = group_rankings([lexical, vector], group)
        weight, rrf_k = fusion_settings(self.rag)
        scores = rrf_fuse([lex, vec], rrf_k, [weight, 1.0])
        lex_rank = {cid: r for r, cid in enumerate(lex, start=1)}
        vec_rank = {cid: r for r, cid in enumerate(vec, start=1)}
        best = sorted(scores, key=lambda i: (-scores[i], vec_rank.get(i, len(vec) + 1)))[:k]
        return [Match(cid, scores[cid], chunks[cid].text, chunks[cid].context,
                      chunks[cid].metadata, lex_rank.get(cid), vec_rank.get(cid),
                      similarity.get(cid)) for cid in best]

    def _refuse_empty(self) -> None:
        if self.store.is_empty():
            raise EmptyIndexError(
                f"index {self.name!r} has no documents; add some with "
                f"`tooldeck index {self.name} PATH...`"
            )

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
