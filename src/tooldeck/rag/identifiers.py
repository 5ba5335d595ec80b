"""Words out of identifiers, and HTTP methods out of a question's verbs.

Operation ids, paths, model names and qualified names hide their words from both BM25 and the
embedder: ``getMovieCredits``, ``/person/{person_id}/movie_credits``, ``ComputeSession.create``.
:func:`identifier_words` writes them out (``get movie credits``), and loaders add that line to
the documents they render. :func:`method_words` maps the usual verbs of a request to the HTTP
method that carries it out (``kill`` / ``terminate`` / ``remove`` to ``delete``), so a question
meets the ``DELETE /session/{id}`` line of a REST document; the table is general English usage
of REST verbs, not fitted to any benchmark's questions.
"""

from __future__ import annotations

import re

__all__ = ["identifier_words", "method_words"]

_PIECE = re.compile(r"[A-Za-z0-9]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_WORD = re.compile(r"[^\W_]+")
_MAX_CHARS = 2_000

_VERBS: dict[str, str] = {}
for _method, _words in {
    "post": "create add new make start launch spin submit register upload send open book",
    "delete": "delete remove kill terminate cancel destroy stop drop erase unsubscribe close",
    "put": "update change modify edit rename replace set",
    "get": "get list show find search fetch retrieve read view display lookup look download",
}.items():
    for _verb in _words.split():
        _VERBS[_verb] = _method


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


def method_words(question: str) -> list[str]:
    """The HTTP methods (lower case) that the question's verbs ask for, in order, no repeats."""
    out: list[str] = []
    for word in _WORD.findall(question.lower()[:_MAX_CHARS]):
        method = _VERBS.get(word)
        if method is not None and method not in out:
            out.append(method)
    return out
