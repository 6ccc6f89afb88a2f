"""The strict fake's request check: why the real API would answer a request with a 400.

Owns `check_request`. Where a rule is one the core already keeps before it sends anything, the
fake runs the core's own check (`_loop.request_rules` for `max_tokens` and manual thinking,
`_loop.conversation` for the messages, `_loop.caching` for the breakpoints' order) and only
words the failure as the API does. Its own
checks are the ones the core never needs, because it builds those parts itself: the
`anthropic-version` header, a JSON object body, the required fields, tool definitions in a
request whose messages hold tool calls or results. It also owns the two
readers of request bodies the fakes share (`turns`, `blocks`).

Model-specific rules are not checked (the fake serves any model name), and thinking rules
only for manual (`enabled`) thinking, which is where the API's wording is known.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from .._errors import ConversationError
from .._loop.caching import MAX_BREAKPOINTS, count_breakpoints, ttl_order_error
from .._loop.conversation import validate_conversation
from .._loop.request_rules import (
    check_max_tokens,
    check_sampling,
    check_thinking_budget,
    check_tool_choice,
    unoffered_choice,
)
from .._tools.accepted import check, said

__all__ = ["blocks", "check_request", "turns"]

_REQUIRED = ("model", "max_tokens", "messages")

_PARAM_WORDING = {
    "max_tokens_invalid": "max_tokens: Input should be a valid integer greater than or equal to 1",
    "thinking_budget_min": (
        "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
    ),
    "thinking_budget_max_tokens": "`max_tokens` must be greater than `thinking.budget_tokens`.",
    "forced_tool_choice_with_thinking": (
        "Thinking may not be enabled when tool_choice forces tool use."
    ),
}
_TEMPERATURE_WORDING = "`temperature` may only be set to 1 when thinking is enabled."


def check_request(body: object, headers: Mapping[str, str]) -> str | None:
    """Why the real API would answer this `POST /v1/messages` with a 400, or None.

    Lightweight, not exhaustive: the header, required fields, `max_tokens`, manual thinking
    (budget, forced tool use, sampling), at most four cache breakpoints and no 1-hour one
    after a 5-minute one, every
    conversation rule of `_loop.conversation`, tool results' content
    (`_tools.accepted`), tool definitions wherever the messages hold tool calls, and a
    `tool_choice` only with tools, a forced tool among them, in the
    API's own wording where it is known.
    Stricter than the API in one place: consecutive same-role turns are rejected, because the
    API silently merges them (STYLE: a loop must keep alternation).
    """
    if "anthropic-version" not in headers:
        return "anthropic-version: header is required"
    if not isinstance(body, dict):
        return "Request body must be a JSON object"
    request = cast("dict[str, Any]", body)
    return (
        _check_fields(request)
        or _check_params(request, headers)
        or _check_breakpoints(request)
        or ttl_order_error(request)
        or _check_messages(request)
        or _check_results(request["messages"])
        or _check_tools_defined(request)
        or _check_tool_choice(request)
    )


def _check_fields(request: Mapping[str, Any]) -> str | None:
    """The fields the API requires (a JSON null counts as missing)."""
    for name in _REQUIRED:
        if request.get(name) is None:
            return f"{name}: Field required"
    return None


def _manual_thinking(request: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The request's `thinking` when it is manual (`enabled`), where the API's wording is known."""
    thinking = request.get("thinking")
    if not isinstance(thinking, Mapping):
        return None
    thinking = cast("Mapping[str, Any]", thinking)
    return thinking if thinking.get("type") == "enabled" else None


def _check_params(request: Mapping[str, Any], headers: Mapping[str, str]) -> str | None:
    """The core's request-level rules that hold for every model."""
    max_tokens = request["max_tokens"]
    thinking = _manual_thinking(request)
    try:
        check_max_tokens(max_tokens, None)
        if thinking is not None:
            interleaving = "interleaved-thinking" in headers.get("anthropic-beta", "")
            check_thinking_budget(thinking, max_tokens, interleaving=interleaving)
            check_tool_choice(request, None, "enabled")
            check_sampling(request, None, "enabled")
    except ConversationError as exc:
        if exc.rule == "sampling_with_thinking" and request.get("temperature") not in (None, 1):
            return _TEMPERATURE_WORDING
        return _PARAM_WORDING.get(exc.rule, str(exc))
    return None


def _check_breakpoints(request: Mapping[str, Any]) -> str | None:
    """At most four `cache_control` breakpoints in the whole request."""
    found = int(request.get("cache_control") is not None)
    for part in ("system", "tools", "messages"):
        items = request.get(part)
        if isinstance(items, list):
            found += count_breakpoints(_dicts(cast("list[object]", items)))
    if found > MAX_BREAKPOINTS:
        return (
            f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. "
            f"Found {found}."
        )
    return None


def _dicts(items: list[object]) -> list[dict[str, Any]]:
    return [cast("dict[str, Any]", item) for item in items if isinstance(item, dict)]


def _check_messages(request: Mapping[str, Any]) -> str | None:
    """The core's conversation rules, with the thinking type the request asks for."""
    messages = request["messages"]
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    messages = cast("list[Any]", messages)
    thinking = request.get("thinking")
    kind = (
        cast("Mapping[str, Any]", thinking).get("type") if isinstance(thinking, Mapping) else None
    )
    try:
        validate_conversation(messages, thinking=kind if isinstance(kind, str) else False)
    except ConversationError as exc:
        wording = _CONVERSATION_WORDING.get(exc.rule)
        if wording is None or exc.index is None:
            return str(exc)
        return f"messages.{exc.index}{wording(messages, exc.index)}"
    return None


def _check_tools_defined(request: Mapping[str, Any]) -> str | None:
    """Tool calls or results in the messages need tool definitions in the request."""
    if request.get("tools"):
        return None
    for message in request["messages"]:
        if any(b.get("type") in ("tool_use", "tool_result") for b in blocks(message)):
            return "Requests which include `tool_use` or `tool_result` blocks must define tools."
    return None


def _check_tool_choice(request: Mapping[str, Any]) -> str | None:
    """A `tool_choice` needs tools, and one forcing a named tool needs that tool defined."""
    tools = request.get("tools")
    defined = cast("list[object]", tools) if isinstance(tools, list) else []
    names = [cast("dict[str, Any]", t).get("name") for t in defined if isinstance(t, dict)]
    return unoffered_choice(request.get("tool_choice"), [n for n in names if isinstance(n, str)])


def _check_results(messages: list[Any]) -> str | None:
    """Tool results whose content the API refuses (the core's own check of each result)."""
    for i, message in enumerate(messages):
        content = cast("dict[str, Any]", message).get("content")
        if not isinstance(content, list):
            continue
        for j, item in enumerate(cast("list[object]", content)):
            block = cast("dict[str, Any]", item) if isinstance(item, dict) else {}
            if block.get("type") == "tool_result":
                checked = check(block.get("content"))
                if checked is not None:
                    why = said(checked) or "text content blocks must be non-empty"
                    return f"messages.{i}.content.{j}.tool_result: {why}"
    return None


# -- reading request bodies --------------------------------------------------------------------


def turns(body: object) -> list[dict[str, Any]]:
    """The `messages` of a request body (empty when it has none)."""
    if not isinstance(body, dict):
        return []
    messages = cast("dict[str, Any]", body).get("messages")
    return cast("list[dict[str, Any]]", messages) if isinstance(messages, list) else []


def blocks(message: object) -> list[dict[str, Any]]:
    """The dict blocks of a message's `content` (a string is one text block)."""
    content = cast("dict[str, Any]", message).get("content") if isinstance(message, dict) else None
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if not isinstance(content, list):
        return []
    return [cast("dict[str, Any]", b) for b in cast("list[object]", content) if isinstance(b, dict)]


# -- the API's wording of the conversation rules -----------------------------------------------


def _calls_before(messages: Sequence[Any], i: int) -> list[str]:
    """The `tool_use` ids of the message before `i`, which message `i` must answer."""
    if i == 0:
        return []
    return [str(b.get("id", "")) for b in blocks(messages[i - 1]) if b.get("type") == "tool_use"]


def _results(messages: Sequence[Any], i: int) -> list[dict[str, Any]]:
    return [b for b in blocks(messages[i]) if b.get("type") == "tool_result"]


def _role(messages: Sequence[Any], i: int) -> str:
    return ".role: Input should be 'user' or 'assistant'"


def _alternation(messages: Sequence[Any], i: int) -> str:
    role = cast("dict[str, Any]", messages[i]).get("role")
    return (
        f": two `{role}` turns in a row; roles must alternate (the API would merge them "
        "silently, gluing unrelated content together)"
    )


def _empty(messages: Sequence[Any], i: int) -> str:
    return (
        ": all messages must have non-empty content except for the optional final assistant message"
    )


def _orphan(messages: Sequence[Any], i: int) -> str:
    calls = _calls_before(messages, i)
    for j, block in enumerate(blocks(messages[i])):
        tool_use_id = block.get("tool_use_id")
        if block.get("type") == "tool_result" and tool_use_id not in calls:
            return (
                f".content.{j}: unexpected `tool_use_id` found in `tool_result` blocks: "
                f"{tool_use_id}. Each `tool_result` block must have a corresponding `tool_use` "
                "block in the previous message."
            )
    return ": unexpected `tool_use_id` found in `tool_result` blocks"


def _unanswered(ids: list[str]) -> str:
    return (
        f": `tool_use` ids were found without `tool_result` blocks immediately after: "
        f"{', '.join(ids)}. Each `tool_use` block must have a corresponding `tool_result` "
        "block in the next message."
    )


def _missing(messages: Sequence[Any], i: int) -> str:
    answered = {b.get("tool_use_id") for b in _results(messages, i)}
    return _unanswered([x for x in _calls_before(messages, i) if x not in answered])


def _dangling(messages: Sequence[Any], i: int) -> str:
    return _unanswered(_calls_before(messages, i + 1))


def _results_first(messages: Sequence[Any], i: int) -> str:
    return (
        f": Did not find {len(_calls_before(messages, i))} `tool_result` block(s) at the "
        "beginning of this message. Messages following `tool_use` blocks must begin with a "
        "matching number of `tool_result` blocks."
    )


_CONVERSATION_WORDING: dict[str, Callable[[Sequence[Any], int], str]] = {
    "role": _role,
    "alternation": _alternation,
    "empty_content": _empty,
    "orphan_tool_result": _orphan,
    "missing_tool_result": _missing,
    "unanswered_tool_use": _dangling,
    "tool_result_first": _results_first,
}
"""How the API words the conversation rules it shares with the core, after `messages.{i}`."""
