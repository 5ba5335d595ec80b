"""``python -m tooldeck``."""

from __future__ import annotations

from tooldeck.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
