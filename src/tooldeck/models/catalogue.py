"""The catalogue of recommended GGUF models and the local model store under ``data_dir``.

Each catalogue entry pins what ``tooldeck models pull`` may accept: the hub ``revision`` (a
commit hash, so the URL never follows a moving branch), the file's ``size`` in bytes (the
download's byte cap) and its ``sha256`` (the Git LFS object id of that file at that revision).
:func:`load_catalogue` refuses an entry whose pins are malformed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from tooldeck.errors import ModelError, ModelNotFoundError

__all__ = [
    "CatalogueEntry",
    "InstalledModel",
    "installed_models",
    "load_catalogue",
    "lookup",
    "models_dir",
]

_SHA256 = re.compile(r"[0-9a-f]{64}")
_REVISION = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class CatalogueEntry:
    """One downloadable model.

    Attributes:
        name: The catalogue name (``tooldeck models pull NAME``).
        description: One line for ``tooldeck models list``.
        repo: The hub repository (``owner/name``).
        file: The file name in the repository.
        sha256: The file's SHA-256 (lower-case hex) at ``revision``; ``None`` when unknown.
        revision: The hub commit the URL is pinned to; ``None`` follows ``main``.
        size: The file's exact size in bytes; ``None`` when unknown (a pull then refuses).
    """

    name: str
    description: str
    repo: str
    file: str
    sha256: str | None
    revision: str | None = None
    size: int | None = None


@dataclass(frozen=True)
class InstalledModel:
    """A GGUF file in the local store."""

    name: str
    path: Path
    size: int
    sha256: str | None


def load_catalogue() -> dict[str, CatalogueEntry]:
    """Read the packaged catalogue.

    Returns:
        Entries by name.

    Raises:
        ModelError: An entry with a malformed hash, revision or size.
    """
    text = resources.files("tooldeck.models").joinpath("catalogue.yaml").read_text("utf-8")
    raw = yaml.safe_load(text) or {}
    return {str(name): _entry(str(name), item) for name, item in raw.items()}


def _entry(name: str, item: dict[str, Any]) -> CatalogueEntry:
    sha256 = _pin(name, "sha256", item.get("sha256"), _SHA256)
    revision = _pin(name, "revision", item.get("revision"), _REVISION)
    size = item.get("size")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size <= 0):
        msg = f"catalogue entry {name!r}: size must be a positive number of bytes, not {size!r}"
        raise ModelError(msg)
    return CatalogueEntry(
        name=name,
        description=str(item["description"]),
        repo=str(item["repo"]),
        file=str(item["file"]),
        sha256=sha256,
        revision=revision,
        size=size,
    )


def _pin(name: str, key: str, value: Any, pattern: re.Pattern[str]) -> str | None:
    if value is None:
        return None
    text = str(value).strip().lower()
    if not pattern.fullmatch(text):
        msg = f"catalogue entry {name!r}: {key} {value!r} is not {pattern.pattern}"
        raise ModelError(msg)
    return text


def lookup(name: str) -> CatalogueEntry:
    """Find a catalogue entry.

    Args:
        name: The catalogue name.

    Returns:
        The entry.

    Raises:
        ModelNotFoundError: Unknown name; the message lists the known ones.
    """
    catalogue = load_catalogue()
    if name not in catalogue:
        known = ", ".join(sorted(catalogue))
        msg = f"unknown model {name!r}; known models: {known}"
        raise ModelNotFoundError(msg)
    return catalogue[name]


def models_dir(data_dir: Path) -> Path:
    """Return the folder that holds pulled models."""
    return data_dir / "models"


def installed_models(data_dir: Path) -> list[InstalledModel]:
    """List the GGUF files in the local store, with their verified hash when recorded.

    Args:
        data_dir: The configured data directory.

    Returns:
        Installed models, sorted by name.
    """
    folder = models_dir(data_dir)
    by_file = {entry.file: entry.name for entry in load_catalogue().values()}
    found = []
    for path in sorted(folder.glob("*.gguf")) if folder.is_dir() else []:
        sidecar = path.with_suffix(path.suffix + ".sha256")
        digest = sidecar.read_text("utf-8").strip() if sidecar.is_file() else None
        name = by_file.get(path.name, path.stem)
        found.append(InstalledModel(name, path, path.stat().st_size, digest))
    return found
