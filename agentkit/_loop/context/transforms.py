"""Pure history transforms that shrink a conversation without breaking it.

Owns the token estimate (`estimate_tokens`), trimming (`trim_tool_results`), the cut of a
client-side compaction (`cut_index`, `summary_request`, `compacted`) and what a server
`compaction` block lets the run drop (`after_compaction`), and the history a summary call on
another model reads (`without_thinking`). Rules every transform keeps (a property-based test
checks them with `validate_conversation`):
- a `tool_use` and its `tool_result` are never separated: trimming only replaces a result's
  content; a cut falls before an assistant turn, so every kept call keeps its results and
  every dropped call is dropped with them;
- thinking blocks are never edited or dropped from a kept turn, and the turns after a cut are
  kept verbatim, so the open tool loop keeps its thinking (only a request to another model,
  which could not read them, goes without them);
- the first user prompt is kept (the system prompt is not in `messages` and never touched);
- inputs are never edited in place: changed messages are new dicts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from ..._api.jsonbytes import to_json
from ..history import append_user_content

__all__ = [
    "SUMMARY_INTRO",
    "after_compaction",
    "compacted",
    "cut_index",
    "estimate_tokens",
    "summarized",
    "summary_request",
    "trim_tool_results",
    "without_thinking",
]

Message = dict[str, Any]
Block = dict[str, Any]

_THINKING = frozenset({"thinking", "redacted_thinking"})

SUMMARY_INTRO = (
    "[Earlier turns of this conversation were summarized to stay inside the context window. "
    "The summary below is a record of the work so far, not a new request.]\n"
)
LATEST_REQUEST = "\n\n[The user's latest message before the summary, verbatim:]\n"


def estimate_tokens(value: object) -> int:
    """About four characters of JSON a token: what a request of `value` costs, roughly."""
    return max(1, len(to_json(value)) // 4)


def _blocks(message: Mapping[str, Any]) -> list[Block]:
    content = message.get("content")
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if not isinstance(content, list):
        return []
    return [cast(Block, b) for b in cast("list[object]", content) if isinstance(b, dict)]


def trim_tool_results(
    messages: Sequence[Message],
    *,
    keep: int,
    placeholder: str,
    exclude: Sequence[str] = (),
) -> tuple[list[Message], int]:
    """Replace the content of every `tool_result` but the last `keep` with `placeholder`.

    Results of `exclude` tools and those already cleared are left alone; `is_error` and
    `cache_control` are kept. Returns the new list and how many results were cleared.
    """
    names: dict[str, str] = {}
    places: list[tuple[int, int]] = []
    for i, message in enumerate(messages):
        for j, block in enumerate(_blocks(message)):
            kind = block.get("type")
            if kind == "tool_use":
                names[str(block.get("id"))] = str(block.get("name"))
            elif kind == "tool_result" and message.get("role") == "user":
                places.append((i, j))
    if keep:
        places = places[:-keep]
    changed: dict[int, list[Block]] = {}
    cleared = 0
    for i, j in places:
        blocks = changed.get(i) or _blocks(messages[i])
        block = blocks[j]
        if block.get("content") == placeholder:
            continue
        if names.get(str(block.get("tool_use_id"))) in exclude:
            continue
        new: Block = {"type": "tool_result", "tool_use_id": block["tool_use_id"]}
        new["content"] = placeholder
        for key in ("is_error", "cache_control"):
            if key in block:
                new[key] = block[key]
        blocks = list(blocks)
        blocks[j] = new
        changed[i] = blocks
        cleared += 1
    if not changed:
        return list(messages), 0
    out = [{**m, "content": changed[i]} if i in changed else m for i, m in enumerate(messages)]
    return out, cleared


def cut_index(messages: Sequence[Message], keep_turns: int) -> int | None:
    """Where a compaction cuts: the index of the assistant turn that starts the kept tail
    (the last `keep_turns` assistant turns and what answers them), or None when fewer than
    one whole assistant turn and its answer lie between the first prompt and the tail."""
    seen = 0
    for k in range(len(messages) - 1, 0, -1):
        if messages[k].get("role") == "assistant":
            seen += 1
            if seen == keep_turns:
                return k if k >= 3 and messages[k - 1].get("role") == "user" else None
    return None


def summary_request(messages: Sequence[Message], cut: int, prompt: str) -> list[Message]:
    """The messages of the summary call: everything before `cut`, the prompt added to the
    last user turn (after its tool results, so the pairs stay valid)."""
    head = list(messages[:cut])
    append_user_content(head, [{"type": "text", "text": prompt}])
    return head


def without_thinking(messages: Sequence[Message]) -> list[Message]:
    """The messages without `thinking` and `redacted_thinking` blocks, for a request to a
    model other than the one that signed them (pitfalls §1.2: signed thinking is not
    portable). An assistant message left empty is dropped and the user messages around it
    merged, so the roles still alternate."""
    out: list[Message] = []
    for message in messages:
        if message.get("role") != "assistant":
            if out and out[-1].get("role") == "user":
                append_user_content(out, _blocks(message))
            else:
                out.append(message)
            continue
        blocks = _blocks(message)
        kept = [b for b in blocks if b.get("type") not in _THINKING]
        if len(kept) != len(blocks):
            if not kept:
                continue
            message = {**message, "content": kept}
        out.append(message)
    return out


def _user_text(message: Mapping[str, Any]) -> str:
    return "\n".join(
        str(b.get("text", "")) for b in _blocks(message) if b.get("type") == "text"
    ).strip()


def compacted(messages: Sequence[Message], cut: int, summary: str) -> list[Message]:
    """The history after a compaction: the first user prompt with the summary added to it,
    then the tail from `cut` verbatim. The newest user text in the summarized range (a
    follow-up request in a chat) is carried over word for word after the summary."""
    first = messages[0]
    text = SUMMARY_INTRO + summary.strip()
    for message in reversed(messages[1:cut]):
        latest = _user_text(message) if message.get("role") == "user" else ""
        if latest:
            text += LATEST_REQUEST + latest
            break
    content = [*_blocks(first), {"type": "text", "text": text}]
    return [{**first, "content": content}, *messages[cut:]]


def summary_text(content: Sequence[Mapping[str, Any]]) -> str:
    """The summary in a reply's text blocks (inside `<summary>` tags when it used them)."""
    text = "".join(str(b.get("text", "")) for b in content if b.get("type") == "text").strip()
    start, end = text.find("<summary>"), text.rfind("</summary>")
    if start >= 0 and end > start:
        text = text[start + len("<summary>") : end].strip()
    return text


def summarized(block: Mapping[str, Any]) -> bool:
    """Whether `block` is a server `compaction` block holding a summary: one whose `content`
    is null is a compaction that failed (the summarizer called a tool), a no-op sent back."""
    return block.get("type") == "compaction" and block.get("content") is not None


def after_compaction(messages: Sequence[Message]) -> list[Message]:
    """What to keep once the server compacted: the API ignores every block before the last
    `compaction` block that holds a summary, so the history becomes the first user prompt
    (kept so the history still starts with a user turn; ignored by the API) and everything
    from that block on. A failed block (null `content`) cuts nothing."""
    for i in range(len(messages) - 1, 0, -1):
        message = messages[i]
        if message.get("role") != "assistant":
            continue
        blocks = _blocks(message)
        at = [j for j, b in enumerate(blocks) if summarized(b)]
        if not at:
            continue
        if i == 1 and at[-1] == 0:
            return list(messages)
        kept = {**message, "content": blocks[at[-1] :]}
        return [messages[0], kept, *messages[i + 1 :]]
    return list(messages)
