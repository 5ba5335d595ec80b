"""The real embedded model through `tooldeck run --json`: well-formed steps, calculator used."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "question", ["What is 17 * 23?", "How much is 1234 + 4321?", "What is 2 + 2?"]
)
def test_tooldeck_run_on_the_embedded_model(question: str, tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "tooldeck", "run", "--json", question],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
        env={"PATH": "/usr/bin:/bin", "TOOLDECK_DATA_DIR": str(tmp_path), "HOME": str(tmp_path)},
    )
    assert out.returncode in (0, 1), out.stderr
    assert "Traceback" not in out.stderr
    data = json.loads(out.stdout)
    assert data["model"] == "local:SmolLM2-135M-Instruct-Q4_1"
    assert data["steps"], "the model should have called a tool"
    for step in data["steps"]:
        assert set(step) == {"thought", "tool", "tool_input", "observation"}
        assert step["tool"] == "calculator"  # grammar: only offered tools can be named
        assert isinstance(step["tool_input"], dict) and set(step["tool_input"]) == {"expression"}
        assert step["thought"]
    assert any(not s["observation"].startswith("Error") for s in data["steps"])
    assert data["answer"]
