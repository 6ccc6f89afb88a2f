"""Helpers that keep a conversation history valid while a run grows it.

This module owns how user content joins a history (`user_turn`, `append_user_content`: roles
keep alternating, tool results first), how a reply joins it (`append_reply`: a reply to a
request ending with an assistant turn continues that turn) and how calls left unanswered by a
cancelled or crashed run are found and closed (`pending_tool_uses`,
`close_dangling_tool_uses`, `unfinished`), what calls the run does not run are answered
(`answer`, `not_run`, `unknown_tool`), and what the engine asks of a history
(`ends_with_tool_results`, `tool_use_names`). It works on the same wire-form plain dicts as
`conversation`, whose rules the results keep, and never edits a message dict in place: a
changed message is replaced by a new dict.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from .._api.wire import tool_result

__all__ = [
    "answer",
    "append_reply",
    "append_user_content",
    "close_dangling_tool_uses",
    "ends_with_tool_results",
    "not_begun",
    "not_run",
    "pending_tool_uses",
    "tool_use_names",
    "unfinished",
    "unknown_tool",
    "user_turn",
]

Message = dict[str, Any]
Block = dict[str, Any]


def user_turn(content: str | Sequence[Mapping[str, Any]]) -> Message:
    """Return a user message holding `content` (a string or a list of blocks)."""
    if isinstance(content, str):
        return {"role": "user", "content": content}
    return {"role": "user", "content": [dict(block) for block in content]}


def _as_blocks(content: Any) -> list[Block]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    return list(content)


def append_reply(messages: list[Message], content: Sequence[Mapping[str, Any]]) -> None:
    """Add a model reply's content as the assistant turn.

    A request that ends with an assistant turn (a `pause_turn` re-sent as is, a prefill) asks
    the model to continue that turn, and the reply holds only what comes next (after a pause,
    it starts with the results of the paused server tool call): it joins that turn, so the
    history stays one assistant turn per reply cycle. Empty content adds nothing (an empty
    assistant turn would make the next request invalid).
    """
    if not content:
        return
    if messages and messages[-1].get("role") == "assistant":
        last = messages[-1]
        messages[-1] = {**last, "content": _as_blocks(last.get("content")) + list(content)}
        return
    messages.append({"role": "assistant", "content": list(content)})


def append_user_content(
    messages: list[Message], content: str | Sequence[Mapping[str, Any]]
) -> None:
    """Add user content, merging into a trailing user message so the roles keep alternating.

    Tool results end up first in the merged message and other content after them, which is how
    tool results plus a follow-up prompt become one valid turn. The trailing message is
    replaced by a new dict rather than edited, so dicts the caller holds are not changed.
    Empty content is ignored.
    """
    if not content:
        return
    if not messages or messages[-1].get("role") != "user":
        messages.append(user_turn(content))
        return
    last = messages[-1]
    blocks = _as_blocks(last.get("content")) + _as_blocks(content)
    results = [block for block in blocks if block.get("type") == "tool_result"]
    if results and len(results) != len(blocks):
        blocks = results + [block for block in blocks if block.get("type") != "tool_result"]
    messages[-1] = {**last, "content": blocks}


def _blocks_of(message: Mapping[str, Any]) -> list[Block]:
    """The dict blocks of a message's list content (none for string content)."""
    content = message.get("content")
    if not isinstance(content, list):
        return []
    return [cast(Block, b) for b in cast("list[object]", content) if isinstance(b, dict)]


def _tool_uses(message: Mapping[str, Any]) -> list[Block]:
    return [b for b in _blocks_of(message) if b.get("type") == "tool_use"]


def tool_use_names(messages: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """The tool each `tool_use` block of the history's assistant turns calls, by its id."""
    return {
        str(use.get("id")): str(use.get("name"))
        for message in messages
        if message.get("role") == "assistant"
        for use in _tool_uses(message)
    }


def ends_with_tool_results(messages: Sequence[Mapping[str, Any]]) -> bool:
    """Whether the history's last turn is a user turn that starts with a `tool_result`."""
    if not messages or messages[-1].get("role") != "user":
        return False
    content: object = messages[-1].get("content")
    if not isinstance(content, list) or not content:
        return False
    first: object = cast("list[object]", content)[0]
    return isinstance(first, dict) and cast("dict[str, object]", first).get("type") == "tool_result"


def pending_tool_uses(messages: Sequence[Message]) -> list[Block]:
    """Return the `tool_use` blocks of the last assistant message that have no result yet."""
    if not messages:
        return []
    last = messages[-1]
    if last.get("role") == "assistant":
        return _tool_uses(last)
    if len(messages) < 2 or messages[-2].get("role") != "assistant":
        return []
    answered = {b.get("tool_use_id") for b in _blocks_of(last)}
    return [use for use in _tool_uses(messages[-2]) if use.get("id") not in answered]


def close_dangling_tool_uses(
    messages: list[Message],
    results: Mapping[str, Mapping[str, Any]] | None = None,
    reason: str = "cancelled",
) -> None:
    """Answer every unanswered `tool_use` of the last assistant message, so the history is valid.

    Calls with an entry in `results` (keyed by tool_use id) get that `tool_result` block; the
    others get an `is_error` result saying the call was `reason` before it finished. Results
    for calls that are not pending are ignored. Used after a cancelled or crashed run, so the
    conversation left behind can be continued.
    """
    pending = pending_tool_uses(messages)
    if not pending:
        return
    given = results or {}
    blocks: list[Block] = []
    for use in pending:
        block = given.get(use["id"])
        if block is None:
            block = tool_result(
                use["id"],
                f"The call to {use.get('name', 'this tool')!s} was {reason} before it "
                "finished; it produced no result.",
                is_error=True,
            )
        blocks.append(dict(block))
    append_user_content(messages, blocks)


def unfinished(why: str) -> str:
    """The result a run gives a call it stopped while the call may have been running (`why`:
    "the run was cancelled"): "Not run" would be false for one that had begun, and a model
    told so would make it again, a side effect twice."""
    return (
        f"Not finished: {why} before this call finished. If it had begun, it may or may not "
        "have taken effect: check before calling it again."
    )


def not_begun(why: str) -> str:
    """The result a run gives a call it stopped before the call began (`why`: "the run was
    cancelled"): it had no effect, so the model may make it again."""
    return (
        f"Not run: {why} before this call began, so it had no effect; call it again if it is "
        "still needed."
    )


def answer(call: Mapping[str, Any], text: str, *, is_error: bool = False) -> Block:
    """The `tool_result` the run itself gives `call` (one it runs no tool for)."""
    return tool_result(call["id"], text, is_error=is_error)


def not_run(limit: str) -> str:
    """The result of a call a limit stopped before it began."""
    return f"Not run: the run hit its {limit} limit."


def unknown_tool(name: str, tools: Mapping[str, Any]) -> str:
    """The result of a call to a tool the turn did not offer, naming those it did."""
    known = ", ".join(sorted(tools)) or "none"
    return f"Unknown tool {name!r}. Available tools: {known}. Call one of these instead."
