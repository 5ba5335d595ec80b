"""``tooldeck eval retrieval``: metrics, set loaders and the command end to end on tiny sets."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tooldeck.cli import main
from tooldeck.errors import InputError
from tooldeck.eval.retrieval import ndcg, score_ranking
from tooldeck.eval.retrieval_sets import Query, load_set, rest_label, sample


def test_metrics() -> None:
    assert score_ranking(["a", "b", "c"], ["a"]) == (1, 1, 1.0, 1.0)
    top1, found5, n1, n5 = score_ranking(["x", "b", "y", "z", "w", "a"], ["a", "b"])
    assert (top1, found5, n1) == (0, 1, 0.0)
    assert n5 == pytest.approx((1 / 1.5849625) / (1 + 1 / 1.5849625), rel=1e-6)
    assert ndcg([], ["a"], 5) == 0.0
    assert ndcg(["a", "b"], [], 5) == 0.0


def test_rest_labels_and_seeded_sample() -> None:
    assert rest_label("get", "/movie/{movie_id}/credits/") == "GET /movie/{}/credits"
    assert rest_label("DELETE", "/session/{id}") == rest_label("delete", "/session/{session_id}")
    queries = [Query(str(i), ("a",)) for i in range(50)]
    assert sample(queries, 10) == sample(queries, 10)
    assert len(sample(queries, 10)) == 10 and sample(queries, None) == queries


def test_unknown_set_and_missing_data(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="choose from"):
        load_set("nope", tmp_path)
    with pytest.raises(InputError, match="--data"):
        load_set("restbench-tmdb", None)
    with pytest.raises(InputError, match="--data"):
        load_set("restbench-tmdb", tmp_path)


def _tiny_restbench(root: Path) -> Path:
    """A RestBench-shaped data folder with three operations and three tasks."""
    spec = {"openapi": "3.0.0", "info": {"title": "t", "version": "1"}, "paths": {
        "/search/person": {"get": {"summary": "Search People",
                                   "description": "Search for people by name."}},
        "/person/{person_id}/movie_credits": {"get": {
            "summary": "Get Movie Credits", "description": "The movie credits of a person."}},
        "/movie/{movie_id}/images": {"get": {"summary": "Get Images",
                                             "description": "The posters of a movie."}},
    }}
    tasks = [
        {"query": "how many movies did Sofia Coppola direct",
         "solution": ["GET /search/person", "GET /person/{id}/movie_credits"]},
        {"query": "show me a poster of Titanic", "solution": ["GET /movie/{movie_id}/images"]},
        {"query": "find the person called Tom Hanks", "solution": ["GET /search/person"]},
    ]
    folder = root / "restbench"
    folder.mkdir(parents=True)
    (folder / "tmdb_oas.json").write_text(json.dumps(spec))
    (folder / "tmdb.json").write_text(json.dumps(tasks))
    return root


def test_loaders_read_tiny_sets(tmp_path: Path) -> None:
    rset = load_set("restbench-tmdb", _tiny_restbench(tmp_path))
    part = rset.parts[0]
    assert [d.label for d in part.docs] == ["GET /search/person", "GET /person/{}/movie_credits",
                                           "GET /movie/{}/images"]
    assert part.queries[0].relevant == ("GET /search/person", "GET /person/{}/movie_credits")
    fixture = load_set("fixture", None)
    labels = {d.label for d in fixture.parts[0].docs}
    assert {"POST /session", "ComputeSession.terminate", "guide.md#rate-limits"} <= labels
    assert all(set(q.relevant) <= labels for q in fixture.parts[0].queries)


def test_eval_retrieval_end_to_end(config: Any, tmp_path: Path, capsys: Any,
                                   monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TOOLDECK_DATA_DIR", str(config.data_dir))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    data = _tiny_restbench(tmp_path / "data")
    cache = tmp_path / "vectors.sqlite"
    assert main(["eval", "retrieval", "--sets", "restbench-tmdb,fixture", "--data", str(data),
                 "--limit", "3", "--embed-cache", str(cache), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["sets"]) == {"restbench-tmdb", "fixture"}
    for row in report["sets"].values():
        assert row["queries"] == 3
        for system in ("tooldeck", "dense", "bm25"):
            assert 0.0 <= row[system]["recall@5"] <= 100.0
    # every tiny task's endpoints are among three documents: all found in the top 5
    assert report["sets"]["restbench-tmdb"]["dense"]["recall@5"] == 100.0
    assert cache.is_file()
    assert not list(Path(tmp_path).glob("tooldeck-eval-retrieval-*"))
    assert main(["eval", "retrieval", "--sets", "fixture", "--limit", "2"]) == 0
    assert "| fixture | 2 |" in capsys.readouterr().out


def test_eval_retrieval_rejects_bad_options(capsys: Any) -> None:
    assert main(["eval", "retrieval", "--sets", "fixture", "--systems", "magic"]) == 2
    assert "choose from" in capsys.readouterr().err
