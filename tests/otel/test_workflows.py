"""Workflow helpers and recipes: an `invoke_workflow` span per call, a span per step, and the
agent runs of a step nested in it."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.trace import StatusCode
from telemetry import Telemetry

from agentkit import Agent, AsyncClient
from agentkit.testing import ScriptedTransport, text_reply
from agentkit.workflows import chain, parallel_map, refine

MODEL = "claude-sonnet-4-5"


@pytest.mark.asyncio
async def test_chain_has_a_span_per_step_with_its_agent_run_inside(telemetry: Telemetry) -> None:
    transport = ScriptedTransport([text_reply("A summary.")])
    async with AsyncClient(api_key="sk-x", transport=transport, max_retries=0) as client:
        writer = Agent(MODEL, client=client, name="writer")

        async def summarize(text: str) -> str:
            return (await writer.run(text)).text

        def shout(text: str) -> str:
            return text.upper()

        assert await chain("Long text.", summarize, shout) == "A SUMMARY."

    workflow = telemetry.one("invoke_workflow chain")
    assert dict(workflow.attributes or {}) == {
        "gen_ai.operation.name": "invoke_workflow", "gen_ai.workflow.name": "chain"
    }
    steps = telemetry.children(workflow)
    assert [s.name for s in steps] == ["chain step 1 summarize", "chain step 2 shout"]
    assert dict(steps[1].attributes or {})["agentkit.workflow.step"] == 2
    (run,) = telemetry.children(steps[0])
    assert run.name == "invoke_agent writer"


@pytest.mark.asyncio
async def test_parallel_map_has_a_span_per_item_and_a_failed_item_is_an_error(
    telemetry: Telemetry,
) -> None:
    async def check(n: int) -> int:
        if n == 2:
            raise ValueError("two")
        return n

    results = await parallel_map(check, [1, 2, 3], return_exceptions=True)
    assert results[0] == 1 and isinstance(results[1], ValueError)
    workflow = telemetry.one("invoke_workflow parallel_map")
    items = {s.name: s for s in telemetry.children(workflow)}
    assert sorted(items) == [f"parallel_map step {i} check" for i in (1, 2, 3)]
    failed = items["parallel_map step 2 check"]
    assert failed.status.status_code is StatusCode.ERROR
    assert dict(failed.attributes or {})["error.type"] == "ValueError"
    assert workflow.status.status_code is StatusCode.UNSET


@pytest.mark.asyncio
async def test_refine_has_a_span_per_generate_and_evaluate(telemetry: Telemetry) -> None:
    def generate(history: Any) -> int:
        return len(history)

    def evaluate(candidate: int) -> bool:
        return candidate >= 1

    outcome = await refine(generate, evaluate, accept=bool)
    assert outcome.accepted and outcome.rounds == 2
    workflow = telemetry.one("invoke_workflow refine")
    assert [s.name for s in telemetry.children(workflow)] == [
        "refine step 1 generate", "refine step 2 evaluate",
        "refine step 3 generate", "refine step 4 evaluate",
    ]


@pytest.mark.asyncio
async def test_a_recipe_is_a_workflow_span_over_its_agent_runs(telemetry: Telemetry) -> None:
    from agentkit.workflows import recipes, run_recipe

    table = recipes()
    if not table:
        pytest.skip("the agentkit_recipes package is not installed")
    name, recipe = next(iter(table.items()))
    await run_recipe(recipe, online=False)
    workflow = telemetry.one(f"invoke_workflow {name}")
    runs = [s for s in telemetry.spans if s.name.startswith("invoke_agent")]
    assert runs and all(s.context.trace_id == workflow.context.trace_id for s in runs)  # type: ignore[union-attr]
