"""Prompt templates, kept as YAML package data and loaded with ``importlib.resources``."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from tooldeck.errors import ConfigError

__all__ = ["load_template", "render"]


@lru_cache(maxsize=32)
def load_template(name: str) -> dict[str, Any]:
    """Read ``templates/NAME.yaml``.

    Args:
        name: The template's file stem, such as ``react``.

    Returns:
        The template's mapping of parts.

    Raises:
        ConfigError: No such template.
    """
    file = resources.files("tooldeck.prompts").joinpath("templates", f"{name}.yaml")
    if not file.is_file():
        msg = f"prompt template {name!r} not found in tooldeck/prompts/templates"
        raise ConfigError(msg)
    data = yaml.safe_load(file.read_text("utf-8"))
    if not isinstance(data, dict):
        msg = f"prompt template {name!r} must be a mapping"
        raise ConfigError(msg)
    return data


def render(text: str, **values: str) -> str:
    """Fill ``{name}`` slots with plain replacement (braces elsewhere are left alone)."""
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text
