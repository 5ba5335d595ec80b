"""Writing one build: plan the change, write chunks to both stores, repair after a crash.

The one place chunks reach SQLite and Chroma. The order of the writes makes any interruption
recoverable by the next run:

1. ``meta.dirty = 1`` is committed before the first vector is written;
2. per file, its new vectors are upserted and its vanished ones deleted, then its chunk rows and
   SHA-256 are replaced in one SQLite transaction (a file cut off before that keeps its old
   SHA-256, so the next run reads it again);
3. ``meta.dirty = 0`` is committed last, with the model id and the time.

A run that finds ``dirty = 1``, or vector and chunk counts that differ, first makes Chroma hold
exactly SQLite's chunk ids (:func:`reconcile`): extra vectors are deleted and missing ones are
embedded from the stored text.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tooldeck.errors import EmptyIndexError, LoaderError

if TYPE_CHECKING:
    from tooldeck.config import IndexConfig, RagConfig
    from tooldeck.rag.splitters import Chunk
    from tooldeck.rag.store import ChunkStore

__all__ = [
    "IndexStats", "Plan", "apply_plan", "chroma_metadata", "finish", "plan_update", "reconcile",
    "refuse_empty",
]

_log = logging.getLogger("tooldeck.rag")

EMBED_BATCH = 256
Embed = Callable[[list[str]], list[list[float]]]


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
    rebuilt: bool = False
    repaired: int = 0


@dataclass
class Plan:
    """What an update will write: computed before anything is written."""

    files: list[Path]
    known: dict[str, str]
    changed: list[tuple[Path, str, list[Chunk]]] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


def _sha256(path: Path) -> str:
    """SHA-256 of a regular file (never a link, FIFO or device swapped in since listing).

    Raises:
        LoaderError: the path is no longer a regular file, or cannot be read.
    """
    from tooldeck.rag.files import open_regular

    with open_regular(path) as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def chroma_metadata(meta: Mapping[str, Any]) -> dict[str, str | int | float | bool]:
    """The metadata values Chroma can store."""
    return {k: v for k, v in meta.items() if isinstance(v, str | int | float | bool)}


def plan_update(
    files: list[Path], known: dict[str, str], config: IndexConfig, rag: RagConfig, prune: bool,
    warn: Callable[[str], None] | None,
) -> Plan:
    """Hash, load and split what changed since ``known`` (path to SHA-256); write nothing."""
    from tooldeck.rag.loaders import load_paths
    from tooldeck.rag.splitters import split_documents

    plan = Plan(files, known)
    todo: list[tuple[Path, str]] = []
    unreadable: dict[str, str] = {}
    for path in files:
        try:
            digest = _sha256(path)
        except LoaderError as exc:
            unreadable[str(path)] = str(exc)
            (warn or _log.warning)(f"skipped {path}: {exc}")
            continue
        if known.get(str(path)) == digest:
            plan.unchanged.append(str(path))
        else:
            todo.append((path, digest))
    report = load_paths([p for p, _ in todo], warn=warn, rag=rag)
    plan.skipped = {**unreadable, **report.skipped}
    for path, digest in todo:
        docs = report.documents.get(str(path))
        if docs is not None:  # a skipped file keeps what it had
            plan.changed.append((path, digest, split_documents(docs, config)))
    if prune:
        current = {str(p) for p in files}
        plan.removed = [source for source in known if source not in current]
    return plan


def refuse_empty(plan: Plan, store: ChunkStore | None, name: str, paths: Sequence[Any]) -> None:
    """Stop an update that would leave the index with no chunks, before it writes anything.

    Raises:
        EmptyIndexError: nothing under ``paths`` gave a chunk (and nothing else is kept).
    """
    fresh = sum(len(chunks) for _, _, chunks in plan.changed)
    if fresh:
        return
    replaced = {str(p) for p, _, _ in plan.changed} | set(plan.removed)
    kept = [source for source in plan.known if source not in replaced]
    if store is not None and kept and store.chunks_of(kept):
        return
    where = ", ".join(str(p) for p in paths)
    found = f"{len(plan.files)} file(s), {len(plan.skipped)} skipped" if plan.files else "no files"
    raise EmptyIndexError(
        f"nothing to index in {where} ({found}); index {name!r} was left as it was"
    )


def apply_plan(
    store: ChunkStore, collection: Any, embed: Embed, plan: Plan,
    progress: Callable[[int, int], None] | None = None,
) -> IndexStats:
    """Write ``plan`` to both stores (see the module docstring for the order)."""
    stats = IndexStats(files_unchanged=len(plan.unchanged), skipped=plan.skipped)
    store.commit_meta({"dirty": "1"})
    todo = sum(len(chunks) for _, _, chunks in plan.changed)
    done = 0
    for path, digest, chunks in plan.changed:
        source = str(path)
        old = set(store.chunk_ids(source))
        fresh = [c for c in chunks if c.id not in old]
        for i in range(0, len(fresh), EMBED_BATCH):
            part = fresh[i : i + EMBED_BATCH]
            collection.upsert(ids=[c.id for c in part], embeddings=embed([c.text for c in part]),
                              metadatas=[chroma_metadata(c.metadata) for c in part])
            stats.chunks_embedded += len(part)
            done += len(part)
            if progress is not None:
                progress(done, todo)
        gone = list(old - {c.id for c in chunks})
        if gone:
            collection.delete(ids=gone)
        store.replace_file(source, digest, path.stat().st_size, chunks)
        if source in plan.known:
            stats.files_updated += 1
        else:
            stats.files_added += 1
        done += len(chunks) - len(fresh)
    for source in plan.removed:
        ids = store.chunk_ids(source)
        if ids:
            collection.delete(ids=ids)
        store.remove_file(source)
        stats.files_removed += 1
    return stats


def reconcile(store: ChunkStore, collection: Any, embed: Embed) -> int:
    """Make the vector store hold exactly the chunk store's ids; return how many were fixed."""
    wanted = store.all_ids()
    have = set(collection.get(include=[])["ids"])
    extra = sorted(have - wanted)
    missing = sorted(wanted - have)
    for i in range(0, len(extra), EMBED_BATCH):
        collection.delete(ids=extra[i : i + EMBED_BATCH])
    for i in range(0, len(missing), EMBED_BATCH):
        chunks = store.get(missing[i : i + EMBED_BATCH])
        ids = list(chunks)
        collection.upsert(ids=ids, embeddings=embed([chunks[c].text for c in ids]),
                          metadatas=[chroma_metadata(chunks[c].metadata) for c in ids])
    return len(extra) + len(missing)


def finish(store: ChunkStore, stats: IndexStats, model_id: str, name: str, force_df: bool) -> None:
    """Recount term frequencies if needed and mark the build clean (the last write)."""
    if (stats.files_added or stats.files_updated or stats.files_removed or stats.repaired
            or force_df or store.term_df_missing()):
        store.refresh_term_df()
    store.commit_meta({"embeddings": model_id, "name": name, "dirty": "0",
                       "updated_at": repr(time.time())})
    stats.chunks_total = store.count()
