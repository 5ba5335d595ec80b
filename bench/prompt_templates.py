"""What filling a prompt costs per turn: the old in-order ``str.replace`` against single-pass
``render`` and the LangChain chat prompts, measured in one run.

Run: .venv/bin/python bench/prompt_templates.py [REPEATS]   (default 2,000 per row).

Rows (mean microseconds per fill; ratio = row / baseline, above 1 is slower):

- baseline: the ReAct system text filled the way tooldeck did before (``str.replace`` of each
  slot in order, which also rewrote slots inside values);
- ``render`` of the same text (one pass; values never re-read);
- ``chat_prompt("react").invoke``: system and user message as LangChain messages;
- the same through ``format_messages`` (no Runnable run, so no callback manager);
- ``chat_prompt("self_ask").invoke``: with its two example turns, fixed;
- the same with the length budget (``n_ctx=4096``: each example's tokens counted per call);
- ``load_template("react")`` after the first call (cached).

The tool list is a realistic one: eight tools' descriptions (about 5,000 characters, with
JSON examples full of braces).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from tooldeck.prompts import chat_prompt, load_template, render

_TOOL = ('{name}: Does {name} things. Arguments: {{"query": string, "max_results": integer}}. '
         'Example: Question: what about {name}? Action Input: {{"query": "{name}"}} '
         "Observation: a result about {name} with a path /v1/{name}/{{id}}.\n")
TOOLS = "".join(_TOOL.format(name=f"tool_{i}") * 3 for i in range(8))
NAMES = ", ".join(f"tool_{i}" for i in range(8))


def _old_render(text: str, **values: str) -> str:
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


def _mean_us(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm up (first load, imports)
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats * 1e6


def main() -> None:
    """Print the table."""
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    react = load_template("react")
    react_chat = chat_prompt("react")
    self_ask = chat_prompt("self_ask")
    budgeted = chat_prompt("self_ask", n_ctx=4096, reserve=512)
    values = {"tools": TOOLS, "tool_names": NAMES}
    rows: list[tuple[str, Callable[[], object]]] = [
        ("baseline: str.replace in order", lambda: _old_render(react["system"], **values)),
        ("render (single pass)", lambda: render(react["system"], **values)),
        ("chat_prompt('react').invoke",
         lambda: react_chat.invoke({**values, "question": "What is 17 * 23?"})),
        ("chat_prompt('react').format_messages (no run, no callbacks)",
         lambda: react_chat.format_messages(**values, question="What is 17 * 23?")),
        ("chat_prompt('self_ask').invoke, 2 examples",
         lambda: self_ask.invoke({"question": "Who is older?"})),
        ("  the same within the budget (n_ctx 4096)",
         lambda: budgeted.invoke({"question": "Who is older?"})),
        ("load_template('react'), cached", lambda: load_template("react")),
    ]
    base = _mean_us(rows[0][1], repeats)
    print(f"{repeats} fills per row; tools text {len(TOOLS):,} characters\n")
    print("| fill | us per call | ratio to baseline |")
    print("|---|---:|---:|")
    for label, fn in rows:
        mean = base if fn is rows[0][1] else _mean_us(fn, repeats)
        print(f"| {label} | {mean:,.1f} | {mean / base:.2f}x |")


if __name__ == "__main__":
    main()
