"""Answering from an index: retrieve, then answer with citations (or with no model at all).

:func:`ask` is the API helper behind ``tooldeck ask``, the server's ``/v1/ask`` and the
``rag`` chain. It groups the search results by document (one match per operation, symbol or
doc), and builds the structured part of the answer (endpoint or function, parameters, a call
example, sources) from the documents themselves, so nothing in it can be invented. A model,
when there is one, picks the block that answers the question and says how to use it; a
llama.cpp model is held to the ``[n] text`` form by a grammar. ``no_llm`` skips the model and
answers with the best match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tooldeck.prompts import load_template, render

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from tooldeck.rag.index import HybridIndex, Match

__all__ = [
    "AskResult", "ask", "choose_match", "language_notice", "match_summary", "render_block",
    "shorten",
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
        }


def match_summary(match: Match) -> str:
    """The structured answer for one match: what to call, its parameters, an example, the source."""
    meta = match.metadata
    kind = match.kind
    label = {"rest": "Endpoint", "function": "Function"}.get(kind, "Document")
    lines = [f"{label}: {match.ref}"]
    title = str(meta.get("title", ""))
    if title and title != match.ref:
        lines.append(f"  {title}")
    params = _parameters_block(match.context)
    if params:
        lines.append("Parameters:")
        lines += params
    if meta.get("example"):
        lines.append("Example:")
        lines.append(f"  {meta['example']}")
    if kind == "doc":
        lines.append(shorten(match.context, 600))
    where = match.source + (f":{meta['line']}" if meta.get("line") else "")
    lines.append(f"Source: {where}")
    return "\n".join(lines)


def _parameters_block(text: str) -> list[str]:
    lines = text.splitlines()
    out: list[str] = []
    grab = False
    for line in lines:
        if line.startswith(("Parameters:", "Request body")):
            grab = True
            if line.startswith("Request body"):
                out.append(f"  {line}")
            continue
        if line.startswith("Responses:"):
            break
        if grab and line.strip().startswith("-") or (grab and line.startswith("  ")):
            out.append(f"  {line.strip() if line.startswith('-') else line}")
        elif grab and line.strip():
            grab = False
    return out[:30]


def shorten(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters at a word end, marked with ``...``."""
    text = text.strip()
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " ..."


def render_block(n: int, kind: str, ref: str, source: str, text: str, limit: int) -> str:
    """One numbered, cited context passage (the ``block`` of the ``rag`` prompt template)."""
    return render(load_template("rag")["block"], n=str(n), kind=kind, ref=ref, source=source,
                  body=shorten(text, limit))


def _prompt(question: str, matches: list[Match]) -> list[tuple[str, str]]:
    template = load_template("rag")
    blocks = [render_block(i, m.kind, m.ref, m.source, m.context, _CONTEXT_CHARS)
              for i, m in enumerate(matches, start=1)]
    user = render(template["user"], context="\n\n".join(blocks), question=question,
                  count=str(len(matches)))
    return [("system", template["system"]), ("human", user)]


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
    return render(str(load_template("rag")["language"]), share=f"{1 - share:.0%}")


def ask(
    index: HybridIndex,
    question: str,
    top_k: int = 5,
    model: BaseChatModel | None = None,
    filters: dict[str, Any] | None = None,
) -> AskResult:
    """Answer ``question`` from ``index``.

    Args:
        index: the index to search.
        question: the question.
        top_k: matches to return (and to show the model).
        model: the chat model; ``None`` answers with the best match and no model.
        filters: metadata equality filters (``{"kind": "rest"}``).

    Raises:
        EmptyIndexError: the index has no documents.
        ModelError: the model failed.
    """
    matches = index.search_documents(question, top_k, filters)
    notice = language_notice(index.embeddings, question)
    if notice is not None:  # no model call either: it would be choosing among noise
        return AskResult(notice, matches, None, extra={"notice": notice})
    not_found = str(load_template("rag")["not_found"])
    if not matches:
        return AskResult(not_found, [], None)
    lexical = any(m.bm25_rank is not None for m in matches)
    best_sim = max((m.similarity or 0.0) for m in matches)
    if model is None:
        if not lexical and best_sim < _MIN_SIMILARITY:
            return AskResult(not_found, matches, None)
        return AskResult(match_summary(matches[0]), matches, 0)
    chosen, text = choose_match(model, question, matches)
    name = type(model).__name__
    if chosen == -1:
        return AskResult(f"{not_found}\n{text}".strip(), matches, None, name)
    pick = 0 if chosen is None else chosen
    body = text if chosen is not None else shorten(text, 600)
    answer = f"{body}\n\n{match_summary(matches[pick])}".strip() + f" [{pick + 1}]"
    return AskResult(answer, matches, pick, name)
