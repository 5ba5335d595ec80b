"""Answers are written from the chosen match alone; a model may reorder, never write them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tooldeck.cli import main
from tooldeck.rag import open_index
from tooldeck.rag.answer import ask, match_summary
from tooldeck.rag.index import Match
from tooldeck.testing import ScriptedChatModel

API = Path(__file__).resolve().parent.parent / "fixtures" / "api"
FILES = ("client.py", "guide.md", "openapi.json")

REST_TEXT = """POST /tasks
Create a task
operationId: createTask
tags: tasks
Creates a task in the queue and returns its id.

The task starts when a worker is free.
Parameters:
- dry_run (in query, boolean): Validate only
Request body (application/json):
  - name (string, required): Task name
Responses:
- 201: Task created
"""

FUNCTION_TEXT = """def create_task(name: str, dry_run: bool = False) -> str
module: client
Create a task and return its id.

Raises ValueError for an empty name.

def create_task(name: str, dry_run: bool = False) -> str:
    return post('/tasks', {'name': name})
"""


def _match(kind: str, ref: str, text: str, **meta: Any) -> Match:
    return Match("c1", 1.0, text, text, {"kind": kind, "ref": ref, "source": "x", **meta},
                 bm25_rank=1, similarity=0.5)


class EmbeddedLike(ScriptedChatModel):
    """A scripted model that says it is the embedded GGUF file."""

    model_path: str


@pytest.fixture
def built(config: Any, tmp_path: Path) -> Any:
    folder = tmp_path / "api"
    folder.mkdir()
    for name in FILES:
        shutil.copy(API / name, folder / name)
    index = open_index(config, "api", create=True)
    index.update([folder], config.rag.index("api"))
    yield index
    index.close()


def test_rest_answer_shows_method_path_description_parameters_body_example() -> None:
    text = match_summary(_match("rest", "POST /tasks", REST_TEXT, title="Create a task",
                                example="curl -X POST 'http://h/tasks' -d '{\"name\": \"x\"}'",
                                functions="Client.create_task\nClient.submit"))
    lines = text.splitlines()
    assert lines[0] == "Endpoint: POST /tasks" and lines[1] == "  Create a task"
    assert lines[2] == "  Creates a task in the queue and returns its id."
    assert "worker is free" not in text and "createTask" not in text and "201" not in text
    assert "- dry_run (in query, boolean): Validate only" in text
    assert "Request body (application/json):" in text and "name (string, required)" in text
    assert "Example:\n  curl -X POST" in text
    assert "Called by: Client.create_task, Client.submit" in text


def test_function_answer_shows_signature_first_paragraph_and_call() -> None:
    text = match_summary(_match(
        "function", "create_task", FUNCTION_TEXT, line=3, example="create_task(name=...)",
        title="create_task(name: str, dry_run: bool = False) -> str",
        operations="POST /tasks\nGET /tasks/{id}"))
    assert text.splitlines()[:2] == [
        "Function: create_task(name: str, dry_run: bool = False) -> str",
        "  Create a task and return its id."]
    assert "Raises ValueError" not in text and "return post" not in text
    assert "Example:\n  create_task(name=...)" in text
    assert "Calls: POST /tasks, GET /tasks/{id}" in text and text.endswith("Source: x:3")


def test_function_without_docstring_and_metadata_docstring() -> None:
    bare = "def f(x)\nmodule: m\n\ndef f(x):\n    return x\n"
    assert match_summary(_match("function", "f", bare, title="f(x)")).splitlines()[1] == (
        "Source: x")
    noted = _match("function", "f", bare, title="f(x)", docstring="Double it.\n\nMore.")
    assert match_summary(noted).splitlines()[1] == "  Double it."


def test_no_model_answer_is_the_best_match(built: Any) -> None:
    result = ask(built, "how do I create a new session?", 3, None, {"kind": "rest"})
    assert result.chosen == 0 and result.answer == match_summary(result.matches[0])
    assert result.answer.startswith("Endpoint: POST /session")
    assert "curl -X POST" in result.answer and "image (string, required)" in result.answer


def test_nothing_matches_is_said_with_or_without_a_model(built: Any) -> None:
    model = ScriptedChatModel(responses=["1"])
    for used in (None, model):
        result = ask(built, "what is the weather in Paris?", 3, used)
        assert result.chosen is None and "do not contain an answer" in result.answer
    assert model.calls == []  # nothing close: the model is not asked to pick among noise


def test_model_reorders_but_never_writes(built: Any) -> None:
    plain = ask(built, "how do I start a new compute session?", 3, None)
    second = plain.matches[1].ref
    model = ScriptedChatModel(responses=["2, 1"])
    result = ask(built, "how do I start a new compute session?", 3, model)
    assert result.matches[0].ref == second and result.chosen == 0
    assert result.answer == match_summary(result.matches[0])
    assert result.to_dict()["rerank"] == "model"
    prompt = str(model.calls[0]["messages"])
    assert "[1]" in prompt and "0 alone" in prompt


@pytest.mark.parametrize("reply", [
    "[1] Use POST /api/tasks/create to make one.", "201: Session created, 201: Session created",
    "4, 4", "",
])
def test_invented_or_malformed_replies_keep_retrieval_order(built: Any, reply: str) -> None:
    plain = ask(built, "how do I start a new compute session?", 3, None)
    result = ask(built, "how do I start a new compute session?", 3,
                 ScriptedChatModel(responses=[reply]))
    assert [m.ref for m in result.matches] == [m.ref for m in plain.matches]
    assert result.answer == plain.answer and "/api/tasks" not in result.answer
    assert result.to_dict()["rerank"] == "malformed"


def test_model_may_say_none_answers(built: Any) -> None:
    result = ask(built, "how do I create a session?", 3, ScriptedChatModel(responses=["0"]))
    assert result.chosen is None and "do not contain an answer" in result.answer
    assert result.matches  # still listed


def test_embedded_model_is_not_called_under_auto(built: Any) -> None:
    from tooldeck.models.local import embedded_model_path

    try:
        path = str(embedded_model_path())
    except Exception:
        pytest.skip("the embedded model is not installed")
    model = EmbeddedLike(responses=["2"], model_path=path)
    result = ask(built, "how do I create a new session?", 3, model)
    assert model.calls == [] and result.model is None
    assert result.answer == ask(built, "how do I create a new session?", 3, None).answer
    forced = ask(built, "how do I create a new session?", 3, model, rerank="on")
    assert len(model.calls) == 1 and forced.to_dict()["rerank"] == "model"
    off = ask(built, "how do I create a new session?", 3, ScriptedChatModel(responses=[]),
              rerank="off")
    assert off.model is None


def test_cli_ask_does_not_load_the_embedded_model(
    config: Any, built: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    def refuse(*_: Any, **__: Any) -> Any:
        raise AssertionError("the model was loaded")

    monkeypatch.setenv("TOOLDECK_DATA_DIR", str(config.data_dir))
    monkeypatch.setattr("tooldeck.models.get_chat_model", refuse)
    assert main(["ask", "api", "download invoices for a month", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["model"] is None and data["chosen"] == 0
    assert data["answer"].startswith(("Endpoint: GET /billing/invoices", "Function: download"))


def test_cli_ask_reranks_with_a_hosted_model(
    config: Any, built: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    model = ScriptedChatModel(responses=["2"])
    monkeypatch.setenv("TOOLDECK_DATA_DIR", str(config.data_dir))
    monkeypatch.setattr("tooldeck.models.get_chat_model", lambda *_: model)
    assert main(["ask", "api", "download invoices", "--model", "openai:gpt-4o-mini",
                 "--json", "--top-k", "2"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["rerank"] == "model" and data["model"] == "ScriptedChatModel"
    assert len(model.calls) == 1
    assert main(["ask", "api", "download invoices", "--model", "openai:gpt-4o-mini",
                 "--no-llm", "--json"]) == 0
    assert "rerank" not in json.loads(capsys.readouterr().out) and len(model.calls) == 1


def test_index_retriever_reranks_with_the_configured_model(
    config: Any, built: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tooldeck.errors import MissingAPIKeyError
    from tooldeck.rag.retriever import IndexRetriever, config_reranker

    assert config_reranker(config) is None  # the embedded model under auto: never loaded
    hosted = config.model_copy(update={"model": config.model.model_copy(
        update={"provider": "openai"})})
    model = ScriptedChatModel(responses=["3, 1"])
    monkeypatch.setattr("tooldeck.models.get_chat_model", lambda *_: model)
    assert config_reranker(hosted) is model
    plain = IndexRetriever(config=config, index_name="api", k=3).invoke("create a session")
    ranked = IndexRetriever(config=config, index_name="api", k=3,
                            reranker=config_reranker(hosted)).invoke("create a session")
    assert [d.id for d in ranked] == [plain[2].id, plain[0].id, plain[1].id]

    def missing(*_: Any) -> Any:
        raise MissingAPIKeyError("provider 'openai' needs an API key")

    monkeypatch.setattr("tooldeck.models.get_chat_model", missing)
    assert config_reranker(hosted) is None
