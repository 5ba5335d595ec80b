"""The calculator: exact arithmetic, strict parsing, bounds; plus the standard tool tests."""

from __future__ import annotations

import pytest
from langchain_core.tools import ToolException

from tooldeck.testing import ToolStandardTests
from tooldeck.tools.builtin.calculator import calculator, evaluate


class TestCalculatorStandard(ToolStandardTests):
    tool = calculator
    valid_input = {"expression": "17 * 23"}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("17 * 23", "391"),
        ("(2 + 3) ^ 2 / 4", "6.25"),
        ("2 ** 10", "1024"),
        ("1,234 + 4,321", "5555"),
        ("7 // 2", "3"),
        ("-3 * -3", "9"),
        ("0.1 + 0.2", "0.3"),
        ("10 / 4", "2.5"),
        ("1 / 3", "0.333333333333"),
        ("12 × 7", "84"),
        ("12 x 7", "84"),
        ("2 ** 0.5", "1.41421356237"),
        ("99999999999999999999 * 99999999999999999999", "9999999999999999999800000000000000000001"),
        ("17 * 23 =", "391"),
    ],
)
def test_arithmetic(expression: str, expected: str) -> None:
    assert evaluate(expression) == expected


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("__import__('os').system('echo pwned')", "unsupported element"),
        ("abs(-1)", "unsupported element"),
        ("a + 1", "unsupported element"),
        ("'a' * 3", "unsupported element"),
        ("[1, 2]", "unsupported element"),
        ("1 / 0", "division by zero"),
        ("2 ** 100000", "exponent 100000 is too large"),
        ("100000 ** 999", "digits"),
        ("1 +", "not a valid arithmetic expression"),
        ("", "empty expression"),
        ("1+" * 200 + "1", "characters long (limit 300)"),
        ("(-8) ** 0.5", "not a real number"),
        ("1e308 * 10", "not a finite number"),
    ],
)
def test_rejected(expression: str, message: str) -> None:
    with pytest.raises(ToolException, match=message.replace("(", r"\(").replace(")", r"\)")):
        evaluate(expression)


def test_schema_pattern_rejects_words() -> None:
    from tooldeck.tools.runner import run_tool

    obs = run_tool(calculator, {"expression": "capital of France"}, timeout_s=5)
    assert obs.error and "invalid input for calculator" in obs.text
