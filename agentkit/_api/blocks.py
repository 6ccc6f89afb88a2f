"""Content blocks built as plain dicts, without the wire models: `tool_result`.

Its own module so that code which only builds blocks (running a tool call) need not load
pydantic's wire models (`wire.py`, ~0.1 s of start-up): `agentkit tools` defines the tools
without them, and a call builds its result with no import on its path. `wire` re-exports it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["tool_result"]


def tool_result(
    tool_use_id: str, content: str | list[dict[str, Any]] | None = None, *, is_error: bool = False
) -> dict[str, Any]:
    """The wire `tool_result` block answering `tool_use_id`, as a plain dict: the one place
    one is made. Empty `content` is left out, and `is_error` is sent only when true. Text
    that is not valid UTF-8 (a lone surrogate: bytes decoded with `surrogateescape`, such as
    an OS file name) is spelled with `\\udcxx` escapes, or it would fail every request after it
    and, in a durable run, the result's commit."""
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": tool_use_id}
    if content:
        block["content"] = _utf8(content) if isinstance(content, str) else _utf8_blocks(content)
    if is_error:
        block["is_error"] = True
    return block


def _utf8(text: str) -> str:
    """`text`, its lone surrogates backslash-escaped (ASCII text, most results, at once)."""
    if text.isascii():
        return text
    try:
        text.encode()
    except UnicodeEncodeError:
        return text.encode(errors="backslashreplace").decode()
    return text


def _utf8_blocks(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`blocks`, their texts as `_utf8` makes them (the same list when none changes)."""
    out = blocks
    for i, block in enumerate(blocks):
        text = block.get("text")
        if block.get("type") == "text" and type(text) is str and (clean := _utf8(text)) != text:
            out = list(blocks) if out is blocks else out
            out[i] = {**block, "text": clean}
    return out
