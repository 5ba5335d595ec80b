"""The encoder reads WordPiece and SentencePiece (Unigram) tokenizer.json files, refuses others.

A tiny synthetic sentence-transformers folder stands in for paraphrase-multilingual-MiniLM-L12-v2
(BERT layers, an XLM-R style Unigram tokenizer): no download.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from tooldeck.errors import ModelNotFoundError
from tooldeck.models.bert import BertEncoder

HIDDEN, FF, POSITIONS = 8, 16, 32
PIECES = ["▁session", "▁create", "▁세션", "을", "▁만들", "기", "▁", "s", "e"]


def _unigram(path: Path) -> int:
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    vocab = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    vocab += [(p, -float(i + 2)) for i, p in enumerate(PIECES)]
    tokenizer = Tokenizer(models.Unigram(vocab, 3, False))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)])
    tokenizer.save(str(path))
    return len(vocab)


def _weights(vocab: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)

    def r(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.2).astype(np.float32)

    w = {"embeddings.word_embeddings.weight": r(vocab, HIDDEN),
         "embeddings.position_embeddings.weight": r(POSITIONS, HIDDEN),
         "embeddings.token_type_embeddings.weight": r(2, HIDDEN),
         "embeddings.LayerNorm.weight": np.ones(HIDDEN, np.float32),
         "embeddings.LayerNorm.bias": np.zeros(HIDDEN, np.float32)}
    b = "encoder.layer.0."
    for name in ("query", "key", "value"):
        w[f"{b}attention.self.{name}.weight"] = r(HIDDEN, HIDDEN)
        w[f"{b}attention.self.{name}.bias"] = r(HIDDEN)
    w[f"{b}attention.output.dense.weight"] = r(HIDDEN, HIDDEN)
    w[f"{b}attention.output.dense.bias"] = r(HIDDEN)
    w[f"{b}intermediate.dense.weight"] = r(FF, HIDDEN)
    w[f"{b}intermediate.dense.bias"] = r(FF)
    w[f"{b}output.dense.weight"] = r(HIDDEN, FF)
    w[f"{b}output.dense.bias"] = r(HIDDEN)
    for ln in ("attention.output.LayerNorm", "output.LayerNorm"):
        w[f"{b}{ln}.weight"] = np.ones(HIDDEN, np.float32)
        w[f"{b}{ln}.bias"] = np.zeros(HIDDEN, np.float32)
    return w


def _folder(root: Path, vocab_rows: int | None = None) -> Path:
    from safetensors.numpy import save_file

    folder = root / "tiny-multilingual"
    (folder / "1_Pooling").mkdir(parents=True)
    vocab = _unigram(folder / "tokenizer.json")
    rows = vocab_rows or vocab
    (folder / "config.json").write_text(json.dumps({
        "model_type": "bert", "hidden_size": HIDDEN, "num_attention_heads": 2,
        "num_hidden_layers": 1, "intermediate_size": FF, "vocab_size": rows,
        "max_position_embeddings": POSITIONS, "type_vocab_size": 2, "hidden_act": "gelu"}))
    save_file(_weights(rows), str(folder / "model.safetensors"))
    (folder / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling",
         "type": "sentence_transformers.models.Pooling"}]))
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(
        {"word_embedding_dimension": HIDDEN, "pooling_mode_mean_tokens": True}))
    (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 16}))
    return folder


def test_unigram_tokenizer_loads_and_encodes(tmp_path: Path) -> None:
    encoder = BertEncoder(_folder(tmp_path))
    ids = encoder.tokenize(["세션을 만들기"])[0]
    assert ids[0] == 0 and ids[-1] == 2 and 3 not in ids  # <s> ... </s>, no <unk>
    vectors = encoder.encode(["세션을 만들기", "create session", "x" * 200])
    assert vectors.shape == (3, HIDDEN) and np.isfinite(vectors).all()
    assert encoder.max_seq_length == 16 and len(encoder.tokenize(["s " * 50])[0]) == 16


def test_unigram_coverage_counts_only_unknown_pieces(tmp_path: Path) -> None:
    encoder = BertEncoder(_folder(tmp_path))
    assert encoder.coverage("세션을 만들기") == 1.0  # single-character pieces are fine here
    assert encoder.coverage("Привет мир") == 0.0  # <unk>: the vocabulary lacks the script
    assert 0.0 < encoder.coverage("create Привет") < 1.0


def test_folder_without_tokenizer_json_is_refused_by_name(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    (folder / "tokenizer.json").unlink()
    (folder / "sentencepiece.bpe.model").write_bytes(b"\0")
    with pytest.raises(ModelNotFoundError, match=r"no tokenizer\.json \(it has "
                       r"sentencepiece\.bpe\.model\)"):
        BertEncoder(folder)


def test_other_tokenizer_models_are_refused(tmp_path: Path) -> None:
    from tokenizers import Tokenizer, models

    folder = _folder(tmp_path)
    Tokenizer(models.WordLevel({"<unk>": 0, "a": 1}, unk_token="<unk>")).save(
        str(folder / "tokenizer.json"))
    with pytest.raises(ModelNotFoundError, match="tokenizer.json uses a WordLevel model"):
        BertEncoder(folder)


def test_missing_tokenizers_package_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = _folder(tmp_path)
    monkeypatch.setitem(sys.modules, "tokenizers", None)
    with pytest.raises(ModelNotFoundError, match="needs the `tokenizers` package"):
        BertEncoder(folder)


def test_vocabulary_larger_than_the_embeddings_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="tokens for 5 word embeddings"):
        BertEncoder(_folder(tmp_path, vocab_rows=5))


def test_unreadable_tokenizer_json(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    (folder / "tokenizer.json").write_text("{not json")
    with pytest.raises(ModelNotFoundError, match="cannot read"):
        BertEncoder(folder)
