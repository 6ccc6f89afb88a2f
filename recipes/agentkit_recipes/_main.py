"""`python -m agentkit_recipes.<module> [name=value ...] [--online] [--model M]`: run one recipe.

Owns `main`, the few lines every recipe module's `if __name__ == "__main__":` calls, so a
recipe runs as a script without the `agentkit` command. Prints the output (models as JSON)
and a usage line on stderr.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import anyio
from pydantic import BaseModel

from agentkit import AgentkitError, Recipe, RecipeResult, run_recipe

__all__ = ["main"]


def main(recipe: Recipe, argv: Sequence[str] | None = None) -> int:
    """Run `recipe` with `name=value` inputs from `argv` and print its output."""
    parser = argparse.ArgumentParser(
        prog=f"python -m agentkit_recipes.{recipe.name.replace('-', '_')}",
        description=recipe.description,
    )
    parser.add_argument("inputs", nargs="*", metavar="name=value", help="recipe inputs")
    parser.add_argument("--online", action="store_true", help="use the real API")
    parser.add_argument("--model", help=f"model (default {recipe.model})")
    args = parser.parse_args(argv)
    inputs: dict[str, str] = {}
    for item in args.inputs:
        name, sep, value = item.partition("=")
        if not sep:
            parser.error(f"inputs are name=value, got {item!r}; inputs: {', '.join(recipe.inputs)}")
        inputs[name] = value

    async def go() -> RecipeResult:
        online = True if args.online else None
        return await run_recipe(recipe, inputs, online=online, model=args.model)

    try:
        result = anyio.run(go)
    except AgentkitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    output = result.output
    if isinstance(output, BaseModel):
        output = output.model_dump_json(indent=2)
    print(output)
    usage = result.usage
    mode = "online" if result.online else "offline"
    print(f"[{mode}: {usage.requests} requests, {usage.total_tokens} tokens]", file=sys.stderr)
    return 0
