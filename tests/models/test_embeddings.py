"""The NumPy embedder equals sentence-transformers; the embeddings factory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tooldeck.config import EmbeddingsConfig
from tooldeck.errors import ConfigError, MissingAPIKeyError
from tooldeck.models.embeddings import LocalEmbeddings, embeddings_id, get_embeddings

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "gorilla_apibench"


def _texts() -> list[str]:
    texts = ["", "a", "Hello world!", "x " * 400, "Ünïcödé façade — 東京 🚀"]
    questions = DATA / "questions" / "questions_huggingface_0_shot.jsonl"
    if questions.is_file():
        lines = questions.read_text().splitlines()
        texts += [json.loads(line)["text"] for line in lines[:60]]
    api = DATA / "api" / "tensorflowhub_api.jsonl"
    if api.is_file():
        texts += api.read_text().splitlines()[:35]
    words = "session create delete image model classify text vector search api token limit".split()
    i = 0
    while len(texts) < 100:  # without ../shared: synthetic sentences of varied length
        texts.append(" ".join(words[(i + j) % len(words)] for j in range(3 + (i * 7) % 40)))
        i += 1
    return texts[:100]


@pytest.fixture(scope="module")
def local() -> LocalEmbeddings:
    return LocalEmbeddings()


def test_matches_sentence_transformers(local: LocalEmbeddings) -> None:
    st = pytest.importorskip("sentence_transformers")
    texts = _texts()
    assert len(texts) == 100
    ours = np.array(local.embed_documents(texts))
    reference = st.SentenceTransformer(str(local.encoder.model_dir), device="cpu").encode(
        texts, batch_size=16)
    cosine = (ours * reference).sum(1) / (np.linalg.norm(ours, axis=1)
                                          * np.linalg.norm(reference, axis=1))
    assert cosine.min() >= 0.999


def test_vectors_are_normalised_and_batch_independent(local: LocalEmbeddings) -> None:
    texts = ["create a session", "delete a session", "rate limits"]
    batch = np.array(local.embed_documents(texts))
    single = np.array([local.embed_query(t) for t in texts])
    assert batch.shape == (3, 384)
    assert np.allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    assert np.allclose(batch, single, atol=1e-5)
    assert local.embed_documents([]) == []
    sims = batch @ batch.T
    assert sims[0, 1] > sims[0, 2]  # related texts are closer


def test_factory(monkeypatch: Any) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(MissingAPIKeyError, match="OPENAI_API_KEY"):
        get_embeddings(EmbeddingsConfig(provider="openai"))
    fake = get_embeddings(EmbeddingsConfig(
        provider="langchain_core.embeddings:DeterministicFakeEmbedding", kwargs={"size": 8}))
    assert len(fake.embed_query("x")) == 8
    assert embeddings_id(fake).startswith("langchain_core.embeddings")
    with pytest.raises(ConfigError, match="cannot be imported"):
        get_embeddings(EmbeddingsConfig(provider="no_such_pkg:Thing"))
    with pytest.raises(ConfigError, match="not a LangChain Embeddings"):
        get_embeddings(EmbeddingsConfig(provider="pathlib:Path"))
    with pytest.raises(Exception, match="unknown embeddings provider"):
        EmbeddingsConfig(provider="bogus")
