"""Extended thinking: the user's setting, per-turn budgets, and shaping each request for the model.

This module owns three things, all pure:

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
- `shape_request(params, caps, ...)` adjusts one request for the model and checks the thinking
  rules before anything is sent, raising `ConversationError(index=None, rule=...)` (a
  request-level rule, like the conversation rules) when the request would get a 400. For a
  known model it translates `enabled` to `adaptive` where `enabled` is rejected, omits
  `disabled` where thinking cannot be turned off, and adds the interleaved-thinking beta
  header where needed; for an unknown model (`caps` None) it sends the settings as given and
  applies only the universal rules.

`thinking` and `redacted_thinking` blocks are never touched here: the engine echoes assistant
turns byte-for-byte (see `_conversation`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from .._errors import ConversationError, UsageError
from .capabilities import ModelCaps

__all__ = [
    "INTERLEAVED_THINKING_BETA",
    "MIN_BUDGET_TOKENS",
    "FixedBudget",
    "PlanningBudget",
    "ThinkingBudget",
    "ThinkingPlan",
    "plan_thinking",
    "shape_request",
]

MIN_BUDGET_TOKENS = 1024
"""The API's smallest `budget_tokens`."""
INTERLEAVED_THINKING_BETA = "interleaved-thinking-2025-05-14"

_EFFORT_ORDER = {"low": 0, "medium": 1, "high": 2, "xhigh": 3, "max": 4}
_DEFAULT_ON = frozenset({"on", "always_on"})


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
        if self.cap is not None and thinking_tokens_spent_estimate >= self.cap:
            return MIN_BUDGET_TOKENS
        return self.tokens


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
        if self.cap is not None and thinking_tokens_spent_estimate >= self.cap:
            return MIN_BUDGET_TOKENS
        return self.tool_turns if after_tool_results else self.first


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
        kind = setting.get("type")
        if not isinstance(kind, str):
            raise UsageError(
                f"thinking={setting!r} has no string 'type'; e.g. {{'type': 'adaptive'}} or "
                "{'type': 'enabled', 'budget_tokens': 4096}."
            )
        wire: dict[str, Any] = dict(setting)
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


# -- shaping a request ---------------------------------------------------------------------------


def _fail(message: str, rule: str) -> ConversationError:
    return ConversationError(message, index=None, rule=rule)


def _translate(
    params: dict[str, Any], thinking: Mapping[str, Any], kind: str, caps: ModelCaps
) -> tuple[dict[str, Any], str | None]:
    """Adjust a thinking `type` the model rejects, or raise; return the params and new type."""
    accepted = caps.thinking_accepted or frozenset()
    if kind == "enabled" and "adaptive" in accepted:
        # The newest models reject manual budgets; adaptive thinking is their equivalent.
        adaptive = {k: v for k, v in thinking.items() if k != "budget_tokens"}
        adaptive["type"] = "adaptive"
        return {**params, "thinking": adaptive}, "adaptive"
    if kind == "disabled" and caps.thinking_default in _DEFAULT_ON:
        # Thinking cannot be turned off on this model; leaving `thinking` out is the only
        # request it accepts.
        return {k: v for k, v in params.items() if k != "thinking"}, None
    raise _fail(
        f"model {caps.id} does not accept thinking type {kind!r} (it accepts "
        f"{sorted(accepted)}); change the thinking setting.",
        "thinking_type_unsupported",
    )


def shape_request(
    params: dict[str, Any], caps: ModelCaps | None, *, has_tools: bool, interleaved: bool = False
) -> tuple[dict[str, Any], list[str]]:
    """Adjust request `params` for the model and check the thinking rules; return the params
    and the beta headers the request needs.

    `params` is not modified: the result is `params` itself when nothing changes, else a
    shallow copy. `interleaved` asks for interleaved thinking (thinking between tool calls)
    with manual budgets, where the budget may then exceed `max_tokens`.

    Raises:
        ConversationError: with `index=None` and the rule: `thinking_shape`,
            `thinking_type_unsupported`, `thinking_budget_min`, `thinking_budget_max_tokens`,
            `sampling_with_thinking`, `sampling_unsupported`, `forced_tool_choice_with_thinking`,
            `forced_tool_choice_unsupported`, `max_tokens_invalid`, `max_tokens_over_limit`,
            `effort_unsupported`.
    """
    out = params
    betas: list[str] = []
    thinking = params.get("thinking")
    kind: str | None = None
    if thinking is not None:
        kind = thinking.get("type") if isinstance(thinking, Mapping) else None
        if not isinstance(kind, str):
            raise _fail(
                f"thinking={thinking!r} must be a dict with a string 'type'.", "thinking_shape"
            )
    if caps is not None and kind is not None and kind in (caps.thinking_rejected or ()):
        out, kind = _translate(params, thinking, kind, caps)
        thinking = out.get("thinking")

    # What the model will actually do: an omitted `thinking` means the model's default.
    if kind is None:
        effective = (
            "adaptive" if caps is not None and caps.thinking_default in _DEFAULT_ON else None
        )
    else:
        effective = None if kind == "disabled" else kind

    max_tokens = params.get("max_tokens")
    if max_tokens is not None and (type(max_tokens) is not int or max_tokens < 1):
        raise _fail(f"max_tokens={max_tokens!r} must be a positive int.", "max_tokens_invalid")
    if (
        caps is not None
        and caps.max_output_tokens
        and max_tokens
        and max_tokens > caps.max_output_tokens
    ):
        raise _fail(
            f"max_tokens={max_tokens} is above {caps.id}'s output limit of "
            f"{caps.max_output_tokens}; lower max_tokens.",
            "max_tokens_over_limit",
        )

    if effective == "enabled":
        budget = thinking.get("budget_tokens")
        if type(budget) is not int or budget < MIN_BUDGET_TOKENS:
            raise _fail(
                f"thinking budget_tokens={budget!r} must be an int >= {MIN_BUDGET_TOKENS}.",
                "thinking_budget_min",
            )
        interleaving = (
            interleaved and has_tools and (caps is None or caps.interleaved_needs_beta is True)
        )
        if interleaving:
            betas.append(INTERLEAVED_THINKING_BETA)
        elif max_tokens is not None and budget >= max_tokens:
            raise _fail(
                f"thinking budget_tokens={budget} must be below max_tokens={max_tokens} "
                "(thinking counts toward max_tokens); raise max_tokens or lower the budget.",
                "thinking_budget_max_tokens",
            )

    _check_sampling(params, caps, effective)
    _check_tool_choice(params, caps, effective)
    _check_effort(params, caps, effective)
    return out, betas


def _check_sampling(params: dict[str, Any], caps: ModelCaps | None, effective: str | None) -> None:
    temperature = params.get("temperature")
    top_p = params.get("top_p")
    top_k = params.get("top_k")
    if temperature is None and top_p is None and top_k is None:
        return
    if (
        caps is not None
        and caps.sampling == "defaults_only"
        and (
            (temperature is not None and temperature != 1)
            or (top_p is not None and top_p != 1)
            or top_k is not None
        )
    ):
        raise _fail(
            f"model {caps.id} rejects non-default temperature/top_p/top_k; remove them.",
            "sampling_unsupported",
        )
    if effective is not None and (
        (temperature is not None and temperature != 1)
        or top_k is not None
        or (top_p is not None and not 0.95 <= top_p <= 1)
    ):
        raise _fail(
            "thinking is on, so temperature and top_k must be left out and top_p kept within "
            "0.95-1; remove them or turn thinking off.",
            "sampling_with_thinking",
        )


def _check_tool_choice(
    params: dict[str, Any], caps: ModelCaps | None, effective: str | None
) -> None:
    tool_choice = params.get("tool_choice")
    if not isinstance(tool_choice, Mapping) or tool_choice.get("type") not in ("any", "tool"):
        return
    if caps is not None and caps.forced_tool_choice_always_rejected:
        raise _fail(
            f"model {caps.id} rejects a forced tool_choice ('any'/'tool') on every request; use "
            "tool_choice auto, or output_config.format for structured output.",
            "forced_tool_choice_unsupported",
        )
    if effective is None:
        return
    allowed = effective != "enabled" and (
        caps is None or effective in (caps.forced_tool_choice_with_thinking or ())
    )
    if not allowed:
        raise _fail(
            f"a forced tool_choice ('any'/'tool') cannot be combined with {effective} thinking "
            "on this model; use tool_choice auto/none, or turn thinking off for this run.",
            "forced_tool_choice_with_thinking",
        )


def _check_effort(params: dict[str, Any], caps: ModelCaps | None, effective: str | None) -> None:
    if caps is None:
        return
    output_config = params.get("output_config")
    effort = output_config.get("effort") if isinstance(output_config, Mapping) else None
    if effort is None:
        return
    if caps.effort_levels is not None and effort not in caps.effort_levels:
        raise _fail(
            f"model {caps.id} does not accept effort {effort!r} (it accepts "
            f"{list(caps.effort_levels)}).",
            "effort_unsupported",
        )
    cap = caps.disabled_thinking_effort_cap
    if effective is None and cap and _EFFORT_ORDER.get(effort, 0) > _EFFORT_ORDER.get(cap, 4):
        raise _fail(
            f"model {caps.id} accepts effort up to {cap!r} while thinking is off; lower the "
            "effort or turn thinking on.",
            "effort_unsupported",
        )
