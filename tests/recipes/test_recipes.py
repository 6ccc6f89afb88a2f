"""Every recipe runs end to end offline (loopback fake server, real tools) with real outcomes."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

import agentkit_recipes
import pytest
from agentkit_recipes.data_analyst import build_sample_db
from agentkit_recipes.evaluator_optimizer import WRITER

import agentkit
from agentkit import (
    AgentEvent,
    AsyncClient,
    ModelRequest,
    Recipe,
    RecipeResult,
    ToolCallFinished,
    WorkflowError,
    recipes,
    run_recipe,
)
from agentkit.testing import Fault, FunctionModel, ScriptedTransport


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


def test_discovery_finds_every_recipe_module() -> None:
    modules = [recipe.run.__module__ for recipe in recipes().values()]
    assert sorted(modules) == sorted(f"agentkit_recipes.{m}" for m in agentkit_recipes.MODULES)


@pytest.mark.parametrize("name", sorted(recipes()))
def test_every_recipe_documents_each_input_and_how_to_run_it(name: str) -> None:
    recipe: Recipe = recipes()[name]
    module = __import__(recipe.run.__module__, fromlist=["_"])
    doc = module.__doc__ or ""
    assert f"agentkit run {name}" in doc
    for key in recipe.inputs:
        assert re.search(rf"^\s+{key}: ", doc, re.MULTILINE), f"input {key!r} is undocumented"


@pytest.mark.parametrize("name", sorted(recipes()))
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
    events: list[AgentEvent] = []
    with pytest.raises(WorkflowError, match="no 'value: metric' lines"):
        await run_recipe(
            recipes()["prompt-chaining"],
            {"report": "Nothing measurable happened this quarter."},
            online=False,
            on_event=events.append,
        )
    assert len(_requests(events)) == 1  # the extraction only


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
    general, _ = await _run("routing", {"ticket": "Hello there."})
    assert general.output.team == "product"


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


# -- orchestrator-workers --------------------------------------------------------------------


@pytest.mark.asyncio
async def test_orchestrator_plans_the_workers_and_each_uses_the_context_facts() -> None:
    result, events = await _run("orchestrator-workers")
    drafts = result.output.drafts
    assert [d.style for d in drafts] == ["formal", "conversational", "audience"]
    for draft in drafts:
        assert "plastic-free" in draft.text and "24 hours" in draft.text
    assert "formal" in result.output.recommendation
    assert len(_requests(events)) == 1 + 3 + 1

    fewer, _ = await _run("orchestrator-workers", {"context": "Key features: light, cheap."})
    assert [d.style for d in fewer.output.drafts] == ["formal", "conversational"]
    assert "light and cheap" in fewer.output.drafts[0].text


# -- evaluator-optimizer ---------------------------------------------------------------------


@pytest.mark.asyncio
async def test_evaluator_optimizer_revises_until_the_code_passes_and_the_code_works() -> None:
    result, events = await _run("evaluator-optimizer")
    solution = result.output
    assert (solution.accepted, solution.rounds) == (True, 2)
    assert "O(n)" in solution.feedback[0] and "IndexError" in solution.feedback[0]
    # The writer revised its own version: its second request carries the first exchange.
    first, second = [r["messages"] for r in _requests(events) if r["system"] == WRITER]
    assert second[:2] == first[:2]
    assert second[2]["content"][0]["text"].startswith("Feedback on your last version:")
    namespace: dict[str, Any] = {}
    exec(solution.code, namespace)  # the accepted code really meets the task
    stack = namespace["MinStack"]()
    for value in (5, 2, 7, 1):
        stack.push(value)
    assert stack.get_min() == 1
    stack.pop()
    assert stack.get_min() == 2
    for _ in range(3):
        stack.pop()
    with pytest.raises(IndexError, match="empty"):
        stack.get_min()


@pytest.mark.asyncio
async def test_evaluator_optimizer_stops_when_the_rounds_run_out() -> None:
    result, _ = await _run("evaluator-optimizer", {"max_rounds": "1"})
    assert (result.output.accepted, result.output.rounds) == (False, 1)
    assert "min(self.items)" in result.output.code


# -- codebase-qa -----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_codebase_qa_greps_reads_and_cites_a_line_that_really_exists() -> None:
    result, events = await _run("codebase-qa")
    calls = _tool_calls(events)
    assert [c.name for c in calls] == ["grep", "read_file"]
    assert not any(c.is_error for c in calls)
    match = re.search(r"`(\w+)` at ([\w/.]+):(\d+)", result.output)
    assert match is not None, result.output
    name, path, line = match.group(1), match.group(2), int(match.group(3))
    root = Path(agentkit.__file__).parent
    assert f"def {name}(" in (root / path).read_text().splitlines()[line - 1]
    # The answer quotes the docstring from the file it read, word for word.
    quoted = result.output.split("Its docstring says: ", 1)[1]
    source = " ".join((root / path).read_text().split())
    assert len(quoted) > 20 and quoted in source


@pytest.mark.asyncio
async def test_codebase_qa_explores_any_directory_given(tmp_path: Path) -> None:
    (tmp_path / "pay.py").write_text(
        'def refund_payment(order):\n    """Refunds go back to the original card."""\n'
    )
    result, _ = await _run(
        "codebase-qa", {"path": str(tmp_path), "question": "How is a payment refund made?"}
    )
    assert result.output.startswith("See `refund_payment` at pay.py:1.")
    assert "original card" in result.output


# -- data analyst ----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_data_analyst_queries_and_computes_the_right_numbers(tmp_path: Path) -> None:
    db = tmp_path / "sales.sqlite"
    build_sample_db(str(db))
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT p.category, o.quantity * p.unit_price, o.order_date FROM orders o "
            "JOIN products p ON p.id = o.product_id"
        ).fetchall()
    conn.close()
    revenue: dict[str, float] = {}
    for category, amount, _ in rows:
        revenue[category] = revenue.get(category, 0) + amount
    top = max(revenue, key=revenue.__getitem__)
    months: dict[str, float] = {}
    for category, amount, date in rows:
        if category == top:
            months[date[:7]] = months.get(date[:7], 0) + amount
    best = max(months, key=months.__getitem__)

    result, events = await _run("data-analyst", {"db": str(db)})
    names = [c.name for c in _tool_calls(events)]
    assert names == ["sqlite_schema", "sqlite_query", "sqlite_query", "run_python"]
    assert not any(c.is_error for c in _tool_calls(events))
    assert result.output.startswith(f"{top.capitalize()} brought in the most revenue")
    assert f"{revenue[top]:.1f}" in result.output
    assert f"best month: {best} ({months[best]:.2f})" in result.output  # printed by Python


@pytest.mark.asyncio
async def test_data_analyst_says_so_when_the_database_cannot_answer(tmp_path: Path) -> None:
    db = tmp_path / "other.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE birds (name TEXT)")
    conn.close()
    result, _ = await _run("data-analyst", {"db": str(db)})
    assert "no orders, products" in result.output


# -- web researcher --------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_web_researcher_fetches_local_pages_follows_a_link_and_cites_them() -> None:
    result, events = await _run("web-researcher")
    calls = _tool_calls(events)
    urls = [c.input["url"] for c in calls]
    assert [u.rsplit("/", 1)[-1] for u in urls] == ["mcp", "transports"]
    assert all(u.startswith("http://127.0.0.1:") for u in urls)
    assert all("Status: 200" in str(c.result["content"]) for c in calls)
    assert "stdio" in result.output and "Streamable HTTP" in result.output
    assert f"1. {urls[0]}" in result.output and f"2. {urls[1]}" in result.output


# -- python -m agentkit_recipes.<module> -----------------------------------------------------


def test_a_recipe_module_runs_as_a_script_with_name_value_inputs(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)
    recipe = recipes()["routing"]
    assert recipe.main(["ticket=Please refund the double charge."]) == 0
    out, err = capsys.readouterr()
    assert '"team": "billing"' in out
    assert err.startswith("[offline: 2 requests,")
    assert recipe.main(["tickt=x"]) == 1
    assert "no input named 'tickt'; its inputs are: ticket" in capsys.readouterr().err


@pytest.mark.asyncio
async def test_parallelization_a_failed_voter_abstains_instead_of_sinking_the_vote() -> None:
    recipe = recipes()["parallelization"]
    scripted = recipe.offline_model(dict(recipe.inputs))

    def maintainer_fails(body: dict[str, Any]) -> Any:
        if "maintainer" in str(body.get("system")):
            return Fault.error(400, message="scripted failure of one voter")
        return scripted(body)

    transport = ScriptedTransport(FunctionModel(maintainer_fails))
    async with AsyncClient(api_key="offline", transport=transport) as client:
        result = await run_recipe(recipe, online=False, client=client)
    assert result.output.votes == "1 of 2 voted not safe"
    assert len(result.output.reasons) == 2
