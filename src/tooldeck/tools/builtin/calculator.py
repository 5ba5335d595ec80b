"""``calculator``: exact arithmetic on an expression, parsed with ``ast`` (never ``eval``).

This module owns the calculator's bounds, which make every accepted expression finish in
milliseconds. They must: the tool runs on a thread that cannot be stopped, and CPython's
big-number arithmetic holds the GIL, so one slow expression would freeze every thread of the
process (a server's event loop included) whatever the runner's timeout says.

- Input: at most ``MAX_LENGTH`` characters and ``_MAX_NODES`` syntax-tree elements.
- Exact values are ``Fraction`` objects whose numerator and denominator have at most
  ``MAX_DIGITS`` digits. ``+ - * / // %`` on two such values cost microseconds and their
  result is checked afterwards. ``**`` is the one operation whose result can outgrow its
  operands without limit, so its size (exponent times the digits of the base) is estimated
  before anything is computed.
- Exponents are at most ``MAX_EXPONENT`` in size.
- Approximate values (``Decimal``, 30 significant digits) stay between 1e-1000 and 1e1000.

Results: an integer comes back exact; anything else is rounded to ``SIGNIFICANT_DIGITS``
significant digits. A non-integer whose exact fraction would pass the bound goes on as an
approximation (it is shown rounded anyway); an integer that would pass the bound is refused,
because integers are promised exact. Number literals are exact decimals (``0.1`` is 1/10);
only a fractional power (``2 ** 0.5``) or an oversized fraction makes a value approximate.
Every failure is a ``ToolException`` whose message is written for the model; no Python
message reaches it.
"""

from __future__ import annotations

import ast
import math
import operator
import re
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import (
    ROUND_FLOOR,
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
    Subnormal,
    Underflow,
)
from fractions import Fraction

from langchain_core.tools import ToolException, tool

from tooldeck.tools.builtin.arguments import CalculatorInput
from tooldeck.tools.builtin.declarations import CALCULATOR_DESCRIPTION

__all__ = [
    "MAX_DIGITS",
    "MAX_EXPONENT",
    "MAX_LENGTH",
    "SIGNIFICANT_DIGITS",
    "CalculatorInput",
    "calculator",
    "evaluate",
]

MAX_LENGTH = 300
MAX_EXPONENT = 1000
MAX_DIGITS = 1000
SIGNIFICANT_DIGITS = 12
_MAX_NODES = 200
_LIMIT = 10**MAX_DIGITS

_Value = Fraction | Decimal
_APPROX = Context(
    prec=30,
    rounding=ROUND_HALF_EVEN,
    Emax=MAX_DIGITS - 1,
    Emin=-MAX_DIGITS,
    traps=[InvalidOperation, DivisionByZero, Overflow, Underflow, Subnormal],
)
_SHOW = Context(prec=SIGNIFICANT_DIGITS, Emax=4 * MAX_DIGITS, Emin=-4 * MAX_DIGITS, traps=[])

_EXACT: dict[type[ast.operator], Callable[[Fraction, Fraction], Fraction | int]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}
_APPROXIMATE: dict[type[ast.operator], Callable[[Decimal, Decimal], Decimal]] = {
    ast.Add: _APPROX.add,
    ast.Sub: _APPROX.subtract,
    ast.Mult: _APPROX.multiply,
    ast.Div: _APPROX.divide,
}
_ALLOWED = "numbers, + - * / // % ** ^ and parentheses"
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")
_TIMES = re.compile(r"(?<=[\d)])\s*x\s*(?=[\d(])")
_LEADING_ZEROS = re.compile(r"(?<![\w.])0+(?=\d)")


def _too_large() -> ToolException:
    return ToolException(
        f"result too large (over {MAX_DIGITS} digits); the calculator keeps numbers to "
        f"{MAX_DIGITS} digits, so split the problem or use smaller numbers"
    )


def _too_small() -> ToolException:
    return ToolException(f"result too small (below 1e-{MAX_DIGITS}); it is effectively zero")


@contextmanager
def _arithmetic_errors() -> Iterator[None]:
    """Turn arithmetic exceptions into messages for the model (never Python's own text)."""
    try:
        yield
    except ZeroDivisionError:  # also decimal's DivisionByZero and DivisionUndefined
        raise ToolException("division by zero") from None
    except Overflow:
        raise _too_large() from None
    except Subnormal:  # also Underflow
        raise _too_small() from None
    except InvalidOperation:
        msg = "the result is not a real number (such as a negative number to a fractional power)"
        raise ToolException(msg) from None
    except (OverflowError, MemoryError):
        raise _too_large() from None
    except (ArithmeticError, ValueError, RecursionError):
        raise ToolException("this expression cannot be computed; simplify it") from None


def _normalise(expression: str) -> str:
    text = expression.strip().rstrip("=").strip()
    if not text.isascii():
        text = "".join(str(unicodedata.decimal(c)) if c.isdecimal() else c for c in text)
        for a, b in (("×", "*"), ("÷", "/"), ("−", "-")):
            text = text.replace(a, b)
    text = _THOUSANDS.sub("", text)
    text = _TIMES.sub("*", text.replace("^", "**"))
    return _LEADING_ZEROS.sub("", text)


def _parse(expression: str) -> tuple[ast.expr, str]:
    if not expression.strip():
        raise ToolException("empty expression; pass an arithmetic expression such as '2 * 3'")
    if len(expression) > MAX_LENGTH:
        msg = f"expression is {len(expression)} characters long (limit {MAX_LENGTH})"
        raise ToolException(msg)
    text = _normalise(expression)
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        hint = "; % means remainder, so write 15% of 200 as 200 * 15 / 100" if "%" in text else ""
        msg = f"{expression!r} is not a valid arithmetic expression{hint}"
        raise ToolException(msg) from None
    if sum(1 for _ in ast.walk(tree)) > _MAX_NODES:
        raise ToolException(f"expression is too complex (limit {_MAX_NODES} elements)")
    return tree.body, text


def _settle(value: Fraction | int) -> _Value:
    """Keep ``value`` exact if it fits the bound, else approximate it (integers: refuse)."""
    value = Fraction(value)
    if abs(value.numerator) < _LIMIT and value.denominator < _LIMIT:
        return value
    if value.denominator == 1:
        raise _too_large()
    return _approx(value)


def _approx(value: _Value) -> Decimal:
    if isinstance(value, Decimal):
        return value
    return _APPROX.divide(Decimal(value.numerator), Decimal(value.denominator))


def _literal(node: ast.Constant, text: str) -> _Value:
    if type(node.value) is int:
        return _settle(node.value)
    source = ast.get_source_segment(text, node) or repr(node.value)
    try:
        number = Decimal(source)
    except (InvalidOperation, ValueError):
        number = Decimal("NaN")
    if not number.is_finite():
        shown = source if len(source) <= 24 else source[:21] + "..."
        raise ToolException(f"the number {shown} is out of range (limit {MAX_DIGITS} digits)")
    exponent = int(number.as_tuple().exponent)
    if number.adjusted() < MAX_DIGITS and -exponent <= MAX_DIGITS:
        return _settle(Fraction(number))
    if exponent >= 0:  # an integer, such as 1e5000
        raise _too_large()
    return _APPROX.plus(number)


def _brief(value: _Value) -> str:
    text = _format(value)
    if len(text) > 24 and isinstance(value, Fraction):  # only integers print this long
        text = _format(Decimal(value.numerator))
    return text


def _power(base: _Value, exponent: _Value) -> _Value:
    size = abs(exponent) if isinstance(exponent, Fraction) else exponent.copy_abs()
    if size > MAX_EXPONENT:
        msg = f"exponent {_brief(exponent)} is too large (limit {MAX_EXPONENT})"
        raise ToolException(msg)
    if exponent == 0:  # as in Python, 0 ** 0 == 1 (decimal would call it undefined)
        return Fraction(1)
    if isinstance(base, Fraction) and isinstance(exponent, Fraction):
        if exponent.denominator == 1:
            return _exact_power(base, exponent.numerator)
    result = _APPROX.power(_approx(base), _approx(exponent))
    if not result.is_finite():  # 0 to a negative power
        raise ToolException("division by zero")
    return result


def _exact_power(base: Fraction, n: int) -> _Value:
    """``base ** n``, estimating the result's digits before computing it."""
    if n < 0 and base == 0:
        raise ToolException("division by zero")
    top, bottom = abs(base.numerator), base.denominator
    if n < 0:
        top, bottom = bottom, top
    digits = abs(n) * max(math.log10(top or 1), math.log10(bottom))
    if digits <= MAX_DIGITS + 1:  # the result has at most MAX_DIGITS + 2 digits: cheap
        return _settle(base**n)
    if bottom == 1:  # an integer with more than MAX_DIGITS digits
        raise _too_large()
    return _APPROX.power(_approx(base), n)


def _approximate(op: type[ast.operator], x: Decimal, y: Decimal) -> Decimal:
    if op in _APPROXIMATE:
        return _APPROXIMATE[op](x, y)
    quotient = _APPROX.divide(x, y).to_integral_value(rounding=ROUND_FLOOR, context=_APPROX)
    if quotient.adjusted() >= _APPROX.prec:
        msg = "// and % need every digit of the quotient, too many to know for approximate numbers"
        raise ToolException(msg)
    if op is ast.FloorDiv:
        return quotient
    return _APPROX.subtract(x, _APPROX.multiply(y, quotient))


def _eval(node: ast.expr, text: str) -> _Value:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return _literal(node, text)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.UAdd | ast.USub):
        value = _eval(node.operand, text)
        if isinstance(node.op, ast.UAdd):
            return value
        return -value if isinstance(value, Fraction) else _APPROX.minus(value)
    if isinstance(node, ast.BinOp) and (isinstance(node.op, ast.Pow) or type(node.op) in _EXACT):
        left, right = _eval(node.left, text), _eval(node.right, text)
        if isinstance(node.op, ast.Pow):
            return _power(left, right)
        if isinstance(left, Fraction) and isinstance(right, Fraction):
            return _settle(_EXACT[type(node.op)](left, right))
        return _approximate(type(node.op), _approx(left), _approx(right))
    part = ast.get_source_segment(text, node) or type(node).__name__
    part = part if len(part) <= 40 else part[:37] + "..."
    msg = f"unsupported element {part!r} in the expression; only {_ALLOWED} are allowed"
    raise ToolException(msg)


def _format(value: _Value) -> str:
    """Integers exact, anything else to 12 digits: fixed from 1e-4 to 1e12, else ``1.5e+400``."""
    if isinstance(value, Fraction):
        if value.denominator == 1:
            return str(value.numerator)
        value = _SHOW.divide(Decimal(value.numerator), Decimal(value.denominator))
    value = _SHOW.plus(value)
    if value.is_zero():
        return "0"
    value = value.normalize(_SHOW)
    exponent = value.adjusted()
    if -4 <= exponent < SIGNIFICANT_DIGITS:
        return format(value, "f")
    sign, digits, _ = value.as_tuple()
    mantissa = "".join(map(str, digits))
    mantissa = mantissa[0] + ("." + mantissa[1:] if len(mantissa) > 1 else "")
    return f"{'-' if sign else ''}{mantissa}e{exponent:+03d}"


def evaluate(expression: str) -> str:
    """Evaluate an arithmetic expression exactly where possible.

    Args:
        expression: Such as ``"17 * 23"`` or ``"(2 + 3) ^ 2 / 4"``.

    Returns:
        The result as text: integers exact, other values to 12 significant digits.

    Raises:
        ToolException: Empty, too long, not arithmetic, or out of bounds; the message says why.
    """
    node, text = _parse(expression)
    with _arithmetic_errors():
        return _format(_eval(node, text))


@tool(args_schema=CalculatorInput, description=CALCULATOR_DESCRIPTION)
def calculator(expression: str) -> str:
    """Compute an arithmetic expression (the model reads ``CALCULATOR_DESCRIPTION``)."""
    return evaluate(expression)


calculator.metadata = {
    "examples": [
        {
            "question": "How much is 12 times 7?",
            "input": {"expression": "12 * 7"},
            "observation": "84",
            "answer": "12 times 7 is 84.",
        },
        {
            "question": "A bus ticket costs $2.75. What do eleven tickets cost?",
            "input": {"expression": "2.75 * 11"},
            "observation": "30.25",
            "answer": "Eleven tickets cost $30.25.",
        },
        {
            "question": "what's 20% of 350",
            "input": {"expression": "350 * 20 / 100"},
            "observation": "70",
            "answer": "20% of 350 is 70.",
        },
        {
            "question": "There were 120 cookies and we ate 45. How many are left?",
            "input": {"expression": "120 - 45"},
            "observation": "75",
            "answer": "75 cookies are left.",
        },
        {
            "question": "Share 96 sweets equally between 8 children.",
            "input": {"expression": "96 / 8"},
            "observation": "12",
            "answer": "Each child gets 12 sweets.",
        },
        {
            "question": "What is 6 cubed?",
            "input": {"expression": "6 ** 3"},
            "observation": "216",
            "answer": "6 cubed is 216.",
        },
        {
            "question": "What is the mean of 10, 20 and 45?",
            "input": {"expression": "(10 + 20 + 45) / 3"},
            "observation": "25",
            "answer": "The mean is 25.",
        },
        {
            "question": "Add 3,450 and 1,275",
            "input": {"expression": "3450 + 1275"},
            "observation": "4725",
            "answer": "3,450 plus 1,275 is 4,725.",
        },
    ]
}
