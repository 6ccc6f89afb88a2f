"""calculator: exact arithmetic via an AST whitelist; names, attributes, huge numbers refused."""

from __future__ import annotations

import math
import re
from collections.abc import Awaitable, Callable

import pytest
from agentkit_tools.calculator import calculator, evaluate
from isolated import run_isolated

from agentkit import ToolError

Call = Callable[..., Awaitable[str]]  # the `ok` and `refused` fixtures (conftest.py)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("2 + 3 * 4", 14),
        ("(1 + 2) / 4", 0.75),
        ("7 // 2", 3),
        ("-7 % 3", 2),
        ("2 ** 10", 1024),
        ("2 ** -1", 0.5),
        ("sqrt(16)", 4.0),
        ("log(8, 2)", 3.0),
        ("factorial(20)", 2432902008176640000),
        ("comb(10, 3)", 120),
        ("max(1, 5, 3)", 5),
        ("round(2.567, 2)", 2.57),
        ("pi", math.pi),
        ("+-+1", -1),
        ("10 ** 300", 10**300),
    ],
)
def test_evaluates_arithmetic(expression: str, expected: float) -> None:
    assert evaluate(expression) == expected


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("__import__('os').system('true')", "unknown function"),
        ("open('/etc/passwd')", "unknown function"),
        ("x + 1", "unknown name 'x'"),
        ("(1).__class__", "Attribute is not allowed"),
        ("math.sqrt(4)", "unknown function"),
        ("[1, 2][0]", "Subscript is not allowed"),
        ("[1, 2]", "List is not allowed"),
        ("(lambda: 1)()", "unknown function"),
        ("'a' * 3", "only numbers"),
        ("True + 1", "only numbers"),
        ("1 < 2", "Compare is not allowed"),
        ("1 << 100", "BinOp is not allowed"),
        ("round(2.5, ndigits=1)", "keyword arguments"),
        ("max(*[1, 2])", "Starred is not allowed"),
        ("9 ** 9 ** 9", "too large"),
        ("10 ** 100000", "too large"),
        ("(10 ** 2000) * (10 ** 2000)", "too large"),
        ("factorial(100000)", "factorial takes an integer"),
        ("comb(10 ** 9, 5)", "comb takes arguments up to"),
        ("10.0 ** 400", "overflows"),
        ("1 / 0", "division by zero"),
        ("sqrt(-1)", "cannot compute"),
        ("(-8) ** 0.5", "unsupported result type complex"),
        ("2 +", "cannot parse"),
        ("1; 2", "cannot parse"),
        ("1 + " * 1000 + "1", "longer than"),
        ("-" * 1500 + "1", "nested too deeply"),
    ],
)
def test_refuses_everything_outside_the_whitelist(expression: str, reason: str) -> None:
    with pytest.raises(ToolError, match=re.escape(reason)):
        evaluate(expression)


@pytest.mark.asyncio
async def test_tool_returns_the_exact_result_or_an_error(ok: Call, refused: Call) -> None:
    assert await ok(calculator, expression="0.1 + 0.2") == "0.30000000000000004"
    assert await ok(calculator, expression="2 ** 100") == str(2**100)
    assert "unknown name" in await refused(calculator, expression="os")


@pytest.mark.parametrize(
    "expression",
    ["round(1, -10**8)", "round(10**2000, -(10**7))", "round(7, 10**9)", "round(1.5, 2.5)"],
)
def test_round_digits_are_bounded_before_the_work(expression: str) -> None:
    # round(1, -10**8) computed 10**(10**8) with the GIL held: 209 s, the process frozen.
    out = run_isolated(
        f"""
        from agentkit_tools.calculator import evaluate
        from agentkit import ToolError
        try:
            evaluate({expression!r})
        except ToolError as exc:
            print("refused:", exc)
        """
    )
    assert out.startswith("refused: round"), out


def test_round_within_bounds_still_works() -> None:
    assert evaluate("round(123456, -3)") == 123000
    assert evaluate("round(2.5)") == 2
