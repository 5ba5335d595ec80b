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
