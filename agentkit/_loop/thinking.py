"""Extended thinking: the user's setting and the per-turn budgets.

This module owns two things, both pure:

- `plan_thinking(setting)` turns the user's `thinking=` argument (`None`/`False`, an `int`
  budget, `"adaptive"`, a wire dict, or a `ThinkingBudget` policy) into a `ThinkingPlan`,
  raising `UsageError` for a setting that can never be valid (a configuration mistake,
  reported when the agent is defined, not when a request is built).
- Budget policies (`FixedBudget`, `PlanningBudget`) choose `budget_tokens` per turn. Thinking is
  decided once per run and is **never** switched off inside it (toggling between a `tool_use`
  and its `tool_result` is a 400): a policy's floor, and the level it falls to after its
  run-level `cap`, is the API minimum of 1024. Changing `budget_tokens` invalidates the prompt
  cache's message breakpoints, so `FixedBudget` is the default and `PlanningBudget` changes the
  budget only between the first turn of a prompt and its tool-result turns.

Fitting a thinking setting to one model's request (and its thinking rules) is
`request_rules.shape_request`. `thinking` and `redacted_thinking` blocks are never touched
here: the engine echoes assistant turns byte-for-byte (see `conversation`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, cast, runtime_checkable

from .._errors import UsageError

__all__ = [
    "MIN_BUDGET_TOKENS",
    "FixedBudget",
    "PlanningBudget",
    "ThinkingBudget",
    "ThinkingPlan",
    "plan_thinking",
]

MIN_BUDGET_TOKENS = 1024
"""The API's smallest `budget_tokens`."""


@runtime_checkable
class ThinkingBudget(Protocol):
    """Chooses `budget_tokens` for one model request of a run with manual thinking."""

    def budget(
        self, turn_index: int, after_tool_results: bool, thinking_tokens_spent_estimate: int
    ) -> int:
        """Return the budget (an int >= 1024) for the request about to be sent.

        `turn_index` counts model requests in the run from 0; `after_tool_results` says the
        request answers tool calls; `thinking_tokens_spent_estimate` is what the run has spent
        on thinking so far (the engine passes output tokens, an upper bound: the API bills
        thinking as output and does not report it apart).
        """
        ...


def _check_tokens(name: str, value: Any) -> None:
    if type(value) is not int or value < MIN_BUDGET_TOKENS:
        raise UsageError(
            f"{name}={value!r}: a thinking budget must be an int >= {MIN_BUDGET_TOKENS} "
            "(the API minimum)."
        )


def _check_cap(owner: str, cap: Any) -> None:
    if cap is not None and (type(cap) is not int or cap < 0):
        raise UsageError(f"{owner}(cap={cap!r}): cap must be None or a non-negative int.")


def _within_cap(tokens: int, cap: int | None, spent: int) -> int:
    """`tokens`, or the API minimum once the run has spent `cap` thinking tokens."""
    return MIN_BUDGET_TOKENS if cap is not None and spent >= cap else tokens


@dataclass(frozen=True, slots=True)
class FixedBudget:
    """The same budget every turn (the default: it keeps the prompt cache valid).

    With `cap`, once the run has spent `cap` thinking tokens the budget falls to 1024.
    """

    tokens: int
    cap: int | None = None

    def __post_init__(self) -> None:
        _check_tokens("FixedBudget(tokens)", self.tokens)
        _check_cap("FixedBudget", self.cap)

    def budget(
        self, turn_index: int, after_tool_results: bool, thinking_tokens_spent_estimate: int
    ) -> int:
        """Return `tokens`, or 1024 once `cap` is spent."""
        return _within_cap(self.tokens, self.cap, thinking_tokens_spent_estimate)


@dataclass(frozen=True, slots=True)
class PlanningBudget:
    """More thinking where the plan is made, less on tool-result turns.

    A request that answers a new prompt (the first turn of a run, or after a new user message)
    gets `first`; a request that carries tool results gets `tool_turns`. With `cap`, once the
    run has spent `cap` thinking tokens every budget falls to 1024. Both budgets must stay
    below `max_tokens` unless thinking is interleaved.
    """

    first: int = 8000
    tool_turns: int = 2000
    cap: int | None = None

    def __post_init__(self) -> None:
        _check_tokens("PlanningBudget(first)", self.first)
        _check_tokens("PlanningBudget(tool_turns)", self.tool_turns)
        _check_cap("PlanningBudget", self.cap)

    def budget(
        self, turn_index: int, after_tool_results: bool, thinking_tokens_spent_estimate: int
    ) -> int:
        """Return `tool_turns` after tool results, else `first` (1024 once `cap` is spent)."""
        tokens = self.tool_turns if after_tool_results else self.first
        return _within_cap(tokens, self.cap, thinking_tokens_spent_estimate)


@dataclass(frozen=True, slots=True)
class ThinkingPlan:
    """A run's thinking setting, normalized: what to send as `thinking` on each request."""

    wire: dict[str, Any]
    """The wire dict sent as is (adaptive, disabled, …); for manual thinking, the extra keys
    (e.g. `display`) sent next to the per-turn budget."""
    policy: ThinkingBudget | None = None
    """The budget policy of manual (`enabled`) thinking; None for every other type."""
    interleaved: bool = False
    """Ask for interleaved thinking (pass it to `shape_request(interleaved=)`)."""

    @property
    def type(self) -> str:
        """The wire `type`: `enabled`, `adaptive`, `disabled`, or a newer one passed through."""
        return "enabled" if self.policy is not None else str(self.wire["type"])

    @property
    def is_on(self) -> bool:
        """Whether this setting asks for thinking (anything but `disabled`)."""
        return self.type != "disabled"

    def for_turn(
        self, turn_index: int, after_tool_results: bool, thinking_tokens_spent_estimate: int
    ) -> dict[str, Any]:
        """Return the `thinking` value for one request (do not mutate it: it may be shared).

        Raises:
            UsageError: the budget policy returned something other than an int >= 1024.
        """
        if self.policy is None:
            return self.wire
        tokens = self.policy.budget(turn_index, after_tool_results, thinking_tokens_spent_estimate)
        if type(tokens) is not int or tokens < MIN_BUDGET_TOKENS:
            raise UsageError(
                f"{type(self.policy).__name__}.budget() returned {tokens!r}; a thinking budget "
                f"must be an int >= {MIN_BUDGET_TOKENS}, and thinking is never switched off "
                "inside a run."
            )
        return {**self.wire, "budget_tokens": tokens}

    def config(
        self, turn_index: int, after_tool_results: bool, usage: _SpentSoFar
    ) -> dict[str, Any]:
        """`for_turn`, estimating thinking spent from the run usage's output tokens."""
        return self.for_turn(turn_index, after_tool_results, usage.output_tokens)


class _SpentSoFar(Protocol):
    output_tokens: int


def plan_thinking(
    setting: Any, *, max_tokens: int | None = None, interleaved: bool = False
) -> ThinkingPlan | None:
    """Turn the user's `thinking=` argument into a `ThinkingPlan` (None: don't send one).

    Accepts `None`/`False` (leave `thinking` out), an int budget (`{"type": "enabled",
    "budget_tokens": n}` every turn), `"adaptive"`/`"disabled"`, a wire dict
    (`{"type": "adaptive", "display": "summarized"}`, `{"type": "enabled", "budget_tokens": n}`,
    or a newer type, passed through), or a `ThinkingBudget` policy (manual thinking with a
    per-turn budget).

    With `max_tokens`, fixed budgets (and `PlanningBudget`'s) are checked against it now,
    unless `interleaved`, where the budget may exceed `max_tokens`.

    Raises:
        UsageError: the setting can never be valid (`True`, a budget below 1024 or not below
            `max_tokens`, an unknown string, a dict without a string `type`).
    """
    plan = _plan(setting, interleaved)
    if plan is None or plan.policy is None or max_tokens is None or interleaved:
        return plan
    policy = plan.policy
    if isinstance(policy, FixedBudget):
        budgets = {"budget": policy.tokens}
    elif isinstance(policy, PlanningBudget):
        budgets = {"first": policy.first, "tool_turns": policy.tool_turns}
    else:
        budgets = {}
    for name, tokens in budgets.items():
        if tokens >= max_tokens:
            raise UsageError(
                f"thinking {name} of {tokens} tokens is not below max_tokens={max_tokens}; "
                "thinking counts toward max_tokens, so raise max_tokens or lower the budget."
            )
    return plan


def _plan(setting: Any, interleaved: bool) -> ThinkingPlan | None:
    if setting is None or setting is False:
        return None
    if setting is True:
        raise UsageError(
            "thinking=True is ambiguous; pass thinking='adaptive' (newer models) or a budget "
            "such as thinking=4096 (manual thinking on older models)."
        )
    if type(setting) is int:
        return ThinkingPlan({"type": "enabled"}, FixedBudget(setting), interleaved)
    if isinstance(setting, str):
        if setting in ("adaptive", "disabled"):
            return ThinkingPlan({"type": setting}, None, interleaved)
        raise UsageError(
            f"thinking={setting!r} is not a thinking setting; use 'adaptive', 'disabled', an "
            "int budget (>= 1024), a wire dict, or a ThinkingBudget policy."
        )
    if isinstance(setting, Mapping):
        wire: dict[str, Any] = dict(cast("Mapping[str, Any]", setting))
        kind = wire.get("type")
        if not isinstance(kind, str):
            raise UsageError(
                f"thinking={setting!r} has no string 'type'; e.g. {{'type': 'adaptive'}} or "
                "{'type': 'enabled', 'budget_tokens': 4096}."
            )
        if kind == "enabled":
            budget = wire.pop("budget_tokens", None)
            _check_tokens("thinking['budget_tokens']", budget)
            return ThinkingPlan(wire, FixedBudget(budget), interleaved)
        return ThinkingPlan(wire, None, interleaved)
    if isinstance(setting, ThinkingBudget):
        return ThinkingPlan({"type": "enabled"}, setting, interleaved)
    raise UsageError(
        f"thinking={setting!r} ({type(setting).__name__}) is not a thinking setting; use None, "
        "'adaptive', an int budget, a wire dict, or a ThinkingBudget policy."
    )
