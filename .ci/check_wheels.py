"""CI check: the default install (`pip install .`, no extras) takes only prebuilt wheels.

A source-only dependency would make every install of tooldeck need a C compiler. pip resolves
the default install without installing it (`--dry-run --report`); every package it would take,
except tooldeck itself, must come from a wheel.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def main() -> int:
    """Resolve the default install and fail if any dependency would be built from source."""
    repo = Path(__file__).resolve().parent.parent
    out = subprocess.run(  # noqa: S603 (fixed argv: this interpreter, pip, the repo)
        [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
         "--report", "-", str(repo)],
        check=True, capture_output=True, text=True,
    ).stdout
    report = json.loads(out)
    sources = []
    for item in report["install"]:
        name = item["metadata"]["name"]
        url = item["download_info"]["url"]
        if name == "tooldeck":
            continue
        if not url.split("#")[0].endswith(".whl"):
            sources.append(f"{name} {item['metadata']['version']} ({url})")
    if sources:
        print("the default install would build these from source (move them to an extra):")
        print("\n".join(f"  {s}" for s in sources))
        return 1
    print(f"default install: {len(report['install']) - 1} dependencies, all wheels")
    return 0


if __name__ == "__main__":
    sys.exit(main())
