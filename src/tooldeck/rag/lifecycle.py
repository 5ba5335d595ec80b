"""Index lifecycle: the one module that creates, publishes and deletes index folders.

Layout under ``data_dir/indexes``::

    .locks/NAME.lock     the write lock (flock); outside NAME/ so deleting NAME cannot split it
    NAME/CURRENT         "BUILD STAMP": the published build, replaced atomically (os.replace)
    NAME/builds/BUILD/   one build: index.sqlite and chroma/
    .trash/              folders on their way out

Rules:

- Only the holder of ``NAME.lock`` creates, changes or removes anything under ``NAME/``.
- Readers open the build ``CURRENT`` names and only that one. A new build (a first run, a
  ``--rebuild``, a recovery) is written beside the published one and becomes visible in one
  step, the rename of ``CURRENT``: a reader sees the old build or the new one, never a part.
- ``CURRENT`` is rewritten after every successful write, so :func:`index_generation` changes
  whenever what a reader would see has changed.
- A build that ``CURRENT`` does not name is a leftover: an interrupted or failed run, or the
  build the last publish replaced (kept until the next write so that readers that opened it can
  finish). The next lock holder deletes leftovers (:func:`clean_leftovers`).
- An index exists when ``CURRENT`` names a build holding ``index.sqlite`` and ``chroma/``, or,
  for folders written before builds existed, when ``NAME/`` itself holds both. Anything else is
  not an index: it is not listed, and the next run under the lock clears it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import secrets
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tooldeck.errors import IndexBusyError, IndexCorruptedError, IndexNotFoundError, InputError

__all__ = [
    "IndexInfo", "adopt_legacy", "clean_leftovers", "current_build", "delete_index",
    "describe_indexes", "discard", "index_generation", "index_path", "indexes_root",
    "list_indexes", "new_build", "publish", "published", "write_lock",
]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_CURRENT = "CURRENT"
_BUILDS = "builds"
_SQLITE = "index.sqlite"
_VECTORS = "chroma"
_BUILD_ID = re.compile(r"^[0-9a-f]{1,20}-[0-9a-f]{8}$")
# index.sqlite moves first: a crash half-way leaves no complete index, so nothing inconsistent
_LEGACY_PARTS = (_SQLITE, f"{_SQLITE}-wal", f"{_SQLITE}-shm", _VECTORS)


@dataclass
class IndexInfo:
    """One complete index as ``tooldeck indexes list`` shows it."""

    name: str
    chunks: int | None
    files: int | None
    embeddings: str | None
    updated: float | None
    error: str | None = None


def indexes_root(data_dir: Path) -> Path:
    """The folder that holds every index."""
    return Path(data_dir).expanduser() / "indexes"


def index_path(data_dir: Path, name: str) -> Path:
    """The folder of index ``name``.

    Raises:
        InputError: a name that is not a plain identifier.
    """
    if not _NAME.match(name):
        raise InputError(
            f"index name {name!r} is not allowed; use letters, digits, '_', '-' or '.' "
            "(at most 64 characters, starting with a letter or digit)"
        )
    return indexes_root(data_dir) / name


def _complete(build: Path) -> bool:
    return (build / _SQLITE).is_file() and (build / _VECTORS).is_dir()


def published(folder: Path) -> tuple[Path | None, str | None]:
    """The published, complete build of the index in ``folder`` and its generation token.

    ``(None, None)`` when there is no complete index (nothing, or a half-made folder).
    """
    try:
        pointer = (folder / _CURRENT).read_text("utf-8").strip()
    except (FileNotFoundError, NotADirectoryError):
        pointer = ""
    except (OSError, UnicodeDecodeError) as exc:  # not "absent": never taken as "no index"
        raise IndexCorruptedError(f"cannot read {folder / _CURRENT} ({exc})") from exc
    if pointer:
        build_id = pointer.split()[0]
        build = folder / _BUILDS / build_id
        if _BUILD_ID.match(build_id) and _complete(build):
            return build, pointer
        return None, None
    if not _complete(folder):  # written before builds existed, or half-made
        return None, None
    st = (folder / _SQLITE).stat()
    return folder, f"legacy {st.st_dev}:{st.st_ino}"


def current_build(folder: Path) -> Path | None:
    """The published, complete build of the index in ``folder``; ``None`` when there is none."""
    return published(folder)[0]


def index_generation(data_dir: Path, name: str) -> str | None:
    """A token that changes whenever index ``name`` is written, rebuilt, removed or replaced.

    A long-lived reader (the server) compares it with the token it saw when it opened the
    index, and reopens the index when they differ. ``None`` when no complete index exists.
    """
    return published(index_path(data_dir, name))[1]


def list_indexes(data_dir: Path) -> list[str]:
    """Names of the complete indexes under ``data_dir`` (half-made folders are left out)."""
    root = indexes_root(data_dir)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir()
                  if _NAME.match(p.name) and p.is_dir() and current_build(p) is not None)


def _build_id() -> str:
    return f"{time.time_ns():x}-{secrets.token_hex(4)}"


def new_build(folder: Path) -> Path:
    """Create an empty build folder beside the published one (call under the write lock)."""
    build = folder / _BUILDS / _build_id()
    build.mkdir(parents=True)
    return build


def adopt_legacy(folder: Path) -> None:
    """Move a complete index written before builds existed into a build, and publish it.

    Called under the write lock. Readers that had the old files open keep them; the new
    generation tells them to reopen. A crash half-way leaves no published build, which the next
    run clears and builds anew.
    """
    if current_build(folder) != folder:
        return
    build = new_build(folder)
    for part in _LEGACY_PARTS:
        if (folder / part).exists():
            os.rename(folder / part, build / part)
    publish(folder, build)
    (folder / "lock").unlink(missing_ok=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(folder: Path, build: Path) -> str:
    """Make ``build`` the index readers open, in one atomic step; return the new generation.

    Called under the write lock, after the build's files are closed. Publishing the build that is
    already current just gives it a new generation (readers reopen and see the update).
    """
    if build.parent != folder / _BUILDS or not _complete(build):
        raise IndexCorruptedError(f"{build} is not a complete build of {folder.name!r}")
    token = f"{build.name} {time.time_ns():x}"
    tmp = folder / f"{_CURRENT}.{secrets.token_hex(4)}.tmp"
    with tmp.open("w", encoding="utf-8") as handle:
        handle.write(token + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, folder / _CURRENT)
    _fsync_dir(folder)
    return token


def discard(path: Path, folder: Path) -> None:
    """Delete ``path`` of the index in ``folder``: one rename into ``indexes/.trash``, then removal.

    A reader never sees a half-deleted folder at the old place; a crash during the removal leaves
    only trash, which :func:`clean_leftovers` empties.
    """
    if not path.exists():
        return
    trash = folder.parent / ".trash"
    trash.mkdir(exist_ok=True)
    target = trash / f"{folder.name}~{_build_id()}"  # "~" is not allowed in index names
    os.rename(path, target)
    shutil.rmtree(target, ignore_errors=True)


def clean_leftovers(folder: Path) -> None:
    """Delete what no reader may open: unpublished builds, stale files (under the write lock).

    Leaves the published build (or a complete pre-builds index) alone; with neither, the whole
    folder is a leftover and goes.
    """
    trash = folder.parent / ".trash"
    if trash.is_dir():
        for old in trash.glob(f"{folder.name}~*"):
            shutil.rmtree(old, ignore_errors=True)
    if not folder.is_dir():
        return
    current = current_build(folder)
    if current is None:
        discard(folder, folder)
        return
    if current == folder:  # a complete pre-builds index: only unpublished builds can go
        keep = {*_LEGACY_PARTS, "lock"}
    else:
        keep = {_CURRENT, _BUILDS}
    for entry in folder.iterdir():
        if entry.name == _BUILDS and current != folder:
            for build in entry.iterdir():
                if build != current:
                    discard(build, folder)
        elif entry.name not in keep:
            if entry.is_dir() and not entry.is_symlink():
                discard(entry, folder)
            else:
                entry.unlink(missing_ok=True)


def _try_lock(path: Path) -> int | None:
    """An fd holding the lock on ``path``, or ``None`` while another process holds it."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                return None
            raise
        try:  # the last holder may have deleted the file: a lock on it guards nothing
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)


@contextlib.contextmanager
def write_lock(data_dir: Path, name: str, timeout_s: float) -> Iterator[Path]:
    """Hold index ``name``'s write lock; yield the index folder.

    Waits up to ``timeout_s`` for another writer. On release the lock file is deleted when the
    index folder is gone (a failed first run, a delete), so nothing of the index is left.

    Raises:
        IndexBusyError: another process held the lock for the whole wait.
    """
    folder = index_path(data_dir, name)
    locks = folder.parent / ".locks"
    locks.mkdir(parents=True, exist_ok=True)
    path = locks / f"{name}.lock"
    deadline = time.monotonic() + timeout_s
    while (fd := _try_lock(path)) is None:
        if time.monotonic() >= deadline:
            raise IndexBusyError(
                f"index {name!r} is being written by another process; waited {timeout_s:g} s "
                "(rag.lock_timeout_s); try again when it finishes"
            )
        time.sleep(0.1)
    try:
        yield folder
    finally:
        try:
            if not folder.exists():
                path.unlink(missing_ok=True)  # waiters notice the new inode and retry
        finally:
            os.close(fd)  # releases the lock


def delete_index(data_dir: Path, name: str, timeout_s: float) -> None:
    """Delete index ``name`` (waiting for its write lock like a writer).

    Leftovers of a build that never finished are deleted too.

    Raises:
        IndexNotFoundError: nothing of that name exists.
        IndexBusyError: another process is writing it.
    """
    folder = index_path(data_dir, name)
    if not folder.exists():
        raise IndexNotFoundError(_not_found(data_dir, name))
    with write_lock(data_dir, name, timeout_s):
        discard(folder, folder)
        clean_leftovers(folder)


def _not_found(data_dir: Path, name: str) -> str:
    known = list_indexes(data_dir)
    return (f"no index named {name!r} in {indexes_root(data_dir)}; "
            + (f"known indexes: {', '.join(known)}" if known else "there are none yet"))


def describe_indexes(data_dir: Path) -> list[IndexInfo]:
    """Name, size, embedding model and last update of every complete index."""
    from tooldeck.rag.store import ChunkStore

    out: list[IndexInfo] = []
    for name in list_indexes(data_dir):
        build = current_build(index_path(data_dir, name))
        if build is None:  # deleted since it was listed
            continue
        try:
            store = ChunkStore(build / _SQLITE, "", read_only=True)
        except IndexCorruptedError as exc:
            out.append(IndexInfo(name, None, None, None, None, error=str(exc)))
            continue
        try:
            out.append(IndexInfo(name, store.count(), store.count_files(),
                                 store.get_meta("embeddings"), store.updated_at()))
        finally:
            store.close()
    return out
