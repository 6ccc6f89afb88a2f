"""Orchestrator-workers: one call plans the subtasks, workers carry them out, one call combines.

Unlike sectioning, the subtasks are not known in advance: the orchestrator decides them from
the input, so their number and kind change from task to task. Use it for work whose parts
depend on the request (the files a change touches, the angles a piece of writing needs).

Here the orchestrator reads a writing task and returns a typed `Plan` of distinct approaches
(`output_type=`); one worker per approach drafts in parallel (`agentkit.parallel_map`), each
told the whole task and only its own approach; a final call recommends the draft to use.

Run it (offline unless a key is set):

    agentkit run orchestrator-workers
    agentkit run orchestrator-workers --input task="Announce our new API rate limits"
    python -m agentkit_recipes.orchestrator_workers task="..." context="..."

Inputs:
    task: what to write (default: a product description for a water bottle).
    context: facts the writers must use (default: the bottle's audience and features).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, Field

from agentkit import Recipe, RecipeContext, parallel_map
from agentkit.testing import FunctionModel, last_user_text

from ._offline import answer_with, system_text

TASK = "Write a product description for a new eco-friendly water bottle."
CONTEXT = (
    "Target audience: environmentally conscious millennials. "
    "Key features: plastic-free, insulated for 24 hours, backed by a lifetime warranty."
)

ORCHESTRATOR = (
    "You plan writing work. Analyze the task, then break it into 2 to 4 distinct approaches "
    "that would each serve a different reader or purpose. For each give a short style name "
    "and a one-sentence description a writer can follow."
)
WORKER = (
    "You are a copywriter. Write the piece the task asks for, following only the approach "
    "you are given, and use the facts in the context. Reply with the piece only."
)
EDITOR = (
    "You are an editor. Given a task and several drafts, say in two or three sentences which "
    "draft to publish and why; name it by its style."
)


class Approach(BaseModel):
    """One way to do the task, for one worker."""

    style: str = Field(description="A short name, e.g. 'technical'.")
    description: str = Field(description="What this approach emphasises, for the writer.")


class Plan(BaseModel):
    """How the task is split."""

    analysis: str = Field(description="What the task needs, in two sentences.")
    approaches: list[Approach]


class Draft(BaseModel):
    style: str
    text: str


class Drafts(BaseModel):
    """The plan's analysis, every draft, and the editor's recommendation."""

    analysis: str
    drafts: list[Draft]
    recommendation: str


async def run(ctx: RecipeContext) -> Drafts:
    """Plan the approaches, draft them in parallel, and pick one."""
    brief = f"Task: {ctx.inputs['task']}\nContext: {ctx.inputs['context']}"
    orchestrator = ctx.agent(system=ORCHESTRATOR, output_type=Plan, max_tokens=1024)
    plan = (await ctx.run(orchestrator, brief)).output

    async def write(approach: Approach) -> Draft:
        worker = ctx.agent(system=WORKER, max_tokens=1024)
        prompt = f"{brief}\nApproach: {approach.style}: {approach.description}"
        return Draft(style=approach.style, text=(await ctx.run(worker, prompt)).text)

    drafts = await parallel_map(write, plan.approaches, concurrency=4)
    shown = "\n\n".join(f"[{d.style}]\n{d.text}" for d in drafts)
    editor = ctx.agent(system=EDITOR, max_tokens=512)
    pick = await ctx.run(editor, f"{brief}\n\nDrafts:\n\n{shown}")
    return Drafts(analysis=plan.analysis, drafts=drafts, recommendation=pick.text)


# -- offline: a planner that reads the task, writers that use the context's facts ------------

_STYLES = {
    "formal": "Precise and factual, for readers comparing products on specifications.",
    "conversational": "Warm and personal, for readers deciding if it fits their day.",
    "audience": "Speaks to the target audience's values directly.",
}
_TEMPLATES = {
    "formal": "Specifications: {facts}.",
    "conversational": "Meet the last bottle you'll ever buy: it's {facts}.",
    "audience": "Made for people who care where their plastic ends up: {facts}.",
}


def _facts(brief: str) -> list[str]:
    match = re.search(r"Key features:\s*([^.\n]+)", brief)
    return [f.strip() for f in re.split(r",|\band\b", match.group(1)) if f.strip()] if match else []


def offline_model(inputs: dict[str, str]) -> FunctionModel:
    """Plans two approaches, a third when the context names an audience; drafts from facts."""

    def play(body: dict[str, Any]) -> Any:
        system, text = system_text(body), last_user_text(body)
        if system == ORCHESTRATOR:
            styles = ["formal", "conversational"]
            if "audience:" in text.lower():
                styles.append("audience")
            approaches = [{"style": s, "description": _STYLES[s]} for s in styles]
            analysis = (
                f"The task needs {len(styles)} takes on the same facts. Each serves a "
                "different reader, so they are drafted separately."
            )
            return answer_with(body, {"analysis": analysis, "approaches": approaches})
        if system == WORKER:
            found = re.search(r"Approach: (\w+)", text)
            style = found.group(1) if found and found.group(1) in _TEMPLATES else "formal"
            facts = _facts(text) or ["well made"]
            listed = ", ".join(facts[:-1]) + f" and {facts[-1]}" if len(facts) > 1 else facts[0]
            return _TEMPLATES[style].format(facts=listed)
        styles = re.findall(r"^\[(\w+)\]$", text, re.MULTILINE)
        return f"Publish the {styles[0]} draft: it states every feature plainly."

    return FunctionModel(play)


RECIPE = Recipe(
    name="orchestrator-workers",
    description="Plan the approaches a writing task needs, draft each in parallel, pick one.",
    run=run,
    offline_model=offline_model,
    inputs={"task": TASK, "context": CONTEXT},
)

if __name__ == "__main__":
    raise SystemExit(RECIPE.main())
