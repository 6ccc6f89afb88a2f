"""Codebase Q&A: an autonomous agent that answers questions about a source tree, citing lines.

An agent, not a workflow: the model decides which tools to call and when it knows enough. It
gets the read-only file tools of `agentkit_tools` (`grep`, `glob`, `list_dir`, `read_file`,
all confined to one directory) and a system prompt asking it to search, read, then answer
with `path:line` citations. A turn limit bounds the exploration.

Run it (offline unless a key is set):

    agentkit run codebase-qa
    agentkit run codebase-qa --input question="Where are tool input schemas built?"
    python -m agentkit_recipes.codebase_qa path=~/src/myproject question="..."

Inputs:
    question: what to find out (default: which status codes agentkit retries, and the delay).
    path: the directory to explore (default: the installed agentkit package's source).
"""

from __future__ import annotations

import os
import re
from typing import Any

from agentkit_tools import files_toolset

import agentkit
from agentkit import Limits, Recipe, RecipeContext
from agentkit.testing import FunctionModel, last_user_text, reply

from ._offline import tool_texts

QUESTION = "How are retryable errors told apart, and how long is the backoff?"

SYSTEM = (
    "You answer questions about the code base in your working directory, using the file "
    "tools. Search with grep or glob before reading, then read the relevant code with "
    "read_file; never guess what a file contains. Answer concisely, and cite every claim "
    "as path:line."
)


async def run(ctx: RecipeContext) -> str:
    """Let the agent explore the directory until it can answer the question."""
    root = os.path.expanduser(ctx.inputs["path"])
    agent = ctx.agent(
        system=SYSTEM,
        tools=[files_toolset(root, writable=False)],
        limits=Limits(max_turns=15),
        max_tokens=2048,
    )
    result = await ctx.run(agent, ctx.inputs["question"])
    return result.text


# -- offline: a scripted model that greps, reads what it found, and answers from it ----------

_STOP = frozenset(
    {"does", "from", "have", "into", "that", "this", "what", "when", "where", "whether"}
    | {"which", "with", "agentkit"}
)
_HIT = re.compile(r"^(?P<path>[^:\n]+):(?P<line>\d+): +def (?P<name>\w+)", re.MULTILINE)


def _keywords(question: str) -> list[str]:
    words = [w for w in re.findall(r"[a-z_]{4,}", question.lower()) if w not in _STOP]
    # A crude stem, so "schemas" finds `build_schema`.
    return list(dict.fromkeys(w[:-1] if w.endswith("s") and len(w) > 4 else w for w in words))


def _best_hit(grep_output: str, keywords: list[str]) -> re.Match[str] | None:
    """The definition whose name holds the most keywords (ties: the earlier keyword wins)."""

    def score(hit: re.Match[str]) -> tuple[int, int]:
        name = hit["name"].lower()
        matched = [i for i, word in enumerate(keywords) if word in name]
        return (len(matched), -min(matched, default=len(keywords)))

    hits = list(_HIT.finditer(grep_output))
    return max(hits, key=score) if hits else None


def _docstring(numbered: str) -> str:
    """The docstring of the function at the top of a `read_file` excerpt, as one paragraph."""
    text = "\n".join(line.split("\t", 1)[-1] for line in numbered.splitlines())
    match = re.search(r'"""(.*?)"""', text, re.DOTALL)
    return " ".join(match.group(1).split())[:800] if match else ""


def offline_model(inputs: dict[str, str]) -> FunctionModel:
    """grep for definitions named after the question's words, read the best one, answer."""

    def play(body: dict[str, Any]) -> Any:
        keywords = _keywords(last_user_text(body))
        done = tool_texts(body)
        if not keywords:
            return "Ask about something in the code: a feature, a behaviour or a function's name."
        if not done:
            pattern = rf"def \w*(?:{'|'.join(keywords)})\w*\("
            return reply(
                "Let me find where that is defined.",
                tool_calls=[("grep", {"pattern": pattern, "include": "*.py"})],
            )
        name, output, failed = done[-1]
        if name == "grep":
            hit = None if failed else _best_hit(output, keywords)
            if hit is None:
                return f"I found no definition related to {', '.join(keywords)}."
            start = int(hit["line"])
            args = {"path": hit["path"], "start_line": start, "end_line": start + 25}
            return reply(f"`{hit['name']}` looks relevant.", tool_calls=[("read_file", args)])
        grep_output = done[0][1]
        hit = _best_hit(grep_output, keywords)
        if failed or hit is None:
            return f"I could not read the code: {output}"
        doc = _docstring(output) or "it has no docstring; read the code there."
        return f"See `{hit['name']}` at {hit['path']}:{hit['line']}. Its docstring says: {doc}"

    return FunctionModel(play)


RECIPE = Recipe(
    name="codebase-qa",
    description="Answer a question about a source tree, searching and reading its files.",
    run=run,
    offline_model=offline_model,
    inputs={"question": QUESTION, "path": os.path.dirname(agentkit.__file__)},
)

if __name__ == "__main__":
    raise SystemExit(RECIPE.main())
