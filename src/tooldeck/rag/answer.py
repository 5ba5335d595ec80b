"""Answering from an index: retrieve, then answer from the best match; never invent.

:func:`ask` is the API helper behind ``tooldeck ask``, the server's ``/v1/ask`` and the
``rag`` chain. It groups the search results by document (one match per operation, symbol or
doc) and writes the answer from the chosen document alone (:func:`match_summary`: endpoint or
function, description, parameters, body, a call example, links, source), so the answer cannot
contradict the match. A capable model reorders the matches (:mod:`tooldeck.rag.rerank`) and
may say that none answers; its words never reach the answer. When retrieval finds nothing
close, the answer says so.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tooldeck.prompts import render
from tooldeck.rag.rerank import template_text

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from tooldeck.rag.index import HybridIndex, Match

__all__ = [
    "AskResult", "ask", "choose_match", "language_notice", "match_summary", "nothing_close",
    "render_block", "shorten",
]

_CONTEXT_CHARS = 1500
_MIN_SIMILARITY = 0.2
# Below this share of covered letters the embedder cannot read the question (see
# BertEncoder.coverage); the answer says so instead of presenting matches as meaningful.
_MIN_COVERAGE = 0.5


@dataclass
class AskResult:
    """An answer, the matches it was drawn from (best first) and their sources."""

    answer: str
    matches: list[Match]
    chosen: int | None = 0
    model: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def sources(self) -> list[str]:
        """Distinct source files of the matches, best first."""
        return list(dict.fromkeys(m.source for m in self.matches))

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of ``tooldeck ask --json`` and ``/v1/ask``."""
        notice = self.extra.get("notice")
        return {
            **({"notice": notice} if notice else {}),
            "answer": self.answer,
            "matches": [
                {"kind": m.kind, "id": m.ref, "source": m.source, "score": round(m.score, 6),
                 "title": str(m.metadata.get("title", "")),
                 "example": str(m.metadata.get("example", "")) or None}
                for m in self.matches
            ],
            "sources": self.sources,
            "chosen": self.chosen,
            "model": self.model,
            **({"rerank": self.extra["rerank"]} if "rerank" in self.extra else {}),
        }


def match_summary(match: Match) -> str:
    """The answer for one match, written from the match alone (nothing in it is invented).

    REST operations: method and path, summary and the first paragraph of the description,
    parameters, request body, an example request (curl) and the functions that call it.
    Functions and classes: the signature, the first paragraph of the docstring, a call example
    and the operations it calls. Documents: the heading and the start of the text.
    """
    meta = match.metadata
    kind = match.kind
    if kind == "rest":
        lines = [f"Endpoint: {match.ref}", *_indented(_rest_description(match))]
        lines += _parameters_block(match.context)
    elif kind == "function":
        title = str(meta.get("title", "")) or match.ref
        lines = [f"{_symbol_word(match.context)}: {title}", *_indented(_docstring(match))]
    else:
        lines = [f"Document: {match.ref}", shorten(match.context, 600)]
    if meta.get("example"):
        lines += ["Example:", f"  {meta['example']}"]
    lines += _links(meta)
    where = match.source + (f":{meta['line']}" if meta.get("line") else "")
    lines.append(f"Source: {where}")
    return "\n".join(lines)


def _indented(paragraphs: list[str]) -> list[str]:
    """Each paragraph shortened to 400 characters, indented under the answer's first line."""
    return [f"  {shorten(p, 400)}" for p in paragraphs if p]


def _first_paragraph(lines: list[str]) -> str:
    """The lines up to the first blank line after some text, joined into one line."""
    out: list[str] = []
    for line in lines:
        if not line.strip():
            if out:
                break
            continue
        out.append(line.strip())
    return " ".join(out)


# Lines of an operation's text that are not its description (see tooldeck.rag.openapi).
_REST_SECTIONS = ("Parameters:", "Request body", "Responses:")
_REST_LABELS = ("operationId:", "tags:", "client:", "calls:")


def _rest_description(match: Match) -> list[str]:
    """The summary, then the description's first paragraph when it says more."""
    title = str(match.metadata.get("title", ""))
    lines = match.context.splitlines()
    if lines and lines[0].strip() == match.ref:
        lines = lines[1:]
    if lines and title and lines[0].strip() == title:
        lines = lines[1:]
    body: list[str] = []
    for line in lines:
        if line.startswith(_REST_SECTIONS):
            break
        if not line.startswith(_REST_LABELS):
            body.append(line)
    description = _first_paragraph(body)
    out = [title] if title and title != match.ref else []
    if description and description != title:
        out.append(description)
    return out


def _symbol_word(context: str) -> str:
    """``Class``, ``Method`` or ``Function``, from the first word of a symbol's text."""
    first = context.split(" ", 1)[0]
    return "Class" if first.startswith("class") else "Method" if first == "method" else "Function"


def _docstring(match: Match) -> list[str]:
    """The first paragraph of the docstring (metadata first, else the indexed text)."""
    for key in ("docstring", "doc", "summary"):
        value = match.metadata.get(key)
        if isinstance(value, str) and value.strip():
            return [_first_paragraph(value.splitlines())]
    lines = match.context.splitlines()  # "def name(sig)", "module: m", docstring, "", code
    if len(lines) < 3 or not lines[1].startswith("module:") or not lines[2].strip():
        return []
    return [_first_paragraph([x for x in lines[2:] if not x.startswith(_REST_LABELS)])]


# Metadata keys that link a function to the operations it calls, and back (one reference per
# line; written by tooldeck.rag.links).
_LINK_KEYS = (("operations", "Calls"), ("functions", "Called by"))


def _links(meta: dict[str, Any]) -> list[str]:
    """``Calls: ...`` / ``Called by: ...`` lines from the link metadata, at most 8 each."""
    out: list[str] = []
    for key, label in _LINK_KEYS:
        refs = _ref_list(meta.get(key))
        if refs:
            out.append(f"{label}: {', '.join(refs[:8])}" + (" ..." if len(refs) > 8 else ""))
    return out


def _ref_list(value: Any) -> list[str]:
    """A list of references from a list, a JSON list or a comma/newline separated string."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except ValueError:
                value = text.strip("[]").split(",")
        else:
            value = re.split(r"[,\n]", text)
    if not isinstance(value, list | tuple):
        return []
    return list(dict.fromkeys(str(v).strip().strip("'\"") for v in value if str(v).strip()))


def _parameters_block(text: str) -> list[str]:
    """The ``Parameters:`` and ``Request body`` sections of an operation's text."""
    out: list[str] = []
    section = False
    for line in text.splitlines():
        if line.startswith(("Parameters:", "Request body")):
            section = True
            out.append(line)
            continue
        if line.startswith("Responses:"):
            break
        if section and line.startswith(("-", "  ")):
            out.append(f"  {line}")
        elif section and line.strip():
            section = False
    return out[:40]


def shorten(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters at a word end, marked with ``...``."""
    text = text.strip()
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " ..."


def render_block(n: int, kind: str, ref: str, source: str, text: str, limit: int) -> str:
    """One numbered, cited context passage (the ``block`` of the ``rag`` prompt template)."""
    return render(template_text("rag", "block"), n=str(n), kind=kind, ref=ref, source=source,
                  body=shorten(text, limit))


def _prompt(question: str, matches: list[Match]) -> list[tuple[str, str]]:
    blocks = [render_block(i, m.kind, m.ref, m.source, m.context, _CONTEXT_CHARS)
              for i, m in enumerate(matches, start=1)]
    user = render(template_text("rag", "user"), context="\n\n".join(blocks), question=question,
                  count=str(len(matches)))
    return [("system", template_text("rag", "system")), ("human", user)]


def _grammar(count: int, reason: bool = True) -> str:
    digits = " | ".join(f'"{i}"' for i in range(count + 1))
    tail = ' "] " [^\\n]{1,300}' if reason else ' "]"'
    return f'root ::= "[" ({digits}){tail}'


def choose_match(
    model: BaseChatModel, question: str, matches: list[Match], reason: bool = True
) -> tuple[int | None, str]:
    """Ask the model which match answers the question.

    Args:
        model: the chat model.
        question: the question.
        matches: the numbered candidates.
        reason: let the model add a sentence after the number (with a grammar, the number
            comes first either way; ``False`` stops right after it, for evaluations).

    Returns:
        The chosen match's position (``None``: the reply named none, ``-1``: the model said no
        match answers it) and the rest of the reply.

    Raises:
        ModelError: the model failed.
    """
    from tooldeck.models.failures import model_failures

    bound: Any = model
    if getattr(model, "supports_grammar", False):
        bound = model.bind(grammar=_grammar(len(matches), reason))
    messages = _prompt(question, matches)
    with model_failures():
        reply = bound.invoke(messages)
    text = str(getattr(reply, "content", reply)).strip()
    found = re.search(r"\[(\d+)\]", text)
    if found is None:
        return None, text
    number = int(found.group(1))
    rest = (text[: found.start()] + text[found.end():]).strip()
    if number == 0 or number > len(matches):
        return -1, rest
    return number - 1, rest


def language_notice(embeddings: Any, question: str) -> str | None:
    """A plain notice when the embedding model cannot read the question's language, else None.

    Uses the model's own ``coverage(text)`` when it has one (the built-in encoder does); other
    embeddings are trusted to cover what they are given.
    """
    coverage = getattr(embeddings, "coverage", None)
    if coverage is None:
        return None
    share = float(coverage(question))
    if share >= _MIN_COVERAGE:
        return None
    return render(template_text("rag", "language"), share=f"{1 - share:.0%}")


def nothing_close(lexical: bool, best_similarity: float) -> bool:
    """Whether results match nothing: no word of the question in any of them (``lexical``
    false) and none close in meaning (best cosine similarity under 0.2)."""
    return not lexical and best_similarity < _MIN_SIMILARITY


def _weak(matches: list[Match]) -> bool:
    """Whether ``matches`` (not empty) match nothing (see :func:`nothing_close`)."""
    return nothing_close(any(m.bm25_rank is not None for m in matches),
                         max((m.similarity or 0.0) for m in matches))


def ask(
    index: HybridIndex,
    question: str,
    top_k: int = 5,
    model: BaseChatModel | None = None,
    filters: dict[str, Any] | None = None,
    *,
    rerank: str = "auto",
    rerank_k: int = 10,
    rerank_timeout_s: float = 60.0,
) -> AskResult:
    """Answer ``question`` from ``index``.

    The answer is always written from one match (:func:`match_summary`), or says that nothing
    matches; a model only reorders the matches (:mod:`tooldeck.rag.rerank`) and may say that
    none of them answers. A model that :func:`~tooldeck.rag.rerank.wants_rerank` declines
    (the embedded one under ``auto``) is not called: the answer is the no-model answer.

    Args:
        index: the index to search.
        question: the question.
        top_k: matches to return.
        model: the chat model; ``None`` answers with the best match and no model.
        filters: metadata equality filters (``{"kind": "rest"}``).
        rerank: ``rag.rerank``: ``auto``, ``on`` or ``off``.
        rerank_k: how many matches the model reorders (``rag.rerank_k``).
        rerank_timeout_s: the longest wait for the model; then the retrieval order is kept.

    Raises:
        EmptyIndexError: the index has no documents.
    """
    from tooldeck.rag.rerank import rerank as rerank_matches
    from tooldeck.rag.rerank import wants_rerank

    ranker = model if wants_rerank(rerank, model) else None
    found = index.search_documents(question, max(top_k, rerank_k) if ranker else top_k, filters)
    matches = found[:top_k]
    notice = language_notice(index.embeddings, question)
    if notice is not None:  # no model call either: it would be choosing among noise
        return AskResult(notice, matches, None, extra={"notice": notice})
    not_found = template_text("rag", "not_found")
    if not found or _weak(found):
        return AskResult(not_found, matches, None)
    if ranker is None:
        return AskResult(match_summary(found[0]), matches, 0)
    outcome = rerank_matches(ranker, question, found[:rerank_k], allow_none=True,
                             timeout_s=rerank_timeout_s)
    ordered = outcome.apply(found)[:top_k]
    name, extra = type(ranker).__name__, {"rerank": outcome.status}
    if outcome.status == "none":
        return AskResult(not_found, ordered, None, name, extra)
    return AskResult(match_summary(ordered[0]), ordered, 0, name, extra)
