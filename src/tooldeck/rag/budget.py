"""Budgets for rendered text: how much one document and one file may expand to.

A few hundred bytes of YAML aliases or of OpenAPI ``$ref``s can describe gigabytes of text.
Loaders that render text (rather than copy it from the file) draw on one :class:`Budget` per
file, and stop before the text is built rather than after:

- one rendered document holds at most ``rag.max_document_chars`` characters; the rest is cut
  and a note says so;
- the operations of one OpenAPI file, and one YAML document with its aliases copied out, hold
  at most ``rag.max_expanded_chars`` characters more than the file itself; past that the file
  is skipped with a :class:`LoaderError`. Other formats render in proportion to the file and
  are only cut per document.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tooldeck.errors import LoaderError

if TYPE_CHECKING:
    from tooldeck.config import RagConfig

__all__ = ["Budget", "Lines", "bounded_text"]

# What visiting one schema node costs, so that a fan-out that writes no text is bounded too.
_VISIT_CHARS = 20
_DEFAULT_DOCUMENT = 200_000
_DEFAULT_EXPANDED = 20_000_000


def bounded_text(value: Any, limit: int) -> str:
    """``value`` as text of at most ``limit`` characters (JSON for non-strings), ``...`` if cut.

    The JSON is produced piece by piece, so a value that would print as gigabytes (shared
    sub-lists from YAML aliases) costs only ``limit`` characters.
    """
    if isinstance(value, str):
        return value if len(value) <= limit else value[: max(0, limit - 3)] + "..."
    encoder = json.JSONEncoder(ensure_ascii=False, default=str, skipkeys=True)
    parts: list[str] = []
    size = 0
    try:
        for piece in encoder.iterencode(value):
            parts.append(piece)
            size += len(piece)
            if size > limit:
                return "".join(parts)[: max(0, limit - 3)] + "..."
    except ValueError:  # a structure that contains itself
        return "(recursive value)"
    return "".join(parts)


class Lines:
    """The lines of one rendered document, cut once they reach ``limit`` characters.

    Args:
        limit: the most characters the document may hold.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.lines: list[str] = []
        self.size = 0
        self.full = False

    @property
    def room(self) -> int:
        """Characters still free."""
        return max(0, self.limit - self.size)

    def add(self, line: str) -> bool:
        """Append a line if there is room (else the part that fits); ``False`` once full."""
        if self.full:
            return False
        if len(line) + 1 > self.room:
            self.lines.append(line[: self.room])
            self.size = self.limit
            self.full = True
            return False
        self.lines.append(line)
        self.size += len(line) + 1
        return True

    def extend(self, lines: list[str]) -> bool:
        """Append lines until full; ``False`` once full."""
        for line in lines:
            if not self.add(line):
                return False
        return not self.full

    def visit(self) -> bool:
        """Charge one step of a walk through a structure; ``False`` once full (stop walking)."""
        if not self.full:
            self.size += _VISIT_CHARS
            if self.size >= self.limit:
                self.size = self.limit
                self.full = True
        return not self.full

    def text(self) -> str:
        """The document text, with a note when it was cut."""
        text = "\n".join(self.lines)
        if self.full:
            text += (f"\n... (cut: over {self.limit:,} characters, the rag.max_document_chars "
                     "limit)")
        return text


@dataclass
class Budget:
    """What the rendered documents of one file may still take.

    Args:
        document_chars: the most characters of one rendered document.
        file_chars: the most characters of all the file's documents together.
    """

    document_chars: int = _DEFAULT_DOCUMENT
    file_chars: int = _DEFAULT_EXPANDED
    used: int = 0
    cut: int = 0

    @classmethod
    def for_file(cls, file_chars: int, rag: RagConfig | None = None) -> Budget:
        """The budget of a file of ``file_chars`` characters under the ``rag`` settings."""
        document = rag.max_document_chars if rag is not None else _DEFAULT_DOCUMENT
        expanded = rag.max_expanded_chars if rag is not None else _DEFAULT_EXPANDED
        return cls(document_chars=document, file_chars=expanded + file_chars)

    def document(self) -> Lines:
        """A fresh document within the per-document limit."""
        return Lines(self.document_chars)

    def charge(self, chars: int) -> None:
        """Count ``chars`` characters of output against the file.

        Raises:
            LoaderError: the file's documents are over its limit.
        """
        self.used += chars
        if self.used > self.file_chars:
            msg = (f"its documents expand to over {self.file_chars:,} characters "
                   "(rag.max_expanded_chars plus the file's size); YAML aliases or $refs that "
                   "repeat the same parts many times?")
            raise LoaderError(msg)

    def text(self, lines: Lines) -> str:
        """The text of a finished document that renders data no bigger than the file's.

        JSON records and YAML records (whose aliases :mod:`tooldeck.rag.safe_yaml` bounded when
        loading) render in proportion to the file, so they are cut but not charged.
        """
        if lines.full:
            self.cut += 1
        return lines.text()

    def finish(self, lines: Lines, extra: int = 0) -> str:
        """The text of a finished document, charged to the file with ``extra`` characters.

        Raises:
            LoaderError: the file's documents are over its limit.
        """
        if lines.full:
            self.cut += 1
        self.charge(lines.size + extra)
        return lines.text()
