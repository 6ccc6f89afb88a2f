from typing import Any

import pytest

from agentkit._errors import ConversationError
from agentkit._loop.capabilities import ModelCaps, known_models, model_caps
from agentkit._loop.request_rules import (
    INTERLEAVED_THINKING_BETA,
    THINKING_BINDING_BETA,
    check_rewritten,
    shape_request,
)
from agentkit._loop.thinking import PlanningBudget, ThinkingPlan, plan_thinking


def caps(model: str) -> ModelCaps:
    found = model_caps(model)
    assert found is not None, model
    return found


def enabled(budget: int = 2048, **extra: Any) -> dict[str, Any]:
    return {"type": "enabled", "budget_tokens": budget, **extra}


def request(**params: Any) -> dict[str, Any]:
    return {"model": "m", "max_tokens": 8000, "messages": [], **params}


def rule_of(params: dict[str, Any], model_caps: ModelCaps | None, **kw: Any) -> str:
    kw.setdefault("has_tools", False)
    with pytest.raises(ConversationError) as info:
        shape_request(params, model_caps, **kw)
    assert info.value.index is None
    return info.value.rule


# -- shape_request: enabled-only models --------------------------------------------------------


def test_budget_model_keeps_enabled_and_adds_interleaved_header() -> None:
    sonnet45 = caps("claude-sonnet-4-5")
    params = request(thinking=enabled(2048))
    out, betas = shape_request(params, sonnet45, has_tools=True, interleaved=True)
    assert out is params and betas == [INTERLEAVED_THINKING_BETA]
    out, betas = shape_request(params, sonnet45, has_tools=False, interleaved=True)
    assert betas == []  # interleaving only matters between tool calls
    out, betas = shape_request(params, sonnet45, has_tools=True, interleaved=False)
    assert betas == []


def test_interleaved_budget_may_exceed_max_tokens() -> None:
    params = request(max_tokens=4000, thinking=enabled(16_000))
    _, betas = shape_request(params, caps("claude-opus-4-5"), has_tools=True, interleaved=True)
    assert betas == [INTERLEAVED_THINKING_BETA]
    # Haiku 4.5 cannot interleave, so the usual limit applies.
    assert (
        rule_of(params, caps("claude-haiku-4-5"), has_tools=True, interleaved=True)
        == "thinking_budget_max_tokens"
    )


def test_budget_limits() -> None:
    haiku = caps("claude-haiku-4-5")
    assert rule_of(request(thinking=enabled(1000)), haiku) == "thinking_budget_min"
    assert rule_of(request(thinking=enabled(8000)), haiku) == "thinking_budget_max_tokens"
    assert rule_of(request(thinking={"type": "enabled"}), haiku) == "thinking_budget_min"
    shape_request(request(thinking=enabled(7999)), haiku, has_tools=False)


def test_adaptive_on_budget_only_model_is_an_error() -> None:
    assert (
        rule_of(request(thinking={"type": "adaptive"}), caps("claude-sonnet-4-5"))
        == "thinking_type_unsupported"
    )


def test_sampling_with_thinking() -> None:
    haiku = caps("claude-haiku-4-5")
    thinking = enabled(2048)
    assert rule_of(request(thinking=thinking, temperature=0.2), haiku) == "sampling_with_thinking"
    assert rule_of(request(thinking=thinking, top_k=5), haiku) == "sampling_with_thinking"
    assert rule_of(request(thinking=thinking, top_p=0.5), haiku) == "sampling_with_thinking"
    # Recorded live: temperature 1.0 and top_p in [0.95, 1] are accepted with thinking.
    shape_request(request(thinking=thinking, temperature=1.0, top_p=0.95), haiku, has_tools=False)
    # Without thinking these models take any sampling parameters.
    shape_request(request(temperature=0.2, top_k=5), haiku, has_tools=False)


def test_forced_tool_choice_with_manual_thinking() -> None:
    any_tool = {"type": "any"}
    for model in ("claude-haiku-4-5", "claude-sonnet-4-6"):
        params = request(thinking=enabled(2048), tool_choice=any_tool)
        assert rule_of(params, caps(model)) == "forced_tool_choice_with_thinking"
    named = request(thinking=enabled(2048), tool_choice={"type": "tool", "name": "f"})
    assert rule_of(named, None) == "forced_tool_choice_with_thinking"
    shape_request(
        request(thinking=enabled(2048), tool_choice={"type": "auto"}), None, has_tools=True
    )
    shape_request(request(tool_choice=any_tool), caps("claude-haiku-4-5"), has_tools=True)


def test_max_tokens_over_model_limit() -> None:
    assert rule_of(request(max_tokens=64_001), caps("claude-haiku-4-5")) == "max_tokens_over_limit"
    shape_request(request(max_tokens=64_000), caps("claude-haiku-4-5"), has_tools=False)
    assert rule_of(request(max_tokens=0), None) == "max_tokens_invalid"


# -- shape_request: adaptive and always-on models ----------------------------------------------


def test_enabled_is_translated_to_adaptive_where_rejected() -> None:
    params = request(thinking=enabled(4096, display="summarized"))
    out, betas = shape_request(params, caps("claude-opus-4-8"), has_tools=True, interleaved=True)
    assert out["thinking"] == {"type": "adaptive", "display": "summarized"}
    assert betas == []  # adaptive interleaves by itself
    assert params["thinking"] == enabled(4096, display="summarized")  # input untouched


def test_adaptive_allows_forced_tool_choice_where_the_model_does() -> None:
    params = request(thinking={"type": "adaptive"}, tool_choice={"type": "any"})
    shape_request(params, caps("claude-opus-4-8"), has_tools=True)
    shape_request(params, None, has_tools=True)  # unknown model: as given
    params = request(thinking={"type": "adaptive"}, tool_choice={"type": "tool", "name": "f"})
    assert rule_of(params, caps("claude-fable-5-2")) == "forced_tool_choice_unsupported"


def test_forced_tool_choice_always_rejected_even_without_thinking() -> None:
    params = request(tool_choice={"type": "any"})
    assert rule_of(params, caps("claude-sonnet-5-5")) == "forced_tool_choice_unsupported"


def test_disabled_is_omitted_on_always_on_models() -> None:
    params = request(thinking={"type": "disabled"})
    out, _ = shape_request(params, caps("claude-fable-5-2"), has_tools=False)
    assert "thinking" not in out and "thinking" in params
    # Where thinking can be turned off, `disabled` is sent as given.
    out, _ = shape_request(params, caps("claude-opus-4-8"), has_tools=False)
    assert out is params


TURNS = [
    {"role": "user", "content": "go"},
    {"role": "assistant", "content": [{"type": "thinking", "thinking": "", "signature": "s"},
                                      {"type": "tool_use", "id": "t", "name": "f", "input": {}}]},
    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "ok"}]},
]
DROP = {"prefix_mismatch_behavior": "drop_block"}


@pytest.mark.parametrize(
    "model", ["claude-fable-5-1", "claude-fable-5-2", "claude-mythos-5-2", "claude-opus-5-5",
              "claude-sonnet-5-5", "claude-haiku-5-5"],
)
def test_a_binding_model_replaying_turns_asks_to_drop_unbound_thinking(model: str) -> None:
    # Those models bind thinking blocks to the prefix before them: a trim, a summary or a turn
    # offering other tools was a 400 on every later request of the run (models.md §2).
    out, betas = shape_request(request(messages=TURNS), caps(model), has_tools=True)
    assert out["thinking"] == {"type": "adaptive", "block_binding": DROP}
    assert THINKING_BINDING_BETA in betas
    shown = {"type": "adaptive", "display": "summarized"}
    out, _ = shape_request(request(messages=TURNS, thinking=shown), caps(model), has_tools=True)
    assert out["thinking"] == {**shown, "block_binding": DROP}
    # A first request replays nothing; the caller's own binding is theirs.
    first = request(messages=TURNS[:1])
    assert shape_request(first, caps(model), has_tools=True) == (first, [])
    own = request(messages=TURNS, thinking={"type": "adaptive", "block_binding": {
        "prefix_mismatch_behavior": "error"}})
    assert shape_request(own, caps(model), has_tools=True) == (own, [])


@pytest.mark.parametrize("model", ["claude-opus-5", "claude-mythos-5-1", "claude-sonnet-4-5"])
def test_a_model_that_binds_nothing_gets_no_binding_beta(model: str) -> None:
    out, betas = shape_request(request(messages=TURNS), caps(model), has_tools=True)
    assert "block_binding" not in (out.get("thinking") or {}) and THINKING_BINDING_BETA not in betas
    out, betas = shape_request(request(messages=TURNS), None, has_tools=True)  # unknown model
    assert "thinking" not in out and betas == []


def test_default_on_model_thinks_when_thinking_is_omitted() -> None:
    # Opus 5 thinks by default, so the thinking rules apply even with `thinking` left out.
    assert rule_of(request(temperature=0.5), caps("claude-opus-5")) == "sampling_unsupported"
    shape_request(request(tool_choice={"type": "any"}), caps("claude-opus-5"), has_tools=True)


def test_newer_models_reject_non_default_sampling_even_without_thinking() -> None:
    opus = caps("claude-opus-4-8")
    assert rule_of(request(temperature=0.3), opus) == "sampling_unsupported"
    assert rule_of(request(top_k=10), opus) == "sampling_unsupported"
    shape_request(request(temperature=1), opus, has_tools=False)


def test_effort_levels() -> None:
    opus46 = caps("claude-opus-4-6")
    assert rule_of(request(output_config={"effort": "xhigh"}), opus46) == "effort_unsupported"
    shape_request(request(output_config={"effort": "max"}), opus46, has_tools=False)
    haiku55 = caps("claude-haiku-5-5")
    off = request(thinking={"type": "disabled"}, output_config={"effort": "max"})
    assert rule_of(off, haiku55) == "effort_unsupported"
    shape_request({**off, "output_config": {"effort": "high"}}, haiku55, has_tools=False)
    shape_request({**off, "thinking": {"type": "adaptive"}}, haiku55, has_tools=False)
    for model in ("claude-sonnet-4-5", "claude-haiku-4-5"):  # no effort at all (models.md)
        with pytest.raises(ConversationError, match="it accepts no effort setting"):
            shape_request(request(output_config={"effort": "high"}), caps(model), has_tools=False)
        shape_request(request(output_config={"format": {"type": "json_schema"}}), caps(model),
                      has_tools=False)


# -- shape_request: unknown models -------------------------------------------------------------


def test_unknown_model_gets_settings_as_given() -> None:
    params = request(thinking=enabled(2048, display="omitted"), temperature=1)
    out, betas = shape_request(params, None, has_tools=False)
    assert out is params and betas == []
    out, betas = shape_request(params, None, has_tools=True, interleaved=True)
    assert betas == [INTERLEAVED_THINKING_BETA]
    odd = request(thinking={"type": "some_future_mode"})
    assert shape_request(odd, None, has_tools=False)[0] is odd


def test_universal_rules_apply_to_unknown_models() -> None:
    assert rule_of(request(thinking=enabled(512)), None) == "thinking_budget_min"
    assert (
        rule_of(request(thinking={"type": "adaptive"}, top_k=3), None) == "sampling_with_thinking"
    )
    assert rule_of(request(thinking="adaptive"), None) == "thinking_shape"


def test_plan_output_feeds_shape_request() -> None:
    plan = plan_thinking(PlanningBudget(first=6000, tool_turns=2000), max_tokens=8000)
    assert isinstance(plan, ThinkingPlan)
    for turn, after in ((0, False), (1, True), (2, True)):
        params = request(thinking=plan.for_turn(turn, after, 0))
        out, _ = shape_request(params, caps("claude-sonnet-4-6"), has_tools=True)
        assert out["thinking"]["type"] == "enabled"


# -- check_rewritten: a before_model hook's request, as sent -----------------------------------


@pytest.mark.parametrize("model", sorted(known_models()))
def test_every_request_shape_request_makes_passes_as_sent(model: str) -> None:
    # A hook that changes nothing (or only what the rules ignore) must never be refused.
    model_caps = caps(model)
    if model_caps.thinking_accepted is None:
        return  # retired: nothing is sent to it
    tools = [{"name": "f", "input_schema": {"type": "object"}}]
    for thinking in (None, enabled(2048), enabled(16_000), {"type": "adaptive"},
                     {"type": "disabled"}):
        for interleaved in (False, True):
            params = request(max_tokens=8000, tools=tools, messages=[{"role": "user"}] * 2)
            if thinking is not None:
                params["thinking"] = thinking
            try:
                out, betas = shape_request(params, model_caps, has_tools=True,
                                           interleaved=interleaved)
            except ConversationError:
                continue  # refused before the hook runs
            check_rewritten(out, model_caps, betas)


def test_a_rewritten_thinking_type_is_not_translated_but_refused() -> None:
    adaptive_only = caps("claude-opus-4-8")
    with pytest.raises(ConversationError) as caught:
        check_rewritten(request(thinking=enabled(2048)), adaptive_only, ())
    assert caught.value.rule == "thinking_type_unsupported"
    assert str(caught.value).startswith("the request the before_model hook returned breaks")
    over = request(max_tokens=4000, thinking=enabled(16_000), tools=[{"name": "f"}])
    sonnet45 = caps("claude-sonnet-4-5")
    check_rewritten(over, sonnet45, (INTERLEAVED_THINKING_BETA,))  # the beta allows it
    with pytest.raises(ConversationError, match="thinking_budget_max_tokens"):
        check_rewritten(over, sonnet45, ())
