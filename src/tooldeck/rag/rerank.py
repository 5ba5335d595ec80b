"""List-wise reranking of search results by a chat model; the one place that decides whether to.

The model sees the question and the ``k`` best matches numbered ``[1]`` to ``[k]`` (kind, id,
title and the start of the text) and answers with their numbers, most relevant first, e.g.
``3, 1, 2``; with ``allow_none`` it may answer ``0``: no candidate answers the question. On a
llama.cpp model the reply is decoded under a grammar that admits only such lists; any other
reply is parsed strictly (numbers, commas, brackets and nothing else). A reply that does not
parse, names a number twice or out of range, a model that fails, and a model that is still
busy after ``timeout_s`` all keep the retrieval order: reranking can reorder, never lose, a
match.

Whether to rerank (:func:`wants_rerank`): the ``rag.rerank`` setting, ``auto`` (the default)
reranks with any model except the embedded 135M one, which is too small to rank better than
retrieval (``bench/rerank.py``); ``on`` always, ``off`` never.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tooldeck.prompts import load_template, render

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from tooldeck.rag.index import Match

__all__ = [
    "RerankSettings", "Reranked", "is_embedded_model", "model_may_rerank", "parse_ranking",
    "rerank", "rerank_prompt", "template_text",
    "rerank_grammar", "rerank_settings", "wants_rerank",
]

log = logging.getLogger(__name__)

_MODES = ("auto", "on", "off")
_BODY_CHARS = 300
_MAX_K = 50
_REPLY_CHARS = 400
# Numbers, optionally in brackets, separated by a comma, ">" or spaces (each separator is
# required, so the match is linear); an optional final stop.
_LIST = re.compile(r"\[?\d{1,3}\]?(?:(?: *[,>] *| +)\[?\d{1,3}\]?)*\.?")


@dataclass(frozen=True)
class RerankSettings:
    """The ``rag`` keys of reranking (read leniently until the config schema has them).

    Attributes:
        mode: ``auto``, ``on`` or ``off``.
        k: how many of the best matches the model reorders.
        timeout_s: how long to wait for the model before keeping the retrieval order.
    """

    mode: str = "auto"
    k: int = 10
    timeout_s: float = 60.0


def rerank_settings(rag: Any) -> RerankSettings:
    """``rag.rerank``, ``rag.rerank_k`` and ``rag.rerank_timeout_s`` (defaults when absent)."""
    mode = str(getattr(rag, "rerank", "auto") or "auto").lower()
    k = int(getattr(rag, "rerank_k", 10) or 10)
    timeout_s = float(getattr(rag, "rerank_timeout_s", 60.0) or 60.0)
    return RerankSettings(mode if mode in _MODES else "auto", max(2, min(k, _MAX_K)),
                          max(0.1, timeout_s))


def is_embedded_model(model: Any) -> bool:
    """Whether ``model`` is the embedded SmolLM2-135M (too small to rank or to write answers)."""
    path = getattr(model, "model_path", None)
    if not path:
        return False
    try:
        from tooldeck.models.local import embedded_model_path

        return Path(str(path)).resolve() == embedded_model_path().resolve()
    except Exception:  # the embedded wheel is not installed: then this is not it
        return False


def wants_rerank(mode: str, model: Any) -> bool:
    """Whether to rerank with ``model`` under ``rag.rerank: mode``.

    Args:
        mode: ``auto`` (any model but the embedded one), ``on`` or ``off``.
        model: the chat model, or ``None``.
    """
    if model is None or mode == "off":
        return False
    return mode == "on" or not is_embedded_model(model)


def model_may_rerank(mode: str, provider: str) -> bool:
    """Whether a model configured with ``model.provider`` is worth loading to rerank.

    Decided before the model is built, so ``ask`` never loads the embedded model for nothing.
    """
    return mode == "on" or (mode == "auto" and provider != "local")


@dataclass
class Reranked:
    """The outcome of one reranking.

    Attributes:
        order: positions into the candidates, best first; always all of them.
        status: ``model`` (the model's order), ``none`` (the model said no candidate answers),
            ``malformed``, ``failed`` or ``timeout`` (retrieval order kept).
        reply: the model's reply, cut to 400 characters.
    """

    order: list[int]
    status: str
    reply: str = ""

    def apply(self, matches: list[Match]) -> list[Match]:
        """``matches`` in this order (matches past the reranked ones keep their places)."""
        head = [matches[i] for i in self.order if i < len(matches)]
        return head + matches[len(self.order):]


def rerank_grammar(count: int, allow_none: bool) -> str:
    """The llguidance grammar of a reply: distinct-looking numbers 1..count, comma separated.

    Repeats are not excluded by the grammar (they are by :func:`parse_ranking`, which then
    keeps the retrieval order).
    """
    numbers = " | ".join(f'"{i}"' for i in range(count, 0, -1))  # "10" before "1"
    rest = f'(", " num){{0,{count - 1}}}' if count > 1 else ""
    start = f'"0" | num {rest}' if allow_none else f"num {rest}"
    return f"%llguidance {{}}\nstart: {start.strip()}\nnum: {numbers}\n"


def parse_ranking(reply: str, count: int, allow_none: bool) -> list[int] | None:
    """Positions (from 0) named by ``reply``, best first; ``[]`` for a lone 0; else ``None``.

    ``None`` (malformed) for anything but numbers separated by commas, spaces or ``>``, for a
    number out of range or named twice, and for a 0 that is not alone or not allowed.
    """
    text = reply.strip()
    if not text or len(text) > _REPLY_CHARS or not _LIST.fullmatch(text):
        return None
    numbers = [int(n) for n in re.findall(r"\d+", text)]
    if numbers == [0]:
        return [] if allow_none else None
    if any(n < 1 or n > count for n in numbers) or len(set(numbers)) != len(numbers):
        return None
    return [n - 1 for n in numbers]


def template_text(name: str, key: str) -> str:
    """Text ``key`` of prompt template ``name``: a top-level key or one under ``texts``.

    ``system`` is the template's own or its parts (role, task, context, constraints) joined.
    """
    template = load_template(name)
    texts = template.get("texts")
    if key in template:
        return str(template[key])
    if isinstance(texts, dict) and key in texts:
        return str(texts[key])
    if key == "system":
        return "\n".join(str(template[p]).strip() for p in ("role", "task", "context",
                                                             "constraints") if template.get(p))
    msg = f"prompt template {name!r} has no text {key!r}"
    raise KeyError(msg)


def _candidate(n: int, match: Match) -> str:
    """One numbered candidate: kind, id, title and the start of its text."""
    title = str(match.metadata.get("title", "")) or match.ref
    body = " ".join(match.context.split())
    if len(body) > _BODY_CHARS:
        body = body[:_BODY_CHARS].rsplit(" ", 1)[0] + " ..."
    return render(template_text("rerank", "candidate"), n=str(n), kind=match.kind,
                  ref=match.ref, title=title, body=body)


def rerank_prompt(question: str, matches: list[Match], allow_none: bool) -> list[tuple[str, str]]:
    """The messages that ask the model for a ranking of ``matches``."""
    system = template_text("rerank", "system")
    if allow_none:
        system += "\n" + template_text("rerank", "none")
    candidates = "\n\n".join(_candidate(n, m) for n, m in enumerate(matches, start=1))
    user = render(template_text("rerank", "user"), question=question, candidates=candidates,
                  count=str(len(matches)))
    return [("system", system), ("human", user)]


def _invoke_bounded(bound: Any, messages: list[tuple[str, str]], timeout_s: float) -> Any:
    """``bound.invoke(messages)`` on a daemon thread; raises TimeoutError past ``timeout_s``."""
    box: dict[str, Any] = {}
    done = threading.Event()

    def work() -> None:
        try:
            box["reply"] = bound.invoke(messages)
        except Exception as exc:  # reported to the caller below
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=work, name="tooldeck-rerank", daemon=True).start()
    if not done.wait(timeout_s):
        msg = f"no ranking within {timeout_s:g} s"
        raise TimeoutError(msg)
    if "error" in box:
        raise box["error"]
    return box["reply"]


def rerank(
    model: BaseChatModel, question: str, matches: list[Match], *, allow_none: bool = False,
    timeout_s: float = 60.0,
) -> Reranked:
    """Reorder ``matches`` by the model's list-wise choice; the retrieval order on any failure.

    Args:
        model: the chat model.
        question: the question.
        matches: the candidates, retrieval order (at most 50 are shown).
        allow_none: let the model say that no candidate answers (status ``none``).
        timeout_s: the longest wait for the model.

    Returns:
        The order and how it was reached; never raises for a model's failure.
    """
    matches = matches[:_MAX_K]
    identity = list(range(len(matches)))
    if len(matches) < 2 and not allow_none:
        return Reranked(identity, "model")
    bound: Any = model
    if getattr(model, "supports_grammar", False):
        bound = model.bind(grammar=rerank_grammar(len(matches), allow_none),
                           max_tokens=4 * len(matches) + 4)
    try:
        reply = _invoke_bounded(bound, rerank_prompt(question, matches, allow_none), timeout_s)
    except TimeoutError as exc:
        log.warning("rerank: %s; keeping the retrieval order", exc)
        return Reranked(identity, "timeout")
    except Exception as exc:
        log.warning("rerank: the model failed (%s); keeping the retrieval order",
                    type(exc).__name__)
        return Reranked(identity, "failed")
    text = str(getattr(reply, "content", reply))[:_REPLY_CHARS]
    ranked = parse_ranking(text, len(matches), allow_none)
    if ranked is None:
        log.info("rerank: unreadable reply %r; keeping the retrieval order", text[:80])
        return Reranked(identity, "malformed", text)
    if not ranked:
        return Reranked(identity, "none", text)
    return Reranked(ranked + [i for i in identity if i not in ranked], "model", text)
