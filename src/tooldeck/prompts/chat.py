"""A template as a LangChain ``ChatPromptTemplate``, usable in any LCEL chain.

The prompt is ``system`` (role, task, context, constraints), the template's worked examples as
example turns (a ``FewShotChatMessagePromptTemplate``, within the length budget when a context
size is given), an optional ``history`` placeholder, then the user message (the template's
``input`` text). Its ``name`` is ``prompt:NAME`` and its metadata carries ``prompt`` and
``prompt_version``, so both reach every trace (LangSmith, callbacks, ``astream_events``).

Values are substituted once by f-string formatting: braces inside values (paths, code, tool
descriptions) are never read as slots. A missing variable raises :class:`PromptError` naming
the template and the variable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from langchain_core.messages import BaseMessage, SystemMessage
from langchain_core.prompts import (
    ChatPromptTemplate,
    FewShotChatMessagePromptTemplate,
    MessagesPlaceholder,
)

from tooldeck.errors import PromptError
from tooldeck.models.tokens import approx_tokens
from tooldeck.prompts.budget import FixedOrderSelector, TokenBudgetSelector

if TYPE_CHECKING:
    from collections.abc import Callable

    from langchain_core.example_selectors import BaseExampleSelector

    from tooldeck.prompts.spec import Examples, TemplateSpec

__all__ = ["DEFAULT_RESERVE", "BudgetedFewShot", "TemplatePrompt", "build_chat_prompt"]

DEFAULT_RESERVE = 512  # tokens kept for the answer when a context size is given
_UNBOUNDED = 1 << 62  # a token budget that never binds (no context size given)


class TemplatePrompt(ChatPromptTemplate):
    """A ``ChatPromptTemplate`` whose missing variables raise :class:`PromptError` by name."""

    template_name: str = ""
    """The tooldeck template this prompt was built from."""

    def _missing(self, given: Any) -> None:
        have = set(given) | set(self.partial_variables)
        missing = [name for name in self.input_variables if name not in have]
        if missing:
            msg = (f"prompt template {self.template_name!r} needs the variable {missing[0]!r} "
                   f"(it takes {', '.join(self.input_variables)}); pass {missing[0]}=...")
            raise PromptError(msg)

    def _validate_input(self, inner_input: Any) -> dict[str, Any]:
        if not isinstance(inner_input, dict):
            if len(self.input_variables) == 1:
                return {self.input_variables[0]: inner_input}
            msg = (f"prompt template {self.template_name!r} takes a mapping of "
                   f"{', '.join(self.input_variables)}, not {type(inner_input).__name__}")
            raise PromptError(msg)
        self._missing(inner_input)
        return inner_input

    def format_messages(self, **kwargs: Any) -> list[BaseMessage]:
        """The filled messages (values go in once; braces in them stay as they are)."""
        self._missing(kwargs)
        return super().format_messages(**kwargs)

    async def aformat_messages(self, **kwargs: Any) -> list[BaseMessage]:
        """The filled messages (async)."""
        self._missing(kwargs)
        return await super().aformat_messages(**kwargs)


class BudgetedFewShot(FewShotChatMessagePromptTemplate):
    """Example turns within a token budget; examples that do not fit may become a summary.

    With a :class:`TokenBudgetSelector` as ``example_selector``, the examples shown are its
    plan's whole examples, followed by one system message of summary lines when the template
    summarizes what does not fit.
    """

    def _messages(self, examples: list[dict[str, Any]]) -> list[BaseMessage]:
        keys = self.example_prompt.input_variables
        return [message for example in examples
                for message in self.example_prompt.format_messages(
                    **{k: example[k] for k in keys})]

    def format_messages(self, **kwargs: Any) -> list[BaseMessage]:
        """The selected examples as turns, then the summary of the rest (if any)."""
        if not isinstance(self.example_selector, TokenBudgetSelector):
            return super().format_messages(**kwargs)
        plan = self.example_selector.plan_for(kwargs)
        summary = plan.summary_text()
        return self._messages(plan.kept) + ([SystemMessage(summary)] if summary else [])

    async def aformat_messages(self, **kwargs: Any) -> list[BaseMessage]:
        """The selected examples as turns, then the summary of the rest (async)."""
        if not isinstance(self.example_selector, TokenBudgetSelector):
            return await super().aformat_messages(**kwargs)
        plan = await self.example_selector.aplan_for(kwargs)
        summary = plan.summary_text()
        return self._messages(plan.kept) + ([SystemMessage(summary)] if summary else [])


def _few_shot(
    spec: TemplateSpec, examples: Examples, selector: BaseExampleSelector | None,
    max_examples: int, n_ctx: int | None, reserve: int,
    count_tokens: Callable[[str], int] | None,
) -> BudgetedFewShot:
    from tooldeck.prompts.spec import render, slots

    example_prompt = ChatPromptTemplate.from_messages([("human", examples.human),
                                                       ("ai", examples.ai)])
    inner = selector or FixedOrderSelector(list(examples.items))
    asks = slots(spec.texts[spec.input]) if spec.input else []
    if n_ctx is None:
        if selector is None:
            return BudgetedFewShot(example_prompt=example_prompt, input_variables=[],
                                   examples=list(examples.items[:max_examples]))
        capped = TokenBudgetSelector(inner, _UNBOUNDED, max_examples=max_examples)  # count only
        return BudgetedFewShot(example_prompt=example_prompt, input_variables=asks,
                               example_selector=capped)
    fixed = spec.system_template() + (spec.texts[spec.input] if spec.input else "")
    count = count_tokens or approx_tokens
    budget = TokenBudgetSelector.for_context(
        inner, n_ctx, reserve, prompt_tokens=count(fixed), count_tokens=count,
        format_example=lambda **e: render(examples.human, **e) + "\n" + render(examples.ai, **e),
        over_budget=examples.over_budget,
        summarize_example=examples.as_summary if examples.over_budget == "summarize" else None,
        max_examples=max_examples,
    )
    return BudgetedFewShot(example_prompt=example_prompt, input_variables=asks,
                           example_selector=budget)


def build_chat_prompt(
    spec: TemplateSpec, *, selector: BaseExampleSelector | None = None, max_examples: int = 2,
    n_ctx: int | None = None, reserve: int = DEFAULT_RESERVE,
    count_tokens: Callable[[str], int] | None = None,
) -> TemplatePrompt:
    """The template as a chat prompt: system, example turns, ``history``, user message.

    Args:
        spec: The loaded template.
        selector: Ranks the template's examples for the question (any LangChain example
            selector built over them); the template's own order when ``None``.
        max_examples: Most examples shown whole.
        n_ctx: The model's context size (:func:`tooldeck.prompts.budget.context_tokens`);
            when given, examples are kept whole within what the context leaves, and the rest
            dropped or summarized as the template says.
        reserve: Tokens kept for the answer (with ``n_ctx``).
        count_tokens: Tokens in a text; a safe estimate by default.

    Returns:
        A ``ChatPromptTemplate`` named ``prompt:NAME`` with the name and version in its
        metadata.
    """
    messages: list[Any] = [("system", spec.system_template())]
    if spec.examples is not None and spec.examples.items and max_examples > 0:
        messages.append(_few_shot(spec, spec.examples, selector, max_examples, n_ctx, reserve,
                                  count_tokens))
    messages.append(MessagesPlaceholder("history", optional=True))
    if spec.input is not None:
        messages.append(("human", spec.texts[spec.input]))
    metadata = {"prompt": spec.name, "prompt_version": spec.version}
    factory: Any = TemplatePrompt  # ChatPromptTemplate's __init__ takes the messages first
    prompt: TemplatePrompt = factory(messages, template_name=spec.name,
                                     name=f"prompt:{spec.name}", metadata=metadata)
    return prompt
