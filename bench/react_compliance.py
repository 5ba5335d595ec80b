"""ReAct protocol compliance of the embedded model: grammar on vs off, two argument grammars.

For each question: are the model's steps well formed (parseable, naming a real tool), did
it choose the right tool first, and is the final answer correct. Runs the real SmolLM2-135M
through ``build_agent`` with no network.

Two question sets:

* ``calculator`` (20): 12 arithmetic questions (the calculator first), 8 that need no tool;
  only the calculator is configured, as in the default config.
* ``web`` (12): the web tools and the calculator are configured (BM25 preselection offers
  three): pages to read or summarize, searches, Wikipedia and YouTube look-ups, arithmetic.
  There is no network: ``ddgs`` answers every search with canned rows and every other
  connection is refused, so page, Wikipedia and YouTube calls end in an error observation
  (loopback pages are for test suites only). *Correct* counts only the 4 questions whose
  answer the canned rows or the calculator give.

The argument grammar inside each ``Action Input`` comes from one of two builders:
``builtin`` (:func:`tooldeck.agents.grammar.react_grammar`: each tool's schema tightened,
compact and inlined with ``%json``) or ``xllamacpp`` (llama.cpp's own converter,
``xllamacpp.json_schema_to_grammar``, given each tool's schema as it is). Both run on the same
model, questions and step structure.

    python bench/react_compliance.py [--set calculator|web|both] [--grammar on|off|both]
        [--args-grammar builtin|xllamacpp|both] [--max-steps 4] [--verbose]
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import re
import socket
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tooldeck.config import load_config
from tooldeck.pipeline import build_agent

if TYPE_CHECKING:
    from langchain_core.tools import BaseTool

WEB_TOOLS = ["calculator", "duckduckgo", "web_fetch", "summarize", "wikipedia", "youtube"]

QUESTIONS: list[tuple[str, str | None, str]] = [
    ("What is 17 * 23?", "calculator", "391"),
    ("How much is 1234 + 4321?", "calculator", "5555"),
    ("What is 144 divided by 12?", "calculator", "12"),
    ("Compute 2 to the power of 10.", "calculator", "1024"),
    ("What is 999 - 123?", "calculator", "876"),
    ("Multiply 45 by 6.", "calculator", "270"),
    ("What is (3 + 5) * 7?", "calculator", "56"),
    ("How much is 15% of 200?", "calculator", "30"),
    ("What is 81 / 9 + 2?", "calculator", "11"),
    ("Calculate 7 * 8 * 9.", "calculator", "504"),
    ("What is 1000 minus 1?", "calculator", "999"),
    ("What is the sum of 250 and 750?", "calculator", "1000"),
    ("What is the capital of France?", None, "paris"),
    ("Who wrote Romeo and Juliet?", None, "shakespeare"),
    ("What colour is the sky on a clear day?", None, "blue"),
    ("Say hello in Spanish.", None, "hola"),
    ("What is the largest planet in our solar system?", None, "jupiter"),
    ("How many legs does a spider have?", None, "8"),
    ("What language is spoken in Brazil?", None, "portuguese"),
    ("What is the opposite of hot?", None, "cold"),
]

# An expected answer of None is not scored for correctness (that tool has no network here).
WEB_QUESTIONS: list[tuple[str, str | None, str | None]] = [
    ("What does the page at https://zubrowka.example/about say the capital of Zubrowka is?",
     "web_fetch", None),
    ("Read the web page https://coast.example/skerryvore and tell me when the light was "
     "automated.", "web_fetch", None),
    ("Summarize the web page at https://zubrowka.example/about.", "summarize", None),
    ("Give me the gist of the article at https://coast.example/skerryvore.", "summarize", None),
    ("Search the web for the official home page of the Python programming language.",
     "duckduckgo", "python.org"),
    ("Search the web: what is the capital of Zubrowka?", "duckduckgo", "lutz"),
    ("Look up Ada Lovelace on Wikipedia.", "wikipedia", None),
    ("What does Wikipedia say about the planet Mercury?", "wikipedia", None),
    ("Find YouTube videos about sourdough baking.", "youtube", None),
    ("Search YouTube for a beginner guitar lesson.", "youtube", None),
    ("What is 12 * 12?", "calculator", "144"),
    ("How much is 250 + 17?", "calculator", "267"),
]  # fmt: skip

CANNED_ROWS = [
    {"title": "Welcome to Python.org", "href": "https://www.python.org/",
     "body": "The official home of the Python Programming Language: python.org."},
    {"title": "Zubrowka Tourist Board", "href": "https://zubrowka.example/about",
     "body": "Visit Lutz, the capital of Zubrowka, and its Grand Budapest Hotel."},
]  # fmt: skip


# --- argument grammars ---


def xllamacpp_args_rule(schema: dict[str, Any], rule: str) -> list[str]:
    """The rules of ``xllamacpp.json_schema_to_grammar(schema)``, its start renamed ``rule``."""
    import xllamacpp

    converted: str = xllamacpp.json_schema_to_grammar(json.dumps(schema))
    header, _, body = converted.partition("\n")
    if not header.startswith("%llguidance"):
        msg = "xllamacpp returned GBNF; this bench expects its llguidance (%json) output"
        raise SystemExit(msg)
    return [re.sub(r"^start:", f"{rule}:", line) for line in body.splitlines() if line.strip()]


def args_schema(tool: BaseTool) -> dict[str, Any]:
    """The tool's argument schema as the builtin builder starts from it (``$ref``s kept)."""
    schema = tool.tool_call_schema
    raw: dict[str, Any] = (
        schema if isinstance(schema, dict) else schema.model_json_schema()  # type: ignore[union-attr]
    )
    return raw


def xllamacpp_react_grammar(tools: Sequence[BaseTool], *, allow_final: bool = True) -> str:
    """``react_grammar`` with each tool's arguments from llama.cpp's JSON-schema converter."""
    rules: list[str] = []
    choices: list[str] = []
    for index, tool in enumerate(tools):
        head = json.dumps(f"Action: {tool.name}\nAction Input: ")
        rules.append(f"act_{index}: {head} args_{index}")
        rules.extend(xllamacpp_args_rule(args_schema(tool), f"args_{index}"))
        choices.append(f"act_{index}")
    if allow_final or not choices:
        choices.append("final")
    lines = [
        "%llguidance {}",
        r'start: "Thought: " LINE "\n" step',
        "step: " + " | ".join(choices),
        *rules,
        'final: "Final Answer: " LINE',
        r"LINE: /[^\n]{1,160}/",
    ]
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def args_grammar(builder: str) -> Iterator[None]:
    """Make the ReAct loop build its grammars with ``builder`` (``builtin`` or ``xllamacpp``)."""
    import tooldeck.agents.react as react

    original = react.react_grammar  # type: ignore[attr-defined]
    if builder == "xllamacpp":
        setattr(react, "react_grammar", xllamacpp_react_grammar)  # noqa: B010
    try:
        yield
    finally:
        setattr(react, "react_grammar", original)  # noqa: B010


# --- the web set's world: canned search rows, no network ---


@contextlib.contextmanager
def offline_web() -> Iterator[None]:
    """Answer ddgs with :data:`CANNED_ROWS`; refuse every connection but loopback ones."""
    import ddgs.ddgs

    real_connect, real_text = socket.socket.connect, ddgs.ddgs.DDGS.text

    def loopback_only(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            if not ipaddress.ip_address(address[0]).is_loopback:
                raise OSError(f"the bench has no network (tried {address[0]})")
        return real_connect(self, address)

    setattr(socket.socket, "connect", loopback_only)  # noqa: B010
    setattr(ddgs.ddgs.DDGS, "text", lambda self, query, **kw: CANNED_ROWS)  # noqa: B010
    try:
        yield
    finally:
        setattr(socket.socket, "connect", real_connect)  # noqa: B010
        setattr(ddgs.ddgs.DDGS, "text", real_text)  # noqa: B010


# --- scoring ---


@dataclass
class Tally:
    """Counts over one question set."""

    good: int = 0
    calls: int = 0
    right: int = 0
    correct: int = 0
    checkable: int = 0
    questions: int = 0


def score(
    result: dict[str, Any], tool: str | None, expected: str | None, tally: Tally
) -> tuple[bool, bool]:
    steps = result["steps"]
    calls = len(steps) + (0 if result["stopped_by"] else 1)
    malformed = sum(1 for s in steps if s["tool"] is None or "is not a tool" in s["observation"])
    first = steps[0]["tool"] if steps else None
    right = first == tool
    answer = re.sub(r"(?<=\d),(?=\d{3})", "", result["answer"].lower())
    correct = (
        expected is not None
        and not result["stopped_by"]
        and re.search(rf"\b{re.escape(expected)}\b", answer) is not None
    )
    tally.good += calls - malformed
    tally.calls += calls
    tally.right += right
    tally.correct += correct
    tally.checkable += expected is not None
    tally.questions += 1
    return right, correct


def run_set(
    questions: Sequence[tuple[str, str | None, str | None]],
    tools: list[str],
    grammar: str,
    max_steps: int,
    label: str,
    verbose: bool,
) -> dict[str, float]:
    config = load_config(
        overrides={"tools": tools, "agent": {"grammar": grammar, "max_steps": max_steps}},
        read_dotenv=False,
    )
    agent = build_agent(config)
    tally = Tally()
    start = time.perf_counter()
    for question, tool, expected in questions:
        result = agent.invoke(question)
        right, correct = score(result, tool, expected, tally)
        if verbose:
            used = [s["tool"] for s in result["steps"]]
            print(
                f"  [{label}] {question!r}: tools={used} right={right} correct={correct} "
                f"answer={result['answer'][:60]!r}",
                flush=True,
            )
    return {
        "well_formed": tally.good / max(tally.calls, 1),
        "steps": tally.calls,
        "right_tool": tally.right / tally.questions,
        "correct": tally.correct / max(tally.checkable, 1),
        "seconds": time.perf_counter() - start,
    }


def run(qset: str, grammar: str, builder: str, max_steps: int, verbose: bool) -> dict[str, float]:
    label = f"{qset} {grammar} {builder}"
    with args_grammar(builder):
        if qset == "calculator":
            return run_set(QUESTIONS, ["calculator"], grammar, max_steps, label, verbose)
        with offline_web():
            return run_set(WEB_QUESTIONS, WEB_TOOLS, grammar, max_steps, label, verbose)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-steps", type=int, default=4)
    parser.add_argument("--set", choices=["calculator", "web", "both"], default="calculator")
    parser.add_argument("--grammar", choices=["on", "off", "both"], default="both")
    parser.add_argument(
        "--args-grammar",
        choices=["builtin", "xllamacpp", "both"],
        default="builtin",
        help="who writes each tool's argument grammar (with --grammar on)",
    )
    parser.add_argument("--verbose", action="store_true", help="print every question's outcome")
    args = parser.parse_args()
    sets = ("calculator", "web") if args.set == "both" else (args.set,)
    builders = ("builtin", "xllamacpp") if args.args_grammar == "both" else (args.args_grammar,)
    modes = [("on", b) for b in builders] if args.grammar in ("on", "both") else []
    if args.grammar in ("off", "both"):
        modes.append(("off", "-"))
    print(
        f"SmolLM2-135M-Instruct Q4_1, max_steps={args.max_steps}; calculator set: "
        f"{len(QUESTIONS)} questions (12 calculator, 8 no tool); web set: {len(WEB_QUESTIONS)} "
        f"questions (correct over the {sum(e is not None for *_, e in WEB_QUESTIONS)} "
        "checkable)\n",
        flush=True,
    )
    print(
        "| set        | grammar | args grammar | well-formed steps | model calls | right tool "
        "| correct answer | seconds |"
    )
    print(
        "|------------|---------|--------------|-------------------|-------------|------------"
        "|----------------|---------|",
        flush=True,
    )
    for qset in sets:
        for grammar, builder in modes:
            r = run(qset, grammar, builder, args.max_steps, args.verbose)
            print(
                f"| {qset:<10} | {grammar:<7} | {builder:<12} | {r['well_formed']:>17.0%} | "
                f"{r['steps']:>11.0f} | {r['right_tool']:>10.0%} | {r['correct']:>14.0%} | "
                f"{r['seconds']:>7.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
