"""``tooldeck models pull``: resumable, hash-verified download of a catalogue GGUF."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from tooldeck.errors import DownloadError, HashMismatchError
from tooldeck.models.catalogue import CatalogueEntry, models_dir

if TYPE_CHECKING:
    import httpx

__all__ = ["HUB_URL_ENV", "file_sha256", "pull"]

HUB_URL_ENV = "TOOLDECK_HUB_URL"
_DEFAULT_HUB = "https://huggingface.co"
_CHUNK = 1 << 20

Progress = Callable[[int, int | None], None]


def file_sha256(path: Path) -> str:
    """Return the hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _url(entry: CatalogueEntry) -> str:
    hub = os.environ.get(HUB_URL_ENV, _DEFAULT_HUB).rstrip("/")
    return f"{hub}/{entry.repo}/resolve/main/{entry.file}"


def pull(
    entry: CatalogueEntry,
    data_dir: Path,
    *,
    progress: Progress | None = None,
    timeout_s: float = 60.0,
) -> Path:
    """Download a catalogue model into ``data_dir/models``, resuming a partial file.

    The bytes go to ``FILE.part``; a later call continues from its length with an HTTP
    ``Range`` request. Only a file whose SHA-256 matches (the catalogue's, else the hub's
    ``X-Linked-Etag``) is renamed into place; a mismatch deletes the partial file.

    Args:
        entry: The catalogue entry.
        data_dir: The configured data directory.
        progress: Called with (bytes so far, total bytes or None).
        timeout_s: Connect/read timeout per request.

    Returns:
        The verified file's path.

    Raises:
        DownloadError: Network failure or interrupted transfer (run again to resume), or no
            hash is known to verify against.
        HashMismatchError: The file's SHA-256 is not the expected one.
    """
    import httpx

    folder = models_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / entry.file
    if final.is_file() and (folder / (entry.file + ".sha256")).is_file():
        return final
    part = folder / (entry.file + ".part")
    have = part.stat().st_size if part.is_file() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    expected = entry.sha256
    try:
        with httpx.stream(
            "GET", _url(entry), headers=headers, follow_redirects=True, timeout=timeout_s
        ) as resp:
            if resp.status_code == 416 and have:
                pass  # already complete: verify below
            elif resp.status_code not in (200, 206):
                msg = f"download of {entry.name} failed: HTTP {resp.status_code} from {resp.url}"
                raise DownloadError(msg)
            else:
                expected = expected or _hub_hash(resp.headers)
                have = _write(resp, part, have, progress)
    except httpx.HTTPError as exc:
        kept = part.stat().st_size if part.is_file() else 0
        msg = (
            f"download of {entry.name} interrupted after {kept} bytes ({exc}); "
            "run the same command again to resume"
        )
        raise DownloadError(msg) from None
    if not expected:
        msg = f"no SHA-256 is known for {entry.name}; refusing to use an unverified file"
        raise DownloadError(msg)
    actual = file_sha256(part)
    if actual != expected.lower():
        part.unlink(missing_ok=True)
        msg = f"{entry.file}: SHA-256 {actual} does not match the expected {expected}; deleted"
        raise HashMismatchError(msg)
    part.replace(final)
    (folder / (entry.file + ".sha256")).write_text(actual + "\n", "utf-8")
    return final


def _hub_hash(headers: httpx.Headers) -> str | None:
    raw = headers.get("x-linked-etag")
    if not raw:
        return None
    value = str(raw).strip().strip('"')
    return value if len(value) == 64 else None


def _write(resp: httpx.Response, part: Path, have: int, progress: Progress | None) -> int:
    status = resp.status_code
    length = resp.headers.get("content-length")
    if status == 200:
        have = 0  # the server ignored Range: start over
    total = have + int(length) if length else None
    with part.open("ab" if status == 206 else "wb") as fh:
        for block in resp.iter_bytes():
            fh.write(block)
            have += len(block)
            if progress is not None:
                progress(have, total)
    return have
