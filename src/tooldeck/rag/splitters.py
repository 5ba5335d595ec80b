"""Splitters: documents to the chunks the index searches.

- ``fixed``: chunks of at most ``chunk_size`` characters that end at a sentence end where
  possible, else at a word end, never inside a word; consecutive chunks share up to
  ``chunk_overlap`` characters of whole sentences or words.
- ``parent-child``: each document is cut into parents of ``parent_size``, each parent into
  children of ``chunk_size``; children are searched and the parent is what a search returns.
- ``none``: one chunk per document.

Whatever the splitter, an API operation, a function or class, and a JSON/YAML record stay one
chunk each: a search then finds the operation or function itself, never a slice of its
parameters or code (cut pieces of one function competed with each other and with the
operation they call). Such a chunk's indexed text is the document's first
``metadata["index_chars"]`` characters when the loader says so (an operation's head, not its
schema), or, for a record longer than ``chunk_size``, its first ``chunk_size`` characters cut
at a line end (name, description, first fields: searching the whole of long ToolBench records
cost 3 points of top-1), with a ``words:`` line of ``metadata["words"]`` under its first
line; its context, what a search returns, is the whole document.

A word longer than ``chunk_size`` (a URL, a hash) stays whole in its own chunk, unless it is
over four times the size, when it is cut (in one pass: cutting the head off a 5 MB word again
and again copied it once per piece).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from langchain_core.documents import Document

from tooldeck.config import IndexConfig

__all__ = ["Chunk", "rechunk", "split_documents", "split_text", "with_line"]

_SENTENCE = re.compile(r"(?<=[.!?;:])\s+|\n\s*\n+|\n(?=\s*[-*#>|]|\s*\d+[.)]\s)")


@dataclass(frozen=True)
class Chunk:
    """One searchable piece: ``text`` is indexed, ``context`` is returned (the parent or itself)."""

    id: str
    text: str
    context: str
    metadata: dict[str, Any]


def _units(text: str, size: int) -> list[str]:
    """Sentences, with sentences over ``size`` broken into word runs of at most ``size``."""
    units: list[str] = []
    for sentence in _SENTENCE.split(text):
        sentence = sentence.strip()
        if not sentence:
            continue
        if len(sentence) <= size:
            units.append(sentence)
            continue
        run = ""
        for word in sentence.split():
            if len(word) > 4 * size:  # pathological: cut, or no chunk could hold it
                if run:
                    units.append(run)
                    run = ""
                cuts = -(-(len(word) - 4 * size) // size)  # pieces of ``size`` until <= 4 * size
                units += [word[i * size : (i + 1) * size] for i in range(cuts)]
                word = word[cuts * size :]
            if run and len(run) + 1 + len(word) > size:
                units.append(run)
                run = word
            else:
                run = f"{run} {word}" if run else word
        if run:
            units.append(run)
    return units


def _tail_words(text: str, limit: int) -> str:
    words: list[str] = []
    size = 0
    for word in reversed(text.split()):
        if size + len(word) + (1 if words else 0) > limit:
            break
        words.insert(0, word)
        size += len(word) + (1 if len(words) > 1 else 0)
    return " ".join(words)


def split_text(text: str, chunk_size: int, chunk_overlap: int = 0) -> list[str]:
    """Cut ``text`` into chunks of at most ``chunk_size`` characters at sentence/word ends.

    Args:
        text: the text.
        chunk_size: the most characters in a chunk (a single longer word is the exception).
        chunk_overlap: characters of whole units repeated from the end of the previous chunk.
    """
    if len(text) <= chunk_size:
        return [text.strip()] if text.strip() else []
    units = _units(text, chunk_size)
    chunks: list[str] = []
    current: list[str] = []
    length = 0
    for unit in units:
        extra = len(unit) + (1 if current else 0)
        if current and length + extra > chunk_size:
            chunks.append(" ".join(current))
            carry: list[str] = []
            carried = 0
            for prev in reversed(current):
                if carried + len(prev) + 1 > chunk_overlap or carried + len(prev) + 1 + len(
                        unit) > chunk_size:
                    break
                carry.insert(0, prev)
                carried += len(prev) + 1
            if not carry and chunk_overlap:  # the last sentence is too long: carry its last words
                tail = _tail_words(current[-1], min(chunk_overlap, chunk_size - len(unit) - 1))
                if tail:
                    carry, carried = [tail], len(tail) + 1
            current, length = carry, max(0, carried - 1)
            extra = len(unit) + (1 if current else 0)
        current.append(unit)
        length += extra
    if current:
        chunks.append(" ".join(current))
    return chunks


def _chunk_id(source: str, ordinal: str, text: str) -> str:
    return hashlib.sha256(f"{source}\x00{ordinal}\x00{text}".encode()).hexdigest()[:32]


def _whole(metadata: dict[str, Any]) -> bool:
    """Whether a document is one unit (an operation, a symbol, a record): never split."""
    return metadata.get("kind") in ("rest", "function") or "record" in metadata


def _words_line(metadata: dict[str, Any]) -> str:
    words = str(metadata.get("words") or "")
    return f"words: {words}" if words else ""


def with_line(text: str, line: str) -> str:
    """``text`` with ``line`` after its first line and any ``words:`` / link lines under it.

    That is near the top, where the embedder reads (it keeps a text's first 256 word pieces),
    and out of what a search returns (the chunk's context stays the document as written).
    """
    if not line:
        return text
    lines = text.split("\n")
    at = 1
    while at < min(len(lines), 6) and lines[at].startswith(("words: ", "calls: ", "client: ")):
        at += 1
    return "\n".join([*lines[:at], line, *lines[at:]])


def rechunk(chunk: Chunk, line: str, metadata: dict[str, Any]) -> Chunk:
    """``chunk`` with ``line`` added to its indexed text (see :func:`with_line`), new metadata
    and the id that goes with the new text; its context (what a search returns) is kept."""
    text = with_line(chunk.text, line)
    ordinal = f"{metadata.get('doc_index', 0)}.{metadata.get('chunk_index', 0)}"
    new_id = _chunk_id(str(metadata.get("source", "")), ordinal, text)
    return Chunk(new_id, text, chunk.context, metadata)


def split_documents(docs: list[Document], config: IndexConfig) -> list[Chunk]:
    """Split the documents of one file into chunks as ``config`` says."""
    chunks: list[Chunk] = []
    for d_index, doc in enumerate(docs):
        meta = dict(doc.metadata)
        source = str(meta.get("source", ""))
        text = doc.page_content
        if config.splitter == "none" or _whole(meta):
            head = meta.get("index_chars")
            if (head is None and "record" in meta and config.splitter != "none"
                    and len(text) > config.chunk_size):  # a long record: its first chunk_size
                cut = text.rfind("\n", 0, config.chunk_size)
                head = cut if cut > 0 else config.chunk_size
            indexed = text[:head].rstrip() if isinstance(head, int) and 0 < head else text
            pieces = [(with_line(indexed, _words_line(meta)), text)]
        elif config.splitter == "parent-child":
            pieces = [(child, parent) for parent in split_text(text, config.parent_size)
                      for child in split_text(parent, config.chunk_size, config.chunk_overlap)]
        else:
            pieces = [(c, c) for c in split_text(text, config.chunk_size, config.chunk_overlap)]
        for c_index, (piece, context) in enumerate(pieces):
            chunk_meta = {**meta, "doc_index": d_index, "chunk_index": c_index}
            chunks.append(Chunk(_chunk_id(source, f"{d_index}.{c_index}", piece), piece, context,
                                chunk_meta))
    return chunks
