"""The catalogue of recommended models and the local model store under ``data_dir``.

Each catalogue entry pins what ``tooldeck models pull`` may accept: the hub ``revision`` (a
commit hash, so the URL never follows a moving branch), the file's ``size`` in bytes (the
download's byte cap) and its ``sha256`` (the Git LFS object id of that file at that revision).
:func:`load_catalogue` refuses an entry whose pins are malformed.

Chat models are one GGUF file (``kind: chat``). An embedding model (``kind: embeddings``) is a
sentence-transformers folder: its main ``file`` and the further ``files`` are downloaded with
the same pins (:mod:`tooldeck.models.folders`), and the small sentence-transformers settings
files whose content is fixed (``settings``: modules, pooling, sequence length) are written from
the catalogue rather than downloaded unverified.
"""

from __future__ import annotations

import json
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
_KINDS = ("chat", "embeddings")
# A downloaded file's name: flat, no path separator (it is stored beside the others).
_FILE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
# A settings file's path: at most one folder level, e.g. 1_Pooling/config.json.
_SETTINGS_PATH = re.compile(r"(?:[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}/)?[A-Za-z0-9_][A-Za-z0-9_.-]*")


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
        kind: ``chat`` (a GGUF file) or ``embeddings`` (a sentence-transformers folder).
        files: An embedding model's further files: (name, size, sha256) at ``revision``.
        settings: An embedding model's settings files: (relative path, JSON text).
    """

    name: str
    description: str
    repo: str
    file: str
    sha256: str | None
    revision: str | None = None
    size: int | None = None
    kind: str = "chat"
    files: tuple[tuple[str, int, str], ...] = ()
    settings: tuple[tuple[str, str], ...] = ()


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
    kind = str(item.get("kind", "chat"))
    if kind not in _KINDS:
        msg = f"catalogue entry {name!r}: kind must be one of {', '.join(_KINDS)}, not {kind!r}"
        raise ModelError(msg)
    return CatalogueEntry(
        name=name,
        description=str(item["description"]),
        repo=str(item["repo"]),
        file=str(item["file"]),
        sha256=sha256,
        revision=revision,
        size=size,
        kind=kind,
        files=_files(name, item.get("files") or {}),
        settings=_settings(name, item.get("settings") or {}),
    )


def _files(name: str, raw: Any) -> tuple[tuple[str, int, str], ...]:
    """Further files: every one needs a flat name, a size and a SHA-256 (no unpinned extras)."""
    if not isinstance(raw, dict):
        msg = f"catalogue entry {name!r}: files must map a file name to its size and sha256"
        raise ModelError(msg)
    out: list[tuple[str, int, str]] = []
    for file, pins in raw.items():
        size: Any = pins.get("size") if isinstance(pins, dict) else None
        digest = _pin(name, f"sha256 of {file}", pins.get("sha256") if isinstance(pins, dict)
                      else None, _SHA256)
        bad_size = isinstance(size, bool) or not isinstance(size, int) or size <= 0
        if not _FILE_NAME.fullmatch(str(file)) or bad_size or digest is None:
            msg = (f"catalogue entry {name!r}: file {file!r} needs a flat name, a positive "
                   "size and a sha256")
            raise ModelError(msg)
        out.append((str(file), size, digest))
    return tuple(out)


def _settings(name: str, raw: Any) -> tuple[tuple[str, str], ...]:
    """Settings files written from the catalogue: a relative path and its JSON content."""
    if not isinstance(raw, dict):
        msg = f"catalogue entry {name!r}: settings must map a relative path to its JSON content"
        raise ModelError(msg)
    out = []
    for path, content in raw.items():
        if not _SETTINGS_PATH.fullmatch(str(path)) or ".." in str(path):
            msg = f"catalogue entry {name!r}: settings path {path!r} is not a plain relative path"
            raise ModelError(msg)
        out.append((str(path), json.dumps(content, indent=2) + "\n"))
    return tuple(out)


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
