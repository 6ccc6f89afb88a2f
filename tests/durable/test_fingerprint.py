"""A durable run's fingerprint (`_run/fingerprint.py`): what the agent half holds (model,
system prompt, tool names, output type; not a tool's description or code); the context policy
is part of it as far as it decides the replay, and an agent without one keeps the fingerprint
its stored runs have."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from agentkit import Agent, tool
from agentkit._run.fingerprint import fingerprint
from agentkit.context import Auto, Compaction, ServerCompaction, ServerEditing, Trim

PROMPT = [{"role": "user", "content": "Charge the open orders"}]
Policy = Trim | Compaction | ServerEditing | ServerCompaction | Auto


@dataclass
class Plan:
    steps: list[str]


@tool
async def lookup(order: int) -> str:
    """The amount due on an order."""
    return f"order {order}: 12.99 EUR"


def _agent_half(agent: Agent[str]) -> str:
    return fingerprint(agent.config, agent.toolset.names, PROMPT).split("-")[0]


def test_an_agent_without_a_context_policy_keeps_the_fingerprint_of_its_stored_runs() -> None:
    # Computed by the agentkit before policies were fingerprinted: stores in the field hold
    # runs under these, and a changed one would refuse their resume.
    plain = Agent("claude-sonnet-4-6", system="You charge orders.")
    full = Agent(
        "claude-opus-4-6",
        system="Plan it.",
        tools=[lookup, {"type": "web_search_20250305", "name": "web_search"}],
        output_type=Plan,
    )
    assert fingerprint(plain.config, plain.toolset.names, PROMPT) == (
        "40be83ca0b73acbe-c27222bd750b7ae6"
    )
    assert fingerprint(full.config, full.toolset.names, PROMPT) == (
        "b7c06c5de50538d7-c27222bd750b7ae6"
    )


POLICIES: list[Policy | None] = [
    None,
    Trim(),
    Compaction(),
    ServerEditing(),
    ServerCompaction(),
    Auto(),
]


def test_each_context_policy_kind_is_another_agent() -> None:
    halves = {_agent_half(Agent("claude-opus-4-6", context=p)) for p in POLICIES}
    assert len(halves) == len(POLICIES)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        (Trim(), Trim(trigger_tokens=20_000)),
        (Trim(), Trim(keep_tool_results=2)),
        (Trim(), Trim(exclude_tools=("memory",))),
        (Trim(), Trim(placeholder="[cleared]")),
        (Compaction(), Compaction(trigger_tokens=20_000)),
        (Compaction(), Compaction(keep_turns=3)),
        (ServerEditing(), ServerEditing(keep_tool_uses=5)),  # what an overflow trims to
        (ServerEditing(), ServerEditing(exclude_tools=("memory",))),
        (Auto(), Auto(trigger_tokens=20_000)),  # the client side, below the API's minimum
        (Auto(), Auto(keep_turns=3)),
    ],
)
def test_a_setting_that_decides_the_replay_changes_the_agent_half(
    one: Policy, other: Policy
) -> None:
    first = _agent_half(Agent("claude-opus-4-6", context=one))
    second = _agent_half(Agent("claude-opus-4-6", context=other))
    assert first != second


@pytest.mark.parametrize(
    ("one", "other"),
    [
        (Compaction(), Compaction(prompt="Summarize.", model="claude-haiku-4-5", max_tokens=900)),
        (
            ServerEditing(),
            ServerEditing(
                trigger_tokens=30_000,
                clear_at_least=5_000,
                clear_tool_inputs=True,
                keep_thinking_turns=2,
            ),
        ),
        (
            ServerCompaction(),
            ServerCompaction(
                trigger_tokens=90_000, instructions="Summarize.", pause_after_compaction=True
            ),
        ),
        (Auto(), Auto(instructions="Summarize.")),
    ],
)
def test_a_setting_that_only_shapes_requests_may_change_between_resumes(
    one: Policy, other: Policy
) -> None:
    first = _agent_half(Agent("claude-opus-4-6", context=one))
    second = _agent_half(Agent("claude-opus-4-6", context=other))
    assert first == second


@pytest.mark.parametrize("policy", [Trim(), Compaction(), Auto()], ids=lambda p: type(p).__name__)
def test_a_default_trigger_is_hashed_as_the_tokens_it_stands_for(
    policy: Policy, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Left out, a trigger is a share of the model's window, a model fact an upgrade may change
    # (`models.json`): a run stored under one window would replay its trims at other turns.
    from dataclasses import replace

    from agentkit._loop import capabilities
    from agentkit._run import fingerprint as module

    model = "claude-sonnet-4-5"
    caps = capabilities.model_caps(model)
    assert caps is not None and caps.context_window
    before = _agent_half(Agent(model, context=policy))
    explicit = type(policy)(trigger_tokens=module.trigger_for(policy, caps))
    assert _agent_half(Agent(model, context=explicit)) == before  # the same tokens

    wider = replace(caps, context_window=caps.context_window * 2)
    monkeypatch.setattr(module, "model_caps", lambda name: wider if name == model else None)
    assert _agent_half(Agent(model, context=policy)) != before


def _half_with(**change: Any) -> str:
    settings: dict[str, Any] = {"system": "You charge orders.", "tools": [lookup], **change}
    return _agent_half(Agent(settings.pop("model", "claude-sonnet-4-6"), **settings))


def test_the_agent_half_is_its_model_system_prompt_tool_names_and_output_type_only() -> None:
    # The README's list, each part on its own; a tool's description and code are not in it.
    same = _half_with()
    assert _half_with(model="claude-opus-4-6") != same
    assert _half_with(system="You refund orders.") != same
    assert _half_with(tools=[lookup.replace(name="find")]) != same
    assert _half_with(tools=[lookup, {"type": "web_search_20250305", "name": "web_search"}]) != same
    assert _half_with(output_type=Plan) != same

    @tool(name="lookup")
    async def rewritten(order: int, currency: str = "EUR") -> str:
        """The amount due on an order, in a currency."""
        return f"order {order}: 12.99 {currency}"

    assert _half_with(tools=[lookup.replace(description="Another description.")]) == same
    assert _half_with(tools=[rewritten]) == same
