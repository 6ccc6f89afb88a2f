"""Building one model request from a run's settings, its turn's tools and its history.

`build_request` is what a request holds: the turn's tools (client, server, the output tool),
`tool_choice` relaxed once the model called a tool (`keep_tool_choice` keeps it), cache
breakpoints, the turn's thinking, the output tool forced where the model allows it, then the
request shaped for its model (`request_rules.shape_request`). When to make one, and what to do
with its reply, is the engine's (`engine.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .caching import place_breakpoints
from .capabilities import ModelCaps
from .config import EngineConfig
from .history import ends_with_tool_results
from .request_rules import check_tool_names, relax_tool_choice, shape_request
from .state import RunState
from .steps import CallModel, ToolInfo

if TYPE_CHECKING:
    from .context.manager import SummaryCall

__all__ = ["build_request"]


def build_request(
    cfg: EngineConfig,
    caps: ModelCaps | None,
    s: RunState,
    tools: Mapping[str, ToolInfo],
    messages: list[dict[str, Any]],
    summary: SummaryCall | None,
) -> CallModel:
    """The request for `messages` on this turn; a summary request allows no tool call."""
    tool_params = [t.to_param() for t in tools.values()]
    if cfg.server_tools:
        check_tool_names((p["name"] for p in tool_params), cfg.server_tools)
        tool_params.extend(cfg.server_tools)
    if cfg.output_tool is not None:
        tool_params.append(cfg.output_tool)
    params: dict[str, Any] = {"model": cfg.model, "max_tokens": cfg.max_tokens}
    params.update(cfg.params)
    if "tool_choice" in params and not cfg.keep_tool_choice and s.usage.called_tools():
        params["tool_choice"] = relax_tool_choice(params["tool_choice"])
    system = cfg.system
    if cfg.cache:
        messages, system, tool_params = place_breakpoints(
            messages, system, tool_params, used=int("cache_control" in params)
        )
    params["messages"] = messages
    if system:
        params["system"] = system
    if tool_params:
        params["tools"] = tool_params
    thinking: dict[str, Any] | None = None
    if cfg.thinking is not None:
        thinking = cfg.thinking.config(s.turns, ends_with_tool_results(messages), s.usage)
        params["thinking"] = thinking
    if cfg.output_tool is not None and "tool_choice" not in params:
        params["tool_choice"] = _output_choice(caps, thinking)
    params, betas = shape_request(
        params,
        caps,
        has_tools=bool(tool_params),
        interleaved=cfg.thinking is not None and cfg.thinking.interleaved,
    )
    if summary is not None:
        params["tool_choice"] = {"type": "none"}
        params["model"] = summary.model or params["model"]
        params["max_tokens"] = summary.max_tokens or params["max_tokens"]
    return CallModel(params, (*cfg.betas, *betas))


def _output_choice(caps: ModelCaps | None, thinking: dict[str, Any] | None) -> dict[str, Any]:
    """How the output tool is asked for: forced, unless thinking or the model refuses that."""
    forced_ok = thinking is None or thinking.get("type") == "disabled"
    if caps is not None and caps.forced_tool_choice_always_rejected:
        forced_ok = False
    return {"type": "any"} if forced_ok else {"type": "auto"}
