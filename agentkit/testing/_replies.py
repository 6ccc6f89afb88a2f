"""What the fake Messages API answers with: replies, their SSE, faults, and plans.

Owns the reply builders (`reply`, `text_reply`, `tool_reply`), the realistic SSE rendering of
a `Message`, `Fault`s, and `Plan`s: a reply or fault turned into the response a front end
carries out (status, headers, body chunks, delay, reset or cut). Which request gets which
answer is `_model`'s business; how it reaches a client is the front ends'.

Rules: imports only `_api.wire` (no httpx, no event loop, no shared state); rendering is the fake
server's hot path, so past the builders it works on plain dicts and bytes, never models.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .._api.jsonbytes import to_json
from .._api.wire import Message, TextBlock, ThinkingBlock, ToolUseBlock, Usage

__all__ = [
    "ERROR_TYPES",
    "Fault",
    "Plan",
    "encode_sse",
    "message_to_events",
    "message_to_sse",
    "new_id",
    "reply",
    "text_reply",
    "tool_reply",
]

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def new_id(prefix: str) -> str:
    """A fresh id shaped like the API's: `<prefix>_01` and 22 random base62 characters."""
    raw = os.urandom(22)
    return f"{prefix}_01" + "".join(_ALPHABET[b % 62] for b in raw)


# -- reply builders -------------------------------------------------------------------------


def estimate_tokens(n_chars: int) -> int:
    """A plausible token count for `n_chars` characters: about four a token, as usage needs."""
    return max(1, n_chars // 4)


def reply(
    text: str | None = None,
    *,
    tool_calls: Iterable[tuple[str, Mapping[str, Any]] | tuple[str, Mapping[str, Any], str]] = (),
    thinking: str | None = None,
    stop_reason: str | None = None,
    model: str = "",
    usage: Usage | None = None,
) -> Message:
    """Build an assistant `Message`: thinking first, then text, then tool calls.

    `tool_calls` are `(name, input)` or `(name, input, id)`; ids default to fresh `toolu_…`.
    `stop_reason` defaults to `tool_use` when there are calls, else `end_turn`. An empty
    `model` is filled from the request when served, and `input_tokens == 0` is estimated from
    the request body, so one reply fits any request.
    """
    blocks: list[Any] = []
    chars = 0
    if thinking is not None:
        signature = base64.b64encode(os.urandom(96)).decode()
        blocks.append(ThinkingBlock(type="thinking", thinking=thinking, signature=signature))
        chars += len(thinking)
    if text is not None:
        blocks.append(TextBlock(type="text", text=text))
        chars += len(text)
    for call in tool_calls:
        name, args = call[0], dict(call[1])
        call_id = call[2] if len(call) == 3 else new_id("toolu")
        blocks.append(ToolUseBlock(type="tool_use", id=call_id, name=name, input=args))
        chars += len(name) + len(json.dumps(args))
    if stop_reason is None:
        stop_reason = "tool_use" if any(b.type == "tool_use" for b in blocks) else "end_turn"
    return Message(
        id=new_id("msg"),
        type="message",
        role="assistant",
        model=model,
        content=blocks,
        stop_reason=stop_reason,
        stop_sequence=None,
        usage=usage or Usage(input_tokens=0, output_tokens=estimate_tokens(chars)),
    )


def text_reply(text: str, *, thinking: str | None = None, stop_reason: str = "end_turn") -> Message:
    """A reply of one text block (optionally after a thinking block)."""
    return reply(text, thinking=thinking, stop_reason=stop_reason)


def tool_reply(
    name: str,
    input: Mapping[str, Any] | None = None,
    *,
    text: str | None = None,
    thinking: str | None = None,
) -> Message:
    """A reply calling one tool (`stop_reason: tool_use`); use `reply(tool_calls=…)` for several."""
    return reply(text, tool_calls=[(name, input or {})], thinking=thinking)


# -- rendering ------------------------------------------------------------------------------


def message_dict(message: Message) -> dict[str, Any]:
    """`message` as the API's JSON object, with every key the API always sends."""
    data = message.to_wire()
    data.setdefault("stop_reason", message.stop_reason)
    data.setdefault("stop_sequence", message.stop_sequence)
    usage = message.usage
    data["usage"] = {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        **data.get("usage", {}),
    }
    return data


def _pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def message_to_events(
    message: Message | dict[str, Any], *, chunk_size: int = 16, ping: bool = True
) -> list[dict[str, Any]]:
    """The SSE events the API would stream for `message`, as dicts, in order.

    Like the real recordings: `message_start` with empty content and initial usage; text and
    thinking in `chunk_size`-character deltas; tool input as `input_json_delta`s cut
    mid-token (the first one empty); a `signature_delta` closing each thinking block;
    `redacted_thinking`, server-tool results and unknown blocks whole in `content_block_start`;
    a `compaction` block's summary in one `compaction_delta`; one `ping`; `message_delta` with
    the stop reason, cumulative usage and any `context_management`; `message_stop`.
    """
    msg = message_dict(message) if isinstance(message, Message) else message
    usage = dict(msg.get("usage") or {})
    start: dict[str, Any] = {**msg, "content": [], "stop_reason": None, "stop_sequence": None}
    managed = start.pop("context_management", None)  # the API sends it in `message_delta`
    start["usage"] = {**usage, "output_tokens": min(1, usage.get("output_tokens", 1))}
    events: list[dict[str, Any]] = [{"type": "message_start", "message": start}]
    for index, block in enumerate(msg["content"]):
        kind = block.get("type")
        first: dict[str, Any]
        deltas: list[dict[str, Any]]
        if kind == "text":
            first = {**block, "text": ""}
            citations = block.get("citations")
            if citations:
                first["citations"] = []
            deltas = [{"type": "citations_delta", "citation": c} for c in citations or ()]
            deltas += [
                {"type": "text_delta", "text": t} for t in _pieces(block["text"], chunk_size)
            ]
        elif kind in ("tool_use", "server_tool_use"):
            first = {**block, "input": {}}
            raw = (
                json.dumps(block.get("input") or {}, ensure_ascii=False)
                if block.get("input")
                else ""
            )
            parts = [""] + (_pieces(raw, chunk_size) if raw else [])
            deltas = [{"type": "input_json_delta", "partial_json": p} for p in parts]
        elif kind == "thinking":
            first = {**block, "thinking": "", "signature": ""}
            deltas = [
                {"type": "thinking_delta", "thinking": t}
                for t in _pieces(block["thinking"], chunk_size)
            ]
            deltas.append({"type": "signature_delta", "signature": block["signature"]})
        elif kind == "compaction" and block.get("content") is not None:
            first = {**block, "content": None}
            deltas = [{**block, "type": "compaction_delta"}]
        else:
            first, deltas = block, []
        events.append({"type": "content_block_start", "index": index, "content_block": first})
        if ping and index == 0:
            events.append({"type": "ping"})
        events += [{"type": "content_block_delta", "index": index, "delta": d} for d in deltas]
        events.append({"type": "content_block_stop", "index": index})
    if ping and not msg["content"]:
        events.append({"type": "ping"})
    delta = {"stop_reason": msg.get("stop_reason"), "stop_sequence": msg.get("stop_sequence")}
    final: dict[str, Any] = {"type": "message_delta", "delta": delta, "usage": usage}
    if managed is not None:
        final["context_management"] = managed
    events.append(final)
    events.append({"type": "message_stop"})
    return events


def encode_sse(events: Iterable[Mapping[str, Any]]) -> list[bytes]:
    """Each event as its SSE bytes (`event: <type>\\ndata: <json>\\n\\n`), one item per event."""
    # pydantic_core's encoder is ~4x faster than json's, and rendering is the server's hot path.
    return [b"event: %s\ndata: %s\n\n" % (e["type"].encode(), to_json(e)) for e in events]


def message_to_sse(
    message: Message | dict[str, Any], *, chunk_size: int = 16, ping: bool = True
) -> bytes:
    """`message` as a complete, realistic SSE body (see `message_to_events`)."""
    return b"".join(encode_sse(message_to_events(message, chunk_size=chunk_size, ping=ping)))


# -- faults ---------------------------------------------------------------------------------

ERROR_TYPES: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "Invalid request"),
    401: ("authentication_error", "invalid x-api-key"),
    402: ("billing_error", "Your credit balance is too low to access the Anthropic API."),
    403: ("permission_error", "Your API key does not have permission to use this resource."),
    404: ("not_found_error", "Not found"),
    409: ("conflict_error", "Conflict"),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "This request would exceed your organization's rate limit."),
    500: ("api_error", "Internal server error"),
    503: ("api_error", "Service unavailable"),
    504: ("timeout_error", "Request timed out"),
    529: ("overloaded_error", "Overloaded"),
}
"""Status code → the `error.type` and a typical message the API sends with it."""

_CUT_TEXT = "This reply is cut short by a scripted fault, somewhere in the middle of a block."


@dataclass(frozen=True, kw_only=True)
class Fault:
    """A scripted step that misbehaves the way the API or the network does; build with the
    class methods (`Fault.rate_limit()`, `Fault.reset()`, `Fault.cut()`, …)."""

    kind: str
    """What fault this is, for messages (`"rate_limit"`, `"reset"`, …)."""
    status: int = 200
    error_type: str | None = None
    message: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    reply: Message | None = None
    """Served (as JSON or SSE, as asked) before the fault strikes, for cut/error/slow faults."""
    body: tuple[bytes, ...] | None = None
    """Raw body chunks served verbatim (for `raw` and `malformed`)."""
    content_type: str = "application/json"
    delay: float = 0.0
    """Seconds to wait before answering."""
    no_response: bool = False
    """Close the connection without any response (a reset)."""
    cut_after: int | None = None
    """Close the connection after this many SSE events (None: first delta)."""
    error_after: int | None = None
    """Send an SSE `error` event after this many events (None: first delta), then stop."""

    @classmethod
    def error(
        cls,
        status: int,
        *,
        error_type: str | None = None,
        message: str | None = None,
        retry_after: float | None = None,
        should_retry: bool | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Fault:
        """An HTTP error with the API's error body; `retry_after` and `should_retry` set the
        `retry-after` and `x-should-retry` headers."""
        extra = dict(headers or {})
        if retry_after is not None:
            extra["retry-after"] = f"{retry_after:g}"
        if should_retry is not None:
            extra["x-should-retry"] = "true" if should_retry else "false"
        known_type, known_message = ERROR_TYPES.get(status, ("api_error", "Error"))
        return cls(
            kind=f"http_{status}",
            status=status,
            error_type=error_type or known_type,
            message=message or known_message,
            headers=tuple(extra.items()),
        )

    @classmethod
    def rate_limit(cls, retry_after: float | None = 1) -> Fault:
        """429 `rate_limit_error`, with `retry-after` seconds unless None (a spend cap)."""
        return cls.error(429, retry_after=retry_after)

    @classmethod
    def overloaded(cls) -> Fault:
        """529 `overloaded_error`."""
        return cls.error(529)

    @classmethod
    def server_error(cls, status: int = 500) -> Fault:
        """A 5xx `api_error` (or the type the status maps to, e.g. 504 `timeout_error`)."""
        return cls.error(status)

    @classmethod
    def reset(cls) -> Fault:
        """The connection is closed before any response byte."""
        return cls(kind="reset", no_response=True)

    @classmethod
    def slow(cls, seconds: float, reply: Message | None = None) -> Fault:
        """Answer `reply` (default: a short text) after `seconds`, e.g. longer than a timeout."""
        return cls(kind="slow", delay=seconds, reply=reply)

    @classmethod
    def cut(cls, reply: Message | None = None, *, after: int | None = None) -> Fault:
        """The stream stops after `after` events (default: mid-block, after the first delta)
        with no `message_stop`; a JSON body stops half-way."""
        return cls(kind="cut", reply=reply, cut_after=after)

    @classmethod
    def stream_error(
        cls,
        reply: Message | None = None,
        *,
        after: int | None = None,
        error_type: str = "overloaded_error",
        message: str = "Overloaded",
    ) -> Fault:
        """HTTP 200, then an SSE `error` event after `after` events (default: first delta).
        A non-streaming request gets the matching HTTP error instead (529 for overloaded)."""
        return cls(
            kind="stream_error",
            reply=reply,
            error_after=after,
            error_type=error_type,
            message=message,
        )

    @classmethod
    def malformed(cls) -> Fault:
        """HTTP 200 with a body that is not valid JSON (SSE: an event whose data is cut)."""
        return cls(kind="malformed")

    @classmethod
    def raw(
        cls,
        body: bytes | Sequence[bytes],
        *,
        status: int = 200,
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
    ) -> Fault:
        """Any response, verbatim: chunks are sent as given (e.g. `encode_sse(events)` with an
        unknown delta type)."""
        chunks = (body,) if isinstance(body, bytes) else tuple(body)
        extra = tuple((headers or {}).items())
        return cls(kind="raw", status=status, body=chunks, content_type=content_type, headers=extra)


# -- plans ----------------------------------------------------------------------------------


@dataclass(slots=True)
class Plan:
    """One response to carry out. Front ends add the framing (content-length or chunked)."""

    status: int
    headers: list[tuple[str, str]]
    chunks: list[bytes]
    stream: bool = False
    """Send the chunks as they are (SSE), flushing each; else one body with a content-length."""
    delay: float = 0.0
    reset: bool = False
    cut: bool = False
    """After the chunks, drop the connection (the body is incomplete)."""
    length: int | None = None
    """The content-length to declare when it differs from the chunks (a cut JSON body)."""


def _json(data: Any) -> bytes:
    return to_json(data)


def error_plan(
    status: int, error_type: str, message: str, headers: Iterable[tuple[str, str]] = ()
) -> Plan:
    """An error response with the API's body shape and a fresh request id."""
    request_id = new_id("req")
    body = {
        "type": "error",
        "error": {"type": error_type, "message": message},
        "request_id": request_id,
    }
    head = [("content-type", "application/json"), ("request-id", request_id), *headers]
    return Plan(status, head, [_json(body)])


def _first_delta(events: list[dict[str, Any]]) -> int:
    for i, event in enumerate(events):
        if event["type"] == "content_block_delta":
            return i + 1
    return max(1, len(events) - 1)


def plan_reply(msg: dict[str, Any], stream: bool, *, chunk_size: int = 16) -> Plan:
    """`msg` (a message dict) as a JSON body, or as SSE when `stream`."""
    request_id = new_id("req")
    if not stream:
        return Plan(
            200, [("content-type", "application/json"), ("request-id", request_id)], [_json(msg)]
        )
    head = [
        ("content-type", "text/event-stream; charset=utf-8"),
        ("cache-control", "no-cache"),
        ("request-id", request_id),
    ]
    return Plan(200, head, encode_sse(message_to_events(msg, chunk_size=chunk_size)), stream=True)


def plan_fault(
    fault: Fault, msg: dict[str, Any] | None, stream: bool, *, chunk_size: int = 16
) -> Plan:
    """What `fault` does to a request; `msg` is its reply already filled in for the request.

    Any fault may carry a `delay` (e.g. `dataclasses.replace(Fault.overloaded(), delay=2)`).
    """
    plan = _fault_plan(fault, msg, stream, chunk_size)
    plan.delay = fault.delay
    return plan


def _fault_plan(fault: Fault, msg: dict[str, Any] | None, stream: bool, chunk_size: int) -> Plan:
    if fault.no_response:
        return Plan(0, [], [], reset=True)
    if fault.body is not None:
        head = [("content-type", fault.content_type), *fault.headers]
        return Plan(fault.status, head, list(fault.body), stream=stream)
    if fault.kind == "malformed":
        if stream:
            broken = b'event: message_start\ndata: {"type":"message_start","message":{"id":\n\n'
            head = [("content-type", "text/event-stream; charset=utf-8")]
            return Plan(200, head, [broken], stream=True)
        return Plan(200, [("content-type", "application/json")], [b'{"type":"message","id":"msg_'])
    if fault.status >= 400:
        error_type = fault.error_type or "api_error"
        return error_plan(fault.status, error_type, fault.message or "", fault.headers)
    if fault.kind == "stream_error" and not stream:
        status = next((s for s, (t, _) in ERROR_TYPES.items() if t == fault.error_type), 500)
        return error_plan(status, fault.error_type or "api_error", fault.message or "")
    if msg is None:
        msg = message_dict(text_reply(_CUT_TEXT))
    plan = plan_reply(msg, stream, chunk_size=chunk_size)
    if fault.kind == "cut" and not stream:
        body = plan.chunks[0]
        plan.cut, plan.length, plan.chunks = True, len(body), [body[: len(body) // 2]]
    elif fault.kind in ("cut", "stream_error"):
        limit = fault.cut_after if fault.kind == "cut" else fault.error_after
        if limit is None:
            limit = _first_delta(message_to_events(msg, chunk_size=chunk_size))
        plan.chunks = plan.chunks[:limit]
        if fault.kind == "cut":
            plan.cut = True
        else:
            error = {"type": "error", "error": {"type": fault.error_type, "message": fault.message}}
            plan.chunks += encode_sse([error])
    return plan
