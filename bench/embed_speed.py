"""Embedding throughput: tooldeck's NumPy MiniLM vs sentence-transformers, same texts, one run.

Run: .venv/bin/python bench/embed_speed.py [N] [ROUNDS]   (needs torch==2.13.0 +
sentence-transformers). The two embedders run alternately ROUNDS times (default 3) on the same
texts, so load from elsewhere hits both alike; prints the median texts/s of each, the ratio, and
the minimum cosine between the two.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "gorilla_apibench"


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    texts = (DATA / "api" / "huggingface_api.jsonl").read_text().splitlines()[:n]
    from tooldeck.models.embeddings import LocalEmbeddings

    t0 = time.perf_counter()
    ours_model = LocalEmbeddings()
    load_ours = time.perf_counter() - t0
    from sentence_transformers import SentenceTransformer

    t0 = time.perf_counter()
    st = SentenceTransformer(str(ours_model.encoder.model_dir), device="cpu")
    load_st = time.perf_counter() - t0
    ours_times, st_times = [], []
    for _ in range(rounds):
        t0 = time.perf_counter()
        ours = np.array(ours_model.embed_documents(texts))
        ours_times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ref = st.encode(texts, batch_size=32)
        st_times.append(time.perf_counter() - t0)
    t_ours, t_st = float(np.median(ours_times)), float(np.median(st_times))
    cos = (ours * ref).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(ref, axis=1)
    print(f"| embedder | load s | texts/s ({n} API records, median of {rounds}) |")
    print("|---|---|---|")
    print(f"| tooldeck NumPy | {load_ours:.2f} | {n / t_ours:.1f} |")
    print(f"| sentence-transformers (torch {__import__('torch').__version__}) | {load_st:.2f} "
          f"| {n / t_st:.1f} |")
    print(f"\nratio tooldeck/ST throughput: {t_st / t_ours:.2f}x; min cosine {cos.min():.6f}")


if __name__ == "__main__":
    main()
