"""Objects the server's requests share: open indexes, the chat model, the agent.

Indexes are opened once and leased to requests; each lease compares the index's generation
(:func:`tooldeck.rag.index.index_generation`) with the one it was opened at, so a server
notices an index rebuilt or removed under it: the new one is opened, and the old one is closed
when its last lease ends. Loading the model or the agent never blocks index leases.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tooldeck.errors import IndexNotFoundError

__all__ = ["IndexCache", "Lazy"]


@dataclass
class _Entry:
    index: Any
    generation: str
    users: int = 0
    retired: bool = False


class IndexCache:
    """Open indexes by name, reopened when rebuilt."""

    def __init__(self, data_dir: Path, opener: Callable[[str], Any]) -> None:
        """Make an empty cache.

        Args:
            data_dir: the data folder the indexes live in.
            opener: opens index ``name`` (``tooldeck.rag.open_index`` with the config).
        """
        self.data_dir = data_dir
        self._opener = opener
        self._lock = threading.Lock()
        self._open: dict[str, _Entry] = {}

    @contextmanager
    def lease(self, name: str) -> Iterator[Any]:
        """Use index ``name`` for the duration of the ``with`` block.

        Raises:
            IndexNotFoundError: no such index (the message names no other index or path).
            InputError: a name that is not allowed.
        """
        from tooldeck.rag.index import index_generation

        generation = index_generation(self.data_dir, name)
        if generation is None:
            raise IndexNotFoundError(f"no index named {name!r}")
        stale: _Entry | None = None
        with self._lock:
            entry = self._open.get(name)
            if entry is None or entry.generation != generation:
                try:
                    index = self._opener(name)
                except IndexNotFoundError:
                    raise IndexNotFoundError(f"no index named {name!r}") from None
                if entry is not None:
                    entry.retired = True
                    stale = entry if entry.users == 0 else None
                opened_at = getattr(index, "generation", None) or generation  # may be newer
                entry = self._open[name] = _Entry(index, opened_at)
            entry.users += 1
        if stale is not None:
            stale.index.close()
        try:
            yield entry.index
        finally:
            self._release(entry)

    def _release(self, entry: _Entry) -> None:
        with self._lock:
            entry.users -= 1
            done = entry.retired and entry.users == 0
        if done:
            entry.index.close()

    def close(self) -> None:
        """Close every index no request is using (at shutdown)."""
        with self._lock:
            entries = list(self._open.values())
            self._open.clear()
            for entry in entries:
                entry.retired = True
            idle = [entry for entry in entries if entry.users == 0]
        for entry in idle:
            entry.index.close()


class Lazy:
    """A value built on first use, once, under its own lock (the model, the agent)."""

    def __init__(self, build: Callable[[], Any]) -> None:
        """Remember how to build the value.

        Args:
            build: makes the value; called at most once, unless it raises.
        """
        self._build = build
        self._lock = threading.Lock()
        self._value: Any = None

    def get(self) -> Any:
        """The value, built now if need be."""
        with self._lock:
            if self._value is None:
                self._value = self._build()
            return self._value
