"""Map-reduce summarization as a Runnable: a text of any length, in model calls that fit.

:class:`SummarizeChain` cuts the text into chunks sized to the model's context window (the
prompt and the answer budgeted), summarises each chunk (map), then combines the partial
summaries (reduce). When they do not fit in one call they are combined in groups, level by
level, until one summary is left; every level at least halves their number. A text that fits
in one chunk takes one call. The prompts are data: ``prompts/templates/summarize.yaml``.
Each reply is tidied (:func:`tidy`): small models loop, so repeated sentences and a sentence
cut off by ``max_tokens`` are dropped before a summary goes on.

Bounds: at most ``max_chars`` characters in; every call carries ``max_tokens``; the number of
calls is planned before the first one and refused over ``max_calls`` (derived from
``max_chars`` unless given); ``max_seconds`` stops a run between calls. Progress goes to the
callbacks as the custom event ``summarize_progress`` with ``{"done", "total", "stage"}`` after
each call; ``total`` is an upper bound until the reduce levels are known and equals ``done``
on the last event.

The plan is a generator (:meth:`SummarizeChain._plan`) that yields model calls and receives
the replies, so ``invoke`` and ``ainvoke`` share it and only their drivers do I/O (the shape
of ``agents/core.py``).

Token counts: a model whose class counts tokens itself (it overrides ``get_num_tokens``, or
has ``custom_get_token_ids``) is asked; otherwise tokens are estimated from characters, one
per 3 ASCII characters and one per other character. That is conservative for SmolLM2's
tokenizer (English prose measured 3.9 to 5.2 characters per token). LangChain's default
``get_num_tokens`` is never called: it loads GPT-2's tokenizer from the Hugging Face hub.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from langchain_core.runnables import Runnable

from tooldeck.errors import ConfigError, InputError, ModelOutputError, ToolTimeoutError
from tooldeck.models.tokens import approx_tokens as estimate_tokens  # the one estimator

if TYPE_CHECKING:
    from langchain_core.callbacks import (
        AsyncCallbackManagerForChainRun,
        CallbackManagerForChainRun,
    )
    from langchain_core.language_models import BaseLanguageModel
    from langchain_core.messages import BaseMessage
    from langchain_core.runnables import RunnableConfig

__all__ = [
    "DEFAULT_CONTEXT_TOKENS",
    "PROGRESS_EVENT",
    "SummarizeChain",
    "estimate_tokens",
    "model_token_counter",
    "tidy",
]

PROGRESS_EVENT = "summarize_progress"
DEFAULT_CONTEXT_TOKENS = 4096
_CHAT_OVERHEAD = 32  # role markers and the chat template around the two messages
_SEPARATOR = "\n\n"
_SEPARATOR_TOKENS = 2
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_CLOSERS = (".", "!", "?", '"', "'", ")")

Stage = Literal["single", "map", "reduce"]


def model_token_counter(model: Any) -> Callable[[str], int] | None:
    """The model's own token counter, when its class has one (else ``None``: estimate).

    Args:
        model: A LangChain language model.

    Returns:
        ``model.get_num_tokens`` if the model's class overrides it or the model has a
        ``custom_get_token_ids``; ``None`` for LangChain's default (a GPT-2 download).
    """
    from langchain_core.language_models import BaseLanguageModel

    if getattr(model, "custom_get_token_ids", None) is not None:
        return model.get_num_tokens  # type: ignore[no-any-return]
    method = getattr(type(model), "get_num_tokens", None)
    if method is not None and method is not BaseLanguageModel.get_num_tokens:
        return model.get_num_tokens  # type: ignore[no-any-return]
    return None


@dataclass(frozen=True)
class _ModelCall:
    """One call the plan asks for: the messages, the answer budget, and progress."""

    messages: list[BaseMessage]
    max_tokens: int
    stage: Stage
    total: int


@dataclass(frozen=True)
class _Budget:
    """Tokens of text one call may carry, and the most a partial summary may hold."""

    input_tokens: int
    summary_tokens: int

    def worst_reduce_calls(self, count: int) -> int:
        """Reduce calls needed for ``count`` summaries if every one is of full size."""
        fan_in = max(2, self.input_tokens // (self.summary_tokens + _SEPARATOR_TOKENS))
        calls = 0
        while count > 1:
            count = math.ceil(count / fan_in)
            calls += count
        return calls


class SummarizeChain(Runnable[str, str]):
    """Summarise a text of any length with a chat model, by map-reduce over chunks.

    Usable alone (``SummarizeChain(model).invoke(text)``) or inside any LCEL chain; the
    ``summarize`` tool wraps it. See the module docstring for the bounds and events.
    """

    def __init__(
        self,
        model: BaseLanguageModel[Any],
        *,
        context_tokens: int | None = None,
        map_tokens: int = 192,
        reduce_tokens: int = 256,
        max_chars: int = 2_000_000,
        max_calls: int | None = None,
        max_seconds: float | None = None,
        count_tokens: Callable[[str], int] | None = None,
        template: str = "summarize",
    ) -> None:
        """Set the model and the bounds.

        Args:
            model: The chat model (or LLM) that writes every summary.
            context_tokens: The model's context window; the model's ``n_ctx`` attribute, or
                4096.
            map_tokens: ``max_tokens`` of each chunk's summary.
            reduce_tokens: ``max_tokens`` of each combined (and of a single-chunk) summary.
            max_chars: Longest text accepted.
            max_calls: Most model calls for one text; derived from ``max_chars`` if ``None``.
            max_seconds: Wall-clock limit of one run, checked before each call.
            count_tokens: Token counter; the model's own (see :func:`model_token_counter`),
                else :func:`estimate_tokens`.
            template: The prompt template's name under ``prompts/templates``.
        """
        self.name = "summarize"
        self.model = model
        self.context_tokens = context_tokens or getattr(model, "n_ctx", None) or (
            DEFAULT_CONTEXT_TOKENS
        )
        self.map_tokens = map_tokens
        self.reduce_tokens = reduce_tokens
        self.max_chars = max_chars
        self.max_seconds = max_seconds
        self.template = template
        self._count = count_tokens or model_token_counter(model) or estimate_tokens
        self._budget = self._make_budget()
        self.max_calls = max_calls or self._calls_for(max_chars)

    # --- the plan (no I/O) ---

    def _make_budget(self) -> _Budget:
        from tooldeck.prompts import load_template

        parts = load_template(self.template)
        prompt = self._count(parts["system"]) + _CHAT_OVERHEAD + max(
            self._count(parts[name]) for name in ("single", "map", "reduce")
        )
        answer = max(self.map_tokens, self.reduce_tokens)
        margin = self.context_tokens // 20
        budget = _Budget(self.context_tokens - prompt - answer - margin, answer)
        needed = 2 * (answer + _SEPARATOR_TOKENS)
        if budget.input_tokens < needed:
            msg = (
                f"the model's context ({self.context_tokens} tokens) is too small to summarize: "
                f"the prompt and answer take {prompt + answer + margin} tokens and two partial "
                f"summaries need {needed} more; raise model.n_ctx or lower the summary tokens"
            )
            raise ConfigError(msg)
        return budget

    def _calls_for(self, chars: int) -> int:
        """The most calls a text of ``chars`` characters can need (one token per character)."""
        chunks = 2 * math.ceil(chars / self._budget.input_tokens)  # halved chunks count twice
        return chunks + self._budget.worst_reduce_calls(chunks)

    def split(self, text: str) -> list[str]:
        """Cut ``text`` into chunks that each fit one map call (at sentence or word ends).

        Args:
            text: The whole text.

        Returns:
            The chunks, in order.
        """
        from tooldeck.rag.splitters import split_text

        limit = self._budget.input_tokens
        chars_per_token = len(text) / max(1, self._count(text))
        size = max(200, int(limit * chars_per_token))
        chunks: list[str] = []
        for piece in split_text(text, size):
            chunks.extend(self._fit(piece, limit))
        return chunks

    def _fit(self, text: str, limit: int) -> list[str]:
        """Halve ``text`` (at a space where possible) until each piece has ``limit`` tokens."""
        if len(text) < 2 or self._count(text) <= limit:
            return [text]
        half = len(text) // 2
        cut = text.rfind(" ", half // 2, half)
        cut = cut if cut > 0 else half
        return self._fit(text[:cut], limit) + self._fit(text[cut:], limit)

    def _clip(self, summary: str) -> str:
        """A partial summary cut to the budget (a model may ignore ``max_tokens``)."""
        cap = self._budget.summary_tokens
        while summary and self._count(summary) > cap:
            keep = max(1, int(len(summary) * cap / self._count(summary)) - 1)
            summary = summary[:keep]
        return summary

    def _groups(self, summaries: list[str]) -> list[list[str]]:
        """Consecutive summaries packed into groups that fit one reduce call."""
        groups: list[list[str]] = []
        current: list[str] = []
        used = 0
        for summary in summaries:
            size = self._count(summary) + _SEPARATOR_TOKENS
            if current and used + size > self._budget.input_tokens:
                groups.append(current)
                current, used = [], 0
            current.append(summary)
            used += size
        if current:
            groups.append(current)
        return groups

    def _messages(self, part: str, body: str) -> list[BaseMessage]:
        from langchain_core.messages import HumanMessage, SystemMessage

        from tooldeck.prompts import load_template, render

        parts = load_template(self.template)
        slot = "summaries" if part == "reduce" else "passage"  # one slot: the body is not re-read
        user = render(parts[part], **{slot: body})
        return [SystemMessage(parts["system"]), HumanMessage(user)]

    def _checked(self, text: Any) -> str:
        if not isinstance(text, str) or not text.strip():
            msg = "nothing to summarize: the text is empty"
            raise InputError(msg)
        if len(text) > self.max_chars:
            msg = (
                f"the text is {len(text):,} characters long; the limit is {self.max_chars:,} "
                "(web.summarize_max_chars): summarize a shorter part"
            )
            raise InputError(msg)
        return text.strip()

    def _plan(self, text: str) -> Generator[_ModelCall, str, str]:
        """Yield each model call in order; receive each reply; return the final summary."""
        chunks = self.split(self._checked(text))
        if len(chunks) == 1:
            only = yield _ModelCall(self._messages("single", chunks[0]), self.reduce_tokens,
                                    "single", 1)
            return _final(only)
        total = len(chunks) + self._budget.worst_reduce_calls(len(chunks))
        if total > self.max_calls:
            msg = (
                f"this text needs up to {total} model calls; the limit is {self.max_calls}: "
                "summarize a shorter part"
            )
            raise InputError(msg)
        summaries = []
        for chunk in chunks:
            call = _ModelCall(self._messages("map", chunk), self.map_tokens, "map", total)
            summaries.append((yield call))
        done = len(chunks)
        while True:
            groups = self._groups([self._clip(s) for s in summaries])
            if len(groups) == 1:
                body = _SEPARATOR.join(groups[0])
                last = yield _ModelCall(self._messages("reduce", body), self.reduce_tokens,
                                        "reduce", done + 1)
                return _final(last)
            calls = sum(1 for group in groups if len(group) > 1)
            total = done + calls + self._budget.worst_reduce_calls(len(groups))
            summaries = []
            for group in groups:
                if len(group) == 1:  # nothing to combine: carried to the next level
                    summaries.append(group[0])
                    continue
                body = _SEPARATOR.join(group)
                call = _ModelCall(self._messages("reduce", body), self.reduce_tokens, "reduce",
                                  total)
                summaries.append((yield call))
                done += 1

    # --- the drivers (I/O) ---

    def invoke(self, input: str, config: RunnableConfig | None = None, **kwargs: Any) -> str:
        """Summarise ``input``; progress events go to the config's callbacks.

        Raises:
            InputError: Empty text, text over ``max_chars``, or more calls than ``max_calls``.
            ToolTimeoutError: ``max_seconds`` passed before the last call.
            ModelError: The model failed (``ModelOutputError`` for an empty final summary).
        """
        return self._call_with_config(self._drive, input, config, run_type="chain")

    async def ainvoke(
        self, input: str, config: RunnableConfig | None = None, **kwargs: Any
    ) -> str:
        """Async :meth:`invoke` (same plan, same events, same errors)."""
        return await self._acall_with_config(self._adrive, input, config, run_type="chain")

    def _drive(
        self, text: str, run_manager: CallbackManagerForChainRun, config: RunnableConfig
    ) -> str:
        from langchain_core.callbacks import dispatch_custom_event

        run = _Run(self._plan(text), self.max_seconds)
        while (call := run.next_call()) is not None:
            reply = self.model.invoke(call.messages, config=config, max_tokens=call.max_tokens)
            dispatch_custom_event(PROGRESS_EVENT, run.answered(call, reply), config=config)
        return run.result

    async def _adrive(
        self, text: str, run_manager: AsyncCallbackManagerForChainRun, config: RunnableConfig
    ) -> str:
        from langchain_core.callbacks import adispatch_custom_event

        run = _Run(self._plan(text), self.max_seconds)
        while (call := run.next_call()) is not None:
            reply = await self.model.ainvoke(
                call.messages, config=config, max_tokens=call.max_tokens
            )
            await adispatch_custom_event(PROGRESS_EVENT, run.answered(call, reply), config=config)
        return run.result


class _Clock:
    """The run's wall-clock limit, checked before each model call."""

    def __init__(self, max_seconds: float | None) -> None:
        self.max_seconds = max_seconds
        self.start = time.monotonic()

    def check(self, done: int, total: int) -> None:
        if self.max_seconds is None or time.monotonic() - self.start < self.max_seconds:
            return
        msg = (
            f"summarizing stopped after {done} of up to {total} model calls: the time limit of "
            f"{self.max_seconds:g} s passed"
        )
        raise ToolTimeoutError(msg)


class _Run:
    """One summary between model calls: the plan, the clock and the count both drivers share.

    ``next_call`` checks the time limit and gives the plan's next call (None when the plan has
    returned its summary, then in ``result``); ``answered`` feeds a reply back on the next
    ``next_call`` and gives the progress event for it.
    """

    def __init__(self, plan: Generator[_ModelCall, str, str], max_seconds: float | None) -> None:
        self._plan, self._clock = plan, _Clock(max_seconds)
        self._done = 0
        self._reply: str | None = None  # no reply yet: the plan's first call
        self.result = ""

    def next_call(self) -> _ModelCall | None:
        """The plan's next model call, or None once it has returned its summary.

        Raises:
            ToolTimeoutError: ``max_seconds`` passed before this call.
        """
        try:
            call = next(self._plan) if self._reply is None else self._plan.send(self._reply)
        except StopIteration as stop:
            self.result = str(stop.value)
            return None
        self._clock.check(self._done, call.total)
        return call

    def answered(self, call: _ModelCall, reply: Any) -> dict[str, Any]:
        """Take the model's ``reply`` to ``call``; returns the progress event's payload."""
        self._done += 1
        self._reply = _text(reply)
        return {"done": self._done, "total": max(self._done, call.total), "stage": call.stage}


def _text(reply: Any) -> str:
    if isinstance(reply, str):
        return tidy(reply)
    text = getattr(reply, "text", None)
    if isinstance(text, str):
        return tidy(text)
    return tidy(str(getattr(reply, "content", reply)))


def tidy(summary: str) -> str:
    """A model's summary without repeated sentences or a sentence cut off by ``max_tokens``.

    Small models loop ("The document is ... The document is ..."); a repeated sentence adds
    nothing and would crowd the reduce calls.
    """
    sentences = [s for s in _SENTENCE_END.split(summary.strip()) if s.strip()]
    seen: set[str] = set()
    kept: list[str] = []
    for sentence in sentences:
        key = " ".join(sentence.lower().split())
        if key not in seen:
            seen.add(key)
            kept.append(sentence.strip())
    if len(kept) > 1 and not kept[-1].endswith(_CLOSERS):
        kept.pop()  # cut off mid-sentence
    return " ".join(kept)


def _final(summary: str) -> str:
    if not summary.strip():
        msg = "the model returned an empty summary; try again or use a larger model"
        raise ModelOutputError(msg)
    return summary.strip()
