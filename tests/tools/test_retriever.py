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
    open_index(config, "extra", create=True).close()
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
