"""Output to a reader that went away (`tooldeck ... | head`) ends quietly, with no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_closed_stdout_ends_quietly(tmp_path: Path) -> None:
    env = {**os.environ, "TOOLDECK_DATA_DIR": str(tmp_path)}
    proc = subprocess.Popen(  # noqa: S603 (fixed argv)
        [sys.executable, "-m", "tooldeck", "config", "show", "--config",
         str(REPO / "config.yaml")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=tmp_path,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # before the child has written anything: every write fails with EPIPE
    with proc.stderr:
        stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141
    assert stderr == "", stderr
