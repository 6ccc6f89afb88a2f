"""SSE bytes to event dicts: the `text/event-stream` decoder of a streamed reply, no I/O.

Owns two steps: `SSEDecoder` turns raw bytes, cut anywhere, into `(event, data)` pairs, and
`iter_sse_events` / `aiter_sse_events` add the JSON parse on top (the client's read loop).
Folding the event dicts into a `Message` is `streaming.py`'s job.

Rules it keeps:
- **Per event, never per byte.** Boundaries are found with `bytes.rfind`, and the Messages
  API's `event: X\ndata: Y` runs are cut out by one regex pass.
- **Failures are typed.** Data that is not a JSON object raises `MalformedStreamError`; a
  last event cut off mid-JSON is dropped, so the reducer reports the cut
  (`IncompleteStreamError`) rather than a parse error.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from typing import Any, cast

from pydantic_core import from_json

from .._errors import MalformedStreamError

__all__ = ["SSEDecoder", "aiter_sse_events", "iter_sse_events", "snippet"]

_BOM = b"\xef\xbb\xbf"
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
            f"SSE event {event!r} carries JSON that is not an object: {snippet(data)!r}. "
            "Check base_url: the server is not speaking the Messages API stream format."
        )
    return cast("dict[str, Any]", obj)  # decoded JSON: its keys are strings


def _stdlib_loads(event: str, data: str) -> Any:
    # The fast parser refuses what the stdlib accepts in a few corners (lone surrogates):
    # the stdlib has the last word, so nothing that parsed before fails now.
    try:
        return json.loads(data)
    except ValueError as exc:
        raise MalformedStreamError(
            f"SSE event {event!r} carries data that is not JSON ({exc}): {snippet(data)!r}. "
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


def snippet(text: str, limit: int = 120) -> str:
    """`text`, shortened to about `limit` characters (its head and tail) for an error message."""
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}…{text[-half:]}"
