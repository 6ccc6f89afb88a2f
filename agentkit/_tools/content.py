"""Tool results: a tool's return value as `tool_result` content, and truncation (the block
itself is made by `_api.wire.tool_result`).

Owns what a tool's answer looks like on the wire. Rules: `str` as is, `None` as no content,
content blocks passed through, anything else as compact JSON text; results over the limit are
cut with a marker saying how much was cut, so the model knows it saw a part. Whether the API
accepts the content is `accepted`'s to check.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any, cast

import pydantic_core
from pydantic import BaseModel

from .._api.jsonbytes import to_json

__all__ = ["DEFAULT_MAX_RESULT_CHARS", "Content", "describe", "to_content", "truncate"]

DEFAULT_MAX_RESULT_CHARS = 100_000
"""Results longer than this many characters are truncated unless a tool or run says otherwise."""

# Block types a tool_result's content may hold, and the key each must carry to count as one.
_BLOCK_KEYS = {"text": "text", "image": "source", "document": "source", "search_result": "source"}

Content = str | list[dict[str, Any]]
"""`tool_result` content: text, or a list of content blocks."""


def describe(exc: Exception) -> str:
    """An exception as the model reads it: its type, and its message when it has one (none
    when its `__str__` fails: the run goes on without it)."""
    try:
        message = str(exc)
    except Exception:
        message = ""
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _as_block(item: object) -> dict[str, Any] | None:
    if isinstance(item, dict):
        block = cast("dict[str, Any]", item)  # a tool's own return value: any dict may come
        key = _BLOCK_KEYS.get(block.get("type", ""))
        return block if key is not None and key in block else None
    if isinstance(item, BaseModel) and getattr(item, "type", None) in _BLOCK_KEYS:
        return item.model_dump(mode="json", by_alias=True, exclude_none=True)
    return None


def to_content(value: object) -> Content | None:
    """Convert a tool's return value to `tool_result` content.

    str as is; None as None (no content); a content block (dict or wire model with `type`
    text/image/document/search_result) or a non-empty list of them passed through as a list;
    anything else (numbers, dicts, lists, pydantic models, dataclasses, …) as compact JSON.

    Raises:
        pydantic_core.PydanticSerializationError: the value cannot be expressed as JSON, or
            is an iterator (a generator): read to its end on the event loop, past the tool's
            timeout, one that never ends froze the process as it filled its memory.
    """
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, Iterator | AsyncIterator):
        raise pydantic_core.PydanticSerializationError(
            "an iterator is read item by item and may never end: return a list, e.g. list(...)"
        )
    if isinstance(value, list | tuple):
        items = cast("Sequence[object]", value)
        blocks = [b for b in map(_as_block, items) if b is not None]
        if items and len(blocks) == len(items):
            return blocks
    else:
        block = _as_block(value)
        if block is not None:
            return [block]
    return to_json(value).decode()


def truncate(content: Content, limit: int) -> Content:
    """Cut text beyond `limit` characters and say how much was cut; other blocks are kept."""
    if isinstance(content, str):
        if len(content) <= limit:
            return content
        return content[:limit] + _marker(len(content) - limit, len(content), limit)
    total = sum(len(b.get("text", "")) for b in content if b.get("type") == "text")
    if total <= limit:
        return content
    out: list[dict[str, Any]] = []
    budget = limit
    for block in content:
        if block.get("type") != "text":
            out.append(block)
            continue
        text: str = block.get("text", "")
        if len(text) <= budget:
            out.append(block)
            budget -= len(text)
        elif budget > 0:
            out.append({**block, "text": text[:budget]})
            budget = 0
    out.append({"type": "text", "text": _marker(total - limit, total, limit).strip()})
    return out


def _marker(cut: int, total: int, limit: int) -> str:
    return (f"\n\n[truncated: {cut:,} of {total:,} characters cut; the result limit is "
            f"{limit:,} characters]")
