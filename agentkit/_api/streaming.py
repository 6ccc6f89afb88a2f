"""SSE event dicts to one `Message`: the streamed reply's reducer, a pure fold with no I/O.

`MessageAccumulator` folds decoded event dicts (from `sse.py`) into the final `Message`;
`accumulate` and `message_from_sse` run it over a whole recorded stream.

Rules it keeps:
- **Hot path on plain dicts.** No pydantic per event: deltas are appended to string lists and
  joined once per block; pydantic validates once, at `message_stop`.
- **The result equals the non-streamed reply.** Every field of `message_start`, of each
  `content_block_start` and of each `message_delta` (`stop_details`, gateway extras) is kept.
- **Forward compatible.** Unknown event types are ignored; an unknown delta type is not applied
  to its block (we cannot know its meaning) but kept verbatim in `unknown_deltas`.
- **Failures are typed.** An `error` event raises `APIStreamError`, a stream cut before
  `message_stop` raises `IncompleteStreamError`, unparsable tool-input JSON raises
  `MalformedStreamError`; each carries the partial `Message` built so far. Tool-input JSON
  is judged at `message_stop`: after a `max_tokens` stop it may be cut, is never run, and
  becomes `{}`.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterable
from typing import Any, cast

from pydantic import ValidationError

from .._errors import APIStreamError, IncompleteStreamError, MalformedStreamError
from .jsonbytes import escaped_utf8
from .sse import iter_sse_events, snippet
from .wire import Message

__all__ = ["MessageAccumulator", "accumulate", "message_from_sse"]

_CUT_SHORT = frozenset({"max_tokens", "model_context_window_exceeded"})
"""Stop reasons after which the last tool input may be truncated JSON (never run)."""


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
                elif dtype == "compaction_delta":  # a server-side compaction's summary
                    self._compaction_delta(index, delta)
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
                f"{snippet(repr(event))}. The server is not speaking the Messages API "
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
            block["citations"] = list(cast("list[Any]", citations))
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
            cast("list[Any]", citations).append(citation)
        else:
            block["citations"] = [citation]

    def _compaction_delta(self, index: int, delta: dict[str, Any]) -> None:
        """`content` arrives whole or in parts; the opaque fields are the newest given."""
        block = self._blocks[index]
        if block is None:
            return
        if delta.get("content") is not None:
            block["content"] = (block.get("content") or "") + delta["content"]
        for key, value in delta.items():
            if key not in ("type", "content"):
                block[key] = value

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
                    f"input is not a JSON object ({exc}): {snippet(joined)!r}. The model "
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
            # Its own copy of the top level and the block list: no stray event can change it.
            self._final = Message.from_stream({**msg, "content": list(self._blocks)})
        except ValidationError as exc:
            raise MalformedStreamError(
                f"the streamed reply does not form a valid Message: {exc}. Check base_url: "
                "the server is not speaking the Messages API stream format.",
            ) from None

    def _raise_error(self, event: dict[str, Any]) -> None:
        if self._redact is not None:
            event = json.loads(self._redact(escaped_utf8(json.dumps(event, ensure_ascii=False))))
        error: object = event.get("error") or {}
        if isinstance(error, dict):
            fields = cast("dict[str, Any]", error)
            kind, detail = fields.get("type"), fields.get("message", "")
        else:
            kind, detail = None, str(error)
        error_type = kind if isinstance(kind, str) else None
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
    return cast("dict[str, Any]", value)


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
