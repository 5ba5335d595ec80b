"""The catalogue of recommended GGUF models and the local model store under ``data_dir``."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from tooldeck.errors import ModelNotFoundError

__all__ = [
    "CatalogueEntry",
    "InstalledModel",
    "installed_models",
    "load_catalogue",
    "lookup",
    "models_dir",
]


@dataclass(frozen=True)
class CatalogueEntry:
    """One downloadable model."""

    name: str
    description: str
    repo: str
    file: str
    sha256: str | None


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
    """
    text = resources.files("tooldeck.models").joinpath("catalogue.yaml").read_text("utf-8")
    raw = yaml.safe_load(text) or {}
    return {
        name: CatalogueEntry(
            name=name,
            description=str(item["description"]),
            repo=str(item["repo"]),
            file=str(item["file"]),
            sha256=item.get("sha256"),
        )
        for name, item in raw.items()
    }


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
