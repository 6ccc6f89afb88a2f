"""A calculator tool: arithmetic and `math` functions, evaluated without `eval`.

Owns `calculator` and `evaluate`. Rules: the expression is parsed with `ast` and walked over a
whitelist of node types, operators, names and functions; anything else (names, attributes,
subscripts, lambdas, comprehensions, keyword arguments, strings) is refused with a message. Every
argument that makes the work grow is checked *before* the work is done (powers, `factorial`,
`comb`/`perm`, `round`'s digits), and every integer result is bounded in size, so `9**9**9` or
`round(1, -10**8)` is refused at once instead of freezing the process (big-integer arithmetic
holds the GIL, so no timeout could interrupt it).
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Any

from agentkit import ToolError, tool

__all__ = ["calculator", "evaluate"]

_MAX_EXPRESSION_CHARS = 2000
_MAX_INT_BITS = 10_000  # about 3000 decimal digits, under Python's int-to-str limit
_MAX_FACTORIAL = 1000
_MAX_COMBINATORIAL = 10_000
_MAX_ROUND_DIGITS = 4000  # round(x, -n) computes 10**n: bounded like any other power

Number = int | float

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
_CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e, "tau": math.tau, "inf": math.inf}


def _factorial(n: Number) -> int:
    if not isinstance(n, int) or n < 0 or n > _MAX_FACTORIAL:
        raise ToolError(f"factorial takes an integer from 0 to {_MAX_FACTORIAL}")
    return math.factorial(n)


def _bounded(name: str) -> Callable[..., int]:
    """Wrap a combinatorial function so its arguments stay small enough to compute quickly."""
    function = getattr(math, name)

    def call(*args: Number) -> int:
        if any(isinstance(arg, int) and abs(arg) > _MAX_COMBINATORIAL for arg in args):
            raise ToolError(f"{name} takes arguments up to {_MAX_COMBINATORIAL}")
        result: int = function(*args)
        return result

    return call


def _round(number: Number, ndigits: Number | None = None) -> Number:
    if ndigits is None:
        return round(number)
    if not isinstance(ndigits, int):
        raise ToolError("round's second argument (the number of digits) must be an integer")
    if abs(ndigits) > _MAX_ROUND_DIGITS:
        raise ToolError(f"round takes from -{_MAX_ROUND_DIGITS} to {_MAX_ROUND_DIGITS} digits")
    return round(number, ndigits)


# fmt: off
_MATH_FUNCTIONS = (
    "sqrt", "cbrt", "exp", "log", "log2", "log10", "log1p", "sin", "cos", "tan", "asin", "acos",
    "atan", "atan2", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh", "degrees", "radians",
    "floor", "ceil", "trunc", "hypot", "gcd", "lcm", "fabs", "copysign", "fmod", "isqrt",
)
# fmt: on

_FUNCTIONS: dict[str, Callable[..., Number]] = {
    "abs": abs,
    "round": _round,
    "min": min,
    "max": max,
    "factorial": _factorial,
    "comb": _bounded("comb"),
    "perm": _bounded("perm"),
    **{name: getattr(math, name) for name in _MATH_FUNCTIONS if hasattr(math, name)},
}


def _check_size(value: Any) -> Number:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ToolError(f"unsupported result type {type(value).__name__}")
    if isinstance(value, int) and value.bit_length() > _MAX_INT_BITS:
        raise ToolError("the result is too large (more than about 3000 digits)")
    return value


def _power(base: Number, exponent: Number) -> Number:
    # Estimate the size first: computing 9**9**9 just to refuse it would hang the process.
    if (
        isinstance(base, int)
        and isinstance(exponent, int)
        and abs(base) > 1
        and exponent * math.log2(abs(base)) > _MAX_INT_BITS
    ):
        raise ToolError("the power is too large (more than about 3000 digits)")
    try:
        return _check_size(base**exponent)
    except OverflowError:
        raise ToolError("the power overflows a float; use smaller numbers") from None


def _eval(node: ast.AST) -> Number:
    if isinstance(node, ast.Expression):
        return _eval(node.body)
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise ToolError(f"only numbers are allowed, not {node.value!r}")
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Pow):
            return _power(left, right)
        return _check_size(_BINARY[type(node.op)](left, right))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _check_size(_UNARY[type(node.op)](_eval(node.operand)))
    if isinstance(node, ast.Name):
        if node.id in _CONSTANTS:
            return _CONSTANTS[node.id]
        raise ToolError(f"unknown name {node.id!r}; constants are {', '.join(_CONSTANTS)}")
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS:
            raise ToolError(f"unknown function; available: {', '.join(sorted(_FUNCTIONS))}")
        if node.keywords:
            raise ToolError("keyword arguments are not supported; pass arguments by position")
        args = [_eval(arg) for arg in node.args]
        return _check_size(_FUNCTIONS[node.func.id](*args))
    raise ToolError(
        f"{type(node).__name__} is not allowed; use numbers, + - * / // % **, parentheses "
        "and math functions"
    )


def evaluate(expression: str) -> Number:
    """Evaluate an arithmetic expression safely and return the number.

    Raises:
        ToolError: the expression is too long, malformed, uses anything outside the whitelist,
            or its result would be too large or undefined (division by zero, domain errors).
    """
    if len(expression) > _MAX_EXPRESSION_CHARS:
        raise ToolError(f"the expression is longer than {_MAX_EXPRESSION_CHARS} characters")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as exc:
        raise ToolError(f"cannot parse the expression: {exc.msg}") from None
    try:
        return _eval(tree)
    except ZeroDivisionError:
        raise ToolError("division by zero") from None
    except (ValueError, TypeError, OverflowError) as exc:
        raise ToolError(f"cannot compute: {exc}") from None
    except RecursionError:
        raise ToolError("the expression is nested too deeply") from None


@tool
def calculator(expression: str) -> str:
    """Evaluate an arithmetic expression exactly and return the result.

    Supports numbers, + - * / // % ** and parentheses, the constants pi, e, tau and inf, and
    functions abs, round, min, max, factorial, sqrt, exp, log (natural, or log(x, base)),
    log2, log10, sin, cos, tan and their inverses (radians), hypot, floor, ceil, gcd, comb and
    more from Python's math module. Integers are exact (up to about 3000 digits).

    Args:
        expression: The expression, e.g. "sqrt(2) * (3 + 4.5) ** 2" or "factorial(20) // 7".
    """
    return repr(evaluate(expression))
