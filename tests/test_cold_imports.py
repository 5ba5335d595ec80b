"""`tooldeck tools list` stays light: building every built-in tool imports none of the
libraries the tools need only when they run (see bench/cold_start.py for the timing)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HEAVY = (
    "httpx",
    "trafilatura",
    "ddgs",
    "youtube_transcript_api",
    "lxml",
    "chromadb",
    "numpy",
    "xllamacpp",
    "llguidance",
)
BUILTIN = {
    "calculator", "retriever", "duckduckgo", "serper", "serpapi", "web_fetch", "summarize",
    "wikipedia", "youtube",
}  # fmt: skip

# What `tools list` does: build the registry and ask every tool whether it can run here.
CODE = """
import json, sys
from tooldeck.config import load_config
from tooldeck.tools.registry import build_registry

config = load_config(sys.argv[1], {"data_dir": sys.argv[2]}, environ={}, read_dotenv=False)
registry = build_registry(config)
availability = {name: registry.get(name).availability for name in registry.names()}
heavy = [name for name in json.loads(sys.argv[3]) if name in sys.modules]
print(json.dumps({"tools": availability, "heavy": heavy}))
"""


def test_building_every_builtin_tool_imports_no_heavy_library(tmp_path: Path) -> None:
    env = {**os.environ, "TOOLDECK_NO_ENTRY_POINTS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", CODE, str(REPO / "config.yaml"), str(tmp_path), json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
        check=True,
    )
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert BUILTIN <= set(report["tools"]), report["tools"]
    assert report["tools"]["web_fetch"] == "available"
    assert report["heavy"] == [], f"imported while only listing tools: {report['heavy']}"
