"""Building one model request from a run's settings, its turn's tools and its history.

`build_request` is what a request holds: the turn's tools (client, server, the output tool),
`tool_choice` relaxed once the model called a tool (`keep_tool_choice` keeps it), a forced
one checked against the turn's tools (a `UsageError` where the API would refuse it), cache
breakpoints, the turn's thinking, the output tool forced where the model allows it, then the
request shaped for its model (`request_rules.shape_request`), with the compaction beta whenever
the history carries a server `compaction` block back. A turn that offers no tool sends
no `tool_choice`, and when its history holds tool calls, stand-in definitions of the tools
they called (the API requires tools then) with `tool_choice` none. A compaction's summary call is
shaped for the model and `max_tokens` it names: its thinking budget fitted below that
`max_tokens`; on another model, without the run's thinking or the thinking blocks the run's
model signed. When to make one, and what to do with its reply, is the engine's (`engine.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

from .._errors import UsageError
from .caching import place_breakpoints
from .capabilities import ModelCaps, model_caps
from .config import EngineConfig
from .history import ends_with_tool_results, tool_use_names
from .request_rules import (
    check_tool_choice_offered,
    check_tool_names,
    relax_tool_choice,
    shape_request,
)
from .state import RunState
from .steps import CallModel, ToolInfo
from .thinking import MIN_BUDGET_TOKENS

if TYPE_CHECKING:
    from .context.manager import SummaryCall

__all__ = ["build_request", "check_summary_room"]

_DECIDED = " (`prepare` hooks and tool sources, such as an MCP server, decide each turn's tools)"


def build_request(
    cfg: EngineConfig,
    caps: ModelCaps | None,
    s: RunState,
    tools: Mapping[str, ToolInfo],
    messages: list[dict[str, Any]],
    summary: SummaryCall | None,
) -> CallModel:
    """The request for `messages` on this turn; a summary request allows no tool call."""
    model, max_tokens = cfg.model, cfg.max_tokens
    foreign = False
    if summary is not None:
        model, max_tokens = summary.model or model, summary.max_tokens or max_tokens
        caps, foreign = _summary_caps(cfg.model, caps, model)
        if foreign:
            from .context.transforms import without_thinking  # a context policy is loaded

            messages = without_thinking(messages)
    tool_params = [t.to_param() for t in tools.values()]
    if cfg.server_tools:
        check_tool_names((p["name"] for p in tool_params), cfg.server_tools)
        tool_params.extend(cfg.server_tools)
    if cfg.output_tool is not None:
        tool_params.append(cfg.output_tool)
    params: dict[str, Any] = {"model": cfg.model, "max_tokens": cfg.max_tokens}
    params.update(cfg.params)
    if summary is not None:
        params.update(model=model, max_tokens=max_tokens, tool_choice={"type": "none"})
    if "tool_choice" in params and summary is None:
        if not cfg.keep_tool_choice and s.usage.called_tools():
            params["tool_choice"] = relax_tool_choice(params["tool_choice"])
        offered = [p["name"] for p in tool_params]
        check_tool_choice_offered(params["tool_choice"], offered, f"turn {s.turns}", _DECIDED)
    if not tool_params:
        tool_params = _stand_ins(messages)
        if tool_params:
            params["tool_choice"] = {"type": "none"}
        else:
            params.pop("tool_choice", None)  # a choice among no tools
    system = cfg.system
    if cfg.cache:
        top = params.get("cache_control")
        top = cast("Mapping[str, Any]", top) if isinstance(top, Mapping) else None
        messages, system, tool_params = place_breakpoints(messages, system, tool_params, top=top)
    params["messages"] = messages
    if system:
        params["system"] = system
    if tool_params:
        params["tools"] = tool_params
    thinking: dict[str, Any] | None = None
    if cfg.thinking is not None and not foreign:
        thinking = cfg.thinking.config(s.turns, ends_with_tool_results(messages), s.usage)
        if summary is not None:
            thinking = _fit_budget(thinking, max_tokens)
        params["thinking"] = thinking
    if cfg.output_tool is not None and "tool_choice" not in params:
        params["tool_choice"] = _output_choice(caps, thinking)
    params, betas = shape_request(
        params,
        caps,
        has_tools=bool(tool_params),
        interleaved=cfg.thinking is not None and cfg.thinking.interleaved,
    )
    return CallModel(params, (*cfg.betas, *betas, *_carried_betas(messages)))


def _carried_betas(messages: list[dict[str, Any]]) -> tuple[str, ...]:
    """The beta a history carrying a server `compaction` block back needs on every request,
    whatever asks now (a client compaction rescuing an overflow, another agent given the
    history): without it the API refuses the block (400).

    Looked for where a compaction leaves it, the second message (the cut keeps the first
    prompt, then the reply from the block on: `transforms.after_compaction`), so a turn pays
    the same however long the history: scanning it all cost 21 us a turn at turn 21 and 120 us
    at turn 100. A failed compaction's block (null content) is not cut to there; the requests
    of its policy carry the beta with their edits, all but a rescue's summary call."""
    second = messages[1].get("content") if len(messages) > 1 else None
    if not isinstance(second, list) or not second:
        return ()
    first = cast("list[object]", second)[0]
    if isinstance(first, dict) and cast("dict[str, Any]", first).get("type") == "compaction":
        from .context.server import BETA_COMPACTION  # a compaction block came back

        return (BETA_COMPACTION,)
    return ()


def _stand_ins(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Definitions for the tools a history calls, for a turn that offers none.

    The API refuses a request whose messages hold `tool_use` or `tool_result` blocks and
    whose `tools` are empty ("... must define tools"), as a turn whose tools `prepare` hid,
    or an agent without tools given such a history, would send. Each tool the history
    called stands defined by its name alone, and `tool_choice` none keeps it from being
    called again.
    """
    names = dict.fromkeys(tool_use_names(messages).values())
    return [
        {
            "name": name,
            "description": "Not offered on this turn: it cannot be called.",
            "input_schema": {"type": "object"},
        }
        for name in names
    ]


def _summary_caps(
    run_model: str, caps: ModelCaps | None, model: str
) -> tuple[ModelCaps | None, bool]:
    """The summary model's capabilities, and whether it is another model than the run's (its
    request then leaves out the run's thinking, and the thinking blocks another model signed)."""
    if model == run_model:
        return caps, False
    other = model_caps(model)
    return other, other is None or caps is None or other.id != caps.id


def _fit_budget(thinking: dict[str, Any], max_tokens: int) -> dict[str, Any]:
    """A summary's manual thinking budget within its (smaller) `max_tokens`: half of it, at
    least the API minimum, where the run's budget does not fit below it."""
    budget = thinking.get("budget_tokens")
    if thinking.get("type") != "enabled" or type(budget) is not int or budget < max_tokens:
        return thinking
    return {**thinking, "budget_tokens": max(MIN_BUDGET_TOKENS, max_tokens // 2)}


def _output_choice(caps: ModelCaps | None, thinking: dict[str, Any] | None) -> dict[str, Any]:
    """How the output tool is asked for: forced, unless thinking or the model refuses that."""
    forced_ok = thinking is None or thinking.get("type") == "disabled"
    if caps is not None and caps.forced_tool_choice_always_rejected:
        forced_ok = False
    return {"type": "any"} if forced_ok else {"type": "auto"}


def check_summary_room(cfg: EngineConfig) -> None:
    """A `Compaction(max_tokens=...)` on the run's model leaves room for its manual thinking
    (checked when the agent is made, as `thinking.plan_thinking` checks the run's budget).

    Raises:
        UsageError: that `max_tokens` is not above the API's minimum thinking budget.
    """
    from .context.policies import Compaction  # called only when a context policy is given

    policy, plan = cfg.context, cfg.thinking
    if not isinstance(policy, Compaction) or policy.max_tokens is None:
        return
    if plan is None or plan.policy is None or plan.interleaved:
        return
    caps = model_caps(cfg.model)
    if _summary_caps(cfg.model, caps, policy.model or cfg.model)[1]:
        return  # another model: the summary call leaves thinking out
    if caps is not None and "enabled" in (caps.thinking_rejected or ()):
        return  # sent as adaptive thinking, which has no budget
    if policy.max_tokens <= MIN_BUDGET_TOKENS:
        raise UsageError(
            f"Compaction(max_tokens={policy.max_tokens}) leaves no room for the run's thinking "
            f"(a budget of at least {MIN_BUDGET_TOKENS} tokens, which counts toward max_tokens); "
            "raise it, or give Compaction a model= that summarizes without thinking."
        )
