"""What the API accepts in a `tool_result`: the check every result passes before a run keeps it.

A result the API refuses fails every request after it, and a durable run, which journals the
result, fails the same way on every resume: it could never go on. So each result is checked
before the run records it, whether a tool returned it (`Tool.run`, MCP tools included), raised
it (`ToolError`) or an `after_tool` hook put it in its place (`check_block`). A refused block
is left out and a text note takes its place, saying what was wrong and what to do; the other
blocks are kept, and the result becomes an `is_error` one. Text (the usual result) passes at
once, after one type check.

Only what the wire contract (`messages-api.md`, `context.md`) states is checked, and what the
API certainly refuses whatever else the request holds:
- an `image`: a `source` of type `base64` (`media_type` one of `IMAGE_TYPES`, non-empty
  `data`), `url` (a `url`) or `file`;
- a `document`: a `source` of type `base64` (a PDF: `application/pdf`, non-empty `data`),
  `text` (`text/plain`, `data`), `url`, `content` or `file`;
- a `text` block's `text` is a str; an empty or whitespace-only one (the API's "text content
  blocks must be non-empty") is dropped without a note: it said nothing;
- a block is a dict with a `type`; types the contract does not name pass (new ones come);
- at most `MAX_REQUEST_BYTES` of content (a request is at most 32 MB; blocks left out
  largest first) and `MAX_IMAGES` images (600 images a request, the most any model takes).
What no result can know (the conversation's total, a model's own limits) the API reports, and
the run's failure says what to do (`_run/failure.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

__all__ = [
    "IMAGE_TYPES", "MAX_IMAGES", "MAX_REQUEST_BYTES", "Checked", "check", "check_block", "said",
]

IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
"""The `media_type`s the API accepts for a base64 image (the wire contract)."""

MAX_REQUEST_BYTES = 32_000_000
"""The API's limit on a request's body, 32 MB (over it: 413 `request_too_large`), read as
32,000,000 bytes: content this large leaves no room for the rest of a request either way."""

MAX_IMAGES = 600
"""Images (and PDF pages) a request may hold: 600 on 1M-token models, 100 on 200k ones."""

_DOCUMENT_SOURCES = {"base64": "application/pdf", "text": "text/plain", "url": None,
                     "content": None, "file": None}
_IMAGE_SOURCES = ("base64", "url", "file")


@dataclass(frozen=True, slots=True)
class Checked:
    """A result's content once checked: what is sent, and what was left out (said for the
    model; empty when only blank text was dropped)."""

    content: str | list[dict[str, Any]] | None
    refused: tuple[str, ...]


def check(content: object) -> Checked | None:
    """`content` as the API accepts it, or None when it does already (a str at once)."""
    if isinstance(content, str):
        return None
    if content is None:
        return None
    if not isinstance(content, list):
        why = (f"content that is a {type(content).__name__}, not a str or a list of content "
               "blocks")
        return Checked(f"[left out: {why}]", (why,))
    kept: list[dict[str, Any] | str] = []  # a str: why the block is left out ("" blank)
    sizes: list[int] = []  # -1 for a block left out
    images = 0
    for n, item in enumerate(cast("list[object]", content)):
        why, size = _problem(n, item)
        block = cast("dict[str, Any]", item)
        if why is None and block["type"] == "image":
            images += 1
            if images > MAX_IMAGES:
                why = (f"the image in content block {n} (the API accepts at most {MAX_IMAGES} "
                       "images a request): return fewer images")
        kept.append(block if why is None else why)
        sizes.append(size if why is None else -1)
    if min(sizes, default=0) >= 0 and sum(sizes) <= MAX_REQUEST_BYTES:
        return None
    _fit(kept, sizes)
    out: list[dict[str, Any]] = []
    refused: list[str] = []
    for k in kept:
        if isinstance(k, str):
            if k:  # "" is blank text, dropped: it said nothing
                refused.append(k)
                out.append({"type": "text", "text": f"[left out: {k}]"})
        else:
            out.append(k)
    return Checked(out or None, tuple(refused))


def check_block(block: dict[str, Any]) -> dict[str, Any]:
    """`block` (a `tool_result`) as the API accepts it: itself when it is, else a copy whose
    refused content is left out, said in notes, and marked `is_error`."""
    checked = check(block.get("content"))
    if checked is None:
        return block
    fixed = {k: v for k, v in block.items() if k != "content"}
    if checked.content is not None:
        fixed["content"] = checked.content
    if checked.refused:
        fixed["is_error"] = True
    return fixed


def said(checked: Checked) -> str:
    """What was left out, in one sentence part (for a tool's author)."""
    return "; ".join(checked.refused)


def _problem(n: int, item: object) -> tuple[str | None, int]:
    """Why the API refuses content block `n` ("" for blank text, dropped), and its size in
    bytes of JSON at the least (a str's characters)."""
    if not isinstance(item, dict):
        return f"content block {n}, a {type(item).__name__} that is no content block", 0
    block = cast("dict[str, Any]", item)
    kind = block.get("type")
    if kind == "text":
        text = block.get("text")
        if not isinstance(text, str):
            return f"the text block {n}, whose text is a {type(text).__name__}, not a str", 0
        return ("" if not text or text.isspace() else None), len(text)
    if kind == "image":
        return _source(n, "an image", block.get("source"), _IMAGE_SOURCES)
    if kind == "document":
        return _source(n, "a document", block.get("source"), tuple(_DOCUMENT_SOURCES))
    if not isinstance(kind, str):
        return f"content block {n}, a dict with no type", 0
    return None, 0


def _source(n: int, what: str, source: object, kinds: tuple[str, ...]) -> tuple[str | None, int]:
    """Why the API refuses the `source` of `what` (content block `n`), and its size."""
    where = f"{what} (content block {n})"
    if not isinstance(source, dict):
        return f"{where} with no source: give it a source (base64 data or a url)", 0
    src = cast("dict[str, Any]", source)
    kind = src.get("type")
    if kind not in kinds:
        return (f"{where} whose source type {kind!r} the API refuses (it takes "
                f"{', '.join(kinds)})"), 0
    if kind == "url" and not isinstance(src.get("url"), str):
        return f"{where} with a url source and no url", 0
    if kind not in ("base64", "text"):
        return None, 0
    media = src.get("media_type")
    if what == "an image" and media not in IMAGE_TYPES:
        return (f"{where} whose media_type {media!r} the API refuses (it takes "
                f"{', '.join(IMAGE_TYPES)}): convert it to one of those"), 0
    if what == "a document" and media != _DOCUMENT_SOURCES[kind]:
        return (f"{where} with a {kind} source whose media_type {media!r} the API refuses "
                f"(it takes {_DOCUMENT_SOURCES[kind]})"), 0
    data = src.get("data")
    if not isinstance(data, str) or (kind == "base64" and not data):
        return f"{where} with no data: give its source {kind} data", 0
    if len(data) > MAX_REQUEST_BYTES:
        return _too_large(where, len(data), what), len(data)
    return None, len(data)


def _too_large(where: str, size: int, what: str) -> str:
    fix = "a smaller or downscaled image" if what == "an image" else "a smaller one, or a part"
    return (f"{where} of {size / 1e6:.1f} MB: the API accepts at most "
            f"{MAX_REQUEST_BYTES // 1_000_000} MB a request: return {fix}")


def _fit(kept: list[dict[str, Any] | str], sizes: list[int]) -> None:
    """Leave out the largest blocks until the rest fit in one request, each said in its place."""
    while sum(s for s in sizes if s > 0) > MAX_REQUEST_BYTES:
        i = max(range(len(sizes)), key=sizes.__getitem__)
        block = cast("dict[str, Any]", kept[i])  # the largest is never one left out (-1)
        what = "an image" if block.get("type") == "image" else f"a {block.get('type')} block"
        kept[i] = (f"{what} (content block {i}) of {sizes[i] / 1e6:.1f} MB, which with the "
                   f"rest is over the {MAX_REQUEST_BYTES // 1_000_000} MB a request may hold: "
                   "return less (smaller images, fewer blocks)")
        sizes[i] = -1
