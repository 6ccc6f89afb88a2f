"""Item functions for batch tests, importable by Ray workers (this folder is on their path)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import anyio

from agentkit import Recipe, RecipeContext
from agentkit.testing import FunctionModel, last_user_text


async def double(value: Any) -> Any:
    """The input's `n`, doubled; fails for a negative `n`."""
    await anyio.sleep(0.01)
    if value["n"] < 0:
        raise ValueError(f"n must not be negative, got {value['n']}")
    return {"doubled": value["n"] * 2, "pid": os.getpid()}


async def die_once(value: Any) -> Any:
    """Like `double`, but the worker running item `value["die"]` exits the first time,
    abruptly (as a killed process does), taking every item it holds with it."""
    marker = Path(value["marker"])
    if value.get("die") and not marker.exists():
        marker.write_text(str(os.getpid()))
        await anyio.sleep(0.3)  # let the worker pick up more items, so they die with it
        os._exit(1)
    await anyio.sleep(0.05)
    return {"doubled": value["n"] * 2, "pid": os.getpid()}


def greet_model(inputs: dict[str, str]) -> FunctionModel:
    """Plays Claude for `GREET`; the name "broken" breaks the script."""

    def play(body: dict[str, Any]) -> str:
        if inputs["name"] == "broken":
            raise RuntimeError("the script broke")
        return f"Hello {inputs['name']}, you said {last_user_text(body)!r}"

    return FunctionModel(play)


async def _greet(ctx: RecipeContext) -> str:
    result = await ctx.run(ctx.agent(), f"I am {ctx.inputs['name']}")
    return result.text


GREET = Recipe(name="greet", description="Greets by name.", run=_greet,
               offline_model=greet_model, inputs={"name": "you"})


async def gated_double(value: Any) -> Any:
    """`double`; an item with `hold` waits until the file `gate` exists (so items are
    surely in flight on every worker when the test pulls a node away)."""
    while value.get("hold") and not Path(value["gate"]).exists():
        await anyio.sleep(0.02)
    return {"doubled": value["n"] * 2, "pid": os.getpid()}
