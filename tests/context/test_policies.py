"""The policies as data: their checks, their default trigger, what they send."""

from __future__ import annotations

import pytest
from research import research_agent, researcher

from agentkit import Agent, UsageError
from agentkit._loop.capabilities import model_caps
from agentkit._loop.context.policies import trigger_for
from agentkit.context import Auto, Compaction, ServerCompaction, ServerEditing, Trim
from agentkit.testing import ScriptedTransport


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Trim(trigger_tokens=0), r"Trim\(trigger_tokens=...\) must be at least 1"),
        (lambda: Trim(keep_tool_results=-1), "keep_tool_results"),
        (lambda: Trim(exclude_tools="memory"), "list of tool names"),
        (lambda: Compaction(keep_turns=0), "keep_turns"),
        (lambda: ServerCompaction(trigger_tokens=20_000), "smallest compaction trigger is 50,000"),
        (lambda: ServerEditing(keep_thinking_turns=0), "keep_thinking_turns"),
        (lambda: Auto(trigger_tokens=-5), "trigger_tokens"),
    ],
)
def test_bad_settings_are_refused_naming_the_option(make: object, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        make()  # type: ignore[operator]


def test_context_takes_only_a_policy() -> None:
    with pytest.raises(UsageError, match=r"context= takes a policy from agentkit.context"):
        Agent("claude-sonnet-4-5", context="auto")  # type: ignore[arg-type]


def test_the_default_trigger_is_a_share_of_the_models_window() -> None:
    assert trigger_for(Trim(), model_caps("claude-sonnet-4-5")) == 150_000
    assert trigger_for(Compaction(), model_caps("claude-opus-4-6")) == 750_000
    assert trigger_for(Trim(), None) == 100_000  # a model the table does not know
    assert trigger_for(Trim(trigger_tokens=9_000), None) == 9_000


def test_the_capability_table_says_which_models_compact_server_side() -> None:
    opus = model_caps("claude-opus-4-6")
    haiku = model_caps("claude-haiku-4-5")
    assert opus is not None and "compact_20260112" in (opus.context_management or ())
    assert haiku is not None and haiku.context_management == frozenset(
        {"clear_tool_uses_20250919", "clear_thinking_20251015"}
    )


def test_server_editing_sends_clear_thinking_first() -> None:
    transport = ScriptedTransport(researcher(1))
    policy = ServerEditing(
        keep_thinking_turns="all", exclude_tools=["memory"], clear_tool_inputs=True
    )
    research_agent(transport, context=policy).run_sync("Go.")
    edits = transport.requests[0].body["context_management"]["edits"]
    assert edits[0] == {"type": "clear_thinking_20251015", "keep": "all"}
    assert edits[1]["exclude_tools"] == ["memory"] and edits[1]["clear_tool_inputs"] is True
    assert edits[1]["trigger"] == {"type": "input_tokens", "value": 150_000}


def test_the_summary_call_can_use_another_model_and_its_own_prompt() -> None:
    transport = ScriptedTransport(researcher(30), context_window=20_000)
    policy = Compaction(
        trigger_tokens=12_000, model="claude-haiku-4-5", max_tokens=500, prompt="Sum it up."
    )
    result = research_agent(transport, context=policy).run_sync("Go.")
    summary = next(r for r in transport.requests if r.body.get("tool_choice") == {"type": "none"})
    assert summary.body["model"] == "claude-haiku-4-5" and summary.body["max_tokens"] == 500
    assert summary.body["messages"][-1]["content"][-1] == {"type": "text", "text": "Sum it up."}
    assert any(t.model == "claude-haiku-4-5" for t in result.usage.turns)  # costed as haiku


def test_server_compaction_on_a_model_without_it_is_refused_when_the_agent_is_made() -> None:
    # The table says claude-haiku-4-5 has no compact_20260112: its first request would be a
    # 400. Auto picks for itself, and a model the table does not know gets it as given.
    with pytest.raises(UsageError, match=r"needs the server edit compact_20260112.*Auto\(\)"):
        Agent("claude-haiku-4-5", context=ServerCompaction())
    Agent("claude-opus-4-6", context=ServerCompaction())
    Agent("claude-haiku-5-5", context=ServerCompaction())  # context.md lists Haiku 5.5
    Agent("claude-haiku-4-5", context=Auto())
    Agent("claude-haiku-4-5", context=ServerEditing(keep_thinking_turns=1))
    Agent("my-own-model", context=ServerCompaction())
