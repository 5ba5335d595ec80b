"""The shipped standard tool suite (:class:`tooldeck.testing.ToolStandardTests`) over every tool
the built-in plugin registers, web tools included.

The tools come from a registry built with the default configuration and a scripted chat model
(a tool that calls the model, as summarize does, gets canned text, fast and offline); the
network is blocked by conftest, so network tools run their error paths (``may_fail``).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest

from tooldeck.config import load_config
from tooldeck.plugins import load_plugins
from tooldeck.testing import ToolStandardTests
from tooldeck.tools.registry import build_registry

REPO = Path(__file__).resolve().parents[2]
_SCRIPTED = {
    "provider": "tooldeck.testing:ScriptedChatModel",
    "kwargs": {"responses": ["A short summary."], "repeat_last": True},
}
_OFFLINE = frozenset({"calculator"})  # must succeed with no network and no index


def _config(data_dir: Path) -> Any:
    overrides = {"data_dir": str(data_dir), "model": _SCRIPTED}
    return load_config(REPO / "config.yaml", overrides, environ={}, read_dotenv=False)


def _builtin_names() -> list[str]:
    with tempfile.TemporaryDirectory() as data:
        registry = build_registry(_config(Path(data)), load_plugins(entry_points_enabled=False))
        assert not registry.failed_plugins, registry.failed_plugins
        return registry.names()


@pytest.fixture(scope="module")
def builtin_registry(tmp_path_factory: Any) -> Any:
    config = _config(tmp_path_factory.mktemp("data"))
    return build_registry(config, load_plugins(entry_points_enabled=False))


def test_the_builtin_plugin_loads_whole() -> None:
    names = _builtin_names()
    assert {"calculator", "retriever", "duckduckgo", "web_fetch", "summarize"} <= set(names)


class TestBuiltinTools(ToolStandardTests):
    """Every built-in tool, each with a worked example; only the offline ones must succeed."""

    require_examples = True

    @pytest.fixture(autouse=True, params=_builtin_names())
    def _builtin(self, request: Any, builtin_registry: Any) -> None:
        self.tool = builtin_registry.get(request.param).tool
        self.may_fail = request.param not in _OFFLINE
