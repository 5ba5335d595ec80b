"""Hybrid search latency at scale: top-5 over N chunks (default 100,000), p50 and p95.

Run: .venv/bin/python bench/rag_scale.py [N] [QUERIES] [DIR]   (DIR keeps the built index for
another run; building 100k chunks takes a few minutes)

Embedding 100k real chunks takes over an hour on two cores, so the *documents* get a cheap
stand-in: feature-hashed bag-of-words vectors (384 dimensions, fixed random signs, L2-normalised),
which cluster texts that share words as real embeddings do. The *queries* go through the real
default embedder (all-MiniLM-L6-v2 in NumPy), so each measured search pays exactly what
`tooldeck ask` pays: the query embedding, SQLite FTS5 BM25 over all chunks, Chroma's HNSW search
and the RRF fusion. Recall is not measured here (the vectors are stand-ins); see
bench/apibench.py for retrieval quality.

The corpus: N records in Gorilla's API format, written as JSONL files of 1,000 records, each made
from a real HF/TF Hub record with its name, call and description words varied, indexed with
`splitter: none` (one chunk per record) through the same `HybridIndex.update` as `tooldeck index`.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings

from tooldeck.config import IndexConfig, load_config
from tooldeck.models.embeddings import LocalEmbeddings
from tooldeck.rag.index import HybridIndex

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "gorilla_apibench"
DIM = 384
_WORD = re.compile(r"\w+")


class HashedDocsEmbeddings(Embeddings):
    """Documents: hashed bag of words; queries: the real default embedder (see module doc)."""

    def __init__(self) -> None:
        self.real = LocalEmbeddings()
        self.model = "bench-hashed-docs"

    @staticmethod
    def _hashed(text: str) -> list[float]:
        vec = np.zeros(DIM, dtype=np.float32)
        for word in _WORD.findall(text.lower()):
            digest = hashlib.blake2b(word.encode(), digest_size=4).digest()
            value = int.from_bytes(digest, "little")
            vec[value % DIM] += 1.0 if value & 0x8000_0000 else -1.0
        norm = float(np.linalg.norm(vec)) or 1.0
        return (vec / norm).tolist()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Hashed vectors, no model."""
        return [self._hashed(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        """The real query embedding (its cost is part of every measured search)."""
        return self.real.embed_query(text)


def _records() -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for name in ("huggingface_api.jsonl", "tensorflowhub_api.jsonl"):
        for line in (DATA / "api" / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                out.append(json.loads(line))
    return out


def _write_corpus(folder: Path, n: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    base = _records()
    vocabulary = sorted({w for r in base for w in _WORD.findall(str(r.get("description", "")))})
    for start in range(0, n, 1000):
        lines = []
        for i in range(start, min(start + 1000, n)):
            record = dict(base[i % len(base)])
            words = str(record.get("description", "")).split()
            words += rng.sample(vocabulary, min(len(vocabulary), 12))
            rng.shuffle(words)
            record["api_name"] = f"{record.get('api_name', 'api')}-v{i}"
            record["api_call"] = str(record.get("api_call", "")).replace("(", f"(  # v{i}\n", 1)
            record["description"] = " ".join(words)
            lines.append(json.dumps(record))
        (folder / f"part{start // 1000:04d}.jsonl").write_text("\n".join(lines) + "\n",
                                                                 encoding="utf-8")


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    n_queries = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    work = Path(sys.argv[3]) if len(sys.argv) > 3 else Path(tempfile.mkdtemp(prefix="rag-scale-"))
    corpus = work / f"corpus-{n}"
    t0 = time.perf_counter()
    if not corpus.is_dir():
        corpus.mkdir(parents=True)
        _write_corpus(corpus, n)
    config = load_config(None, {"data_dir": str(work / f"data-{n}")})
    index = HybridIndex("scale", config.rag, config.data_dir, embeddings=HashedDocsEmbeddings(),
                        create=True)
    stats = index.update([corpus], IndexConfig(splitter="none"))
    build = time.perf_counter() - t0
    questions = [json.loads(line)["text"] for line in (
        DATA / "questions" / "questions_huggingface_0_shot.jsonl").read_text().splitlines()
        if line.strip()][:n_queries]
    index.search("warm up the query path", 5)
    stages: dict[str, list[float]] = {"embed query": [], "bm25": [], "total": []}
    real = index.embeddings
    for question in questions:
        t = time.perf_counter()
        real.embed_query(question)
        stages["embed query"].append(time.perf_counter() - t)
        t = time.perf_counter()
        index.store.bm25(question, config.rag.candidates)
        stages["bm25"].append(time.perf_counter() - t)
        t = time.perf_counter()
        index.search(question, 5)
        stages["total"].append(time.perf_counter() - t)
    index.close()
    print(f"{stats.chunks_total} chunks, built in {build:.0f} s (hashed document vectors), "
          f"{len(questions)} HuggingFace questions, top-5, candidates "
          f"{config.rag.candidates}\n")
    print("| stage | p50 ms | p95 ms |")
    print("|---|---|---|")
    for stage, values in stages.items():
        values.sort()
        p95 = values[int(len(values) * 0.95) - 1]
        print(f"| {stage} | {statistics.median(values) * 1000:.1f} | {p95 * 1000:.1f} |")


if __name__ == "__main__":
    main()
