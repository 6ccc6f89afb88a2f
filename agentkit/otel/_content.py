"""Messages API content in the GenAI conventions' JSON shape (`gen-ai-input-messages.json`,
`gen-ai-output-messages.json`, v1.41.0), for the opt-in content attributes.

A message is `{"role", "parts"}` (output messages add `finish_reason`); a part is typed:
`text`, `reasoning`, `tool_call`, `tool_call_response`, `server_tool_call`,
`server_tool_call_response`, `blob`, `uri`, `file`, or a generic `{"type": <block type>}`
for blocks the convention has no part for (redacted thinking: its data is never copied).
Tool results go in a `tool` message, as the schema pairs `tool_call_response` with it.
Pure functions over wire dicts; attribute values are JSON strings (spans take no nested data).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

import orjson

from .._api.jsonbytes import stdlib_json
from ._semconv import finish_reason

__all__ = ["input_messages", "output_messages", "parts", "system_instructions", "to_json",
           "tool_definitions"]

_MODALITY = {"image": "image", "document": "document"}


def to_json(value: object) -> str:
    """An attribute value: compact JSON, non-ASCII kept (a lone surrogate, which UTF-8 cannot
    carry, as its escape)."""
    try:
        return orjson.dumps(value, default=str).decode()
    except TypeError:
        return stdlib_json(value, default=str).decode()


def system_instructions(system: object) -> list[dict[str, Any]]:
    """The request's `system` (a string or text blocks) as a list of parts."""
    if isinstance(system, str):
        return [{"type": "text", "content": system}]
    if isinstance(system, list):
        return parts(cast("list[object]", system))
    return []


def input_messages(messages: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A request's `messages`; a user turn's leading tool results become a `tool` message."""
    out: list[dict[str, Any]] = []
    for message in messages:
        role, content = message.get("role"), message.get("content")
        if isinstance(content, str):
            out.append({"role": role, "parts": [{"type": "text", "content": content}]})
            continue
        blocks = cast("list[object]", content) if isinstance(content, list) else []
        results = [b for b in blocks if _kind(b) == "tool_result"]
        rest = [b for b in blocks if _kind(b) != "tool_result"]
        if results:
            out.append({"role": "tool", "parts": parts(results)})
        if rest or not results:
            out.append({"role": role, "parts": parts(rest)})
    return out


def output_messages(content: Sequence[Mapping[str, Any]], stop_reason: str | None) -> list[
    dict[str, Any]
]:
    """One reply's content as the single output message, with its finish reason."""
    return [
        {
            "role": "assistant",
            "parts": parts(content),
            "finish_reason": finish_reason(stop_reason),
        }
    ]


def tool_definitions(tools: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The request's `tools`: client tools as `function`s, server tools by their type."""
    out: list[dict[str, Any]] = []
    for t in tools:
        if "input_schema" in t:
            out.append({
                "type": "function",
                "name": t.get("name"),
                "description": t.get("description"),
                "parameters": t.get("input_schema"),
            })
        else:
            out.append({"type": t.get("type"), "name": t.get("name")})
    return out


def parts(blocks: Iterable[object]) -> list[dict[str, Any]]:
    """Content blocks (wire dicts) as parts."""
    return [_part(cast("Mapping[str, Any]", b)) for b in blocks if isinstance(b, Mapping)]


def tool_response(content: object) -> object:
    """A `tool_result`'s content: its text when it is only text, else its parts."""
    if not isinstance(content, list):
        return content
    blocks = cast("list[object]", content)
    if all(_kind(b) == "text" for b in blocks):
        return "".join(str(cast("Mapping[str, Any]", b).get("text", "")) for b in blocks)
    return parts(blocks)


def _kind(block: object) -> object:
    return cast("Mapping[str, Any]", block).get("type") if isinstance(block, Mapping) else None


def _part(block: Mapping[str, Any]) -> dict[str, Any]:
    kind = block.get("type")
    if kind == "text":
        return {"type": "text", "content": block.get("text", "")}
    if kind == "thinking":
        return {"type": "reasoning", "content": block.get("thinking", "")}
    if kind == "tool_use":
        return {"type": "tool_call", "id": block.get("id"), "name": block.get("name"),
                "arguments": block.get("input")}
    if kind == "tool_result":
        return {"type": "tool_call_response", "id": block.get("tool_use_id"),
                "response": tool_response(block.get("content", ""))}
    if kind in ("server_tool_use", "mcp_tool_use"):
        return {"type": "server_tool_call", "id": block.get("id"), "name": block.get("name"),
                "server_tool_call": {"type": kind, "arguments": block.get("input")}}
    if isinstance(kind, str) and kind.endswith("_tool_result"):
        return {"type": "server_tool_call_response", "id": block.get("tool_use_id"),
                "server_tool_call_response": {"type": kind, "content": block.get("content")}}
    if kind in _MODALITY:
        return _media(_MODALITY[str(kind)], block.get("source"))
    return {"type": kind}


def _media(modality: str, source: object) -> dict[str, Any]:
    src: Mapping[str, Any] = {}
    if isinstance(source, Mapping):
        src = cast("Mapping[str, Any]", source)
    given = src.get("type")
    if given == "base64":
        return {"type": "blob", "modality": modality, "mime_type": src.get("media_type"),
                "content": src.get("data")}
    if given == "url":
        return {"type": "uri", "modality": modality, "uri": src.get("url")}
    if given == "file":
        return {"type": "file", "modality": modality, "file_id": src.get("file_id")}
    if given == "text":
        return {"type": "text", "content": src.get("data")}
    return {"type": modality}
