"""Words out of identifiers.

Operation ids, paths and qualified names hide their words from both BM25 and the embedder:
``getMovieCredits``, ``/person/{person_id}/movie_credits``, ``ComputeSession.create``.
:func:`identifier_words` writes them out (``get movie credits``); the OpenAPI and Python loaders
keep them in ``metadata["words"]`` and the splitter adds them to the indexed text. (Record
names, e.g. APIBench model ids, are not split: measured, it cost TF Hub 1.9 points of top-1.)
"""

from __future__ import annotations

import re

__all__ = ["identifier_words"]

_PIECE = re.compile(r"[A-Za-z0-9]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_MAX_CHARS = 2_000


def identifier_words(*identifiers: str) -> str:
    """The lower-case words inside ``identifiers`` (camelCase, snake_case, paths, dots).

    Each word is written once; the result is cut at 2,000 characters.
    """
    words: dict[str, None] = {}
    for identifier in identifiers:
        for piece in _PIECE.findall(identifier[:_MAX_CHARS]):
            for word in _CAMEL.split(piece):
                if word:
                    words[word.lower()] = None
    return " ".join(words)[:_MAX_CHARS]
