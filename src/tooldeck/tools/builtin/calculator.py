"""``calculator``: exact arithmetic on an expression, parsed with ``ast`` (never ``eval``)."""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable
from fractions import Fraction
from typing import Any

from langchain_core.tools import ToolException, tool
from pydantic import BaseModel, Field

__all__ = ["MAX_EXPONENT", "MAX_LENGTH", "CalculatorInput", "calculator", "evaluate"]

MAX_LENGTH = 300
MAX_EXPONENT = 1000
MAX_DIGITS = 4300
_MAX_NODES = 200

Number = int | float | Fraction
_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")


def _normalise(expression: str) -> str:
    text = expression.strip().rstrip("=").strip()
    text = _THOUSANDS.sub("", text)
    for a, b in (("×", "*"), ("÷", "/"), ("−", "-"), ("^", "**"), ("x", "*")):
        if a == "x":
            text = re.sub(r"(?<=[\d)])\s*x\s*(?=[\d(])", "*", text)
        else:
            text = text.replace(a, b)
    return text


def _check_power(base: Number, exponent: Number) -> None:
    if abs(float(exponent)) > MAX_EXPONENT:
        msg = f"exponent {exponent} is too large (limit {MAX_EXPONENT})"
        raise ToolException(msg)
    if isinstance(exponent, int | Fraction) and abs(float(base)) > 1:
        digits = abs(float(exponent)) * math.log10(abs(float(base)))
        if digits > MAX_DIGITS:
            msg = f"result would have about {digits:.0f} digits (limit {MAX_DIGITS})"
            raise ToolException(msg)


def _eval(node: ast.AST) -> Number:
    if isinstance(node, ast.Expression):
        return _eval(node.body)
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return Fraction(node.value)
    if isinstance(node, ast.Constant) and type(node.value) is float:
        return node.value
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_eval(node.operand))  # type: ignore[no-any-return]
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Pow):
            _check_power(left, right)
            if isinstance(right, Fraction) and right.denominator != 1:
                right = float(right)
        try:
            return _BINARY[type(node.op)](left, right)  # type: ignore[no-any-return]
        except ZeroDivisionError:
            raise ToolException("division by zero") from None
        except (OverflowError, ValueError) as exc:
            raise ToolException(f"cannot compute: {exc}") from None
    allowed = "numbers, + - * / // % ** ^ and parentheses"
    what = type(node).__name__
    msg = f"unsupported element {what!r} in the expression; only {allowed} are allowed"
    raise ToolException(msg)


def _format(value: Number) -> str:
    if isinstance(value, Fraction):
        if value.denominator == 1:
            return str(value.numerator)
        value = float(value)
    if isinstance(value, complex):
        raise ToolException("the result is not a real number")
    if math.isinf(value) or math.isnan(value):
        raise ToolException("the result is not a finite number")
    if value == int(value) and abs(value) < 1e16:
        return str(int(value))
    return f"{value:.12g}"


def evaluate(expression: str) -> str:
    """Evaluate an arithmetic expression exactly where possible.

    Args:
        expression: Such as ``"17 * 23"`` or ``"(2 + 3) ^ 2 / 4"``.

    Returns:
        The result as text (integers exact; other values to 12 significant digits).

    Raises:
        ToolException: Empty, too long, not arithmetic, or out of bounds; the message says why.
    """
    if not expression.strip():
        raise ToolException("empty expression; pass an arithmetic expression such as '2 * 3'")
    if len(expression) > MAX_LENGTH:
        msg = f"expression is {len(expression)} characters long (limit {MAX_LENGTH})"
        raise ToolException(msg)
    text = _normalise(expression)
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        msg = f"{expression!r} is not a valid arithmetic expression"
        raise ToolException(msg) from None
    if sum(1 for _ in ast.walk(tree)) > _MAX_NODES:
        raise ToolException(f"expression is too complex (limit {_MAX_NODES} elements)")
    return _format(_eval(tree))


class CalculatorInput(BaseModel):
    """Input of the calculator tool."""

    expression: str = Field(
        description='the arithmetic to compute, with numbers and + - * / ** ( ), e.g. "17 * 23"',
        pattern=r"^[0-9(-][0-9 .,+*/()^%×÷xeE-]{0,299}$",
    )


@tool(args_schema=CalculatorInput)
def calculator(expression: str) -> str:
    """Compute an arithmetic expression and return the number.

    Use it for any math instead of computing in your head.
    """
    return evaluate(expression)


calculator.metadata = {
    "examples": [
        {
            "question": "How much is 12 times 7?",
            "input": {"expression": "12 * 7"},
            "observation": "84",
            "answer": "12 times 7 is 84.",
        }
    ]
}
