"""Parallelization: independent model calls at once, by sectioning a task or by voting.

Sectioning splits a task into independent parts run in parallel, each with a focused prompt
(one concern per call beats one call juggling all of them). Voting runs the same question
several times, or from several angles, and aggregates the answers for a more reliable verdict.

Here a code change is reviewed both ways. Sectioning: security, performance and readability
reviewers run in parallel. Voting: `votes` reviewers, each with its own lens, decide whether
the change is safe to merge (a typed `Verdict`), and the majority wins. `agentkit.parallel_map`
runs the calls (order kept, concurrency bounded) and `agentkit.vote` counts the ballots; a
voter that fails abstains instead of sinking the vote.

Run it (offline unless a key is set):

    agentkit run parallelization
    agentkit run parallelization --input votes=5
    python -m agentkit_recipes.parallelization code="$(cat my_change.py)"

Inputs:
    code: the code to review (default: a lookup with an SQL injection).
    votes: how many reviewers vote on merging (default: 3).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

from agentkit import Recipe, RecipeContext, UsageError, parallel_map, vote
from agentkit.testing import FunctionModel, last_user_text

from ._offline import answer_with, system_text

CODE = """\
def find_user(db, username):
    query = f"SELECT * FROM users WHERE name = '{username}'"
    rows = db.execute(query).fetchall()
    for row in rows:
        if row[2] == username:
            return row
"""

SECTIONS: dict[str, str] = {
    "security": "injection, unsafe input handling, secrets, and access control",
    "performance": "wasted work, needless I/O or memory, and algorithmic cost",
    "readability": "naming, magic values, structure, and missing documentation",
}

LENSES = (
    "a security engineer: block anything exploitable",
    "the maintainer of this code base: block bugs and risky patterns, allow style nits",
    "a performance engineer: block only changes that will be slow in production",
)


class Verdict(BaseModel):
    """One reviewer's decision on merging the change."""

    safe_to_merge: bool
    reason: str


class Review(BaseModel):
    """Findings per section, and the outcome of the merge vote."""

    sections: dict[str, str]
    safe_to_merge: bool
    votes: str
    """How the vote went, e.g. `2 of 3 voted not safe`."""
    reasons: list[str]


def _section_prompt(concern: str) -> str:
    return (
        f"You review code for {concern} only; ignore every other aspect. List each problem "
        "you find as a short bullet with the line it is on and how to fix it. If there is "
        "none, reply 'No issues.'"
    )


def _voter_prompt(lens: str) -> str:
    return f"You review a code change as {lens}. Decide whether it is safe to merge as it is."


async def run(ctx: RecipeContext) -> Review:
    """Review the code in parallel sections, then take a merge vote."""
    code = ctx.inputs["code"]
    voters = int(ctx.inputs["votes"]) if ctx.inputs["votes"].isdigit() else 0
    if voters < 1:
        raise UsageError(f"votes must be a whole number of at least 1, got {ctx.inputs['votes']!r}")
    task = f"Review this code:\n\n```python\n{code}\n```"

    async def review(section: str) -> str:
        agent = ctx.agent(system=_section_prompt(SECTIONS[section]), max_tokens=1024)
        return (await ctx.run(agent, task)).text

    async def ballot(lens: str) -> Verdict:
        agent = ctx.agent(system=_voter_prompt(lens), output_type=Verdict, max_tokens=512)
        return (await ctx.run(agent, task)).output

    findings = await parallel_map(review, list(SECTIONS))
    lenses = [LENSES[i % len(LENSES)] for i in range(voters)]
    ballots = await parallel_map(ballot, lenses, return_exceptions=True)
    result = vote(ballots, key=lambda verdict: verdict.safe_to_merge)
    outcome = "safe" if result.winner else "not safe"
    return Review(
        sections=dict(zip(SECTIONS, findings, strict=True)),
        safe_to_merge=result.winner,
        votes=f"{result.count} of {result.total} voted {outcome}",
        reasons=[b.reason for b in ballots if isinstance(b, Verdict)],
    )


# -- offline: reviewers that really look at the code, each with its own concerns -------------

_CHECKS: dict[str, list[tuple[str, str]]] = {
    "security": [
        (
            r"f[\"'].*\b(SELECT|INSERT|UPDATE|DELETE)\b",
            "SQL built with an f-string: injection; pass values as query parameters",
        ),
        (r"\beval\(|\bexec\(", "eval/exec on data: code injection"),
    ],
    "performance": [
        (
            r"\.fetchall\(\)",
            "fetchall() loads every row, then a Python loop filters them; "
            "filter in SQL and use fetchone()",
        ),
        (r"SELECT \*", "SELECT * reads every column; select only those used"),
    ],
    "readability": [
        (r"\brow\[\d+\]", "row[2] is a magic index; use named columns"),
        (r"^def (?!.*\"\"\")", "no docstring says what the function returns"),
    ],
}


def _problems(section: str, code: str) -> list[str]:
    found = []
    for pattern, text in _CHECKS[section]:
        for number, line in enumerate(code.splitlines(), 1):
            if re.search(pattern, line):
                found.append(f"- line {number}: {text}")
                break
    if section == "readability" and '"""' in code:
        found = [f for f in found if "docstring" not in f]
    return found


def offline_model(inputs: dict[str, str]) -> FunctionModel:
    """Section reviewers report what their checks find; voters block on their own concerns."""

    def play(body: dict[str, Any]) -> Any:
        system = system_text(body)
        code = last_user_text(body).split("```python\n", 1)[-1].rsplit("\n```", 1)[0]
        for section, concern in SECTIONS.items():
            if system == _section_prompt(concern):
                return "\n".join(_problems(section, code)) or "No issues."
        lens = next(lens for lens in LENSES if system == _voter_prompt(lens))
        if lens.startswith("a performance"):
            # Slow code is worth a note, not a block: this lens lets the change through.
            notes = _problems("performance", code)
            reason = f"not blocking: {notes[0][2:]}" if notes else "no performance problem"
            return answer_with(body, {"safe_to_merge": True, "reason": reason})
        blockers = _problems("security", code)
        reason = blockers[0][2:] if blockers else "nothing exploitable found"
        return answer_with(body, {"safe_to_merge": not blockers, "reason": reason})

    return FunctionModel(play)


RECIPE = Recipe(
    name="parallelization",
    description="Review code in parallel sections, then vote on whether it is safe to merge.",
    run=run,
    offline_model=offline_model,
    inputs={"code": CODE, "votes": "3"},
)

if __name__ == "__main__":
    raise SystemExit(RECIPE.main())
