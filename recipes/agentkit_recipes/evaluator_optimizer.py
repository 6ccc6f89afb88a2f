"""Evaluator-optimizer: one model writes, another evaluates, and the writer revises until it passes.

Use it when there are clear criteria to judge by and feedback measurably improves the result,
as a human editor's notes would (code against requirements, translations, search queries).

Here a writer implements a task in Python and an evaluator grades each version against the
task's requirements with a typed `Evaluation`. `agentkit.refine` runs the loop until the
verdict is PASS or `max_rounds` run out. The writer keeps its conversation (`history=`), so
it revises its own last version with the feedback rather than starting over.

Run it (offline unless a key is set):

    agentkit run evaluator-optimizer
    agentkit run evaluator-optimizer --input max_rounds=5
    python -m agentkit_recipes.evaluator_optimizer task="Implement an LRU cache class."

Inputs:
    task: what to implement, with its requirements (default: a stack with O(1) minimum).
    max_rounds: most versions to write before giving up (default: 4).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field

from agentkit import Recipe, RecipeContext, UsageError, refine
from agentkit.testing import FunctionModel, last_user_text

from ._offline import answer_with, system_text

TASK = (
    "Implement a Python class MinStack with push(x), pop() and get_min(), all O(1). pop() "
    "and get_min() on an empty stack must raise IndexError with a clear message."
)

WRITER = (
    "You write correct, idiomatic Python. Reply with one ```python code block holding the "
    "complete implementation, and nothing else. When given feedback, revise your last "
    "version to address every point."
)
EVALUATOR = (
    "You review an implementation against its task. Check each requirement: correctness, "
    "time complexity, error handling. Answer PASS only if every requirement is met, "
    "NEEDS_IMPROVEMENT if some are not, FAIL if the approach is wrong; in the feedback, list "
    "every unmet requirement and how to meet it."
)


class Evaluation(BaseModel):
    """The evaluator's grade of one version."""

    verdict: Literal["PASS", "NEEDS_IMPROVEMENT", "FAIL"]
    feedback: str = Field(description="Every unmet requirement, and how to meet it.")


class Solution(BaseModel):
    """The last version written, whether it passed, and the feedback of every round."""

    code: str
    accepted: bool
    rounds: int
    feedback: list[str]


def _code(text: str) -> str:
    match = re.search(r"```(?:python)?\n(.*?)```", text, re.DOTALL)
    return (match.group(1) if match else text).strip()


async def run(ctx: RecipeContext) -> Solution:
    """Write, evaluate and revise until the evaluator passes the code."""
    task = ctx.inputs["task"]
    rounds = ctx.inputs["max_rounds"]
    if not rounds.isdigit() or int(rounds) < 1:
        raise UsageError(f"max_rounds must be a whole number of at least 1, got {rounds!r}")
    writer = ctx.agent(system=WRITER, max_tokens=2048)
    evaluator = ctx.agent(system=EVALUATOR, output_type=Evaluation, max_tokens=1024)
    conversation: list[dict[str, Any]] = []

    async def generate(history: Sequence[tuple[str, Evaluation]]) -> str:
        nonlocal conversation
        if not history:
            result = await ctx.run(writer, task)
        else:
            feedback = history[-1][1].feedback
            prompt = f"Feedback on your last version:\n{feedback}\n\nWrite the revised version."
            result = await ctx.run(writer, prompt, history=conversation)
        conversation = result.messages
        return _code(result.text)

    async def evaluate(code: str) -> Evaluation:
        prompt = f"Task:\n{task}\n\nImplementation:\n```python\n{code}\n```"
        return (await ctx.run(evaluator, prompt)).output

    loop = await refine(
        generate, evaluate, accept=lambda e: e.verdict == "PASS", max_rounds=int(rounds)
    )
    return Solution(
        code=loop.output,
        accepted=loop.accepted,
        rounds=loop.rounds,
        feedback=[evaluation.feedback for _, evaluation in loop.history],
    )


# -- offline: an evaluator that really checks the code, a writer that applies feedback -------
# The scripted writer knows only the default task (MinStack): other tasks need the real model.

_NAIVE = """\
class MinStack:
    def __init__(self):
        self.items = []

    def push(self, x):
        self.items.append(x)

    def pop(self):
{check}        return self.items.pop()

    def get_min(self):
{check}        return min(self.items)
"""

_FAST_MIN = """\
class MinStack:
    def __init__(self):
        self.items = []
        self.mins = []  # mins[-1] is the minimum of items

    def push(self, x):
        self.items.append(x)
        self.mins.append(x if not self.mins else min(x, self.mins[-1]))

    def pop(self):
{check}        self.mins.pop()
        return self.items.pop()

    def get_min(self):
{check}        return self.mins[-1]
"""

_CHECK = '        if not self.items:\n            raise IndexError("MinStack is empty")\n'

_PROBLEMS: tuple[tuple[Callable[[str], bool], str], ...] = (
    (
        lambda code: "min(self.items)" in code,
        "get_min() scans the stack with min(), which is O(n): keep a second stack of running "
        "minimums so get_min() is O(1).",
    ),
    (
        lambda code: "raise IndexError" not in code,
        "pop() and get_min() on an empty stack do not raise IndexError with a clear message: "
        "check for an empty stack and raise IndexError('MinStack is empty').",
    ),
)


def offline_model(inputs: dict[str, str]) -> FunctionModel:
    """The evaluator lists the requirements the code misses; the writer fixes what it is told."""

    def play(body: dict[str, Any]) -> Any:
        if system_text(body) == EVALUATOR:
            code = _code(last_user_text(body).split("Implementation:", 1)[-1])
            unmet = [text for broken, text in _PROBLEMS if broken(code)]
            verdict = "NEEDS_IMPROVEMENT" if unmet else "PASS"
            feedback = "\n".join(f"- {text}" for text in unmet) or "Every requirement is met."
            return answer_with(body, {"verdict": verdict, "feedback": feedback})
        told = " ".join(
            block.get("text", "")
            for turn in body["messages"]
            if turn["role"] == "user" and isinstance(turn["content"], list)
            for block in turn["content"]
        )
        feedback = told.partition("Feedback on your last version:")[2]
        template = _FAST_MIN if "O(1)" in feedback else _NAIVE
        code = template.format(check=_CHECK if "IndexError(" in feedback else "")
        return f"```python\n{code}```"

    return FunctionModel(play)


RECIPE = Recipe(
    name="evaluator-optimizer",
    description="Write code, have it evaluated against the task, revise until it passes.",
    run=run,
    offline_model=offline_model,
    inputs={"task": TASK, "max_rounds": "4"},
)

if __name__ == "__main__":
    raise SystemExit(RECIPE.main())
