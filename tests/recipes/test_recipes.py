"""Every recipe runs end to end offline (loopback fake server, real tools) with real outcomes."""

from __future__ import annotations

import re
from typing import Any

import agentkit_recipes
import pytest

from agentkit import (
    AgentEvent,
    ModelRequest,
    Recipe,
    RecipeResult,
    ToolCallFinished,
    recipes,
    run_recipe,
)


async def _run(
    name: str, inputs: dict[str, str] | None = None
) -> tuple[RecipeResult, list[AgentEvent]]:
    events: list[AgentEvent] = []
    result = await run_recipe(recipes()[name], inputs, online=False, on_event=events.append)
    assert result.online is False
    return result, events


def _requests(events: list[AgentEvent]) -> list[dict[str, Any]]:
    return [e.params for e in events if isinstance(e, ModelRequest)]


def _tool_calls(events: list[AgentEvent]) -> list[ToolCallFinished]:
    return [e for e in events if isinstance(e, ToolCallFinished)]


# -- the registry ----------------------------------------------------------------------------


def test_discovery_and_the_package_registry_agree() -> None:
    assert set(recipes()) == set(agentkit_recipes.registry())
    assert len(agentkit_recipes.MODULES) == len(recipes())


@pytest.mark.parametrize("name", sorted(agentkit_recipes.registry()))
def test_every_recipe_documents_each_input_and_how_to_run_it(name: str) -> None:
    recipe: Recipe = recipes()[name]
    module = __import__(recipe.run.__module__, fromlist=["_"])
    doc = module.__doc__ or ""
    assert f"agentkit run {name}" in doc
    for key in recipe.inputs:
        assert re.search(rf"^\s+{key}: ", doc, re.MULTILINE), f"input {key!r} is undocumented"


@pytest.mark.parametrize("name", sorted(agentkit_recipes.registry()))
@pytest.mark.asyncio
async def test_every_recipe_runs_offline_end_to_end(name: str) -> None:
    result, events = await _run(name)
    assert result.output
    assert result.usage.requests == len(_requests(events)) >= 2


# -- prompt chaining -------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_prompt_chaining_runs_four_steps_and_sorts_the_metrics() -> None:
    result, events = await _run("prompt-chaining")
    rows = result.output.splitlines()
    assert rows[:2] == ["| Metric | Value |", "|---|---|"]
    values = [float(re.sub(r"[^\d.]", "", row.split("|")[2])) for row in rows[2:]]
    assert values == [92, 87, 78, 45, 43, 34, 23, 5]
    assert "| Customer satisfaction score | 92% |" in rows
    assert len(_requests(events)) == 4


@pytest.mark.asyncio
async def test_prompt_chaining_gate_stops_before_paying_for_more_steps() -> None:
    with pytest.raises(ValueError, match="no 'value: metric' lines"):
        await _run("prompt-chaining", {"report": "Nothing measurable happened this quarter."})


# -- routing ---------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_routing_sends_each_ticket_to_its_specialist() -> None:
    result, events = await _run("routing")
    assert result.output.team == "account"
    assert "Forgot password" in result.output.reply
    systems = [r["system"] for r in _requests(events)]
    assert "account security specialist" in systems[1]

    billing, _ = await _run("routing", {"ticket": "I was charged twice; please refund me."})
    assert billing.output.team == "billing"


# -- parallelization -------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_parallelization_sections_find_their_problems_and_the_majority_blocks() -> None:
    result, events = await _run("parallelization", {"votes": "5"})
    review = result.output
    assert "line 2: SQL built with an f-string" in review.sections["security"]
    assert "fetchall()" in review.sections["performance"]
    assert "magic index" in review.sections["readability"]
    assert review.safe_to_merge is False
    assert review.votes == "4 of 5 voted not safe"
    assert len(_requests(events)) == 3 + 5


@pytest.mark.asyncio
async def test_parallelization_passes_safe_code_unanimously() -> None:
    code = 'def get(db, name):\n    """The row named name."""\n    return db.execute(\n'
    code += '        "SELECT id FROM users WHERE name = ?", (name,)\n    ).fetchone()\n'
    result, _ = await _run("parallelization", {"code": code})
    assert result.output.safe_to_merge is True
    assert result.output.votes == "3 of 3 voted safe"
    assert result.output.sections["security"] == "No issues."
