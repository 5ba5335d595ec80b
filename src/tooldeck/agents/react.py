"""The ReAct loop: Thought / Action / Action Input / Observation / Final Answer as text.

What is ReAct's own lives here (the prompt, reading a reply, the grammar per step); the
bounded loop and its policy are :func:`tooldeck.agents.loop.run_loop`'s.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tooldeck.agents.core import Limits, LoopGen, Step, single_arg_input
from tooldeck.agents.grammar import (
    GRAMMAR_MAX_TOKENS,
    find_urls,
    react_answer_grammar,
    react_grammar,
    takes_url,
)
from tooldeck.agents.loop import Act, Answer, Malformed, Reading, prompt_id, run_loop
from tooldeck.prompts import load_template, render
from tooldeck.tools.fewshot import example_lines

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage
    from langchain_core.tools import BaseTool

    from tooldeck.tools.examples import ToolExample

__all__ = [
    "RESTATE_MAX_CHARS",
    "STOP_SEQUENCES",
    "ParsedAction",
    "ParsedFinal",
    "ReactParseError",
    "ReactProtocol",
    "describe_tools",
    "parse_react",
    "react_loop",
]

STOP_SEQUENCES = ["\nObservation:", "Observation:"]
# Longest question restated with each observation (see ReactProtocol.observe).
RESTATE_MAX_CHARS = 1000
_THOUGHT = re.compile(r"Thought\s*:\s*(.*?)(?=\n\s*(?:Action\s*:|Final Answer\s*:)|$)", re.S)
_ACTION = re.compile(r"Action\s*:\s*(.*?)\s*\n\s*Action\s*Input\s*:\s*(.*)", re.S)
_FINAL = re.compile(r"Final Answer\s*:\s*(.*)", re.S)


@dataclass(frozen=True)
class ParsedAction:
    """The model asked for a tool."""

    thought: str
    tool: str
    tool_input: Any


@dataclass(frozen=True)
class ParsedFinal:
    """The model gave its answer."""

    thought: str
    answer: str


@dataclass(frozen=True)
class ReactParseError:
    """The model's text is not a well-formed step."""

    thought: str
    problem: str


def _json_input(raw: str) -> Any:
    text = raw.strip().strip("`").strip()
    if text.startswith("json"):
        text = text[4:].strip()
    if text.startswith(("{", "[", '"')):
        end = text.rfind("}") if text.startswith("{") else len(text) - 1
        try:
            return json.loads(text[: end + 1])
        except json.JSONDecodeError:
            pass
    return text.splitlines()[0].strip() if text else ""


def parse_react(text: str) -> ParsedAction | ParsedFinal | ReactParseError:
    """Parse one ReAct step; whichever of Action and Final Answer comes first wins.

    Args:
        text: The model's output for one step.

    Returns:
        The action, the final answer, or what is wrong with the text.
    """
    thought_match = _THOUGHT.search(text)
    thought = thought_match.group(1).strip() if thought_match else ""
    action = _ACTION.search(text)
    final = _FINAL.search(text)
    if final and (not action or final.start() < action.start()):
        answer = final.group(1).strip()
        if not answer:
            return ReactParseError(thought, "the Final Answer is empty")
        return ParsedFinal(thought, answer)
    if action:
        tool = action.group(1).strip().strip("`'\"[]")
        if not tool:
            return ReactParseError(thought, "the Action names no tool")
        return ParsedAction(thought, tool, _json_input(action.group(2)))
    if re.search(r"Action\s*:", text):
        return ReactParseError(thought, "an Action must be followed by an 'Action Input:' line")
    return ReactParseError(thought, "no 'Action:' or 'Final Answer:' line was found")


def _arg_hint(spec: dict[str, Any]) -> str:
    desc = " ".join(str(spec.get("description", "")).split()) or spec.get("type", "value")
    return f"<{desc}>"


def describe_tools(
    tools: Sequence[BaseTool], examples: Sequence[tuple[BaseTool, ToolExample]] = ()
) -> str:
    """Describe each tool: name, description, input format and its worked examples.

    Args:
        tools: The tools offered.
        examples: ``(tool, example)`` pairs to show (see
            :func:`tooldeck.tools.fewshot.examples_for`), each under its tool, in order;
            pairs whose tool is not offered are left out.

    Returns:
        The text of the prompt's ``{tools}`` slot.
    """
    blocks = []
    for tool in tools:
        summary = " ".join((tool.description or "").split())
        fmt = json.dumps({k: _arg_hint(v) for k, v in tool.args.items()})
        lines = [f"{tool.name}: {summary}", f"  Action Input format: {fmt}"]
        for owner, ex in examples:
            if owner is tool:
                lines += example_lines(tool, ex)
        blocks.append("\n".join(lines))
    return "\n".join(blocks)


class ReactProtocol:
    """ReAct's part of the bounded loop (see :class:`tooldeck.agents.loop.TextProtocol`)."""

    def __init__(
        self,
        question: str,
        tools: Sequence[BaseTool],
        *,
        use_grammar: bool,
        history: Sequence[BaseMessage] = (),
        max_examples: int = 2,
        max_example_chars: int | None = None,
        act_first: bool = False,
    ) -> None:
        """Keep what the steps need; see :func:`react_loop` for the arguments."""
        self.tpl = load_template("react")
        self.prompt: str | None = prompt_id("react", self.tpl)
        self.question, self.tools, self.history = question, list(tools), list(history)
        self.by_name = {t.name: t for t in self.tools}
        self.use_grammar = use_grammar
        self.max_examples, self.max_example_chars = max_examples, max_example_chars
        self._grammars: dict[tuple[str, ...], dict[str, Any]] = {}
        # A question naming a URL that an offered tool can read: read before answering.
        self._read_first = bool(find_urls(question)) and any(takes_url(t) for t in self.tools)
        # Act first: tools were offered because the question matches them, so use one.
        self._read_first = self._read_first or (act_first and bool(self.tools))

    def opening(self) -> list[BaseMessage]:
        """System prompt (tools and the worked examples for the question), history, question."""
        from langchain_core.messages import HumanMessage, SystemMessage

        from tooldeck.tools.fewshot import examples_for

        best_first = examples_for(
            self.question, self.tools, self.max_examples, self.max_example_chars
        )
        # the nearest example last, closest to the question (as in Liu et al. 2022, "What
        # makes good in-context examples for GPT-3?"): the embedded model then follows it
        tools_text = describe_tools(self.tools, best_first[::-1])
        names = ", ".join(self.by_name)
        system = render(self.tpl["system"], tools=tools_text, tool_names=names)
        question_text = render(self.tpl["question"], question=self.question)
        return [SystemMessage(system), *self.history, HumanMessage(question_text)]

    def read(self, text: str) -> Reading:
        """Parse the step; an unknown tool is a malformed step naming the offered ones."""
        parsed = parse_react(text)
        if isinstance(parsed, ParsedFinal):
            return Answer(parsed.thought, parsed.answer)
        if isinstance(parsed, ReactParseError):
            feedback = render(self.tpl["malformed"], problem=parsed.problem)
            return Malformed(parsed.thought, feedback)
        tool = self.by_name.get(parsed.tool)
        if tool is None:
            names = ", ".join(self.by_name)
            feedback = render(self.tpl["unknown_tool"], tool=parsed.tool, tool_names=names)
            return Malformed(parsed.thought, feedback, parsed.tool, parsed.tool_input)
        return Act(parsed.thought, tool, single_arg_input(tool, parsed.tool_input))

    def options(self, *, must_answer: bool, urls: Sequence[str]) -> dict[str, Any]:
        """Stop sequences; or, on llama.cpp, the step grammar (URL arguments narrowed).

        With the grammar, a step that must answer may only answer; and until a tool has run,
        the step may only act when the question names a URL an offered tool can read, or
        under ``act_first``.
        """
        if not self.use_grammar:
            return {"stop": STOP_SEQUENCES}
        read_first = self._read_first and not must_answer
        key = ("\x00final",) if must_answer else (str(read_first), *urls)
        if key not in self._grammars:
            if len(self._grammars) >= 8:  # a run's URLs only grow: old grammars are not reused
                self._grammars.clear()
            grammar = (
                react_answer_grammar()
                if must_answer
                else react_grammar(self.tools, urls=urls, allow_final=not read_first)
            )
            self._grammars[key] = {"grammar": grammar, "max_tokens": GRAMMAR_MAX_TOKENS}
        return dict(self._grammars[key])

    def observe(self, step: Step) -> BaseMessage:
        """The question again, then ``Observation: ...`` with the nudge to answer.

        Restating the question with each observation keeps a small model on it (it answers
        the question instead of summarizing the page); a very long question is not repeated.
        """
        from langchain_core.messages import HumanMessage

        if step.tool is not None:
            self._read_first = False
        text = render(self.tpl["observation"], observation=step.observation)
        if len(self.question) <= RESTATE_MAX_CHARS:
            text = render(self.tpl["question"], question=self.question) + "\n" + text
        return HumanMessage(text)


def react_loop(
    question: str,
    tools: Sequence[BaseTool],
    limits: Limits,
    *,
    use_grammar: bool,
    history: Sequence[BaseMessage] = (),
    max_examples: int = 2,
    max_example_chars: int | None = None,
    act_first: bool = False,
) -> LoopGen:
    """The ReAct loop as a request/reply generator (see ``agents.core`` and ``agents.loop``).

    Args:
        question: The user's question.
        tools: The tools offered (already preselected).
        limits: Step, time and repetition bounds.
        use_grammar: Constrain decoding with the ReAct grammar (llama.cpp models).
        history: Earlier conversation turns placed before the question.
        max_examples: Most worked examples in the prompt (``prompts.max_examples``).
        max_example_chars: Characters the worked examples may take in all (None: no cap).
        act_first: With the grammar and tools offered, the steps may not give a Final
            Answer until a tool has run (the embedded model otherwise declines tools that
            preselection matched to the question).

    Returns:
        A generator whose return value is the :class:`AgentResult`.
    """
    protocol = ReactProtocol(
        question,
        tools,
        use_grammar=use_grammar,
        history=history,
        max_examples=max_examples,
        max_example_chars=max_example_chars,
        act_first=act_first,
    )
    return run_loop(protocol, question, limits)
