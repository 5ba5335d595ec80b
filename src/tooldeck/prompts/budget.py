"""The few-shot length budget: which ranked examples fit a model's context, whole.

The one place that decides how many worked examples a prompt carries. Examples come ranked
(best first) from any selector; they are taken whole while they fit. What does not fit is
either dropped, lowest-ranked first (``over_budget="drop"``), or replaced by one summary line
per example, as many whole lines as still fit (``over_budget="summarize"``). No example and no
summary line is ever cut in the middle.

The budget is what the model's context leaves after the answer's reserve and the rest of the
prompt: :func:`context_tokens` (from :mod:`tooldeck.models.tokens`, re-exported here) reads the
context size a chat model is built with, without loading it (``ChatLlamaCpp.n_ctx`` is the
value ``models/local.py`` hands to llama.cpp when the model first runs). Tokens are counted
with :func:`tooldeck.models.tokens.approx_tokens` unless a counter is passed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from langchain_core.example_selectors import BaseExampleSelector

from tooldeck.errors import ConfigError
from tooldeck.models.tokens import DEFAULT_CONTEXT_TOKENS, approx_tokens, context_tokens

__all__ = [
    "DEFAULT_CONTEXT_TOKENS",
    "MAX_SUMMARY_LINES",
    "BudgetPlan",
    "FixedOrderSelector",
    "TokenBudgetSelector",
    "context_tokens",
]

MAX_SUMMARY_LINES = 50


def _format(example: dict[str, Any]) -> str:
    return "\n".join(f"{key}: {value}" for key, value in example.items())


@dataclass
class BudgetPlan:
    """What a budget keeps of ranked examples.

    Attributes:
        kept: The examples shown whole, best first.
        summary: Summary lines standing for examples that did not fit, best first.
        dropped: Examples neither shown nor summarized.
        heading: The line above the summary lines.
    """

    kept: list[dict[str, Any]] = field(default_factory=list)
    summary: list[str] = field(default_factory=list)
    dropped: int = 0
    heading: str = ""

    def summary_text(self) -> str:
        """The heading and the summary lines, or ``""`` when nothing was summarized."""
        return "\n".join([self.heading, *self.summary]) if self.summary else ""


class FixedOrderSelector(BaseExampleSelector):
    """The examples in the order given (a template's own order), whatever the question.

    Args:
        examples: The examples.
    """

    def __init__(self, examples: list[dict[str, Any]]) -> None:
        self.examples = list(examples)

    def add_example(self, example: dict[str, str]) -> None:
        """Add one example at the end."""
        self.examples.append(example)

    def select_examples(self, input_variables: dict[str, str]) -> list[dict[str, Any]]:
        """Every example, in order."""
        return list(self.examples)


class TokenBudgetSelector(BaseExampleSelector):
    """Any selector's examples, cut to a token budget, whole examples only.

    The question's own tokens count against the budget. An example either fits whole or is
    left out with every example ranked below it; with ``over_budget="summarize"`` those are
    replaced by one summary line each while whole lines still fit.

    Args:
        inner: The selector that ranks the examples.
        max_tokens: Tokens the question and the examples may take.
        count_tokens: Tokens in a text; a safe chars/3 estimate by default.
        format_example: The text an example takes in the prompt; ``key: value`` lines by
            default (pass the template's own formatter for the real cost).
        separator: The text between two examples in the prompt.
        over_budget: ``drop`` or ``summarize`` what does not fit.
        summarize_example: One example's summary line (needed for ``summarize``).
        summary_heading: The line above the summary lines.
        max_examples: Most examples shown whole (the rest count as not fitting).
    """

    def __init__(
        self, inner: BaseExampleSelector, max_tokens: int, *,
        count_tokens: Callable[[str], int] | None = None,
        format_example: Callable[..., str] | None = None, separator: str = "\n\n",
        over_budget: Literal["drop", "summarize"] = "drop",
        summarize_example: Callable[[dict[str, Any]], str] | None = None,
        summary_heading: str = "More examples, in short:", max_examples: int | None = None,
    ) -> None:
        if max_tokens <= 0:
            msg = f"the few-shot budget is {max_tokens} tokens: raise n_ctx or lower the reserve"
            raise ConfigError(msg)
        if over_budget == "summarize" and summarize_example is None:
            msg = "over_budget='summarize' needs summarize_example (one line per example)"
            raise ConfigError(msg)
        self.inner = inner
        self.max_tokens = max_tokens
        self.count_tokens = count_tokens or approx_tokens
        self.format_example = format_example
        self.separator = separator
        self.over_budget = over_budget
        self.summarize_example = summarize_example
        self.summary_heading = summary_heading
        self.max_examples = max_examples

    @classmethod
    def for_context(
        cls, inner: BaseExampleSelector, n_ctx: int, reserve: int, prompt_tokens: int = 0,
        **kwargs: Any,
    ) -> TokenBudgetSelector:
        """A budget of what a model's context leaves after the answer and the fixed prompt.

        Args:
            inner: The selector that ranks the examples.
            n_ctx: The model's context size in tokens (:func:`context_tokens`).
            reserve: Tokens kept for the answer.
            prompt_tokens: Tokens of the rest of the prompt (instructions, tools).
            **kwargs: Passed to the constructor.

        Raises:
            ConfigError: Nothing is left for the question and the examples.
        """
        return cls(inner, n_ctx - reserve - prompt_tokens, **kwargs)

    def add_example(self, example: dict[str, str]) -> Any:
        """Add an example to the inner selector."""
        return self.inner.add_example(example)

    def _cost(self, example: dict[str, Any]) -> int:
        text = self.format_example(**example) if self.format_example else _format(example)
        return self.count_tokens(text)

    def plan(self, ranked: list[dict[str, Any]], input_variables: dict[str, Any]) -> BudgetPlan:
        """Split ``ranked`` into the examples shown whole, summary lines and the dropped.

        Args:
            ranked: The examples, best first.
            input_variables: The prompt's values (their tokens count against the budget).

        Returns:
            The plan: a best-first prefix of whole examples, then summary lines for the next
            examples while whole lines fit (``summarize`` only).
        """
        used = self.count_tokens(" ".join(str(v) for v in input_variables.values()))
        gap = self.count_tokens(self.separator)
        kept: list[dict[str, Any]] = []
        for example in ranked:
            if self.max_examples is not None and len(kept) >= self.max_examples:
                break
            cost = self._cost(example) + (gap if kept else 0)
            if used + cost > self.max_tokens:
                break
            kept.append(example)
            used += cost
        rest = ranked[len(kept):]
        plan = BudgetPlan(kept, [], len(rest), self.summary_heading)
        if self.over_budget != "summarize" or not rest or self.summarize_example is None:
            return plan
        used += self.count_tokens(self.summary_heading) + gap
        for example in rest[:MAX_SUMMARY_LINES]:
            line = self.summarize_example(example)
            cost = self.count_tokens(line) + 1
            if used + cost > self.max_tokens:
                break
            plan.summary.append(line)
            used += cost
        plan.dropped = len(rest) - len(plan.summary)
        return plan

    def fit(
        self, ranked: list[dict[str, Any]], input_variables: dict[str, Any],
    ) -> list[dict[str, Any]]:
        """The longest best-first prefix of ``ranked`` that fits with the question."""
        return self.plan(ranked, input_variables).kept

    def plan_for(self, input_variables: dict[str, Any]) -> BudgetPlan:
        """Rank with the inner selector, then :meth:`plan`."""
        return self.plan(self.inner.select_examples(input_variables), input_variables)

    async def aplan_for(self, input_variables: dict[str, Any]) -> BudgetPlan:
        """Rank with the inner selector, then :meth:`plan` (async)."""
        return self.plan(await self.inner.aselect_examples(input_variables), input_variables)

    def select_examples(self, input_variables: dict[str, Any]) -> list[dict[str, Any]]:
        """The inner selector's examples that fit the budget whole, best first."""
        return self.plan_for(input_variables).kept

    async def aselect_examples(self, input_variables: dict[str, Any]) -> list[dict[str, Any]]:
        """The inner selector's examples that fit the budget whole, best first (async)."""
        return (await self.aplan_for(input_variables)).kept
