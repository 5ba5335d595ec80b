"""``tooldeck eval retrieval``: API retrieval on several labelled sets, three systems per set.

Each set (:mod:`tooldeck.eval.retrieval_sets`) is scored in the same run for

- ``tooldeck``: the hybrid index (:class:`tooldeck.rag.index.HybridIndex`) built from the set's
  own files (a spec, a client, an API file) in a scratch folder that is removed afterwards, with
  the default index settings, searched with ``search_documents``;
- ``bm25``: plain Okapi BM25 (k1 1.2, b 0.75, lower-cased words) over the set's documents;
- ``dense``: plain cosine similarity of the same documents' MiniLM vectors (tooldeck's embedder).

Metrics per set, pooled over its parts: ``top1`` (the first result is relevant), ``recall@5``
(relevant labels found in the top 5, micro-averaged over the relevant labels), ``ndcg@1`` and
``ndcg@5`` (binary relevance), and each system's query p50 in milliseconds. ``--limit N`` takes
N queries per part, drawn with a fixed seed (0); corpora are always whole.

Document vectors can be kept between runs in ``embed_cache`` (a SQLite file: text SHA-256 to
float32 bytes, per embedding model), which makes a second run cost only the queries.
"""

from __future__ import annotations

import hashlib
import math
import re
import sqlite3
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tooldeck.eval.retrieval_sets import Part, Query, RetrievalSet, label_of_ref, sample

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

    from tooldeck.config import Config

__all__ = [
    "SYSTEMS", "CachedEmbeddings", "Scores", "format_report", "ndcg", "run_retrieval",
    "score_ranking",
]

SYSTEMS = ("tooldeck", "dense", "bm25")
_DEPTH = 10  # results asked of each system
_WORD = re.compile(r"[^\W_]+")


@dataclass
class Scores:
    """Running sums of one system on one set."""

    n: int = 0
    top1: float = 0.0
    found5: int = 0
    relevant: int = 0
    ndcg1: float = 0.0
    ndcg5: float = 0.0
    latencies: list[float] = field(default_factory=list)

    def add(self, ranking: Sequence[str], relevant: Sequence[str], seconds: float) -> None:
        """Count one query's ranked labels."""
        top1, found5, ndcg1, ndcg5 = score_ranking(ranking, relevant)
        self.n += 1
        self.top1 += top1
        self.found5 += found5
        self.relevant += len(set(relevant))
        self.ndcg1 += ndcg1
        self.ndcg5 += ndcg5
        self.latencies.append(seconds)

    def summary(self) -> dict[str, float]:
        """Percentages (and the p50 in ms)."""
        n = max(self.n, 1)
        return {
            "top1": round(100 * self.top1 / n, 1),
            "recall@5": round(100 * self.found5 / max(self.relevant, 1), 1),
            "ndcg@1": round(100 * self.ndcg1 / n, 1),
            "ndcg@5": round(100 * self.ndcg5 / n, 1),
            "p50_ms": round(1000 * statistics.median(self.latencies), 1) if self.latencies
            else 0.0,
        }


def ndcg(ranking: Sequence[str], relevant: Sequence[str], k: int) -> float:
    """NDCG@k with binary relevance (each relevant label counted once)."""
    gold = set(relevant)
    if not gold:
        return 0.0
    dcg = sum(1.0 / math.log2(i + 2) for i, label in enumerate(ranking[:k]) if label in gold)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(k, len(gold))))
    return dcg / ideal


def score_ranking(ranking: Sequence[str], relevant: Sequence[str]) -> tuple[int, int, float, float]:
    """``(top1 hit, relevant labels in the top 5, NDCG@1, NDCG@5)`` of one ranked list."""
    gold = set(relevant)
    top1 = int(bool(ranking) and ranking[0] in gold)
    found5 = len(gold & set(ranking[:5]))
    return top1, found5, ndcg(ranking, relevant, 1), ndcg(ranking, relevant, 5)


def _dedupe(labels: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(labels))


class CachedEmbeddings:
    """An embedder whose document vectors are kept by text hash (in memory, or a SQLite file).

    Query vectors are never cached, so each system pays for its own question.
    """

    def __init__(self, base: Embeddings, path: Path | None = None) -> None:
        from tooldeck.models.embeddings import embeddings_id

        self.base = base
        self.model = embeddings_id(base)
        self.memory: dict[str, list[float]] = {}
        self.db = sqlite3.connect(str(path), timeout=120.0) if path is not None else None
        if self.db is not None:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("CREATE TABLE IF NOT EXISTS vectors(model TEXT, sha TEXT, "
                            "vector BLOB, PRIMARY KEY (model, sha))")

    def _load(self, keys: list[str]) -> None:
        import numpy as np

        if self.db is None:
            return
        missing = [k for k in keys if k not in self.memory]
        for start in range(0, len(missing), 500):
            part = missing[start:start + 500]
            marks = ",".join("?" * len(part))
            rows = self.db.execute(
                f"SELECT sha, vector FROM vectors WHERE model = ? AND sha IN ({marks})",  # noqa: S608
                [self.model, *part])
            for sha, blob in rows:
                self.memory[sha] = np.frombuffer(blob, dtype=np.float32).tolist()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Vectors of ``texts``; only texts not seen before are embedded."""
        import numpy as np

        keys = [hashlib.sha256(t.encode()).hexdigest() for t in texts]
        self._load(keys)
        todo = {k: t for k, t in zip(keys, texts, strict=True) if k not in self.memory}
        if todo:
            vectors = self.base.embed_documents(list(todo.values()))
            for key, vector in zip(todo, vectors, strict=True):
                self.memory[key] = list(vector)
            if self.db is not None:
                with self.db:
                    self.db.executemany(
                        "INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)",
                        [(self.model, k, np.asarray(v, dtype=np.float32).tobytes())
                         for k, v in zip(todo, vectors, strict=True)])
        return [self.memory[k] for k in keys]

    def embed_query(self, text: str) -> list[float]:
        """The query's vector (not cached)."""
        return list(self.base.embed_query(text))

    def close(self) -> None:
        """Close the cache file."""
        if self.db is not None:
            self.db.close()


class _PlainBM25:
    """Okapi BM25 over lower-cased words, nothing else."""

    def __init__(self, texts: list[str], k1: float = 1.2, b: float = 0.75) -> None:
        self.docs = [Counter(_WORD.findall(t.lower())) for t in texts]
        self.lengths = [sum(d.values()) for d in self.docs]
        self.avg = sum(self.lengths) / max(len(self.docs), 1)
        df: Counter[str] = Counter()
        for doc in self.docs:
            df.update(doc.keys())
        n = len(self.docs)
        self.idf = {w: math.log(1 + (n - f + 0.5) / (f + 0.5)) for w, f in df.items()}
        self.k1, self.b = k1, b

    def rank(self, question: str, k: int) -> list[int]:
        words = [w for w in set(_WORD.findall(question.lower())) if w in self.idf]
        scores: list[tuple[float, int]] = []
        for i, doc in enumerate(self.docs):
            norm = self.k1 * (1 - self.b + self.b * self.lengths[i] / max(self.avg, 1e-9))
            score = sum(self.idf[w] * doc[w] * (self.k1 + 1) / (doc[w] + norm)
                        for w in words if w in doc)
            if score > 0:
                scores.append((score, i))
        scores.sort(key=lambda s: (-s[0], s[1]))
        return [i for _, i in scores[:k]]


def _timed(fn: Callable[[], list[str]]) -> tuple[list[str], float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def _baselines(part: Part, queries: list[Query], embed: CachedEmbeddings,
               scores: dict[str, Scores]) -> None:
    import numpy as np

    labels = [d.label for d in part.docs]
    bm25 = _PlainBM25([d.text for d in part.docs])
    matrix = np.asarray(embed.embed_documents([d.text for d in part.docs]), dtype=np.float32)
    matrix /= np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)

    def dense(question: str) -> list[str]:
        vector = np.asarray(embed.embed_query(question), dtype=np.float32)
        best = np.argsort(-(matrix @ vector), kind="stable")[: _DEPTH * 3]
        return _dedupe([labels[i] for i in best])[:_DEPTH]

    for q in queries:
        ranked, seconds = _timed(lambda q=q: _dedupe(  # type: ignore[misc]
            [labels[i] for i in bm25.rank(q.text, _DEPTH * 3)])[:_DEPTH])
        scores["bm25"].add(ranked, q.relevant, seconds)
        ranked, seconds = _timed(lambda q=q: dense(q.text))  # type: ignore[misc]
        scores["dense"].add(ranked, q.relevant, seconds)


def _match_label(match: Any) -> str:
    call = match.metadata.get("api_call")
    return str(call) if call else label_of_ref(match.ref)


def _tooldeck(config: Config, part: Part, queries: list[Query], embed: CachedEmbeddings,
              scratch: Path, scores: Scores, trace: list[dict[str, Any]] | None) -> None:
    import json

    from tooldeck.config import IndexConfig
    from tooldeck.rag.index import HybridIndex

    files = list(part.files)
    if part.records:
        target = scratch / f"{part.name}.jsonl"
        target.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n"
                                  for r in part.records), encoding="utf-8")
        files.append(target)
    index = HybridIndex(f"eval-{len(list(scratch.iterdir()))}", config.rag, scratch / "data",
                        embeddings=embed, create=True)  # type: ignore[arg-type]
    try:
        index.update(files, IndexConfig(), warn=lambda _m: None)
        for q in queries:
            ranked, seconds = _timed(lambda q=q: _dedupe(  # type: ignore[misc]
                [_match_label(m) for m in index.search_documents(q.text, _DEPTH)]))
            scores.add(ranked, q.relevant, seconds)
            if trace is not None:
                trace.append(_trace_row(index, q))
    finally:
        index.close()


def _trace_row(index: Any, query: Query) -> dict[str, Any]:
    """The two rankings (as labels) under the fusion, for fitting fusion weights."""
    lexical, vector, _ = index.rankings(query.text, index.rag.candidates)
    chunks = index.store.get({*lexical, *vector})

    def labels(ids: list[str]) -> list[str]:
        return _dedupe([_match_label(_ChunkView(chunks[i].metadata)) for i in ids
                        if i in chunks])

    return {"relevant": list(query.relevant), "lexical": labels(lexical),
            "vector": labels(vector)}


class _ChunkView:
    def __init__(self, metadata: dict[str, Any]) -> None:
        self.metadata = metadata
        self.ref = str(metadata.get("ref", ""))


def run_retrieval(
    config: Config, sets: list[RetrievalSet], limit: int | None = None,
    embed_cache: Path | None = None, systems: Sequence[str] = SYSTEMS,
    trace: dict[str, list[dict[str, Any]]] | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Score ``systems`` on ``sets``; returns ``{"sets": {name: {system: metrics}}, ...}``.

    Args:
        config: the configuration (its ``rag`` settings and embedder are used).
        sets: the loaded sets.
        limit: at most this many queries per part (a seeded sample).
        embed_cache: a SQLite file that keeps document vectors between runs.
        systems: which systems to run.
        trace: filled per set with each query's lexical and vector rankings (for fitting).
        progress: receives a line as each set starts.
    """
    from tooldeck.models.embeddings import get_embeddings

    embed = CachedEmbeddings(get_embeddings(config.embeddings), embed_cache)
    report: dict[str, Any] = {"limit": limit, "systems": list(systems), "sets": {}}
    try:
        with tempfile.TemporaryDirectory(prefix="tooldeck-eval-retrieval-") as tmp:
            for rset in sets:
                if progress is not None:
                    progress(f"{rset.name}: {rset.n_docs} documents, {rset.n_queries} queries")
                scores = {s: Scores() for s in systems}
                rows = trace.setdefault(rset.name, []) if trace is not None else None
                for part in rset.parts:
                    queries = sample(part.queries, limit)
                    if "bm25" in systems or "dense" in systems:
                        _baselines(part, queries, embed, scores | {
                            s: Scores() for s in ("bm25", "dense") if s not in systems})
                    if "tooldeck" in systems:
                        _tooldeck(config, part, queries, embed, Path(tmp), scores["tooldeck"],
                                  rows)
                report["sets"][rset.name] = {
                    "queries": scores[systems[0]].n, "documents": rset.n_docs,
                    "note": rset.note, **{s: scores[s].summary() for s in systems}}
    finally:
        embed.close()
    return report


def format_report(report: dict[str, Any]) -> str:
    """A Markdown table: one row per set, the systems side by side."""
    systems = report["systems"]
    toolbench = any(name.startswith("toolbench") for name in report["sets"])
    cols = ["top1", "recall@5"] + (["ndcg@1", "ndcg@5"] if toolbench else [])
    head = ["set", "queries", "docs"] + [f"{s} {c}" for s in systems for c in cols] + [
        f"{s} p50 ms" for s in systems]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, row in report["sets"].items():
        cells = [name, str(row["queries"]), str(row["documents"])]
        cells += [f"{row[s][c]:.1f}" for s in systems for c in cols]
        cells += [f"{row[s]['p50_ms']:.1f}" for s in systems]
        lines.append("| " + " | ".join(cells) + " |")
    if len(report["sets"]) > 1:
        mean = {s: {c: statistics.mean(r[s][c] for r in report["sets"].values()) for c in cols}
                for s in systems}
        cells = ["mean", "", ""] + [f"{mean[s][c]:.1f}" for s in systems for c in cols]
        lines.append("| " + " | ".join(cells + [""] * len(systems)) + " |")
    fit = report.get("fusion_fit")
    if fit:
        lines += ["", f"fusion fitted: {fit['weights']}; mean of top-1 and recall@5 per set:", "",
                  "| held-out set | setting fitted on the others | held-out score | plain RRF "
                  "(1, 60) | fitted on all |", "|---|---|---|---|---|"]
        lines += [f"| {name} | {row['held_out_setting']} | {row['held_out_score']:.1f} | "
                  f"{row['fixed_rrf_score']:.1f} | {row['fitted_score']:.1f} |"
                  for name, row in fit["sets"].items()]
    return "\n".join(lines)
