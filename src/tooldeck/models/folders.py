"""Pull an embedding model's folder: every file through the one verified download path.

An ``embeddings`` catalogue entry (:mod:`tooldeck.models.catalogue`) names its main file and
further files, each with the pinned revision, size and SHA-256. Each is fetched by
:func:`tooldeck.models.download.pull` (resumable, size-capped, hash-checked, SSRF-guarded) into
a staging folder, ``data_dir/models/.NAME.pull``; when all of them are verified they move into
``data_dir/models/NAME`` with the settings files the catalogue writes, so the folder is either
complete or absent. Running the same pull again resumes where it stopped.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from tooldeck.errors import DownloadError
from tooldeck.models.catalogue import CatalogueEntry, models_dir

__all__ = ["folder_complete", "pull_folder"]

Progress = Callable[[str, int, int | None], None]


def _files(entry: CatalogueEntry) -> list[tuple[str, int | None, str | None]]:
    """The main file and the further files: (name, size, sha256)."""
    return [(entry.file, entry.size, entry.sha256), *entry.files]


def folder_complete(entry: CatalogueEntry, folder: Path) -> bool:
    """Whether ``folder`` holds every file of ``entry`` with its recorded, expected hash."""
    for name, _, digest in _files(entry):
        sidecar = folder / f"{name}.sha256"
        if not (folder / name).is_file() or not sidecar.is_file():
            return False
        if digest is not None and sidecar.read_text("utf-8").strip() != digest:
            return False
    return all((folder / path).is_file() for path, _ in entry.settings)


def pull_folder(
    entry: CatalogueEntry,
    data_dir: Path,
    *,
    progress: Progress | None = None,
    sha256: str | None = None,
    trust_hub_hash: bool = False,
) -> Path:
    """Download and verify every file of an ``embeddings`` entry; returns the model folder.

    Args:
        entry: An ``embeddings`` catalogue entry.
        data_dir: The configured data directory.
        progress: Called with (file name, bytes so far, total bytes).
        sha256: ``--sha256`` for the main file (must agree with a pinned one).
        trust_hub_hash: ``--trust-hub-hash`` for the main file when it has no pinned hash.

    Returns:
        ``data_dir/models/NAME``, a sentence-transformers folder for ``embeddings.name``.

    Raises:
        DownloadError: Not an embeddings entry, or a file's download was refused or
            interrupted (run again to resume).
        HashMismatchError: A file's SHA-256 is not the pinned one (nothing of it is kept).
    """
    from tooldeck.models.download import pull

    if entry.kind != "embeddings":
        msg = f"{entry.name} is a {entry.kind} model, not an embedding model folder"
        raise DownloadError(msg)
    target = models_dir(data_dir) / entry.name
    if folder_complete(entry, target):
        return target
    staging = models_dir(data_dir) / f".{entry.name}.pull"
    for name, size, digest in _files(entry):
        main = name == entry.file
        part = dataclasses.replace(entry, file=name, size=size, sha256=digest, files=(),
                                   settings=())

        def update(done: int, total: int | None, name: str = name) -> None:
            if progress is not None:
                progress(name, done, total)

        pull(part, staging, progress=update, sha256=sha256 if main else None,
             trust_hub_hash=trust_hub_hash and main)
    _install(entry, models_dir(staging), target)
    shutil.rmtree(staging, ignore_errors=True)
    return target


def _install(entry: CatalogueEntry, pulled: Path, target: Path) -> None:
    """Move the verified files and write the settings files, then publish the folder."""
    building = target.with_name(f".{target.name}.new")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    for name, _, _ in _files(entry):
        for suffix in ("", ".sha256"):
            os.replace(pulled / f"{name}{suffix}", building / f"{name}{suffix}")
    for path, content in entry.settings:
        file = building / path
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(content, "utf-8")
    if target.exists():
        shutil.rmtree(target)
    os.replace(building, target)
