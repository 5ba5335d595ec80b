"""Cost of building the ReAct grammar per step, now that URL arguments are narrowed.

Since issue 10 the ReAct loop builds its step grammar from the URLs seen so far (the question's
and every observation's), so a URL argument can only be one of them. This measures what that
costs per step: building the grammar text (``react_grammar``) and compiling it with llguidance
(the engine llama.cpp runs it with; here on a byte tokenizer, so the absolute compile figure
is a proxy). The baseline, measured in the same run, is the grammar with no URLs (what every
step cost before). Tools: the built-in web tools and the calculator.

    python bench/react_grammar_build.py [--repeat 200]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from tooldeck.agents.grammar import react_grammar
from tooldeck.config import load_config
from tooldeck.tools.registry import build_registry

TOOLS = ["calculator", "duckduckgo", "web_fetch", "summarize", "wikipedia", "youtube"]


def _median_ms(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def _compile(grammar: str) -> Callable[[], Any]:
    import llguidance

    tokenizer = llguidance.LLTokenizer("byte")

    def run() -> Any:
        matcher = llguidance.LLMatcher(tokenizer, grammar)
        if matcher.is_error():
            raise SystemExit(matcher.get_error())
        return matcher

    return run


def main() -> None:
    """Print one row per number of URLs seen: build and compile medians, ratio to none."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    from tooldeck.plugins import load_plugins

    config = load_config(None, {"tools": TOOLS}, environ={}, read_dotenv=False)
    tools = build_registry(config, load_plugins(entry_points_enabled=False)).select(TOOLS)
    print(f"{len(tools)} tools: {', '.join(t.name for t in tools)}; median of {args.repeat}\n")
    print("| URLs seen | grammar chars | build ms | compile ms | build+compile vs none |")
    print("|---:|---:|---:|---:|---:|")
    base = 0.0
    for count in (0, 1, 5, 20, 64):
        urls = [f"https://example{i}.org/page/{i}?q=x" for i in range(count)]
        grammar = react_grammar(tools, urls=urls)
        build = _median_ms(partial(react_grammar, tools, urls=urls), args.repeat)
        compile_ms = _median_ms(_compile(grammar), max(args.repeat // 4, 5))
        total = build + compile_ms
        base = base or total
        row = f"| {count} | {len(grammar)} | {build:.3f} | {compile_ms:.3f} | {total / base:.2f}x |"
        print(row)


if __name__ == "__main__":
    main()
