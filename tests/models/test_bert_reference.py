"""The NumPy encoder equals sentence-transformers on stored reference vectors (no torch needed),
and refuses model folders it would otherwise run wrongly."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tooldeck.errors import ModelNotFoundError
from tooldeck.models.bert import BertEncoder, default_model_dir

REFERENCE = Path(__file__).resolve().parents[1] / "fixtures" / "embeddings" / "minilm_reference.json"


@pytest.fixture(scope="module")
def encoder() -> BertEncoder:
    return BertEncoder()


def test_equals_stored_sentence_transformers_vectors(encoder: BertEncoder) -> None:
    data = json.loads(REFERENCE.read_text("utf-8"))
    ours = np.asarray(encoder.encode(data["texts"]), dtype=np.float64)
    reference = np.asarray(data["vectors"], dtype=np.float64)
    assert ours.shape == reference.shape == (len(data["texts"]), 384)
    cosine = (ours * reference).sum(1) / (
        np.linalg.norm(ours, axis=1) * np.linalg.norm(reference, axis=1))
    assert cosine.min() >= 0.9999, cosine.min()
    assert np.abs(ours - reference).max() <= 2e-3
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-4)  # Normalize module


def test_the_reference_detects_a_wrong_encoder(encoder: BertEncoder) -> None:
    """The equality test can fail: dropping the Normalize module already breaks it."""
    data = json.loads(REFERENCE.read_text("utf-8"))
    encoder_pooling = encoder.normalize
    try:
        encoder.normalize = False
        ours = np.asarray(encoder.encode(data["texts"][2:6]), dtype=np.float64)
    finally:
        encoder.normalize = encoder_pooling
    assert np.abs(ours - np.asarray(data["vectors"][2:6])).max() > 2e-3


def _copy_model(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    source = default_model_dir()
    shutil.copytree(source, folder, ignore=shutil.ignore_patterns("model.safetensors"))
    (folder / "model.safetensors").symlink_to(source / "model.safetensors")
    return folder


def _edit(path: Path, **changes: Any) -> None:
    data = json.loads(path.read_text("utf-8"))
    data.update(changes)
    path.write_text(json.dumps(data), "utf-8")


@pytest.mark.parametrize(
    ("file", "changes", "message"),
    [
        ("config.json", {"hidden_act": "relu"}, "hidden_act is 'relu'"),
        ("config.json", {"position_embedding_type": "relative_key"}, "position_embedding_type"),
        ("config.json", {"model_type": "roberta"}, "model_type is 'roberta'"),
        ("config.json", {"is_decoder": True}, "decoder"),
        ("1_Pooling/config.json", {"pooling_mode_max_tokens": True}, "pooling_mode_max_tokens"),
        ("1_Pooling/config.json", {"pooling_mode_mean_tokens": False,
                                   "pooling_mode_mean_sqrt_len_tokens": True}, "mean_sqrt_len"),
        ("1_Pooling/config.json", {"pooling_mode_cls_token": True}, "combines"),
    ],
)
def test_unsupported_settings_are_refused_by_name(
    tmp_path: Path, file: str, changes: dict[str, Any], message: str
) -> None:
    folder = _copy_model(tmp_path)
    _edit(folder / file, **changes)
    with pytest.raises(ModelNotFoundError, match=message):
        BertEncoder(folder)


def test_a_dense_module_is_refused(tmp_path: Path) -> None:
    folder = _copy_model(tmp_path)
    modules = json.loads((folder / "modules.json").read_text("utf-8"))
    modules.insert(2, {"idx": 2, "name": "2", "path": "2_Dense",
                       "type": "sentence_transformers.models.Dense"})
    (folder / "modules.json").write_text(json.dumps(modules), "utf-8")
    with pytest.raises(ModelNotFoundError, match="'Dense' module"):
        BertEncoder(folder)


def test_a_folder_without_modules_json_is_not_normalised(tmp_path: Path) -> None:
    folder = _copy_model(tmp_path)
    (folder / "modules.json").unlink()
    plain = BertEncoder(folder)
    assert (plain.pooling, plain.normalize) == ("mean", False)
    vector = np.asarray(plain.encode(["How do I create a new session?"])[0])
    assert abs(float(np.linalg.norm(vector)) - 1.0) > 1e-3
