"""Built-in web tool module (being built: registers nothing yet)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tooldeck.plugins import Register

if TYPE_CHECKING:
    from tooldeck.config import Config

__all__ = ["register_into"]


def register_into(register: Register, config: Config | None) -> None:
    """Register this module's tools (none yet)."""
