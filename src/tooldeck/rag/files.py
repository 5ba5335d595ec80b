"""Which files the indexer may read, and reading them: the one place that decides both.

Rules:

- Only regular files are read. FIFOs, sockets and devices are skipped with a warning: a FIFO
  would block a read forever and ``/dev/zero`` never ends. Files are opened with ``O_NONBLOCK``
  and ``O_NOFOLLOW`` and the opened descriptor is checked again, so a file swapped for a FIFO
  or a link after it was listed cannot hang or redirect the read.
- Nothing outside the paths the user named (the roots) is read. A symbolic link inside a walked
  folder must resolve inside one of the roots; a link that leaves them is skipped with a
  warning, and a link to a folder outside them is not walked. ``rag.follow_external_links``
  allows such links (folder loops are still cut), never files under ``/proc`` or ``/sys``.
- A dangling link or a link loop inside a folder is skipped with a warning; it does not stop
  the run. A path named explicitly is a root of its own: when it is a link, the user chose its
  target, which must still be a regular file or a folder.
"""

from __future__ import annotations

import gzip
import io
import logging
import os
import stat
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tooldeck.errors import InputError, LoaderError

if TYPE_CHECKING:
    from tooldeck.config import RagConfig

__all__ = ["TEXT_SUFFIXES", "iter_files", "open_regular", "read_text", "text_suffix"]

log = logging.getLogger(__name__)

TEXT_SUFFIXES = frozenset({".md", ".markdown", ".html", ".htm", ".txt", ".rst", ".json",
                           ".jsonl", ".yaml", ".yml", ".py"})
_SKIP_DIRS = frozenset({".git", ".hg", ".svn", "__pycache__", "node_modules", ".venv", "venv",
                        ".tox", ".mypy_cache", ".ruff_cache", ".pytest_cache", "site-packages",
                        ".tooldeck"})
_PSEUDO_ROOTS = (Path("/proc"), Path("/sys"))
_BLOCK = 1 << 20
_OPEN_FLAGS = (os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0)
               | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0))


def text_suffix(path: Path | str) -> str:
    """The suffix that says how to read a file: ``x.jsonl.gz`` reads as ``.jsonl``."""
    path = Path(path)
    suffix = path.suffix.lower()
    return Path(path.stem).suffix.lower() if suffix == ".gz" else suffix


def _kind(mode: int) -> str:
    """A reader's name for what a non-regular file is."""
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "not a regular file"


def _is_pseudo(path: Path) -> bool:
    return any(path.is_relative_to(root) for root in _PSEUDO_ROOTS)


@dataclass
class _Walk:
    """One ``iter_files`` call: the roots, the rule for links, and what was found."""

    root_dirs: list[Path]
    root_files: set[Path]
    follow_external: bool
    warn: Callable[[str], None]
    found: dict[str, Path] = field(default_factory=dict)
    seen_dirs: set[tuple[int, int]] = field(default_factory=set)
    skipped: dict[str, str] = field(default_factory=dict)

    def inside(self, target: Path) -> bool:
        """Whether a resolved path lies inside one of the roots the user named."""
        return target in self.root_files or any(target.is_relative_to(d) for d in self.root_dirs)

    def skip(self, path: Path | str, reason: str) -> None:
        """Report one skipped entry."""
        self.skipped[str(path)] = reason
        self.warn(f"skipped {path}: {reason}")


def _resolve_root(raw: str | Path) -> tuple[Path, os.stat_result]:
    """The real path and status of a path named by the user.

    Raises:
        InputError: nothing there, or a link to nothing.
    """
    path = Path(raw).expanduser()
    try:
        os.lstat(path)
    except OSError as exc:
        msg = f"{raw}: no such file or directory; give files or folders to index"
        raise InputError(msg) from exc
    try:
        real = Path(os.path.realpath(path, strict=True))
        return real, os.stat(real)
    except (OSError, RuntimeError) as exc:
        msg = f"{raw}: a symbolic link that leads nowhere ({_os_reason(exc)}); give its target"
        raise InputError(msg) from exc


def _os_reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower() if exc.strerror.startswith("Too many") else exc.strerror
    return str(exc)


def iter_files(
    paths: Iterable[str | Path],
    *,
    rag: RagConfig | None = None,
    warn: Callable[[str], None] | None = None,
    skipped: dict[str, str] | None = None,
) -> list[Path]:
    """The regular files under ``paths``, resolved, sorted and without duplicates.

    Folders are walked (hidden and tool folders skipped) for known text suffixes (also gzipped:
    ``api.jsonl.gz``); files named explicitly are included whatever their suffix. Entries that
    must not be read (see the module docstring) are skipped and passed to ``warn``.

    Args:
        paths: files and folders named by the user; these are the roots.
        rag: the ``rag`` settings (``follow_external_links``); the defaults when ``None``.
        warn: receives one message per skipped entry (the module logger when ``None``).
        skipped: when given, filled with each skipped entry and its reason.

    Raises:
        InputError: a path that does not exist, or a named link that leads nowhere.
    """
    follow = rag.follow_external_links if rag is not None else False
    roots = [(raw, *_resolve_root(raw)) for raw in paths]
    walk = _Walk(root_dirs=[real for _, real, st in roots if stat.S_ISDIR(st.st_mode)],
                 root_files={real for _, real, st in roots if not stat.S_ISDIR(st.st_mode)},
                 follow_external=follow, warn=warn or log.warning,
                 skipped=skipped if skipped is not None else {})
    for raw, real, st in roots:
        if stat.S_ISDIR(st.st_mode):
            _walk_tree(walk, real, st)
        elif _is_pseudo(real):
            walk.skip(raw, f"{real} is a kernel pseudo-file, not a document")
        elif not stat.S_ISREG(st.st_mode):
            walk.skip(raw, f"{_kind(st.st_mode)}, not a regular file; only files are read")
        else:
            walk.found[str(real)] = real
    return [walk.found[k] for k in sorted(walk.found)]


def _candidate(name: str) -> bool:
    return not name.startswith(".") and text_suffix(name) in TEXT_SUFFIXES


def _walk_tree(walk: _Walk, top: Path, top_stat: os.stat_result) -> None:
    """Walk one real folder without following links except as :func:`_link` allows."""
    walk.seen_dirs.add((top_stat.st_dev, top_stat.st_ino))
    stack = [top]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError as exc:
            walk.skip(folder, f"the folder cannot be listed ({_os_reason(exc)})")
            continue
        subdirs: list[Path] = []
        for entry in entries:
            if entry.name.startswith(".") or entry.name in _SKIP_DIRS:
                continue
            path = Path(entry.path)
            try:
                if entry.is_symlink():
                    subdirs += _link(walk, path)
                elif entry.is_dir(follow_symlinks=False):
                    subdirs.append(path)
                elif _candidate(entry.name):
                    mode = entry.stat(follow_symlinks=False).st_mode
                    if stat.S_ISREG(mode):
                        walk.found[str(path)] = path
                    else:
                        walk.skip(path, f"{_kind(mode)}, not a regular file; only files are read")
            except OSError as exc:  # removed while walking, or unreadable
                walk.skip(path, f"cannot be examined ({_os_reason(exc)})")
        stack.extend(reversed(subdirs))


def _link(walk: _Walk, path: Path) -> list[Path]:
    """Judge one symbolic link met while walking; returns a folder to walk, if any."""
    try:
        target = Path(os.path.realpath(path, strict=True))
        st = os.stat(target)
    except (OSError, RuntimeError) as exc:
        if _candidate(path.name) or not path.suffix:  # a document, or maybe a folder
            walk.skip(path, f"a symbolic link that leads nowhere ({_os_reason(exc)})")
        return []
    inside = walk.inside(target)
    allowed = inside or (walk.follow_external and not _is_pseudo(target))
    if stat.S_ISDIR(st.st_mode):
        if inside:  # its files are found where they really are
            return []
        if not allowed:
            walk.skip(path, f"a link to the folder {target}, outside the folders being indexed "
                            "(set rag.follow_external_links to follow it)")
            return []
        key = (st.st_dev, st.st_ino)
        if key in walk.seen_dirs:
            return []
        walk.seen_dirs.add(key)
        return [target]
    if not _candidate(path.name):
        return []
    if _is_pseudo(target):
        walk.skip(path, f"a link to {target}, a kernel pseudo-file; never read")
    elif not allowed:
        walk.skip(path, f"a link to {target}, outside the folders being indexed "
                        "(set rag.follow_external_links to read it)")
    elif not stat.S_ISREG(st.st_mode):
        walk.skip(path, f"a link to {_kind(st.st_mode)}, not a regular file; only files are read")
    else:
        walk.found[str(target)] = target
    return []


def open_regular(path: Path) -> io.BufferedReader:
    """Open a regular file for reading, never a link, FIFO or device, and never blocking.

    Raises:
        LoaderError: the path is a link, not a regular file, or cannot be opened.
    """
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        if os.path.islink(path):
            msg = "a symbolic link (it changed since the folder was listed); not read"
            raise LoaderError(msg) from exc
        raise LoaderError(f"cannot be read ({_os_reason(exc)})") from exc
    handle = os.fdopen(fd, "rb")
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        handle.close()
        raise LoaderError(f"{_kind(mode)}, not a regular file; only files are read")
    return handle


def _too_big(size: int, max_bytes: int) -> LoaderError:
    return LoaderError(f"{size / 1e6:.1f} MB is over the {max_bytes / 1e6:.0f} MB limit "
                       "(rag.max_file_mb)")


def _read_up_to(read: Callable[[int], bytes], limit: int) -> bytes:
    """Up to ``limit`` bytes, read in blocks: ``read(limit)`` would allocate ``limit`` at once."""
    blocks: list[bytes] = []
    size = 0
    while size < limit:
        block = read(min(_BLOCK, limit - size))
        if not block:
            break
        blocks.append(block)
        size += len(block)
    return b"".join(blocks)


def _read_bytes(path: Path, max_bytes: int) -> bytes:
    with open_regular(path) as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > max_bytes:
            raise _too_big(size, max_bytes)
        try:
            if path.suffix.lower() != ".gz":
                data = _read_up_to(handle.read, max_bytes + 1)
                if len(data) > max_bytes:  # it grew since fstat
                    raise _too_big(len(data), max_bytes)
                return data
            with gzip.GzipFile(fileobj=handle, mode="rb") as unzipped:
                data = _read_up_to(unzipped.read, max_bytes + 1)
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise LoaderError(f"not a readable gzip file ({exc})") from exc
        except OSError as exc:
            raise LoaderError(f"cannot be read ({_os_reason(exc)})") from exc
    if len(data) > max_bytes:  # a small file can inflate hugely
        raise LoaderError(f"decompresses to over the {max_bytes / 1e6:.0f} MB limit "
                          "(rag.max_file_mb)")
    return data


def read_text(path: Path, max_bytes: int) -> str:
    """Read a UTF-8 text file (gzipped too), refusing big, binary and non-UTF-8 files.

    A NUL byte anywhere in the (decompressed) file marks it binary.

    Raises:
        LoaderError: the reason the file cannot be used.
    """
    data = _read_bytes(path, max_bytes)
    nul = data.find(b"\x00")
    if nul >= 0:
        raise LoaderError(f"binary data (a NUL byte at offset {nul}), not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LoaderError(f"not UTF-8 text (bad byte at offset {exc.start})") from exc
