"""Long research: an agent reads a whole source tree, file after file, for 60+ tool rounds,
and stays inside a small context window by compacting its history as it goes.

An agent with the read-only file tools over a directory (by default the installed agentkit
package) and `context=Compaction(...)`: once the next request would pass `trigger_tokens`, the
older turns are summarized by a model call and replaced, the last turns kept verbatim, every
tool call still paired with its result. Offline, the scripted model plays a reader that lists
the files and reads them one by one, and answers "prompt is too long" (as the API does) to any
request over its small window, so the run only finishes because the policy works.

Run it (offline unless a key is set):

    agentkit run long-research
    python -m agentkit_recipes.long_research files=80 window=40000

Inputs:
    path: the directory to read (default: the installed agentkit package's source).
    files: how many files to read (default 64).
    window: the offline model's context window in tokens (default 40000); the compaction
        trigger is 60% of it.
"""

from __future__ import annotations

import itertools
import json
import os
from typing import Any

from agentkit_tools import files_toolset

import agentkit
from agentkit import Limits, Recipe, RecipeContext
from agentkit.context import Compaction
from agentkit.testing import Fault, FunctionModel, reply

from ._offline import tool_texts

SYSTEM = (
    "You survey a source tree with the file tools: list the Python files with glob, then read "
    "each one (its first 60 lines) with read_file, one call per file, until you have read the "
    "number of files asked for. Then answer with a one-paragraph survey of what they hold."
)


async def run(ctx: RecipeContext) -> str:
    """Read the files one by one, compacting the history whenever it grows too large."""
    window = int(ctx.inputs["window"])
    files = int(ctx.inputs["files"])
    agent = ctx.agent(
        system=SYSTEM,
        tools=[files_toolset(os.path.expanduser(ctx.inputs["path"]), writable=False)],
        context=Compaction(trigger_tokens=window * 6 // 10, keep_turns=2),
        limits=Limits(max_turns=files + 20),
        max_tokens=2048,
    )
    result = await ctx.run(agent, f"Survey the first {files} Python files of this tree.")
    return result.text


# -- offline: a reader that globs, then reads one file a round, inside a small window --------


def offline_model(inputs: dict[str, str]) -> FunctionModel:
    """Glob, read `files` files one per round, answer; 400 to a request over `window`."""
    window, files = int(inputs["window"]), int(inputs["files"])
    paths: list[str] = []
    read = itertools.count()

    def play(body: dict[str, Any]) -> Any:
        size = len(json.dumps(body)) // 4
        if size > window:
            message = f"prompt is too long: {size} tokens > {window} maximum"
            return Fault.error(400, message=message)
        if body.get("tool_choice") == {"type": "none"}:
            return f"<summary>Surveying the tree; {len(paths)} Python files listed.</summary>"
        done = tool_texts(body)
        if not paths:
            if done and done[-1][0] == "glob":
                paths.extend(p for p in done[-1][1].splitlines() if p.endswith(".py"))
            else:
                return reply(tool_calls=[("glob", {"pattern": "**/*.py"})])
        n = next(read)
        if n >= min(files, len(paths) * 8):
            return f"Read {n} files: the tree holds the agentkit package, module by module."
        args = {"path": paths[n % len(paths)], "start_line": 1, "end_line": 60}
        return reply(tool_calls=[("read_file", args)])

    return FunctionModel(play)


RECIPE = Recipe(
    name="long-research",
    description="Read 60+ files in a row inside a small context window, compacting as it goes.",
    run=run,
    offline_model=offline_model,
    inputs={"path": os.path.dirname(agentkit.__file__), "files": "64", "window": "40000"},
)

if __name__ == "__main__":
    raise SystemExit(RECIPE.main())
