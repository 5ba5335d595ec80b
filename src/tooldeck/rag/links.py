"""Links between a client's functions and the REST operations they call.

When an API's spec and its client code are indexed together, each function whose body builds
a request path (``metadata["paths_called"]``, written by :mod:`tooldeck.rag.pysource`) is matched to
the operations with that method and path (``{parameters}`` compared as ``{}``; a call path may
carry a prefix such as ``/api/v1`` that the spec keeps in its server URL). Then each side
carries the other's words, so a question phrased like the docstring finds the operation and
one phrased like the spec finds the function:

- a function's chunk gets ``calls: POST /session (Create a new compute session)`` in its text and
  ``metadata["operations"]``: the operation refs, one per line;
- an operation's chunk gets ``client: ComputeSession.create (Start a new compute session ...)``
  and ``metadata["functions"]``: the qualified names, one per line.

Answers can show both (the match and what it links to). Operations already in the index are
linked to the functions of the files being written; an operation written now learns of the
functions written with it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from tooldeck.rag.splitters import Chunk, rechunk

__all__ = ["LINK_KEYS", "link_chunks"]

LINK_KEYS = ("operations", "functions")
_PARAM = re.compile(r"\{[^{}/]*\}")
_MAX_LINKS = 10
_TITLE = 200


def _shape(path: str) -> str:
    return _PARAM.sub("{}", path.strip()).rstrip("/") or "/"


def _matches(call: str, ops: dict[str, list[tuple[str, str, str]]]) -> list[tuple[str, str]]:
    """The ``(ref, title)`` of operations that ``METHOD /path`` (``*``: any method) calls."""
    method, _, path = call.partition(" ")
    shape = _shape(path)
    out: list[tuple[str, str]] = []
    for op_shape, entries in ops.items():
        if shape == op_shape or (op_shape != "/" and shape.endswith(op_shape)
                                 and shape[: -len(op_shape)].count("/") <= 2):
            out += [(ref, title) for op_method, ref, title in entries
                    if method in ("*", op_method)]
    return out


def _operations(metas: Iterable[dict[str, Any]]) -> dict[str, list[tuple[str, str, str]]]:
    ops: dict[str, list[tuple[str, str, str]]] = {}
    for meta in metas:
        if meta.get("kind") == "rest" and meta.get("path"):
            entry = (str(meta.get("method", "")).upper(), str(meta.get("ref", "")),
                     str(meta.get("title", ""))[:_TITLE])
            ops.setdefault(_shape(str(meta["path"])), []).append(entry)
    return ops


def link_chunks(
    files: list[list[Chunk]], stored_operations: Iterable[dict[str, Any]] = (),
) -> list[list[Chunk]]:
    """The chunks of ``files`` with functions and the operations they call linked both ways.

    Args:
        files: each file's chunks, as the splitter made them.
        stored_operations: metadata of operations already in the index (other files).

    Returns:
        The same lists, with linked chunks replaced (new text, metadata and id).
    """
    fresh = [c.metadata for chunks in files for c in chunks]
    ops = _operations([*fresh, *stored_operations])
    if not ops:
        return files
    to_op: dict[str, list[tuple[str, str]]] = {}  # function chunk id -> operations
    to_fn: dict[str, list[tuple[str, str]]] = {}  # operation ref -> functions
    for chunks in files:
        for chunk in chunks:
            calls = str(chunk.metadata.get("paths_called", ""))
            found = list(dict.fromkeys(m for call in calls.splitlines() if call
                                       for m in _matches(call, ops)))[:_MAX_LINKS]
            if found:
                to_op[chunk.id] = found
                summary = str(chunk.metadata.get("summary", ""))[:_TITLE]
                for ref, _ in found:
                    to_fn.setdefault(ref, []).append((str(chunk.metadata["ref"]), summary))
    if not to_op:
        return files
    return [[_linked(c, to_op, to_fn) for c in chunks] for chunks in files]


def _linked(chunk: Chunk, to_op: dict[str, list[tuple[str, str]]],
            to_fn: dict[str, list[tuple[str, str]]]) -> Chunk:
    meta = chunk.metadata
    if chunk.id in to_op:
        pairs, key, word = to_op[chunk.id], "operations", "calls"
    elif meta.get("kind") == "rest" and str(meta.get("ref")) in to_fn:
        pairs, key, word = to_fn[str(meta["ref"])][:_MAX_LINKS], "functions", "client"
    else:
        return chunk
    line = f"{word}: " + "; ".join(f"{ref} ({title})" if title else ref for ref, title in pairs)
    return rechunk(chunk, line, {**meta, key: "\n".join(ref for ref, _ in pairs)})
