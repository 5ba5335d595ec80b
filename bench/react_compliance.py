"""ReAct protocol compliance of the embedded model: grammar on vs off, two tool rankers.

For each question: are the model's steps well formed (parseable, naming a real tool), did
it choose the right tool first, and is the final answer correct. Runs the real SmolLM2-135M
through ``build_agent`` with no network.

Three question sets:

* ``v2`` (78, frozen in ``bench/data/react_questions_v2.jsonl``, written before any tuning):
  arithmetic in many phrasings, questions needing no tool, questions about the Bookshelf API
  (``bench/data/bookshelf_openapi.json``, indexed into a scratch data dir for the
  ``retriever``), searches, pages to read or summarize, Wikipedia and YouTube look-ups. Every
  tool but the keyed searches is configured (seven); preselection offers at most three. Its
  ``test`` half was never looked at while choosing the ranker's threshold; the table gives
  right tool on that half too. Web tools meet the same offline world as the ``web`` set.

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

Tool preselection is either ``new`` (:mod:`tooldeck.tools.select`: MiniLM similarity to each
tool's description and worked examples beside BM25, fused; a "no tool" class of generic
questions; a URL in the question offers the tools taking one) or ``old`` (the BM25 ranker with
its arithmetic word list as shipped before, kept here verbatim as the baseline), in the same
run.

    python bench/react_compliance.py [--set v2|calculator|web|all] [--grammar on|off|both]
        [--ranker new|old|both] [--args-grammar builtin|xllamacpp|both] [--max-steps 4]
        [--limit N] [--every N] [--split dev|test|all] [--act-first] [--preselect-only]
        [--verbose]
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import math
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tooldeck.config import load_config
from tooldeck.pipeline import build_agent

if TYPE_CHECKING:
    from langchain_core.tools import BaseTool

WEB_TOOLS = ["calculator", "duckduckgo", "web_fetch", "summarize", "wikipedia", "youtube"]
V2_TOOLS = ["calculator", "retriever", *WEB_TOOLS[1:]]
DATA = Path(__file__).parent / "data"
V2_FILE = DATA / "react_questions_v2.jsonl"
API_DOCS = DATA / "bookshelf_openapi.json"

Question = tuple[str, str | None, str | None, str]  # question, first tool, answer, split


def load_v2(split: str = "all") -> list[Question]:
    """The frozen v2 set (its header line skipped), optionally one split."""
    rows = [json.loads(line) for line in V2_FILE.read_text(encoding="utf-8").splitlines()]
    return [
        (r["question"], r["tool"], r["answer"], r["split"])
        for r in rows
        if "question" in r and split in ("all", r["split"])
    ]


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


def xllamacpp_react_grammar(
    tools: Sequence[BaseTool], *, allow_final: bool = True, urls: Sequence[str] = ()
) -> str:
    """``react_grammar`` with each tool's arguments from llama.cpp's JSON-schema converter.

    URL arguments are narrowed to ``urls`` the same way (``with_url_choices``) before conversion.
    """
    from tooldeck.agents.grammar import with_url_choices

    rules: list[str] = []
    choices: list[str] = []
    for index, tool in enumerate(tools):
        head = json.dumps(f"Action: {tool.name}\nAction Input: ")
        rules.append(f"act_{index}: {head} args_{index}")
        schema = with_url_choices(args_schema(tool), urls)
        rules.extend(xllamacpp_args_rule(schema, f"args_{index}"))
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


@contextlib.contextmanager
def act_first(enabled: bool) -> Iterator[None]:
    """When preselection offers tools (with the grammar, only tools the question matches),
    the first step must be an action. Measured here first; now the agent's own behaviour
    (``react_loop(act_first=True)`` with the grammar and automatic ``tool_min_score``), so
    the flag changes nothing in that setting."""
    from tooldeck.agents.react import ReactProtocol

    original = ReactProtocol.__init__

    def patched(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self._read_first = self._read_first or bool(self.tools)

    if enabled:
        setattr(ReactProtocol, "__init__", patched)  # noqa: B010
    try:
        yield
    finally:
        setattr(ReactProtocol, "__init__", original)  # noqa: B010


# --- the baseline ranker: BM25 with the arithmetic word list, as shipped before ---

_OLD_WORD = re.compile(r"[a-z0-9]+")
_OLD_STOP = frozenset(
    "a an and are as at be by for from how i in is it of on or the to what when where which "
    "who why with do does did you your me my this that use".split()
)
_OLD_ARITH = re.compile(r"\d\s*[-+*/^×÷%]\s*\d")
_OLD_ARITH_WORDS = re.compile(
    r"\b(plus|minus|times|multipl\w*|divid\w*|sum|total|product|difference|quotient|"
    r"power|squared?|cubed?|root|percent|average|mean|add|subtract\w*|calculat\w*|"
    r"comput\w*|how much|how many)\b"
)


def _old_tokens(text: str) -> list[str]:
    words = _OLD_WORD.findall(text.lower().replace("_", " "))
    return [w[:-1] if len(w) > 3 and w.endswith("s") else w for w in words if w not in _OLD_STOP]


def old_preselect(
    question: str,
    tools: Sequence[BaseTool],
    top_k: int,
    min_score: float | None = None,
    **_: Any,
) -> list[BaseTool]:
    """The preselection shipped before issue 9 part 4 (commit 8d582ec), for the baseline."""
    if min_score is None and len(tools) <= top_k:
        return list(tools)
    docs = [_old_tokens(f"{t.name} {t.name} {t.description} {' '.join(t.args)}") for t in tools]
    avg = sum(len(d) for d in docs) / len(docs) or 1.0
    df: Counter[str] = Counter(term for d in docs for term in set(d))
    query = _old_tokens(question)
    text = question.lower()
    if _OLD_ARITH.search(text) or (re.search(r"\d", text) and _OLD_ARITH_WORDS.search(text)):
        query += ["math", "arithmetic", "calculator", "compute"]
    scored = []
    for index, (tool, doc) in enumerate(zip(tools, docs, strict=True)):
        tf = Counter(doc)
        score = 0.0
        for term in (t for t in query if t in tf):
            idf = math.log(1 + (len(docs) - df[term] + 0.5) / (df[term] + 0.5))
            score += idf * tf[term] * 2.2 / (tf[term] + 1.2 * (0.25 + 0.75 * len(doc) / avg))
        scored.append((score, -index, tool))
    scored.sort(key=lambda item: (item[0], item[1]), reverse=True)
    return [t for score, _, t in scored[:top_k] if min_score is None or score > min_score]


@contextlib.contextmanager
def ranker(kind: str) -> Iterator[None]:
    """Make the pipeline preselect tools with the ``new`` ranker or the ``old`` baseline."""
    import tooldeck.tools.select as select

    original = select.preselect_tools
    if kind == "old":
        setattr(select, "preselect_tools", old_preselect)  # noqa: B010
    try:
        yield
    finally:
        setattr(select, "preselect_tools", original)  # noqa: B010


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
    by_split: dict[str, list[int]] = field(default_factory=dict)  # split: [right, questions]


def score(
    result: dict[str, Any], tool: str | None, expected: str | None, tally: Tally, split: str
) -> tuple[bool, bool]:
    """Add one run's outcome to the tally; return (right first tool, correct answer)."""
    steps = result["steps"]
    calls = len(steps) + (0 if result["stopped_by"] else 1)
    malformed = sum(1 for s in steps if s["tool"] is None or "is not a tool" in s["observation"])
    first = steps[0]["tool"] if steps else None
    right = first == tool
    answer = re.sub(r"(?<=\d),(?=\d{3})", "", result["answer"].lower())
    correct = (
        expected is not None
        and not result["stopped_by"]
        and re.search(rf"(?<![\w.]){re.escape(expected)}(?![\w]|\.\d)", answer) is not None
    )
    tally.good += calls - malformed
    tally.calls += calls
    tally.right += right
    tally.correct += correct
    tally.checkable += expected is not None
    tally.questions += 1
    counts = tally.by_split.setdefault(split, [0, 0])
    counts[0] += right
    counts[1] += 1
    return right, correct


@dataclass
class Setup:
    """How one set runs: questions, tools, and the data dir they need."""

    questions: Sequence[Question]
    tools: list[str]
    data_dir: str | None = None


def run_set(setup: Setup, grammar: str, max_steps: int, label: str, verbose: bool) -> Tally:
    """Answer every question of the set with a fresh agent; tally the outcomes."""
    overrides: dict[str, Any] = {
        "tools": setup.tools,
        "agent": {"grammar": grammar, "max_steps": max_steps},
    }
    if setup.data_dir:
        overrides["data_dir"] = setup.data_dir
    agent = build_agent(load_config(overrides=overrides, read_dotenv=False))
    tally = Tally()
    for question, tool, expected, split in setup.questions:
        result = agent.invoke(question)
        right, correct = score(result, tool, expected, tally, split)
        if verbose:
            used = [s["tool"] for s in result["steps"]]
            print(
                f"  [{label}] {question!r}: tools={used} right={right} correct={correct} "
                f"answer={result['answer'][:60]!r}",
                flush=True,
            )
    return tally


def index_api_docs(data_dir: str) -> None:
    """Index the Bookshelf API as the default index ``docs`` of a scratch data dir."""
    env = {"TOOLDECK_DATA_DIR": data_dir, "PATH": "/usr/bin:/bin"}
    command = [sys.executable, "-m", "tooldeck", "index", "docs", str(API_DOCS)]
    subprocess.run(command, check=True, env=env, capture_output=True, timeout=600)  # noqa: S603


def setups(split: str, limit: int | None, data_dir: str) -> dict[str, Setup]:
    """The three sets, each cut to ``limit`` questions when given."""
    old = [(q, t, a, "-") for q, t, a in QUESTIONS]
    web = [(q, t, a, "-") for q, t, a in WEB_QUESTIONS]
    return {
        "v2": Setup(load_v2(split)[:limit], V2_TOOLS, data_dir),
        "calculator": Setup(old[:limit], ["calculator"]),
        "web": Setup(web[:limit], WEB_TOOLS),
    }


def preselection(runs: dict[str, Setup], kinds: Sequence[str], top_k: int = 3) -> None:
    """Print, without the model, how often each ranker offers the expected tool first.

    As the grammar-constrained ReAct agent asks for it: ``min_score=0.0``, so a question
    matching no tool gets none (and counts as right when none was expected).
    """
    import tooldeck.tools.select as select
    from tooldeck.tools.registry import build_registry

    print("| set        | ranker | expected tool first (all) | dev   | test  |")
    print("|------------|--------|---------------------------|-------|-------|")
    for qset, setup in runs.items():
        config = load_config(
            overrides={"tools": setup.tools, **({"data_dir": setup.data_dir} if setup.data_dir
                                                 else {})}, read_dotenv=False)  # fmt: skip
        tools = build_registry(config).select(setup.tools)
        for kind in kinds:
            pick = old_preselect if kind == "old" else select.preselect_tools
            hits: dict[str, list[int]] = {}
            for question, tool, _, split in setup.questions:
                offered = pick(question, tools, top_k, 0.0)
                right = (offered[0].name if offered else None) == tool
                for key in ("all", split):
                    counts = hits.setdefault(key, [0, 0])
                    counts[0] += right
                    counts[1] += 1
            cells = [
                f"{hits[k][0]}/{hits[k][1]}" if k in hits else "-" for k in ("all", "dev", "test")
            ]
            print(f"| {qset:<10} | {kind:<6} | {cells[0]:>25} | {cells[1]:>5} | {cells[2]:>5} |")
    print(flush=True)


ROW = (
    "| {set:<10} | {ranker:<6} | {grammar:<7} | {args:<9} | {wf:>11} | {calls:>5} | {right:>10} "
    "| {test:>15} | {correct:>7} | {secs:>7} |"
)


def row(qset: str, kind: str, grammar: str, builder: str, tally: Tally | None, secs: float) -> str:
    """One table row (the header when ``tally`` is None)."""
    if tally is None:
        return ROW.format(set="set", ranker="ranker", grammar="grammar", args="args",
                          wf="well-formed", calls="calls", right="right tool",
                          test="right tool/test",
                          correct="correct", secs="seconds")  # fmt: skip
    test = tally.by_split.get("test")
    return ROW.format(
        set=qset, ranker=kind, grammar=grammar, args=builder,
        wf=f"{tally.good / max(tally.calls, 1):.0%}", calls=tally.calls,
        right=f"{tally.right}/{tally.questions}", test=f"{test[0]}/{test[1]}" if test else "-",
        correct=f"{tally.correct}/{tally.checkable}", secs=f"{secs:.0f}",
    )  # fmt: skip


def main() -> None:
    """Parse the options, run every (set, ranker, grammar) combination, print one table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-steps", type=int, default=4)
    parser.add_argument("--set", choices=["v2", "calculator", "web", "all"], default="v2")
    parser.add_argument("--grammar", choices=["on", "off", "both"], default="both")
    parser.add_argument("--ranker", choices=["new", "old", "both"], default="both")
    parser.add_argument(
        "--args-grammar",
        choices=["builtin", "xllamacpp", "both"],
        default="builtin",
        help="who writes each tool's argument grammar",
    )
    parser.add_argument("--limit", type=int, default=None, help="first N questions of each set")
    parser.add_argument(
        "--every",
        type=int,
        default=1,
        help="every Nth question only (each set is grouped by kind, so every "
        "kind stays represented)",
    )
    parser.add_argument(
        "--split", choices=["dev", "test", "all"], default="all", help="which half of the v2 set"
    )
    parser.add_argument("--verbose", action="store_true", help="print every question's outcome")
    parser.add_argument(
        "--act-first",
        action="store_true",
        help="first step must act when tools are offered (the agent's default with grammar)",
    )
    parser.add_argument(
        "--preselect-only",
        action="store_true",
        help="only the model-free table: the first tool each ranker offers",
    )
    args = parser.parse_args()
    sets = ("v2", "calculator", "web") if args.set == "all" else (args.set,)
    kinds = ("new", "old") if args.ranker == "both" else (args.ranker,)
    builders = ("builtin", "xllamacpp") if args.args_grammar == "both" else (args.args_grammar,)
    modes = [("on", b) for b in builders] if args.grammar in ("on", "both") else []
    if args.grammar in ("off", "both"):
        modes.append(("off", "-"))
    with tempfile.TemporaryDirectory(prefix="tooldeck-bench-") as data_dir:
        if "v2" in sets:
            index_api_docs(data_dir)
        runs = setups(args.split, args.limit, data_dir)
        for setup in runs.values():
            setup.questions = setup.questions[:: max(args.every, 1)]
        print(f"SmolLM2-135M-Instruct Q4_1, max_steps={args.max_steps}; v2 set: "
              f"{len(runs['v2'].questions)} questions ({args.split}); calculator set (the old "
              f"20): {len(runs['calculator'].questions)}; web set: {len(runs['web'].questions)}"
              "\n", flush=True)  # fmt: skip
        preselection({k: runs[k] for k in sets}, kinds)
        if args.preselect_only:
            return
        print(row("", "", "", "", None, 0))
        print("|" + "|".join("-" * len(c) for c in row("", "", "", "", None, 0)
                             .strip("|").split("|") if c) + "|", flush=True)  # fmt: skip
        for qset in sets:
            for kind in kinds:
                for grammar, builder in modes:
                    label = f"{qset} {kind} {grammar} {builder}"
                    kind_label = f"{kind}+act" if args.act_first else kind
                    start = time.perf_counter()
                    with (
                        ranker(kind),
                        args_grammar(builder),
                        act_first(args.act_first),
                        offline_web() if qset != "calculator" else contextlib.nullcontext(),
                    ):
                        tally = run_set(runs[qset], grammar, args.max_steps, label, args.verbose)
                    took = time.perf_counter() - start
                    print(row(qset, kind_label, grammar, builder, tally, took), flush=True)


if __name__ == "__main__":
    main()
