"""SSE bytes → event dicts → one `Message`, as a pure reducer with no I/O.

This module owns three steps of a streamed reply:

- `SSEDecoder` turns raw `text/event-stream` bytes, cut anywhere, into `(event, data)` pairs.
- `iter_sse_events` / `aiter_sse_events` add `json.loads` on top (the client's read loop).
- `MessageAccumulator` folds decoded event dicts into the final `Message`.

Rules it keeps:
- **Hot path on plain dicts.** No pydantic per event: deltas are appended to string lists and
  joined once per block; pydantic validates once, at `message_stop`.
- **The result equals the non-streamed reply.** Every field of `message_start`, of each
  `content_block_start` and of each `message_delta` (`stop_details`, gateway extras) is kept.
- **Forward compatible.** Unknown event types are ignored; an unknown delta type is not applied
  to its block (we cannot know its meaning) but kept verbatim in `unknown_deltas`.
- **Failures are typed.** An `error` event raises `APIStreamError`, a stream cut before
  `message_stop` raises `IncompleteStreamError`, unparsable data or tool-input JSON raises
  `MalformedStreamError`; each carries the partial `Message` built so far. Tool-input JSON
  is judged at `message_stop`: after a `max_tokens` stop it may be cut, is never run, and
  becomes `{}`.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator
from typing import Any

from pydantic import ValidationError
from pydantic_core import from_json

from .._errors import APIStreamError, IncompleteStreamError, MalformedStreamError
from .wire import Message

__all__ = [
    "MessageAccumulator",
    "SSEDecoder",
    "accumulate",
    "aiter_sse_events",
    "iter_sse_events",
    "message_from_sse",
]

_BOM = b"\xef\xbb\xbf"
_CUT_SHORT = frozenset({"max_tokens", "model_context_window_exceeded"})
"""Stop reasons after which the last tool input may be truncated JSON (never run)."""
_EVENT_BLOCK = re.compile(rb"event: ([^\n]*)\ndata: ([^\n]*)\n\n")
"""One event as the Messages API sends it; 16 bytes besides the two groups."""


class SSEDecoder:
    """Incremental `text/event-stream` decoder: bytes in, `(event_name, data)` pairs out.

    Follows the WHATWG SSE parsing rules: `\\n`, `\\r\\n` and `\\r` line endings, `:` comment
    lines, multi-line `data:` joined with `\\n`, one optional space after the colon, default
    event name `"message"`, events without data not dispatched, a leading BOM skipped.

    Chunks may split anywhere, even inside a UTF-8 character: bytes are parked until an
    event boundary (a blank line) arrives, and only whole events are decoded. Speed comes
    from working per event, never per byte: boundaries are found with `bytes.rfind`, and
    runs of `event: X\\ndata: Y` events (all the Messages API sends) are cut out by one
    regex pass in C; anything else takes the general line-by-line path.
    """

    __slots__ = ("_after_cr", "_pending", "_started", "last_event_id")

    def __init__(self) -> None:
        # Bytes after the last event boundary, line ends already normalized to LF.
        self._pending: list[bytes] = []
        self._after_cr = False
        self._started = False
        self.last_event_id = ""
        """The last `id:` field seen (SSE reconnection id; the Messages API sends none)."""

    def feed(self, chunk: bytes) -> list[tuple[str, str]]:
        """Consume one chunk; return the events it completed (often none, sometimes many)."""
        if self._after_cr:
            # The last chunk ended in CR, already taken as a line end: its LF is not another.
            self._after_cr = False
            if chunk.startswith(b"\n"):
                chunk = chunk[1:]
        if b"\r" in chunk:
            self._after_cr = chunk.endswith(b"\r")
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        pending = self._pending
        # rfind, not `in`: the boundary is usually the chunk's last two bytes, found at once.
        if chunk.rfind(b"\n\n") < 0 and not (
            chunk.startswith(b"\n") and pending and pending[-1].endswith(b"\n")
        ):
            # No event ends in this chunk: park it and join once later, so an event that
            # arrives in many small chunks costs O(n), not O(n²).
            if chunk:
                pending.append(chunk)
            return []
        if pending:
            pending.append(chunk)
            buf = b"".join(pending)
            pending.clear()
        else:
            buf = chunk
        end = buf.rfind(b"\n\n") + 2
        if end < len(buf):
            pending.append(buf[end:])
            buf = buf[:end]
        return self._events(buf)

    def flush(self) -> list[tuple[str, str]]:
        """End of stream: dispatch the last event even if its blank line never came.

        Lenient by design (the SSE spec would drop it): some recorded streams end right
        after `data: {"type":"message_stop"}`. The event may thus be truncated;
        `iter_sse_events` drops such a tail when its JSON does not parse.
        """
        self._after_cr = False
        if not self._pending:
            return []
        tail = b"".join(self._pending).strip(b"\n")
        self._pending.clear()
        return self._events(tail + b"\n\n") if tail else []

    def _events(self, buf: bytes) -> list[tuple[str, str]]:
        """Parse whole events; `buf` ends with the blank line that ends its last event."""
        if not self._started:
            self._started = True
            if buf.startswith(_BOM):
                buf = buf[3:]
        fast = _EVENT_BLOCK.findall(buf)
        # Non-overlapping matches whose lengths add up to the whole buffer tile it exactly,
        # so the buffer is nothing but such events and the fast result is the right one.
        size = 16 * len(fast)
        events: list[tuple[str, str]] = []
        for name, data in fast:
            size += len(name) + len(data)
            events.append((name.decode("utf-8", "replace"), data.decode("utf-8", "replace")))
        if size == len(buf):
            return events
        events = []
        for block in buf.decode("utf-8", "replace").split("\n\n"):
            if block:
                event = self._parse_lines(block)
                if event is not None:
                    events.append(event)
        return events

    def _parse_lines(self, block: str) -> tuple[str, str] | None:
        """The general SSE line rules, for one event's lines (comments, `id:`, many `data:`)."""
        name = ""
        data: list[str] = []
        # str.split, not splitlines: JSON may legally hold raw U+2028 and friends.
        for line in block.split("\n"):
            if not line or line[0] == ":":
                continue  # stray blank line (from 3+ newlines) or a comment (": keep-alive")
            field, colon, value = line.partition(":")
            if colon and value.startswith(" "):
                value = value[1:]
            if field == "data":
                data.append(value)
            elif field == "event":
                name = value
            elif field == "id" and "\0" not in value:
                self.last_event_id = value
        if not data:
            return None
        return (name or "message", "\n".join(data))


def _loads(event: str, data: str) -> dict[str, Any]:
    try:
        # pydantic's JSON parser: ~2x the stdlib on small events (most of a reducer's time),
        # and exact like it (orjson turns integers beyond 64 bits into floats).
        obj = from_json(data)
    except ValueError:
        obj = _stdlib_loads(event, data)
    if not isinstance(obj, dict):
        raise MalformedStreamError(
            f"SSE event {event!r} carries JSON that is not an object: {_snippet(data)!r}. "
            "Check base_url: the server is not speaking the Messages API stream format."
        )
    return obj


def _stdlib_loads(event: str, data: str) -> Any:
    # The fast parser refuses what the stdlib accepts in a few corners (lone surrogates):
    # the stdlib has the last word, so nothing that parsed before fails now.
    try:
        return json.loads(data)
    except ValueError as exc:
        raise MalformedStreamError(
            f"SSE event {event!r} carries data that is not JSON ({exc}): {_snippet(data)!r}. "
            "The server (or a proxy in between) is not speaking the Messages API stream "
            "format; check base_url."
        ) from None


def iter_sse_events(chunks: Iterable[bytes]) -> Iterator[dict[str, Any]]:
    """Decode SSE byte chunks into event dicts (`json.loads` of each `data`).

    Raises `MalformedStreamError` for data that is not a JSON object.
    """
    decoder = SSEDecoder()
    for chunk in chunks:
        for event, data in decoder.feed(chunk):
            yield _loads(event, data)
    yield from _tail(decoder)


async def aiter_sse_events(chunks: AsyncIterable[bytes]) -> AsyncIterator[dict[str, Any]]:
    """Async twin of `iter_sse_events`, for an HTTP response's byte stream."""
    decoder = SSEDecoder()
    async for chunk in chunks:
        for event, data in decoder.feed(chunk):
            yield _loads(event, data)
    for event in _tail(decoder):
        yield event


def _tail(decoder: SSEDecoder) -> list[dict[str, Any]]:
    """Events left at end of stream. One whose JSON is cut off is dropped, not reported as
    malformed: the stream was truncated, which the reducer reports (`IncompleteStreamError`).
    """
    events: list[dict[str, Any]] = []
    for event, data in decoder.flush():
        try:
            events.append(_loads(event, data))
        except MalformedStreamError:
            break
    return events


# -- the reducer --------------------------------------------------------------------------------


class MessageAccumulator:
    """Fold decoded SSE event dicts into one `Message` (pure: no I/O, no clock).

    Feed every event to `apply`; after `message_stop`, `done` is true and `message()`
    returns the reply. Text, thinking and signature deltas are collected as string parts
    and joined once per block; `input_json_delta` parts are joined and parsed at
    `content_block_stop` (an empty input means `{}`). `citations_delta` appends to the
    block's `citations`. Unknown delta types are not applied (their meaning is unknown) but
    kept verbatim, with their block index, in `unknown_deltas`. `ping` and unknown event
    types are ignored, as the API asks. `redact` (bytes → bytes) scrubs an `error` event
    before its text is quoted in `APIStreamError`; the client passes its credential filter.
    """

    __slots__ = (
        "_bad_input", "_blocks", "_final", "_msg", "_parts", "_redact", "request_id",
        "unknown_deltas",
    )

    def __init__(
        self,
        *,
        request_id: str | None = None,
        redact: Callable[[bytes], bytes] | None = None,
    ) -> None:
        self._msg: dict[str, Any] | None = None
        self._blocks: list[dict[str, Any] | None] = []
        # index → {block field: string parts not yet joined into the block}
        self._parts: dict[int, dict[str, list[str]]] = {}
        self._final: Message | None = None
        # A tool input that did not parse, raised at message_stop unless the reply was cut
        # by the output limit (then the call is never run, and `{}` stands in for it).
        self._bad_input: MalformedStreamError | None = None
        self.request_id = request_id
        """Quoted in the errors raised (the client sets it from the `request-id` header)."""
        # Scrubs an `error` event (its JSON) before it is quoted: a gateway may echo the key.
        self._redact = redact
        self.unknown_deltas: list[tuple[int, dict[str, Any]]] = []
        """`(index, delta)` for every delta type this version does not know, as received."""

    @property
    def done(self) -> bool:
        """Whether `message_stop` has arrived."""
        return self._final is not None

    def apply(self, event: dict[str, Any]) -> None:
        """Fold one decoded event (`json.loads` of an SSE `data`) into the message.

        Raises `APIStreamError` for an `error` event and `MalformedStreamError` for events
        out of order or (at `message_stop`, unless the reply stopped at `max_tokens`) a tool
        input that is not valid JSON; both carry `partial`.
        """
        kind = event.get("type")
        try:
            if kind == "content_block_delta":
                delta = event["delta"]
                dtype = delta.get("type")
                index = event["index"]
                fields = self._parts.get(index)
                if fields is None:
                    self._require_block(index, kind)
                    fields = self._parts[index] = {}
                if dtype == "text_delta":
                    field, value = "text", delta["text"]
                elif dtype == "input_json_delta":
                    field, value = "input", delta["partial_json"]
                elif dtype == "thinking_delta":
                    field, value = "thinking", delta["thinking"]
                elif dtype == "signature_delta":
                    field, value = "signature", delta["signature"]
                elif dtype == "citations_delta":
                    self._add_citation(index, delta["citation"])
                    return
                else:
                    self.unknown_deltas.append((index, delta))
                    return
                parts = fields.get(field)
                if parts is None:
                    fields[field] = [value]
                else:
                    parts.append(value)
            elif kind == "content_block_start":
                self._start_block(event["index"], event["content_block"])
            elif kind == "content_block_stop":
                index = event["index"]
                self._require_block(index, kind)
                self._close_block(index)
            elif kind == "message_delta":
                self._merge_delta(event)
            elif kind == "message_start":
                self._start_message(event["message"])
            elif kind == "message_stop":
                self._finish()
            elif kind == "error":
                self._raise_error(event)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            # A known event type missing a field or holding the wrong kind of value.
            raise MalformedStreamError(
                f"SSE event {kind!r} is malformed ({type(exc).__name__}: {exc}): "
                f"{_snippet(repr(event))}. The server is not speaking the Messages API "
                "stream format; check base_url or re-issue the request.",
                index=event.get("index") if isinstance(event.get("index"), int) else None,
                partial=self.partial(),
            ) from None
        # ping and event types added after this version: ignored, as the API asks.

    def message(self) -> Message:
        """The complete reply. Raises `IncompleteStreamError` if `message_stop` never came."""
        if self._final is None:
            started = "before message_start" if self._msg is None else "before message_stop"
            raise IncompleteStreamError(
                f"the SSE stream ended {started}: the reply is incomplete. Re-issue the "
                "request; `partial` holds what arrived (do not append it to a conversation).",
                partial=self.partial(),
                request_id=self.request_id,
            )
        return self._final

    def partial(self) -> Message | None:
        """What has arrived so far as a `Message`; None before `message_start` (or if what
        arrived does not form a valid `Message`, e.g. a broken `message_start`).

        Blocks still streaming get their text joined; a tool input whose JSON is not yet
        complete keeps its starting value (`{}`). Never execute tools from a partial reply.
        """
        if self._final is not None:
            return self._final
        snapshot = self.snapshot_dict()
        if snapshot is None:
            return None
        try:
            return Message.model_validate(snapshot)
        except ValidationError:
            return None

    def snapshot_dict(self) -> dict[str, Any] | None:
        """The message so far as a plain dict (None before `message_start`), not validated.

        Cheap enough for progress displays; the accumulator's own state is not changed.
        """
        if self._msg is None:
            return None
        content: list[dict[str, Any]] = []
        for index, block in enumerate(self._blocks):
            if block is None:
                continue
            fields = self._parts.get(index)
            if fields:
                block = dict(block)
                for field, parts in fields.items():
                    if field == "input":
                        with contextlib.suppress(ValueError):  # incomplete JSON: keep start
                            block["input"] = _parse_input("".join(parts))
                    else:
                        block[field] = (block.get(field) or "") + "".join(parts)
            content.append(block)
        return {**self._msg, "usage": dict(self._msg["usage"]), "content": content}

    # -- event handlers ---------------------------------------------------------------------

    def _merge_delta(self, event: dict[str, Any]) -> None:
        msg = self._require_message("message_delta")
        msg.update(event.get("delta") or {})
        # Fields beside `delta` and `usage` (e.g. `context_management`) belong to the message,
        # as they would in the same reply as JSON.
        for key, value in event.items():
            if key not in ("type", "delta", "usage"):
                msg[key] = value
        usage = event.get("usage")
        if usage:
            # Counts are cumulative and may repeat input/cache counts: newest wins, but a
            # null never erases a count we already have.
            msg_usage = msg["usage"]
            for key, value in usage.items():
                if value is not None:
                    msg_usage[key] = value

    def _start_message(self, message: dict[str, Any]) -> None:
        # Shallow copies: the caller's event dicts (maybe also parsed into typed events)
        # are never mutated by the reducer.
        msg = dict(message)
        msg["usage"] = dict(message.get("usage") or {})
        self._blocks = [dict(b) for b in message.get("content") or ()]
        msg["content"] = self._blocks
        self._msg = msg

    def _start_block(self, index: int, block: dict[str, Any]) -> None:
        self._require_message("content_block_start")
        block = dict(block)
        citations = block.get("citations")
        if isinstance(citations, list):
            block["citations"] = list(citations)
        blocks = self._blocks
        if index == len(blocks):
            blocks.append(block)
        elif index > len(blocks):
            blocks.extend([None] * (index - len(blocks)))
            blocks.append(block)
        else:
            blocks[index] = block

    def _add_citation(self, index: int, citation: dict[str, Any]) -> None:
        block = self._blocks[index]
        if block is None:  # apply() already checked that the block exists
            return
        citations = block.get("citations")
        if isinstance(citations, list):
            citations.append(citation)
        else:
            block["citations"] = [citation]

    def _close_block(self, index: int) -> None:
        fields = self._parts.pop(index, None)
        if not fields:
            return
        block = self._blocks[index]
        if block is None:
            return
        for field, parts in fields.items():
            joined = "".join(parts)
            if field != "input":
                block[field] = (block.get(field) or "") + joined
                continue
            try:
                block["input"] = _parse_input(joined)
            except ValueError as exc:
                self._blocks[index] = {**block, "input": {}}
                name = block.get("name")
                self._bad_input = self._bad_input or MalformedStreamError(
                    f"content block {index} ({block.get('type')} {name!r}): the streamed tool "
                    f"input is not a JSON object ({exc}): {_snippet(joined)!r}. The model "
                    "produced an unusable call; re-issue the request.",
                    index=index,
                    partial=self.partial(),
                )

    def _finish(self) -> None:
        if self._final is not None:
            return
        msg = self._require_message("message_stop")
        for index in list(self._parts):
            self._close_block(index)
        if self._bad_input is not None and msg.get("stop_reason") not in _CUT_SHORT:
            raise self._bad_input
        missing = [i for i, b in enumerate(self._blocks) if b is None]
        if missing:
            raise MalformedStreamError(
                f"the stream skipped content_block_start for index {missing}; the reply "
                "cannot be assembled. Re-issue the request.",
                index=missing[0],
                partial=self.partial(),
            )
        try:
            self._final = Message.model_validate(msg)
        except ValidationError as exc:
            raise MalformedStreamError(
                f"the streamed reply does not form a valid Message: {exc}. Check base_url: "
                "the server is not speaking the Messages API stream format.",
            ) from None

    def _raise_error(self, event: dict[str, Any]) -> None:
        if self._redact is not None:
            event = json.loads(self._redact(json.dumps(event, ensure_ascii=False).encode()))
        error = event.get("error") or {}
        error_type = error.get("type") if isinstance(error, dict) else None
        detail = error.get("message", "") if isinstance(error, dict) else str(error)
        raise APIStreamError(
            f"the API sent an error event mid-stream: {error_type}: {detail}. The partial "
            "reply is in `partial`; re-issue the whole request if `retryable`.",
            error_type=error_type,
            body=event,
            partial=self.partial(),
            request_id=event.get("request_id") or self.request_id,
        )

    # -- checks -----------------------------------------------------------------------------

    def _require_message(self, kind: str) -> dict[str, Any]:
        if self._msg is None:
            raise MalformedStreamError(
                f"{kind} arrived before message_start; the stream is not a Messages API "
                "reply (check base_url) or was cut at the start."
            )
        return self._msg

    def _require_block(self, index: int, kind: str) -> dict[str, Any]:
        self._require_message(kind)
        block = self._blocks[index] if 0 <= index < len(self._blocks) else None
        if block is None:
            raise MalformedStreamError(
                f"{kind} for content block {index} arrived before its content_block_start; "
                "the stream is out of order. Re-issue the request.",
                index=index,
                partial=self.partial(),
            )
        return block


def _parse_input(text: str) -> dict[str, Any]:
    """A streamed tool input: empty (or blank) means `{}`; otherwise a JSON object."""
    if not text.strip():
        return {}
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError(f"got JSON {type(value).__name__}, expected an object")
    return value


def _snippet(text: str, limit: int = 120) -> str:
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}…{text[-half:]}"


def accumulate(events: Iterable[dict[str, Any]]) -> Message:
    """Reduce a whole sequence of event dicts to the final `Message`.

    Raises what `MessageAccumulator.apply` raises, and `IncompleteStreamError` if the
    events end before `message_stop`.
    """
    acc = MessageAccumulator()
    for event in events:
        acc.apply(event)
    return acc.message()


def message_from_sse(body: bytes | str) -> Message:
    """Parse a complete recorded `text/event-stream` body into its `Message`."""
    raw = body.encode("utf-8") if isinstance(body, str) else body
    return accumulate(iter_sse_events((raw,)))
