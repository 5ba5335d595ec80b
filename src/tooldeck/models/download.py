"""``tooldeck models pull``: the one place where a model file is accepted into the local store.

A file is renamed into ``data_dir/models`` only when its SHA-256 equals a hash the user can
trace. The rules, against a hub that may be hostile:

* **Transport**: :func:`tooldeck.tools.net.stream` only, so every hop passes the SSRF guard
  (a redirect to a private, loopback or metadata address is refused before connecting) and at
  most 5 redirects are followed. The URL pins the catalogue's ``revision``.
* **Size**: the catalogue's ``size`` is the cap; one byte more is refused. An entry without a
  size is refused.
* **Time**: a stall timeout on every read (:data:`STALL_TIMEOUT_S`) and an overall deadline of
  ``max(600 s, size / 256 KiB/s)`` (:func:`download_timeouts`).
* **Hash**: the expected SHA-256 is the catalogue's pin or ``--sha256`` (both, if given, must
  agree). With neither, the pull is refused before any connection unless the user passes
  ``--trust-hub-hash``: the ``X-Linked-Etag`` header is then trusted only when no hop of the
  download left the hub's own origin; a hash sent by a host the download was redirected to is
  never used. (huggingface.co redirects LFS files to a CDN, so there ``--trust-hub-hash``
  refuses and ``--sha256`` is the way.)
* **Partial files**: the bytes go to ``FILE.part``; a later pull resumes with ``Range``. The
  ``.part`` is kept only after an interruption worth resuming (connection refused or dropped, a
  stalled read, 429/5xx after retries). Every refusal deletes it: hash mismatch, too large,
  overall deadline, blocked or too many redirects, a wrong ``Content-Range``, any other 4xx.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from tooldeck.errors import (
    BlockedAddressError,
    ContentTypeError,
    DownloadError,
    HashMismatchError,
    HTTPStatusError,
    NetworkError,
    NetworkTimeoutError,
    ResponseTooLargeError,
    TooManyRedirectsError,
)
from tooldeck.models.catalogue import CatalogueEntry, models_dir

if TYPE_CHECKING:
    from tooldeck.tools.net import NetPolicy, StreamedResponse, Timeouts

__all__ = [
    "HUB_URL_ENV",
    "MIN_DEADLINE_S",
    "MIN_THROUGHPUT",
    "STALL_TIMEOUT_S",
    "download_timeouts",
    "file_sha256",
    "hub_url",
    "pull",
]

HUB_URL_ENV = "TOOLDECK_HUB_URL"
MIN_DEADLINE_S = 600.0
"""The overall deadline is never shorter than this."""
MIN_THROUGHPUT = 256 * 1024
"""Bytes per second a download must average (the deadline is ``size / MIN_THROUGHPUT``)."""
STALL_TIMEOUT_S = 30.0
"""Longest wait for the next bytes from the hub (connect, and every read)."""

_DEFAULT_HUB = "https://huggingface.co"
_CHUNK = 1 << 20
_HEX64 = re.compile(r"[0-9a-f]{64}")
_REFUSALS = (BlockedAddressError, TooManyRedirectsError, ResponseTooLargeError, ContentTypeError)

Progress = Callable[[int, int | None], None]


def file_sha256(path: Path) -> str:
    """Return the hex SHA-256 of a file."""
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def download_timeouts(size: int) -> Timeouts:
    """The time limits of a download of ``size`` bytes.

    Args:
        size: The file's size in bytes.

    Returns:
        :data:`STALL_TIMEOUT_S` for connecting and for each read; an overall deadline of
        ``max(MIN_DEADLINE_S, size / MIN_THROUGHPUT)`` seconds.
    """
    from tooldeck.tools.net import Timeouts

    total = max(MIN_DEADLINE_S, size / MIN_THROUGHPUT)
    return Timeouts(connect_s=STALL_TIMEOUT_S, read_s=STALL_TIMEOUT_S, total_s=total)


def hub_url(entry: CatalogueEntry) -> str:
    """The download URL: ``$TOOLDECK_HUB_URL`` (default huggingface.co), pinned to the revision."""
    hub = os.environ.get(HUB_URL_ENV, _DEFAULT_HUB).rstrip("/")
    return f"{hub}/{entry.repo}/resolve/{entry.revision or 'main'}/{entry.file}"


@dataclass
class _Job:
    """One pull: where the bytes come from and go, and what they must be."""

    entry: CatalogueEntry
    url: str
    part: Path
    size: int
    expected: str | None
    progress: Progress | None
    timeouts: Timeouts
    policy: NetPolicy | None


def pull(
    entry: CatalogueEntry,
    data_dir: Path,
    *,
    progress: Progress | None = None,
    sha256: str | None = None,
    trust_hub_hash: bool = False,
    timeouts: Timeouts | None = None,
    policy: NetPolicy | None = None,
) -> Path:
    """Download a catalogue model into ``data_dir/models``, resuming a partial file.

    Args:
        entry: The catalogue entry.
        data_dir: The configured data directory.
        progress: Called with (bytes so far, total bytes).
        sha256: The expected SHA-256 given by the user (``--sha256``); must agree with the
            catalogue's pin when the entry has one.
        trust_hub_hash: For an entry with no pinned hash and no ``sha256``: accept the hub's
            ``X-Linked-Etag``, only from the hub's own origin (``--trust-hub-hash``).
        timeouts: Time limits; :func:`download_timeouts` of the entry's size by default.
        policy: The HTTP client's policy (tests shorten retries); the production default.

    Returns:
        The verified file's path.

    Raises:
        DownloadError: Refused (no hash or size to check against, too large, deadline passed,
            a blocked redirect, an HTTP error) or interrupted (run again to resume); the
            message says which.
        HashMismatchError: The file's SHA-256 is not the expected one (nothing is kept).
    """
    expected = _expected_hash(entry, sha256, trust_hub_hash)
    folder = models_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / entry.file
    sidecar = folder / (entry.file + ".sha256")
    if final.is_file() and sidecar.is_file():
        recorded = sidecar.read_text("utf-8").strip()
        if expected is None or recorded == expected:
            return final
    if entry.size is None:
        msg = f"the catalogue gives no size for {entry.name}; refusing an unbounded download"
        raise DownloadError(msg)
    job = _Job(
        entry=entry,
        url=hub_url(entry),
        part=folder / (entry.file + ".part"),
        size=entry.size,
        expected=expected,
        progress=progress,
        timeouts=timeouts or download_timeouts(entry.size),
        policy=policy,
    )
    expected = _download(job) or expected
    if expected is None:  # a complete .part (416) with no hash but the hub's
        raise _refused(job, "no SHA-256 to verify the finished file against")
    _install(job, expected, final, sidecar)
    return final


def _expected_hash(entry: CatalogueEntry, given: str | None, trust_hub_hash: bool) -> str | None:
    """The hash the file must have, or ``None`` when the (first-origin) hub header may say."""
    pinned = entry.sha256.strip().lower() if entry.sha256 else None
    wanted = given.strip().lower() if given else None
    for label, value in (("the catalogue's sha256", pinned), ("--sha256", wanted)):
        if value is not None and not _HEX64.fullmatch(value):
            msg = f"{label} for {entry.name} is not 64 hex digits: {value!r}"
            raise DownloadError(msg)
    if pinned and wanted and pinned != wanted:
        msg = (
            f"--sha256 {wanted} conflicts with the catalogue's pinned SHA-256 {pinned} "
            f"for {entry.name} (revision {entry.revision}); refusing"
        )
        raise DownloadError(msg)
    if pinned or wanted or trust_hub_hash:
        return pinned or wanted
    msg = (
        f"no SHA-256 is pinned for {entry.name}; refusing to download a file nothing can "
        "verify. Pass --sha256 HEX (from the file page on the hub), or --trust-hub-hash to "
        "accept the hub's own hash header"
    )
    raise DownloadError(msg)


def _download(job: _Job) -> str | None:
    """Fetch the rest of the file into ``job.part``; the trusted hub hash, if one was used."""
    from tooldeck.tools.net import stream

    have = _resume_point(job)
    headers = {"Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    started = time.monotonic()
    try:
        with stream(
            job.url, headers=headers, policy=job.policy, max_bytes=job.size, timeout=job.timeouts
        ) as response:
            have = _start_offset(job, response, have)
            hub_hash = _hub_hash(job, response)
            have = _write(job, response, have)
    except HTTPStatusError as exc:
        if exc.status == 416 and have:
            return None  # the .part is already complete: verify it
        if exc.status == 429 or exc.status >= 500:
            raise _interrupted(job, exc) from exc
        raise _refused(job, str(exc)) from exc
    except _REFUSALS as exc:
        raise _refused(job, str(exc)) from exc
    except NetworkTimeoutError as exc:
        total = job.timeouts.total_s
        if total is not None and time.monotonic() - started >= total:
            raise _refused(job, f"not finished within the deadline of {total:g} s") from exc
        raise _interrupted(job, exc) from exc  # a stalled read: resumable
    except NetworkError as exc:
        raise _interrupted(job, exc) from exc
    except OSError as exc:
        msg = f"cannot write {job.part}: {exc}; free some space and run the same command again"
        raise DownloadError(msg) from exc
    if have < job.size:  # the body ended early without a length to say so
        raise _interrupted(job, NetworkError(f"the body ended at byte {have} of {job.size}"))
    return hub_hash


def _resume_point(job: _Job) -> int:
    """Bytes already in the ``.part`` file; a ``.part`` longer than the file is dropped."""
    have = job.part.stat().st_size if job.part.is_file() else 0
    if have > job.size:
        job.part.unlink()
        return 0
    return have


def _start_offset(job: _Job, response: StreamedResponse, have: int) -> int:
    """Where the response's body starts in the file: 0 for a 200, ``have`` for a fitting 206.

    Raises:
        DownloadError: The declared length or range does not fit the catalogue's size.
    """
    if response.status == 206:
        declared = response.headers.get("content-range", "")
        match = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+|\*)", declared.strip())
        if not match or int(match[1]) != have or match[3] not in ("*", str(job.size)):
            why = f"the hub answered Range bytes={have}- with Content-Range {declared!r}"
            raise _refused(job, why)
        return have
    if response.status != 200:
        raise _refused(job, f"unexpected HTTP {response.status} from {_shown(response.url)}")
    length = response.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) != job.size:
        raise _refused(job, f"the hub's file is {length} bytes, the catalogue's {job.size}")
    return 0


def _hub_hash(job: _Job, response: StreamedResponse) -> str | None:
    """The hub's ``X-Linked-Etag``, when it is needed and every hop stayed on the hub's origin.

    Raises:
        DownloadError: The hash is needed but absent, malformed, or sent by another origin.
    """
    if job.expected is not None:
        return None  # a pinned or user-given hash: headers are never consulted
    origin = _origin(job.url)
    foreign = [u for u in (*response.redirects, response.url) if _origin(u) != origin]
    if foreign:
        why = (
            f"the download was redirected to {_shown(foreign[-1])}; a hash header from any host "
            f"but {origin[1]} is not trusted. Pass --sha256 HEX"
        )
        raise _refused(job, why)
    raw = (response.headers.get("x-linked-etag") or "").strip().strip('"').lower()
    if not _HEX64.fullmatch(raw):
        raise _refused(job, "the hub sent no SHA-256 (X-Linked-Etag) to verify against")
    return raw


def _write(job: _Job, response: StreamedResponse, have: int) -> int:
    """Append (206) or write (200) the body, refusing it past the catalogue's size.

    Returns:
        The ``.part`` file's length afterwards.
    """
    with job.part.open("ab" if have else "wb") as fh:
        for block in response.iter_bytes():
            if have + len(block) > job.size:
                raise _refused(job, f"the hub sent more than the catalogue's {job.size} bytes")
            fh.write(block)
            have += len(block)
            if job.progress is not None:
                job.progress(have, job.size)
    return have


def _install(job: _Job, expected: str, final: Path, sidecar: Path) -> None:
    """Rename the ``.part`` into place when its SHA-256 is ``expected``; else delete it."""
    actual = file_sha256(job.part)
    if actual != expected:
        job.part.unlink(missing_ok=True)
        msg = f"{job.entry.file}: SHA-256 {actual} does not match the expected {expected}; deleted"
        raise HashMismatchError(msg)
    job.part.replace(final)
    sidecar.write_text(actual + "\n", "utf-8")


def _refused(job: _Job, why: str) -> DownloadError:
    """Delete the ``.part`` and describe the refusal."""
    job.part.unlink(missing_ok=True)
    why = why.removeprefix("refused ")  # the HTTP client's messages say it already
    return DownloadError(f"download of {job.entry.name} refused: {why}; nothing was kept")


def _interrupted(job: _Job, exc: Exception) -> DownloadError:
    kept = job.part.stat().st_size if job.part.is_file() else 0
    msg = (
        f"download of {job.entry.name} interrupted after {kept} bytes ({exc}); "
        "run the same command again to resume"
    )
    return DownloadError(msg)


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return (
        scheme,
        (parts.hostname or "").lower(),
        parts.port or {"http": 80, "https": 443}.get(scheme),
    )


def _shown(url: str) -> str:
    """A URL for messages: scheme, host and path, no query (signed CDN URLs carry tokens)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"
