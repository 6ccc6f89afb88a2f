"""Shaping each request for its model, and the request-level rules checked before it is sent.

This module owns `shape_request(params, caps, ...)`, pure: it adjusts one request for the model
and checks the rules that concern the request rather than its messages (those are in
`conversation`), raising `ConversationError(index=None, rule=...)` when the request would get a
400. For a known model it translates `enabled` thinking to `adaptive` where `enabled` is
rejected, omits `disabled` where thinking cannot be turned off, and adds the
interleaved-thinking beta header where needed; on a model that binds its thinking blocks to
their prefix (`ModelCaps.thinking_binds_prefix`), a request replaying earlier turns asks the
API to drop the blocks whose prefix changed (a trim, a summary, a turn's tools) instead of
refusing the request (`thinking.block_binding`, with its beta). For an unknown model (`caps`
None) it sends the settings as given and applies only the universal rules.

Each concern is one check (`check_max_tokens`, `check_thinking_budget`, `check_sampling`,
`check_tool_choice`, `check_effort`), so the strict fake (`agentkit.testing`) applies the same
rules with `caps` None. Each takes the *effective* thinking type: what the model will do,
which for an omitted `thinking` is the model's default.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any, cast

from .._errors import ConversationError, UsageError
from .capabilities import ModelCaps
from .thinking import MIN_BUDGET_TOKENS

__all__ = [
    "INTERLEAVED_THINKING_BETA",
    "THINKING_BINDING_BETA",
    "check_effort",
    "check_max_tokens",
    "check_rewritten",
    "check_sampling",
    "check_thinking_budget",
    "check_tool_choice",
    "check_tool_choice_offered",
    "check_tool_names",
    "relax_tool_choice",
    "shape_request",
    "unoffered_choice",
]

INTERLEAVED_THINKING_BETA = "interleaved-thinking-2025-05-14"
THINKING_BINDING_BETA = "thinking-binding-controls-2026-08-01"
_DROP_UNBOUND = {"prefix_mismatch_behavior": "drop_block"}

_EFFORT_ORDER = {"low": 0, "medium": 1, "high": 2, "xhigh": 3, "max": 4}
_DEFAULT_ON = frozenset({"on", "always_on"})
_FORCED = ("any", "tool")
_CHOICE_TYPES = ("auto", "any", "tool", "none")


def _bind(params: dict[str, Any], messages: object) -> dict[str, Any] | None:
    """`params` asking the API to drop the thinking blocks whose prefix changed since they were
    made, or None when nothing is replayed (no earlier turn) or the request says already what
    to do (its own `block_binding`, or `thinking` not a dict)."""
    if not isinstance(messages, list) or len(cast("list[object]", messages)) < 2:
        return None
    thinking = params.get("thinking", {"type": "adaptive"})  # omitted: the model's default
    if not isinstance(thinking, dict) or "block_binding" in thinking:
        return None
    return {**params, "thinking": {**thinking, "block_binding": _DROP_UNBOUND}}


def _fail(message: str, rule: str) -> ConversationError:
    return ConversationError(message, index=None, rule=rule)


def shape_request(
    params: dict[str, Any], caps: ModelCaps | None, *, has_tools: bool, interleaved: bool = False
) -> tuple[dict[str, Any], list[str]]:
    """Adjust request `params` for the model and check the request rules; return the params
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
    out, thinking, kind = _fit_thinking(params, caps)
    effective = _effective(kind, caps)
    max_tokens = params.get("max_tokens")
    check_max_tokens(max_tokens, caps)
    betas: list[str] = []
    if effective == "enabled" and thinking is not None:
        interleaving = (
            interleaved and has_tools and (caps is None or caps.interleaved_needs_beta is True)
        )
        check_thinking_budget(thinking, max_tokens, interleaving=interleaving)
        if interleaving:
            betas.append(INTERLEAVED_THINKING_BETA)
    if effective is not None and caps is not None and caps.thinking_binds_prefix:
        bound = _bind(out, params.get("messages"))
        if bound is not None:
            out = bound
            betas.append(THINKING_BINDING_BETA)
    check_sampling(params, caps, effective)
    check_tool_choice(params, caps, effective)
    check_effort(params, caps, effective)
    return out, betas


def check_rewritten(
    params: dict[str, Any], caps: ModelCaps | None, betas: Collection[str]
) -> None:
    """The request-level rules on a request as a `before_model` hook returned it, to be sent
    as it is with `betas`: its thinking type as given (nothing translates it any more), a
    budget up to `max_tokens` only with the interleaved-thinking beta, a `tool_choice` among
    its `tools` (`unoffered_choice`). A request `shape_request` made passes.

    Raises:
        ConversationError: with `index=None` and the rule `shape_request` names (or
            `tool_choice_not_offered`), saying that the hook made the request so.
    """
    try:
        _check_as_sent(params, caps, betas)
    except ConversationError as exc:
        said = str(exc).removesuffix(f" [rule: {exc.rule}]")
        raise _fail(
            f"the request the before_model hook returned breaks a rule: {said}", exc.rule
        ) from None


def _check_as_sent(params: dict[str, Any], caps: ModelCaps | None, betas: Collection[str]) -> None:
    _, thinking, kind = _fit_thinking(params, None)  # its shape only: no model's translation
    if caps is not None and kind is not None and kind in (caps.thinking_rejected or ()):
        raise _unsupported(caps, kind)
    effective = _effective(kind, caps)
    max_tokens = params.get("max_tokens")
    check_max_tokens(max_tokens, caps)
    if effective == "enabled" and thinking is not None:
        interleaving = (
            INTERLEAVED_THINKING_BETA in betas
            and bool(params.get("tools"))
            and (caps is None or caps.interleaved_needs_beta is True)
        )
        check_thinking_budget(thinking, max_tokens, interleaving=interleaving)
    check_sampling(params, caps, effective)
    check_tool_choice(params, caps, effective)
    check_effort(params, caps, effective)
    tools = params.get("tools")
    listed = cast("list[object]", tools) if isinstance(tools, list) else []
    names = [cast("dict[str, Any]", t).get("name") for t in listed if isinstance(t, dict)]
    why = unoffered_choice(params.get("tool_choice"), [n for n in names if isinstance(n, str)])
    if why is not None:
        raise _fail(
            f"{why} (the API's 400): offer the tool in `tools`, or change tool_choice.",
            "tool_choice_not_offered",
        )


# -- thinking type -------------------------------------------------------------------------------


def _effective(kind: str | None, caps: ModelCaps | None) -> str | None:
    """What the model will actually do: an omitted `thinking` means the model's default."""
    if kind is None:
        return "adaptive" if caps is not None and caps.thinking_default in _DEFAULT_ON else None
    return None if kind == "disabled" else kind


def _fit_thinking(
    params: dict[str, Any], caps: ModelCaps | None
) -> tuple[dict[str, Any], Mapping[str, Any] | None, str | None]:
    """Check the `thinking` shape and fit its type to the model; return the params, the
    thinking dict and its type (None when `thinking` is left out)."""
    raw = params.get("thinking")
    if raw is None:
        return params, None, None
    thinking = cast("Mapping[str, Any]", raw) if isinstance(raw, (dict, Mapping)) else None
    kind = thinking.get("type") if thinking is not None else None
    if thinking is None or not isinstance(kind, str):
        raise _fail(f"thinking={raw!r} must be a dict with a string 'type'.", "thinking_shape")
    if caps is None or kind not in (caps.thinking_rejected or ()):
        return params, thinking, kind
    return _translate(params, thinking, kind, caps)


def _translate(
    params: dict[str, Any], thinking: Mapping[str, Any], kind: str, caps: ModelCaps
) -> tuple[dict[str, Any], Mapping[str, Any] | None, str | None]:
    """Adjust a thinking `type` the model rejects, or raise."""
    accepted = caps.thinking_accepted or frozenset()
    if kind == "enabled" and "adaptive" in accepted:
        # The newest models reject manual budgets; adaptive thinking is their equivalent.
        adaptive = {k: v for k, v in thinking.items() if k != "budget_tokens"}
        adaptive["type"] = "adaptive"
        return {**params, "thinking": adaptive}, adaptive, "adaptive"
    if kind == "disabled" and caps.thinking_default in _DEFAULT_ON:
        # Thinking cannot be turned off on this model; leaving `thinking` out is the only
        # request it accepts.
        return {k: v for k, v in params.items() if k != "thinking"}, None, None
    raise _unsupported(caps, kind)


def _unsupported(caps: ModelCaps, kind: str) -> ConversationError:
    return _fail(
        f"model {caps.id} does not accept thinking type {kind!r} (it accepts "
        f"{sorted(caps.thinking_accepted or ())}); change the thinking setting.",
        "thinking_type_unsupported",
    )


# -- the checks ----------------------------------------------------------------------------------


def check_max_tokens(max_tokens: object, caps: ModelCaps | None) -> None:
    """`max_tokens` (when given) is a positive int within the model's output limit."""
    if max_tokens is None:
        return
    if type(max_tokens) is not int or max_tokens < 1:
        raise _fail(f"max_tokens={max_tokens!r} must be a positive int.", "max_tokens_invalid")
    if caps is not None and caps.max_output_tokens and max_tokens > caps.max_output_tokens:
        raise _fail(
            f"max_tokens={max_tokens} is above {caps.id}'s output limit of "
            f"{caps.max_output_tokens}; lower max_tokens.",
            "max_tokens_over_limit",
        )


def check_thinking_budget(
    thinking: Mapping[str, Any], max_tokens: object, *, interleaving: bool
) -> None:
    """Manual thinking's `budget_tokens` is at least 1024 and, unless thinking is interleaved,
    below `max_tokens` (thinking counts toward it)."""
    budget = thinking.get("budget_tokens")
    if type(budget) is not int or budget < MIN_BUDGET_TOKENS:
        raise _fail(
            f"thinking budget_tokens={budget!r} must be an int >= {MIN_BUDGET_TOKENS}.",
            "thinking_budget_min",
        )
    if not interleaving and type(max_tokens) is int and budget >= max_tokens:
        raise _fail(
            f"thinking budget_tokens={budget} must be below max_tokens={max_tokens} "
            "(thinking counts toward max_tokens); raise max_tokens or lower the budget.",
            "thinking_budget_max_tokens",
        )


def check_sampling(
    params: Mapping[str, Any], caps: ModelCaps | None, effective: str | None
) -> None:
    """Sampling parameters the model takes: defaults only on some models, and with thinking on
    no `temperature` or `top_k` and `top_p` within 0.95-1."""
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


def check_tool_choice(
    params: Mapping[str, Any], caps: ModelCaps | None, effective: str | None
) -> None:
    """A forced `tool_choice` (`any`/`tool`) only where the model and the thinking allow it."""
    tool_choice = params.get("tool_choice")
    if tool_choice is None or not isinstance(tool_choice, (dict, Mapping)):
        return
    if cast("Mapping[str, Any]", tool_choice).get("type") not in _FORCED:
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


def check_tool_names(client: Iterable[str], server: Iterable[Mapping[str, Any]]) -> None:
    """A server tool's name is unique among the request's tools.

    Raises:
        UsageError: a server tool shares its name with a client tool or another server tool.
    """
    seen = set(client)
    for definition in server:
        name = definition["name"]
        if name in seen:
            raise UsageError(
                f"Two tools are named `{name}`, one of them the server tool "
                f"{definition['type']!r}; the model could not tell them apart. Give each server "
                "tool once, and rename the client tool (@tool(name=...), or .prefixed(...) on "
                "its toolset)."
            )
        seen.add(name)


def unoffered_choice(tool_choice: object, offered: Collection[str]) -> str | None:
    """Why a request offering the tools named `offered` cannot meet its `tool_choice`, in the
    API's words, or None: a forced tool it does not define, or a choice with no tools."""
    if not isinstance(tool_choice, Mapping):
        return None
    choice = cast("Mapping[str, Any]", tool_choice)
    kind = choice.get("type")
    if not offered and kind != "none":
        return "tool_choice may only be specified while providing tools."
    if kind == "tool" and choice.get("name") not in offered:
        return f"Tool '{choice.get('name')}' not found in provided tools"
    return None


def check_tool_choice_offered(
    tool_choice: object, offered: Collection[str] | None, owner: str = "", why: str = ""
) -> None:
    """A `tool_choice` is one the API knows, and a forced one asks for a tool `offered` holds
    (None: not known yet, so only the choice itself is checked).

    `owner` offers those tools (`"this agent"`, `"turn 2"`); `why` says what decided them.

    Raises:
        UsageError: an unknown `type`, a `tool` choice without a name, or a forced choice
            the tools cannot meet (the API would refuse the request with a 400).
    """
    if tool_choice is None:
        return
    choice = cast("Mapping[str, Any]", tool_choice) if isinstance(tool_choice, Mapping) else None
    if choice is None or choice.get("type") not in _CHOICE_TYPES:
        raise UsageError(
            f"tool_choice={tool_choice!r} is not one the API accepts: give {{'type': 'auto'}}, "
            "{'type': 'any'}, {'type': 'tool', 'name': ...} or {'type': 'none'}."
        )
    name = choice.get("name")
    if choice["type"] == "tool" and not isinstance(name, str):
        raise UsageError(
            f"tool_choice={dict(choice)!r} forces a tool but names none: add 'name', the "
            "tool's name."
        )
    if offered is None or choice["type"] not in _FORCED:
        return
    if unoffered_choice(choice, offered) is None:
        return
    if choice["type"] == "any":
        raise UsageError(
            f"tool_choice={dict(choice)!r} forces a tool call, but {owner} offers no tools"
            f"{why}; the API refuses a forced choice without tools. Offer a tool wherever a "
            "call is forced, or leave tool_choice out."
        )
    tools = ", ".join(f"`{t}`" for t in offered) or "no tools"
    raise UsageError(
        f"tool_choice={dict(choice)!r} forces the tool `{name}`, but {owner} offers {tools}"
        f"{why}; the API refuses a forced tool the request does not define. Name one of them "
        f"(check the spelling), offer `{name}` wherever it is forced, or leave tool_choice out."
    )


def relax_tool_choice(tool_choice: object) -> object:
    """The `tool_choice` for a turn after the model has called a tool: a forced one (`any`,
    `tool`) becomes `auto`, keeping `disable_parallel_tool_use`; any other is unchanged.

    Forcing a tool on every turn leaves a model that obeys no way to answer.
    """
    if not isinstance(tool_choice, Mapping):
        return tool_choice
    choice = cast("Mapping[str, Any]", tool_choice)
    if choice.get("type") not in _FORCED:
        return choice
    relaxed: dict[str, Any] = {"type": "auto"}
    if "disable_parallel_tool_use" in choice:
        relaxed["disable_parallel_tool_use"] = choice["disable_parallel_tool_use"]
    return relaxed


def check_effort(params: Mapping[str, Any], caps: ModelCaps | None, effective: str | None) -> None:
    """`output_config.effort` is a level the model knows, capped on some while thinking is off."""
    if caps is None:
        return
    output_config = params.get("output_config")
    if output_config is None or not isinstance(output_config, (dict, Mapping)):
        return
    effort = cast("Mapping[str, Any]", output_config).get("effort")
    if effort is None:
        return
    if caps.effort_levels is not None and effort not in caps.effort_levels:
        accepts = list(caps.effort_levels) or "no effort setting: leave output_config.effort out"
        raise _fail(
            f"model {caps.id} does not accept effort {effort!r} (it accepts {accepts}).",
            "effort_unsupported",
        )
    cap = caps.disabled_thinking_effort_cap
    if effective is None and cap and _EFFORT_ORDER.get(effort, 0) > _EFFORT_ORDER.get(cap, 4):
        raise _fail(
            f"model {caps.id} accepts effort up to {cap!r} while thinking is off; lower the "
            "effort or turn thinking on.",
            "effort_unsupported",
        )
