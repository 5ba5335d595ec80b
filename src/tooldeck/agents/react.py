"""The ReAct loop: Thought / Action / Action Input / Observation / Final Answer as text."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tooldeck.agents.core import (
    AgentResult,
    Deadline,
    Limits,
    LoopGen,
    ModelCall,
    RepeatTracker,
    Step,
    ToolCall,
    close_run,
    single_arg_input,
)
from tooldeck.agents.grammar import GRAMMAR_MAX_TOKENS, react_grammar
from tooldeck.prompts import load_template, render

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage
    from langchain_core.tools import BaseTool

    from tooldeck.tools.examples import ToolExample
    from tooldeck.tools.runner import Observation

__all__ = [
    "STOP_SEQUENCES",
    "ParsedAction",
    "ParsedFinal",
    "ReactParseError",
    "describe_tools",
    "parse_react",
    "react_loop",
]

STOP_SEQUENCES = ["\nObservation:", "Observation:"]
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


def _examples(tool: BaseTool) -> list[ToolExample]:
    """The tool's worked examples; a tool that was never registered may carry bad ones: none."""
    from tooldeck.errors import PluginError
    from tooldeck.tools.examples import tool_examples

    try:
        return tool_examples(tool)
    except PluginError:
        return []


def describe_tools(tools: Sequence[BaseTool]) -> str:
    """Describe each tool: name, description, input format and any worked examples.

    A tool may carry ``metadata={"examples": [{"question", "input", "observation",
    "answer"?, "thought"?}]}`` (checked at registration, see
    :class:`tooldeck.tools.examples.ToolExample`); the first two show a small model the exact
    protocol with that tool.
    """
    blocks = []
    for tool in tools:
        summary = " ".join((tool.description or "").split())
        fmt = json.dumps({k: _arg_hint(v) for k, v in tool.args.items()})
        lines = [f"{tool.name}: {summary}", f"  Action Input format: {fmt}"]
        for ex in _examples(tool)[:2]:
            lines += [
                f"  Example - Question: {ex.question}",
                f"  Thought: {ex.thought or f'I should use {tool.name}'}",
                f"  Action: {tool.name}",
                f"  Action Input: {json.dumps(ex.input, ensure_ascii=False)}",
                f"  Observation: {ex.observation}",
            ]
            if ex.answer is not None:
                lines += ["  Thought: I know the answer", f"  Final Answer: {ex.answer}"]
        blocks.append("\n".join(lines))
    return "\n".join(blocks)


def _opening(
    tpl: dict[str, Any], question: str, tools: Sequence[BaseTool], history: Sequence[BaseMessage]
) -> list[BaseMessage]:
    from langchain_core.messages import HumanMessage, SystemMessage

    names = ", ".join(t.name for t in tools)
    system = render(tpl["system"], tools=describe_tools(tools), tool_names=names)
    question_text = render(tpl["question"], question=question)
    return [SystemMessage(system), *history, HumanMessage(question_text)]


def _call_options(
    tools: Sequence[BaseTool], use_grammar: bool
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Model call options for a normal step and for a step that must be the final answer.

    Without a grammar, both stop before a hallucinated observation. With one, a small model
    that repeats itself, or has one step left, gets a grammar that allows only an answer.
    """
    if not use_grammar:
        options: dict[str, Any] = {"stop": STOP_SEQUENCES}
        return options, options
    return (
        {"grammar": react_grammar(tools), "max_tokens": GRAMMAR_MAX_TOKENS},
        {"grammar": react_grammar(()), "max_tokens": GRAMMAR_MAX_TOKENS},
    )


def react_loop(
    question: str,
    tools: Sequence[BaseTool],
    limits: Limits,
    *,
    use_grammar: bool,
    history: Sequence[BaseMessage] = (),
) -> LoopGen:
    """The ReAct loop as a request/reply generator (see ``agents.core``).

    Args:
        question: The user's question.
        tools: The tools offered (already preselected).
        limits: Step, time and repetition bounds.
        use_grammar: Constrain decoding with the ReAct grammar (llama.cpp models).
        history: Earlier conversation turns placed before the question.

    Returns:
        A generator whose return value is the :class:`AgentResult`.
    """
    from langchain_core.messages import AIMessage, HumanMessage

    tpl = load_template("react")
    by_name = {t.name: t for t in tools}
    names = ", ".join(by_name)
    messages = _opening(tpl, question, tools, history)
    options, final_only = _call_options(tools, use_grammar)
    deadline, repeats = Deadline(limits.max_seconds), RepeatTracker()
    steps: list[Step] = []
    result = AgentResult(answer="", steps=steps)
    must_answer = False
    for index in range(limits.max_steps):
        if deadline.expired():
            result.stopped_by = "max_seconds"
            break
        last = must_answer or index == limits.max_steps - 1
        text: str = yield ModelCall(list(messages), final_only if last else options)
        parsed = parse_react(text)
        messages.append(AIMessage(text.strip()))
        if isinstance(parsed, ParsedFinal):
            result.answer = parsed.answer
            break
        if isinstance(parsed, ReactParseError):
            feedback = render(tpl["malformed"], problem=parsed.problem)
            step = Step(parsed.thought, None, None, feedback, error=True)
        elif parsed.tool not in by_name:
            feedback = render(tpl["unknown_tool"], tool=parsed.tool, tool_names=names)
            step = Step(parsed.thought, parsed.tool, parsed.tool_input, feedback, error=True)
        else:
            tool = by_name[parsed.tool]
            tool_input = single_arg_input(tool, parsed.tool_input)
            seen = repeats.count(tool.name, tool_input)
            if seen > limits.max_repeats:
                result.stopped_by = "repeated_action"
                break
            if seen > 1:
                must_answer = True
                previous = repeats.previous(tool.name, tool_input)
                feedback = render(tpl["repeated"], tool=tool.name, observation=previous)
                step = Step(parsed.thought, tool.name, tool_input, feedback, error=True)
            else:
                timeout = min(limits.tool_timeout_s, max(deadline.remaining(), 0.01))
                obs: Observation = yield ToolCall(tool, tool_input, timeout)
                repeats.remember(tool.name, tool_input, obs.text)
                step = Step(parsed.thought, tool.name, tool_input, obs.text, error=obs.error)
        steps.append(step)
        yield step
        messages.append(HumanMessage(render(tpl["observation"], observation=step.observation)))
    else:
        result.stopped_by = "max_steps"
    return close_run(result, limits, deadline)
