"""Every data file the package reads at run time is declared as package data (a wheel has it)."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "tooldeck"


def _patterns() -> list[str]:
    data = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))
    return list(data["tool"]["setuptools"]["package-data"]["tooldeck"])


def test_every_data_file_is_package_data() -> None:
    patterns = _patterns()
    data_files = [
        p.relative_to(PACKAGE) for p in PACKAGE.rglob("*")
        if p.is_file() and p.suffix not in {".py", ".pyc"} and "__pycache__" not in p.parts
    ]
    assert data_files
    missing = [str(f) for f in data_files if not any(f.match(pat) or
               (pat.startswith(f.parts[0] + "/**/") and f.match(pat.split("**/")[-1]))
               for pat in patterns)]
    assert not missing, f"add these to [tool.setuptools.package-data] in pyproject.toml: {missing}"
