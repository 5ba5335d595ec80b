"""Self-ask with search: follow-up questions answered by one search tool, then the answer.

What is self-ask's own lives here (the prompt, reading a reply, the grammar); the bounded
loop and its policy are :func:`tooldeck.agents.loop.run_loop`'s.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tooldeck.agents.core import Limits, LoopGen, Step, single_arg_input
from tooldeck.agents.grammar import GRAMMAR_MAX_TOKENS, self_ask_grammar
from tooldeck.agents.loop import Act, Answer, Malformed, Reading, prompt_id, run_loop
from tooldeck.prompts import load_template, render

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage
    from langchain_core.tools import BaseTool

__all__ = ["STOP_SEQUENCES", "SelfAskProtocol", "parse_self_ask", "self_ask_loop"]

STOP_SEQUENCES = ["\nIntermediate answer:", "Intermediate answer:"]
_FINAL = re.compile(r"So the final answer is\s*:\s*(.*)", re.S | re.I)
_FOLLOW = re.compile(r"Follow up\s*:\s*(.*)", re.I)


def parse_self_ask(text: str) -> tuple[str, str] | None:
    """Return ``("final", answer)`` or ``("follow_up", question)``, or None if malformed."""
    final = _FINAL.search(text)
    follow = _FOLLOW.search(text)
    if final and (not follow or final.start() < follow.start()):
        answer = final.group(1).strip().splitlines()[0].strip() if final.group(1).strip() else ""
        return ("final", answer) if answer else None
    if follow and follow.group(1).strip():
        return ("follow_up", follow.group(1).strip())
    return None


class SelfAskProtocol:
    """Self-ask's part of the bounded loop (see :class:`tooldeck.agents.loop.TextProtocol`)."""

    def __init__(
        self,
        question: str,
        search: BaseTool,
        *,
        use_grammar: bool,
        history: Sequence[BaseMessage] = (),
    ) -> None:
        """Keep what the steps need; see :func:`self_ask_loop` for the arguments."""
        self.tpl = load_template("self_ask")
        self.prompt: str | None = prompt_id("self_ask", self.tpl)
        self.question, self.search, self.history = question, search, list(history)
        self.use_grammar = use_grammar

    def opening(self) -> list[BaseMessage]:
        """The system prompt with its worked examples, history, then the question."""
        from langchain_core.messages import HumanMessage, SystemMessage

        question_text = render(self.tpl["question"], question=self.question)
        return [SystemMessage(self.tpl["system"]), *self.history, HumanMessage(question_text)]

    def read(self, text: str) -> Reading:
        """A follow-up question is an action of the search tool."""
        parsed = parse_self_ask(text)
        if parsed is None:
            problem = "no 'Follow up:' or final answer line"
            feedback = render(self.tpl["malformed"], problem=problem)
            return Malformed(text.strip()[:200], feedback)
        kind, value = parsed
        if kind == "final":
            return Answer("", value)
        return Act(value, self.search, single_arg_input(self.search, value))

    def options(self, *, must_answer: bool, urls: Sequence[str]) -> dict[str, Any]:
        """Stop sequences; or, on llama.cpp, the step grammar (only the answer if it must)."""
        if not self.use_grammar:
            return {"stop": STOP_SEQUENCES}
        grammar = self_ask_grammar(allow_follow_up=not must_answer)
        return {"grammar": grammar, "max_tokens": GRAMMAR_MAX_TOKENS}

    def observe(self, step: Step) -> BaseMessage:
        """``Intermediate answer: ...`` for a search; feedback on a malformed reply as it is."""
        from langchain_core.messages import HumanMessage

        template = self.tpl["intermediate"] if step.tool else "{answer}"
        return HumanMessage(render(template, answer=step.observation))


def self_ask_loop(
    question: str,
    search: BaseTool,
    limits: Limits,
    *,
    use_grammar: bool,
    history: Sequence[BaseMessage] = (),
) -> LoopGen:
    """The self-ask loop as a request/reply generator (see ``agents.core`` and ``agents.loop``).

    Args:
        question: The user's question.
        search: The tool that answers follow-up questions.
        limits: Step, time and repetition bounds.
        use_grammar: Constrain decoding with the self-ask grammar (llama.cpp models).
        history: Earlier conversation turns placed before the question.

    Returns:
        A generator whose return value is the :class:`AgentResult`.
    """
    protocol = SelfAskProtocol(question, search, use_grammar=use_grammar, history=history)
    return run_loop(protocol, question, limits)
