"""Standard tests for the retriever tool, over a small built index."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tooldeck.config import load_config
from tooldeck.rag import open_index
from tooldeck.testing import ToolStandardTests
from tooldeck.tools.builtin.retriever import retriever_tools

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def index_config(tmp_path_factory: Any) -> Any:
    data = tmp_path_factory.mktemp("data")
    config = load_config(REPO / "config.yaml", {"data_dir": str(data)}, environ={},
                         read_dotenv=False)
    index = open_index(config, "docs", create=True)
    index.update([REPO / "tests" / "fixtures" / "api"], config.rag.index("docs"))
    index.close()
    extra = open_index(config, "extra", create=True)
    extra.update([REPO / "tests" / "fixtures" / "api" / "guide.md"], config.rag.index("extra"))
    extra.close()
    return config


class TestRetrieverStandard(ToolStandardTests):
    valid_input = {"query": "create a new session"}

    @pytest.fixture(autouse=True)
    def _tool(self, index_config: Any) -> None:
        tools = {t.name: t for t in retriever_tools(index_config)}
        assert set(tools) == {"retriever", "retriever_extra"}
        type(self).tool = tools["retriever"]

    @staticmethod
    def check_output(out: str) -> bool:
        return out.startswith("[1] ") and "source: " in out and "POST /session" in out


def test_registered_through_the_builtin_plugin(index_config: Any) -> None:
    from tooldeck.tools.registry import build_registry

    registry = build_registry(index_config)
    assert {"retriever", "retriever_extra"} <= set(registry.names())
    assert registry.get("retriever").plugin == "builtin"


def test_a_retriever_without_its_index_needs_it(config: Any) -> None:
    from tooldeck.tools.registry import build_registry

    registry = build_registry(config)  # a fresh data_dir: no index built
    entry = registry.get("retriever")
    assert entry.availability == "needs index: run `tooldeck index docs PATH`"
    assert "retriever" not in [t.name for t in registry.select([])]
    assert entry.kind == "search"


def test_a_retriever_with_its_index_is_available(index_config: Any) -> None:
    from tooldeck.tools.registry import build_registry

    registry = build_registry(index_config)
    assert registry.get("retriever").availability == "available"
    assert registry.get("retriever_extra").availability == "available"


def test_the_tool_reranks_with_a_hosted_model(
    index_config: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tooldeck.testing import ScriptedChatModel

    plain = {t.name: t for t in retriever_tools(index_config)}["retriever"].invoke(
        {"query": "create a new session"})
    first, second = plain.split("\n\n")[0], plain.split("\n\n")[1]
    hosted = index_config.model_copy(update={"model": index_config.model.model_copy(
        update={"provider": "openai"})})
    model = ScriptedChatModel(responses=["2, 1"])
    monkeypatch.setattr("tooldeck.models.get_chat_model", lambda *_: model)
    tool = {t.name: t for t in retriever_tools(hosted)}["retriever"]
    out = tool.invoke({"query": "create a new session"})
    assert len(model.calls) == 1 and out.startswith("[1] ")
    assert out.split("\n\n")[0][4:] == second[4:] and out.split("\n\n")[1][4:] == first[4:]


def test_the_tool_does_not_load_the_embedded_model(
    index_config: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(*_: Any) -> Any:
        raise AssertionError("the model was loaded")

    monkeypatch.setattr("tooldeck.models.get_chat_model", refuse)
    tool = {t.name: t for t in retriever_tools(index_config)}["retriever"]
    assert tool.invoke({"query": "create a new session"}).startswith("[1] ")


def test_the_tool_says_when_nothing_is_close(index_config: Any) -> None:
    tool = {t.name: t for t in retriever_tools(index_config)}["retriever"]
    out = tool.invoke({"query": "what is the weather in Paris?"})
    assert out.startswith("No passage in index 'docs' is close to") and "\n\n[1] " in out
    assert not tool.invoke({"query": "create a new session"}).startswith("No passage")
