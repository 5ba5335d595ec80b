"""`tooldeck tools list` stays light: listing every built-in tool imports neither LangChain nor
LangSmith nor any library a tool needs only when it runs (:data:`HEAVY_LIBRARIES`; see
bench/cold_start.py for the timing)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tooldeck.testing import HEAVY_LIBRARIES, RUN_ONLY_LIBRARIES

REPO = Path(__file__).resolve().parent.parent
BUILTIN = {
    "calculator", "retriever", "duckduckgo", "serper", "serpapi", "web_fetch", "summarize",
    "wikipedia", "youtube",
}  # fmt: skip
ARGUMENT_MODELS = "tooldeck.tools.builtin.arguments"  # read only by --json and by builds

# What `tools list` does, through the CLI itself, then which watched libraries were imported.
CODE = """
import contextlib, io, json, sys
from tooldeck.cli import main

out = io.StringIO()
with contextlib.redirect_stdout(out):
    code = main(["--config", sys.argv[1], *sys.argv[3:]])
heavy = [name for name in json.loads(sys.argv[2]) if name in sys.modules]
print(json.dumps({"exit": code, "stdout": out.getvalue(), "heavy": heavy}))
"""


def _list(tmp_path: Path, *args: str, watch: tuple[str, ...] = HEAVY_LIBRARIES) -> dict[str, object]:
    env = {**os.environ, "TOOLDECK_NO_ENTRY_POINTS": "1", "TOOLDECK_DATA_DIR": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", CODE, str(REPO / "config.yaml"), json.dumps(watch),
         "tools", "list", *args],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120, check=True,
    )  # fmt: skip
    report: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["exit"] == 0, out.stderr
    return report


def test_tools_list_imports_no_langchain_and_no_tool_library(tmp_path: Path) -> None:
    report = _list(tmp_path, watch=(*HEAVY_LIBRARIES, ARGUMENT_MODELS))
    listed = str(report["stdout"])
    assert all(name in listed for name in BUILTIN), listed
    assert report["heavy"] == [], f"imported while only listing tools: {report['heavy']}"


def test_tools_list_json_gives_every_schema_without_langchain(tmp_path: Path) -> None:
    report = _list(tmp_path, "--json")
    rows = {row["name"]: row for row in json.loads(str(report["stdout"]))}
    assert BUILTIN <= set(rows)
    assert rows["web_fetch"]["availability"] == "available"
    assert rows["calculator"]["args_schema"]["required"] == ["expression"]
    assert rows["retriever"]["kind"] == "search"
    assert report["heavy"] == [], f"imported while only listing tools: {report['heavy']}"



# Building every tool (what an agent does before it runs) imports no library a tool needs only
# when it runs.
BUILD = """
import json, sys
from tooldeck.config import load_config
from tooldeck.tools.registry import build_registry

config = load_config(sys.argv[1], {"data_dir": sys.argv[2]}, environ={}, read_dotenv=False)
registry = build_registry(config)
built = sorted(entry.tool.name for entry in registry.entries())
heavy = [name for name in json.loads(sys.argv[3]) if name in sys.modules]
print(json.dumps({"built": built, "heavy": heavy}))
"""


def test_building_every_builtin_tool_imports_no_tool_library(tmp_path: Path) -> None:
    env = {**os.environ, "TOOLDECK_NO_ENTRY_POINTS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", BUILD, str(REPO / "config.yaml"), str(tmp_path),
         json.dumps(RUN_ONLY_LIBRARIES)],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120, check=True,
    )  # fmt: skip
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert BUILTIN <= set(report["built"]), report["built"]
    assert report["heavy"] == [], f"imported while building tools: {report['heavy']}"
