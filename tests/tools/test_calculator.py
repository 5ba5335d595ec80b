"""The calculator: exact arithmetic, strict parsing, bounds; plus the standard tool tests."""

from __future__ import annotations

import math

import pytest
from langchain_core.tools import ToolException

from tooldeck.testing import ToolStandardTests
from tooldeck.tools.builtin.calculator import calculator, evaluate
from tooldeck.tools.runner import run_tool


class TestCalculatorStandard(ToolStandardTests):
    tool = calculator
    valid_input = {"expression": "17 * 23"}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        # ordinary arithmetic, unchanged
        ("17 * 23", "391"),
        ("(2 + 3) ^ 2 / 4", "6.25"),
        ("2 ** 10", "1024"),
        ("1,234 + 4,321", "5555"),
        ("7 // 2", "3"),
        ("-3 * -3", "9"),
        ("0.1 + 0.2", "0.3"),
        ("10 / 4", "2.5"),
        ("2.5 * 4", "10"),
        ("1 / 3", "0.333333333333"),
        ("12 × 7", "84"),
        ("12 x 7", "84"),
        ("12 ÷ 4 − 1", "2"),
        ("2 ** 0.5", "1.41421356237"),
        ("99999999999999999999 * 99999999999999999999", "9999999999999999999800000000000000000001"),
        ("17 * 23 =", "391"),
        # integers are exact whatever the operator (issue 8 item 12)
        ("10**20", "1" + "0" * 20),
        ("10**20 // 1", "1" + "0" * 20),
        ("10**400 // 1", "1" + "0" * 400),
        ("(10**999) // 3", "3" * 999),
        ("1e20", "1" + "0" * 20),
        ("1e308 * 10", "1" + "0" * 309),
        ("123456789012345.5 * 2", "246913578024691"),
        ("*".join(str(i) for i in range(1, 60)), str(math.factorial(59))),
        ("2 ** 1000", str(2**1000)),
        ("(1/2) ** -1000", str(2**1000)),
        # negative exponents and tiny values
        ("2 ** -3", "0.125"),
        ("2 ** -1000", "9.33263618503e-302"),
        ("10 ** -999", "1e-999"),
        ("1e-320 * 1e-10", "1e-330"),
        ("0.00001", "1e-05"),
        ("0.0001", "0.0001"),
        # remainders, also of huge numbers
        ("10**999 % 7", "6"),
        ("-10**999 % 7", "1"),
        ("-7 % 3", "2"),
        ("7 % -3", "-2"),
        ("5.5 % 2", "1.5"),
        ("2 ** 0.5 % 1", "0.414213562373"),
        # unary chains and deep parentheses
        ("--1", "1"),
        ("-+-+-2", "-2"),
        ("-" * 99 + "1", "-1"),
        ("(" * 149 + "1" + ")" * 149, "1"),
        # approximations: non-integers beyond the exact bound, fractional powers
        ("1.000001 ** 1000", "1.00100049967"),
        ("(1/3) ** 1000", "7.5638913231e-478"),
        ("10**999 / 7", "1.42857142857e+998"),
        ("10**999 + 0.5", "1e+999"),
        ("2 ** 0.5 * 10 ** 999", "1.41421356237e+999"),
        ("2 ** 0.5 * 2 ** 0.5", "2"),
        ("-(2 ** 0.5)", "-1.41421356237"),
        ("(2 ** 0.5 - 2 ** 0.5) ** 0", "1"),
        ("0 ** 0", "1"),
        ("(-1) ** 999", "-1"),
        ("(-8) ** 3", "-512"),
        ("1e12 + 0.5", "1e+12"),
        # other spellings of numbers
        ("１２ + 1", "13"),
        ("١٢ + 1", "13"),
        ("007 + 1", "8"),
        ("1_000 + 1", "1001"),
        ("-0.0", "0"),
    ],
)
def test_arithmetic(expression: str, expected: str) -> None:
    assert evaluate(expression) == expected


REJECTED = [
    # bounds (issue 8 item 11: each of these used to run for minutes or hours)
    ("(((1/3)**999)**999)**999", "result too small (below 1e-1000); it is effectively zero"),
    ("((1/3)**999)**999", "result too small (below 1e-1000)"),
    ("(10**999+1/2)**1000", "result too large (over 1000 digits)"),
    ("((2**0.5)**1000)**1000", "result too large (over 1000 digits)"),
    ("10**999 * 10**999", "result too large (over 1000 digits)"),
    ("10**999*10**999*10**999*10**999*10**999", "result too large (over 1000 digits)"),
    ("100000 ** 999", "result too large (over 1000 digits)"),
    ("1e5000", "result too large (over 1000 digits)"),
    ("1e-5000", "result too small"),
    ("1/10**999/10**999", "result too small"),
    ("9e" + "9" * 200, "the number 9e9999999999999999999... is out of range"),
    ("9**9**9", "exponent 387420489 is too large (limit 1000)"),
    ("9**9**9**9", "exponent 387420489 is too large (limit 1000)"),
    ("2 ** 100000", "exponent 100000 is too large (limit 1000)"),
    ("2 ** 10**999", "exponent 1e+999 is too large (limit 1000)"),
    ("2 ** 0.5 // 1e-40", "// and % need every digit of the quotient"),
    # arithmetic that has no answer
    ("1 / 0", "division by zero"),
    ("0 / 0", "division by zero"),
    ("5 // 0", "division by zero"),
    ("5 % 0", "division by zero"),
    ("0 ** -1", "division by zero"),
    ("1 / (2 ** 0.5 - 2 ** 0.5)", "division by zero"),
    ("(-8) ** 0.5", "not a real number"),
    ("(-8) ** (1/3)", "not a real number"),
    # not arithmetic
    ("__import__('os').system('echo pwned')", "unsupported element \"__import__('os')"),
    ("abs(-1)", "unsupported element 'abs(-1)'"),
    ("a + 1", "unsupported element 'a'"),
    ("'a' * 3", "unsupported element \"'a'\""),
    ("[1, 2]", "unsupported element '[1, 2]'"),
    ("1, 2", "unsupported element '1, 2'"),
    ("True", "unsupported element 'True'"),
    ("1j", "unsupported element '1j'"),
    ("1 << 5000000", "unsupported element '1 << 5000000'"),
    ("~1", "unsupported element '~1'"),
    ("1 < 2", "unsupported element '1 < 2'"),
    ("1 +", "not a valid arithmetic expression"),
    ("15% * 200", "% means remainder, so write 15% of 200 as 200 * 15 / 100"),
    ("1\x00", "not a valid arithmetic expression"),
    ("", "empty expression"),
    ("1+" * 200 + "1", "characters long (limit 300)"),
    ("-" * 150 + "1", "expression is too complex (limit 200 elements)"),
    ("+".join(["1"] * 100), "expression is too complex (limit 200 elements)"),
]


_PYTHON_TEXT = (
    "sys.",
    "set_int_max_str_digits",
    "int too large",
    "convert to float",
    "Exceeds the limit",
    "decimal",
    "InvalidOperation",
    "Overflow",
    "Constant",
    "BinOp",
    "cannot compute",
)


@pytest.mark.parametrize(("expression", "message"), REJECTED)
def test_rejected(expression: str, message: str) -> None:
    with pytest.raises(ToolException) as caught:
        evaluate(expression)
    assert message in str(caught.value)
    assert not [t for t in _PYTHON_TEXT if t in str(caught.value)], caught.value


def test_failures_are_observations_for_the_model() -> None:
    obs = run_tool(calculator, {"expression": "(((1/3)**999)**999)**999"}, timeout_s=10)
    assert obs.error and obs.text == (
        "Error: calculator: result too small (below 1e-1000); it is effectively zero"
    )
    obs = run_tool(calculator, {"expression": "10**999 * 10**999"}, timeout_s=10)
    assert obs.error and obs.text.startswith("Error: calculator: result too large (over 1000")


def test_long_integer_results_come_back_whole() -> None:
    obs = run_tool(calculator, {"expression": "(10**999) // 3"}, timeout_s=10)
    assert not obs.error and obs.text == "3" * 999


def test_schema_pattern_rejects_words() -> None:
    obs = run_tool(calculator, {"expression": "capital of France"}, timeout_s=5)
    assert obs.error and "invalid input for calculator" in obs.text
