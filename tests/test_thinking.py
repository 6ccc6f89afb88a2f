from typing import Any

import pytest

from agentkit._errors import UsageError
from agentkit._loop.thinking import (
    FixedBudget,
    PlanningBudget,
    ThinkingBudget,
    plan_thinking,
)


def enabled(budget: int = 2048, **extra: Any) -> dict[str, Any]:
    return {"type": "enabled", "budget_tokens": budget, **extra}


# -- plan_thinking -----------------------------------------------------------------------------


@pytest.mark.parametrize("setting", [None, False])
def test_off(setting: Any) -> None:
    assert plan_thinking(setting) is None


def test_int_budget_is_fixed_manual_thinking() -> None:
    plan = plan_thinking(4096)
    assert plan is not None and plan.type == "enabled" and plan.is_on
    assert plan.for_turn(0, False, 0) == enabled(4096)
    assert plan.for_turn(7, True, 10**6) == enabled(4096)


def test_adaptive_and_disabled_strings() -> None:
    adaptive = plan_thinking("adaptive")
    assert adaptive is not None and adaptive.for_turn(3, True, 0) == {"type": "adaptive"}
    disabled = plan_thinking("disabled")
    assert disabled is not None and not disabled.is_on
    assert disabled.for_turn(0, False, 0) == {"type": "disabled"}


def test_wire_dicts_pass_through() -> None:
    plan = plan_thinking({"type": "adaptive", "display": "summarized"})
    assert plan is not None
    assert plan.for_turn(0, False, 0) == {"type": "adaptive", "display": "summarized"}
    manual = plan_thinking(enabled(3000, display="omitted"))
    assert manual is not None and isinstance(manual.policy, FixedBudget)
    assert manual.for_turn(1, True, 0) == enabled(3000, display="omitted")
    future = plan_thinking({"type": "between_tools"})
    assert future is not None and future.for_turn(0, False, 0) == {"type": "between_tools"}


def test_policy_object() -> None:
    policy = PlanningBudget(first=6000, tool_turns=1500)
    plan = plan_thinking(policy)
    assert plan is not None and plan.policy is policy
    assert plan.for_turn(0, False, 0) == enabled(6000)
    assert plan.for_turn(1, True, 0) == enabled(1500)


def test_config_reads_spent_tokens_from_usage() -> None:
    class Usage:
        output_tokens = 5000

    plan = plan_thinking(FixedBudget(4000, cap=5000))
    assert plan is not None
    assert plan.config(2, True, Usage()) == enabled(1024)


@pytest.mark.parametrize(
    "setting",
    [True, 1023, 0, -5, "on", "enabled", {"budget_tokens": 2000}, {"type": "enabled"}, 2.5, [1]],
)
def test_invalid_settings(setting: Any) -> None:
    with pytest.raises(UsageError):
        plan_thinking(setting)


def test_budget_checked_against_max_tokens_unless_interleaved() -> None:
    with pytest.raises(UsageError, match="max_tokens=4096"):
        plan_thinking(4096, max_tokens=4096)
    with pytest.raises(UsageError, match="first"):
        plan_thinking(PlanningBudget(first=9000, tool_turns=2000), max_tokens=8000)
    assert plan_thinking(4095, max_tokens=4096) is not None
    interleaved = plan_thinking(20_000, max_tokens=4096, interleaved=True)
    assert interleaved is not None and interleaved.interleaved


def test_policy_returning_too_little_is_rejected_per_turn() -> None:
    class Off:
        def budget(self, turn_index: int, after_tool_results: bool, spent: int) -> int:
            return 0

    assert isinstance(Off(), ThinkingBudget)
    plan = plan_thinking(Off())
    assert plan is not None
    with pytest.raises(UsageError, match="never switched off"):
        plan.for_turn(0, False, 0)


# -- budget policies ---------------------------------------------------------------------------


def test_fixed_budget_with_cap_falls_to_minimum() -> None:
    policy = FixedBudget(8000, cap=20_000)
    assert policy.budget(0, False, 0) == 8000
    assert policy.budget(3, True, 19_999) == 8000
    assert policy.budget(4, True, 20_000) == 1024
    assert policy.budget(5, False, 50_000) == 1024


def test_planning_budget_spends_more_on_planning_turns() -> None:
    policy = PlanningBudget(first=10_000, tool_turns=2000, cap=30_000)
    assert policy.budget(0, False, 0) == 10_000
    assert policy.budget(1, True, 3000) == 2000
    assert policy.budget(5, False, 9000) == 10_000  # a new prompt plans again
    assert policy.budget(6, True, 30_000) == 1024
    assert policy.budget(7, False, 31_000) == 1024


def test_planning_budget_defaults() -> None:
    policy = PlanningBudget()
    assert policy.budget(0, False, 0) > policy.budget(1, True, 0) >= 1024


@pytest.mark.parametrize(
    "make",
    [
        lambda: FixedBudget(1000),
        lambda: FixedBudget(2048, cap=-1),
        lambda: PlanningBudget(first=500),
        lambda: PlanningBudget(tool_turns=100),
        lambda: PlanningBudget(cap=1.5),  # type: ignore[arg-type]
    ],
)
def test_policy_validation(make: Any) -> None:
    with pytest.raises(UsageError):
        make()
