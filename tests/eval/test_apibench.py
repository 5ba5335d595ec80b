"""The APIBench scorer against the released Gorilla responses, and the harness on a slice."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tooldeck.eval.apibench import read_jsonl, run_apibench, score_responses
from tooldeck.eval.apibench_scorer import ApiDatabase, extract_call, hub_of

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "gorilla_apibench"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "gorilla"  # the TF Hub part
SHARED = pytest.mark.skipif(not DATA.is_dir(), reason="../shared/data not present")


def _files(hub: str) -> dict[str, Path]:
    """Where a hub's files are: TF Hub's ship with the tests, HuggingFace's are in ../shared."""
    if hub == "tensorflowhub":
        return {"api": FIXTURES / "tensorflowhub_api.jsonl.gz",
                "eval": FIXTURES / "tensorflow_eval.json.gz",
                "questions": FIXTURES / "questions_tensorflowhub_0_shot.jsonl.gz",
                "responses": FIXTURES}
    return {"api": DATA / "api" / "huggingface_api.jsonl",
            "eval": DATA / "apibench_eval" / "huggingface_eval.json",
            "questions": DATA / "questions" / "questions_huggingface_0_shot.jsonl",
            "responses": DATA / "gorilla_responses"}


def _tsv() -> dict[tuple[str, str, str], tuple[float, float, float]]:
    rows = (FIXTURES / "official_scorer_on_released_gorilla_responses.tsv").read_text()
    out = {}
    for line in rows.splitlines()[1:]:
        hub, model, setting, _, acc, hal, err = line.split("\t")
        out[(hub, model, setting)] = (float(acc), float(hal), float(err))
    return out


def _score(hub: str, model: str, setting: str) -> dict[str, Any]:
    files = _files(hub)
    records = read_jsonl(files["api"])
    gold = [r["api_data"] for r in read_jsonl(files["eval"])]
    responses = read_jsonl(files["responses"] / f"response_{hub}_{model}_{setting}.jsonl.gz")
    return score_responses(ApiDatabase(records, hub_of(records, files["api"].name)), gold,
                           responses)


SETTINGS = [(m, s) for m in ("Gorilla_FT", "Gorilla_RT")
            for s in ("0_shot", "bm25", "gpt_index", "oracle")]
ROWS = [pytest.param("tensorflowhub", m, s) for m, s in SETTINGS] + [
    pytest.param("huggingface", m, s, marks=SHARED) for m, s in SETTINGS]


@pytest.mark.parametrize(("hub", "model", "setting"), ROWS)
def test_official_rows_reproduce_exactly(hub: str, model: str, setting: str) -> None:
    got = _score(hub, model, setting)
    acc, hal, err = _tsv()[(hub, model, setting)]
    assert (got["accuracy"], got["hallucination"], got["error"]) == (acc, hal, err)


def test_call_extraction_rules() -> None:
    text = "<<<api_call>>>: hub.load('https://tfhub.dev/x/4'), <<<api_provider>>>: TF"
    assert extract_call(text, "tensorflowhub") == "hub.load('https://tfhub.dev/x/4')"
    assert extract_call("no marker here", "huggingface") == "no marker here"
    assert extract_call("no marker here", "torchhub") is None
    records = [{"api_call": "hub.load('https://tfhub.dev/a/1')", "domain": "Text"},
               {"api_call": "hub.KerasLayer('https://tfhub.dev/b/2')", "domain": "Image"}]
    db = ApiDatabase(records, hub_of(records, "tensorflowhub_api.jsonl"))
    assert db.judge("api_call: hub.KerasLayer('https://tfhub.dev/b/2')", "Image") == ("correct", 1)
    assert db.judge("api_call: hub.KerasLayer('https://tfhub.dev/b/2')", "Text")[0] == "error"
    assert db.judge("api_call: hub.load('https://tfhub.dev/zzz/9')", "Text")[0] == "hallucination"


def test_harness_on_a_slice(config: Any, tmp_path: Path) -> None:
    files = _files("tensorflowhub")
    report = run_apibench(config, api_file=str(files["api"]), eval_file=str(files["eval"]),
                          questions_file=str(files["questions"]), limit=40)
    assert report["hub"] == "tensorflowhub" and report["official"]["n"] == 40
    assert report["official"]["hallucination"] == 0.0  # answers are real DB calls
    assert report["official"]["accuracy"] >= 50.0
    assert report["retriever"]["top1_domain"] >= 50.0
    assert set(report["retriever"]) == {"top1_exact", "top1_domain", "top5_exact", "top5_domain"}
    json.dumps(report)


def test_harness_with_a_model_takes_its_pick(config: Any) -> None:
    from tooldeck.testing import ScriptedChatModel

    files = _files("tensorflowhub")
    args = {"api_file": str(files["api"]), "eval_file": str(files["eval"]),
            "questions_file": str(files["questions"]), "limit": 5}
    top1 = run_apibench(config, **args)
    model = ScriptedChatModel(responses=["[1]", "[0]", "[2]", "nothing", "[2]"])
    picked = run_apibench(config, model=model, **args)
    assert picked["mode"] == "model" and len(model.calls) == 5
    assert picked["retriever"] == top1["retriever"]  # the same retrieval
    # "[0]" (none fits) and a reply with no number fall back to the top match
    assert "Reply with [1] to [5]" in str(model.calls[0]["messages"][-1].content)


def test_bad_input_files(config: Any, tmp_path: Path) -> None:
    from tooldeck.errors import InputError

    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    with pytest.raises(InputError, match="line 1: not JSON"):
        read_jsonl(bad)
    with pytest.raises(InputError, match="cannot read"):
        read_jsonl(tmp_path / "missing.jsonl")
