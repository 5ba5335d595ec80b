"""The calculator cannot be made to freeze the process: every accepted expression is cheap.

Issue 8 item 11: ``(((1/3)**999)**999)**999`` ran at 100% CPU for minutes holding the GIL, so
no thread (and no timeout) could run. These tests run random nested expressions built from
the most expensive pieces the limits let through and bound each evaluation's time.
"""

from __future__ import annotations

import math
import random
import re
import subprocess
import sys
import threading
import time
from fractions import Fraction

from langchain_core.tools import ToolException

from tooldeck.tools.builtin.calculator import MAX_LENGTH, calculator, evaluate
from tooldeck.tools.runner import run_tool

# The most expensive pieces: long exact values near the bound, tiny and huge magnitudes,
# fractional powers; exponents up to the limit.
_ATOMS = [
    "1/3", "10**999", "7**300", "(1/7)", "0.5", "999", "2**0.5", "(10**999-1)", "3", "1e-300",
    "123456789", "(1/3)**999", "9**9", "0", "(2/3)**500", "1.000001", "(10**999+1/2)", "-7",
]  # fmt: skip
_EXPONENTS = ["2", "3", "10", "99", "999", "-999", "0.5", "(1/3)", "-1", "0", "1000", "-2", "*"]
_OPERATORS = ["+", "-", "*", "/", "//", "%", "**"]
_NUMBER = re.compile(r"-?\d+(\.\d+)?(e[+-]\d+)?")
_OUR_MESSAGES = (
    "result too large (over 1000 digits)",
    "result too small (below 1e-1000)",
    "division by zero",
    "exponent ",
    "the result is not a real number",
    "// and % need every digit",
)
_NASTY = ["(((1/3)**999)**999)**999", "((10**999+1/2)**999)**999", "((2/3)**999)**999 * 7"]


def _expression(rng: random.Random, depth: int, atoms: list[str], exponents: list[str]) -> str:
    """A random expression; ``**`` takes an exponent from ``exponents`` or, if that list
    ends with ``"*"``, sometimes a whole random expression."""
    if depth == 0 or rng.random() < 0.25:
        return rng.choice(atoms)
    op = rng.choice(_OPERATORS)
    left = _expression(rng, depth - 1, atoms, exponents)
    if op == "**" and (exponents[-1] != "*" or rng.random() < 0.7):
        right = rng.choice(exponents[:-1] if exponents[-1] == "*" else exponents)
    else:
        right = _expression(rng, depth - 1, atoms, exponents)
    text = f"({left}){op}({right})" if rng.random() < 0.5 else f"({left}{op}{right})"
    return "-" + text if rng.random() < 0.1 else text


def _expressions(seed: int, count: int, atoms: list[str], exponents: list[str]) -> list[str]:
    rng = random.Random(seed)
    found: list[str] = []
    while len(found) < count:
        text = _expression(rng, rng.randint(1, 7), atoms, exponents)
        if len(text) <= MAX_LENGTH:
            found.append(text)
    return found


def test_the_reported_expressions_finish_at_once_in_a_fresh_process() -> None:
    """Fails on the old code by timing out (its pow held the GIL for hours)."""
    code = (
        "import time\n"
        "from tooldeck.tools.builtin.calculator import evaluate\n"
        "from langchain_core.tools import ToolException\n"
        f"for e in {_NASTY!r}:\n"
        "    start = time.perf_counter()\n"
        "    try:\n"
        "        evaluate(e)\n"
        "    except ToolException as exc:\n"
        "        print(f'{time.perf_counter() - start:.3f} {exc}')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    lines = done.stdout.splitlines()
    assert len(lines) == 3, done.stdout + done.stderr
    for line in lines:
        seconds, message = line.split(" ", 1)
        assert float(seconds) < 0.2 and message.startswith("result too"), line


def test_every_random_expression_finishes_quickly_with_a_number_or_our_message() -> None:
    worst = 0.0
    for text in _expressions(8, 2000, _ATOMS, _EXPONENTS):
        start = time.thread_time()  # CPU time: the test shares its cores
        try:
            result = evaluate(text)
        except ToolException as exc:
            assert str(exc).startswith(_OUR_MESSAGES), (text, str(exc))
        else:
            assert _NUMBER.fullmatch(result), (text, result)
        worst = max(worst, time.thread_time() - start)
    assert worst < 0.2


def _reference(text: str) -> Fraction | int:
    """Unbounded exact evaluation with Python's own Fraction (fine for small inputs)."""
    exact = re.sub(r"\d+(\.\d+)?", lambda m: f"Fraction('{m.group()}')", text)
    return eval(exact, {"Fraction": Fraction})  # type: ignore[no-any-return]


def test_small_expressions_agree_with_exact_fractions() -> None:
    atoms = ["1/3", "7", "0.5", "(-2)", "12", "0", "2.25", "(1/7)"]
    checked = 0
    for text in _expressions(11, 1500, atoms, ["2", "3", "-1", "0"]):
        try:
            expected = Fraction(_reference(text))
        except ZeroDivisionError:
            try:
                evaluate(text)
            except ToolException as exc:
                assert "division by zero" in str(exc)
                continue
            raise AssertionError(text) from None
        if max(abs(expected.numerator), expected.denominator) >= 10**1000:
            continue
        result = evaluate(text)
        if expected.denominator == 1:
            assert result == str(expected.numerator), text
        else:
            close = math.isclose(float(Fraction(result)), expected, rel_tol=1e-11, abs_tol=1e-300)
            assert close, (text, result)
        checked += 1
    assert checked > 1000


def test_other_threads_keep_running_while_the_calculator_works() -> None:
    beats: list[float] = []
    stop = threading.Event()

    def heartbeat() -> None:
        while not stop.wait(0.005):
            beats.append(time.monotonic())

    thread = threading.Thread(target=heartbeat, daemon=True)
    thread.start()
    start = time.monotonic()
    observations = [run_tool(calculator, {"expression": e}, timeout_s=2) for e in _NASTY * 5]
    elapsed = time.monotonic() - start
    stop.set()
    thread.join()
    assert all(o.error and "result too" in o.text for o in observations)
    assert elapsed < 2
    gaps = [b - a for a, b in zip([start, *beats], [*beats, time.monotonic()], strict=False)]
    assert max(gaps) < 0.5
