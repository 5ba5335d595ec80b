"""ReAct protocol compliance of the embedded model, grammar on vs off, 20 questions.

For each question: are the model's steps well formed (parseable, naming a real tool), did
it choose the right tool first (calculator for arithmetic, none otherwise), and is the
final answer correct. Runs the real SmolLM2-135M through ``build_agent`` (no network).

    python bench/react_compliance.py [--max-steps 4]
"""

from __future__ import annotations

import argparse
import re
import time
from typing import Any

from tooldeck.config import load_config
from tooldeck.pipeline import build_agent

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


def score(result: dict[str, Any], tool: str | None, expected: str) -> tuple[int, int, bool, bool]:
    steps = result["steps"]
    calls = len(steps) + (0 if result["stopped_by"] else 1)
    malformed = sum(1 for s in steps if s["tool"] is None or "is not a tool" in s["observation"])
    first = steps[0]["tool"] if steps else None
    right = first == tool
    answer = re.sub(r"(?<=\d),(?=\d{3})", "", result["answer"].lower())
    correct = (
        not result["stopped_by"] and re.search(rf"\b{re.escape(expected)}\b", answer) is not None
    )
    return calls - malformed, calls, right, correct


def run(grammar: str, max_steps: int, verbose: bool = False) -> dict[str, float]:
    config = load_config(
        overrides={"agent": {"grammar": grammar, "max_steps": max_steps}}, read_dotenv=False
    )
    agent = build_agent(config)
    good = total = right = correct = 0
    start = time.perf_counter()
    for question, tool, expected in QUESTIONS:
        result = agent.invoke(question)
        g, t, r, c = score(result, tool, expected)
        if verbose:
            tools = [s["tool"] for s in result["steps"]]
            print(
                f"  [{grammar}] {question!r}: tools={tools} right={r} correct={c} "
                f"answer={result['answer'][:60]!r}"
            )
        good, total, right, correct = good + g, total + t, right + r, correct + c
    n = len(QUESTIONS)
    return {
        "well_formed": good / max(total, 1),
        "steps": total,
        "right_tool": right / n,
        "correct": correct / n,
        "seconds": time.perf_counter() - start,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-steps", type=int, default=4)
    parser.add_argument("--grammar", choices=["on", "off", "both"], default="both")
    parser.add_argument("--verbose", action="store_true", help="print every question's outcome")
    args = parser.parse_args()
    modes = ("on", "off") if args.grammar == "both" else (args.grammar,)
    rows = {mode: run(mode, args.max_steps, args.verbose) for mode in modes}
    print(
        f"SmolLM2-135M-Instruct Q4_1, {len(QUESTIONS)} questions (12 calculator, 8 no tool), "
        f"max_steps={args.max_steps}\n"
    )
    print("| grammar | well-formed steps | model calls | right tool | correct answer | seconds |")
    print("|---------|-------------------|-------------|------------|----------------|---------|")
    for mode, r in rows.items():
        print(
            f"| {mode:<7} | {r['well_formed']:>17.0%} | {r['steps']:>11.0f} | "
            f"{r['right_tool']:>10.0%} | {r['correct']:>14.0%} | {r['seconds']:>7.0f} |"
        )


if __name__ == "__main__":
    main()
