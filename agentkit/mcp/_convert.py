"""MCP to Messages API: tool names the API accepts, and MCP tool results as `tool_result` content.

Owns the two translations between what an MCP server says and what the model may see. Rules:
- A name the API accepts (`^[a-zA-Z0-9_-]{1,64}$`, counting any prefix) is kept as it is. Any
  other (dots, slashes, spaces, over 64 characters) becomes a valid name that ends with a
  short hash of the original: the same on every run and every machine (a durable run resumes
  by name), and no tool named by hand or by another server can take it by chance. The server
  is always called with the original name.
- Results keep everything the model can read: text; images the API takes as `image` blocks;
  PDFs as `document` blocks; embedded text resources and resource links as text naming their
  URI; `structuredContent` as JSON text unless a text block already says the same. What the
  API cannot take (audio, other binaries) is named in a text note instead of dropped silently.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from typing import Any, cast

import mcp_types as types

from .._tools.accepted import IMAGE_TYPES

__all__ = ["IDEMPOTENCY_META", "api_name", "to_content"]

IDEMPOTENCY_META = "agentkit/idempotency_key"
"""The `_meta` key of a `tools/call` that carries the caller's `ctx.idempotency_key`: an
agentkit client sends it, and a tool `serve` serves gets it as its own."""

_VALID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_INVALID_CHARS = re.compile(r"[^a-zA-Z0-9_-]+")
_HASH_CHARS = 8


def api_name(original: str, *, prefix: str = "") -> str:
    """The name the model calls MCP tool `original` by (after `prefix`), valid for the API."""
    if _VALID.match(prefix + original):
        return original
    room = 64 - len(prefix) - _HASH_CHARS - 1
    if room < 1:
        raise ValueError(f"the prefix {prefix!r} leaves no room for a tool name")
    digest = hashlib.sha256(original.encode()).hexdigest()[:_HASH_CHARS]
    readable = _INVALID_CHARS.sub("_", original).strip("_")[:room].rstrip("_") or "tool"[:room]
    return f"{readable}_{digest}"


def to_content(result: types.CallToolResult) -> list[dict[str, Any]]:
    """`result`'s content as `tool_result` content blocks (never empty: a model needs text)."""
    blocks = [block for item in result.content for block in _blocks(item)]
    structured = result.structured_content
    if structured is not None and not _said(structured, blocks):
        blocks.append({"type": "text", "text": json.dumps(structured, ensure_ascii=False)})
    if not blocks:
        blocks.append({"type": "text", "text": "(the tool returned no content)"})
    return blocks


def _blocks(item: types.ContentBlock) -> Iterable[dict[str, Any]]:
    if isinstance(item, types.TextContent):
        yield {"type": "text", "text": item.text}
    elif isinstance(item, types.ImageContent):
        yield _binary(item.data, item.mime_type, "an image")
    elif isinstance(item, types.AudioContent):
        yield _note(f"audio ({item.mime_type}) was returned; the model cannot hear it")
    elif isinstance(item, types.ResourceLink):
        described = f": {item.description}" if item.description else ""
        kind = f", {item.mime_type}" if item.mime_type else ""
        yield {"type": "text", "text": f"Resource link {item.name} <{item.uri}>{kind}{described}"}
    else:  # an embedded resource
        resource = item.resource
        if isinstance(resource, types.TextResourceContents):
            kind = f" ({resource.mime_type})" if resource.mime_type else ""
            yield {"type": "text", "text": f"Resource <{resource.uri}>{kind}:\n{resource.text}"}
        else:
            yield _binary(resource.blob, resource.mime_type, f"the resource <{resource.uri}>")


def _binary(data: str, mime_type: str | None, what: str) -> dict[str, Any]:
    source = {"type": "base64", "media_type": mime_type, "data": data}
    if mime_type in IMAGE_TYPES:
        return {"type": "image", "source": source}
    if mime_type == "application/pdf":
        return {"type": "document", "source": source}
    return _note(f"{what} ({mime_type or 'unknown type'}, {len(data) * 3 // 4:,} bytes) was "
                 "returned in a format the model cannot read")


def _note(text: str) -> dict[str, Any]:
    return {"type": "text", "text": f"[{text}]"}


def _said(structured: object, blocks: list[dict[str, Any]]) -> bool:
    """Whether a text block already says what `structured` says (servers SHOULD send both; the
    Python SDK wraps a value that is not an object as `{"result": value}`)."""
    same: list[object] = [structured]
    if isinstance(structured, dict):
        wrapped = cast("dict[str, object]", structured)
        if list(wrapped) == ["result"]:
            same.append(wrapped["result"])
    for block in blocks:
        if block["type"] != "text":
            continue
        text = block["text"]
        try:
            if text in same or json.loads(text) in same:
                return True
        except ValueError:
            continue
    return False
