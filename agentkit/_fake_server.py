"""The fake Messages API itself: what it answers, independent of how a request arrives.

Owns reply builders, the realistic SSE rendering of a `Message`, `Fault`s, the request-shape
checks, and `Script`, which turns one request into a `Plan` (status, headers, body chunks,
delay, reset or cut). The front ends in `agentkit.testing` (`ScriptedTransport` for httpx,
`FakeServer` for real HTTP) only carry plans out, so both serve identical bytes.

Rules: imports only `_errors` and `_wire` (no httpx, no event loop); steps are consumed in
order under a lock, and a step function runs outside it; every failure of the script itself
is recorded in `Script.errors` as a `ScriptError` naming the step, never swallowed.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from pydantic_core import to_json

from ._errors import ScriptError
from ._wire import Message, TextBlock, ThinkingBlock, ToolUseBlock, Usage

__all__ = [
    "ERROR_TYPES",
    "Fault",
    "FunctionModel",
    "Plan",
    "RecordedRequest",
    "Script",
    "Step",
    "check_request",
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


def _tokens(n_chars: int) -> int:
    # About four characters a token: good enough for usage that looks plausible.
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
        usage=usage or Usage(input_tokens=0, output_tokens=_tokens(chars)),
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
    one `ping`; `message_delta` with the stop reason and cumulative usage; `message_stop`.
    """
    msg = message_dict(message) if isinstance(message, Message) else message
    usage = dict(msg.get("usage") or {})
    start = {**msg, "content": [], "stop_reason": None, "stop_sequence": None}
    start["usage"] = {**usage, "output_tokens": min(1, usage.get("output_tokens", 1))}
    events: list[dict[str, Any]] = [{"type": "message_start", "message": start}]
    for index, block in enumerate(msg["content"]):
        kind = block.get("type")
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
    events.append({"type": "message_delta", "delta": delta, "usage": usage})
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


# -- request checks -------------------------------------------------------------------------


def _blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []


def check_request(body: Any, headers: Mapping[str, str]) -> str | None:
    """Why the real API would answer this `POST /v1/messages` with a 400, or None.

    Lightweight, not exhaustive: the header, required fields, roles, empty turns, manual
    thinking (budget, forced tool use, temperature), and `tool_use`/`tool_result` pairing
    (ids and placement), with the API's own wording. Stricter than the API in one place:
    consecutive same-role turns are rejected, because the API silently merges them (STYLE:
    a loop must keep alternation).
    """
    if "anthropic-version" not in headers:
        return "anthropic-version: header is required"
    if not isinstance(body, dict):
        return "Request body must be a JSON object"
    for name in ("model", "max_tokens", "messages"):
        if name not in body:
            return f"{name}: Field required"
    max_tokens = body["max_tokens"]
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        return "max_tokens: Input should be a valid integer greater than or equal to 1"
    messages = body["messages"]
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    thinking = body.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") == "enabled":
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int) or budget < 1024:
            return "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
        interleaved = "interleaved-thinking" in headers.get("anthropic-beta", "")
        if budget >= max_tokens and not interleaved:
            return "`max_tokens` must be greater than `thinking.budget_tokens`."
        choice = body.get("tool_choice")
        if isinstance(choice, dict) and choice.get("type") in ("any", "tool"):
            return "Thinking may not be enabled when tool_choice forces tool use."
        if body.get("temperature", 1) != 1:
            return "`temperature` may only be set to 1 when thinking is enabled."
    pending: list[str] = []
    previous = None
    for i, turn in enumerate(messages):
        role = turn.get("role") if isinstance(turn, dict) else None
        if role not in ("user", "assistant"):
            return f"messages.{i}.role: Input should be 'user' or 'assistant'"
        if role == previous:
            return (
                f"messages.{i}: two `{role}` turns in a row; roles must alternate (the API would "
                "merge them silently, gluing unrelated content together)"
            )
        previous = role
        blocks = _blocks(turn.get("content"))
        if not blocks and i != len(messages) - 1:
            return (
                f"messages.{i}: all messages must have non-empty content except for the "
                "optional final assistant message"
            )
        for j, block in enumerate(blocks):
            if block.get("type") == "tool_result" and block.get("tool_use_id") not in pending:
                return (
                    f"messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` "
                    f"blocks: {block.get('tool_use_id')}. Each `tool_result` block must have a "
                    "corresponding `tool_use` block in the previous message."
                )
        results = [b for b in blocks if b.get("type") == "tool_result"]
        if pending:
            lead = 0
            while lead < len(blocks) and blocks[lead].get("type") == "tool_result":
                lead += 1
            answered = {b.get("tool_use_id") for b in results}
            missing = [x for x in pending if x not in answered]
            if role != "user" or missing:
                ids = ", ".join(missing or pending)
                return (
                    f"messages.{i}: `tool_use` ids were found without `tool_result` blocks "
                    f"immediately after: {ids}. Each `tool_use` block must have a corresponding "
                    "`tool_result` block in the next message."
                )
            if lead < len(results):
                return (
                    f"messages.{i}: Did not find {len(pending)} `tool_result` block(s) at the "
                    "beginning of this message. Messages following `tool_use` blocks must begin "
                    "with a matching number of `tool_result` blocks."
                )
        pending = [b.get("id", "") for b in blocks if b.get("type") == "tool_use"]
    if pending:
        return (
            f"messages.{len(messages) - 1}: `tool_use` ids were found without `tool_result` "
            f"blocks immediately after: {', '.join(pending)}. Each `tool_use` block must have "
            "a corresponding `tool_result` block in the next message."
        )
    return None


# -- scripts --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FunctionModel:
    """A Python function playing the model: every request is answered by `fn(request_body)`.

    The function sees the whole body (messages with tool results, tools, system, …) and
    returns a `Message`, a `str` (a text reply) or a `Fault`. As a script it never runs out.
    """

    fn: Callable[[dict[str, Any]], Message | Fault | str]

    def __call__(self, body: dict[str, Any]) -> Message | Fault | str:
        return self.fn(body)


Step: TypeAlias = Message | Fault | str | Callable[[dict[str, Any]], Message | Fault | str]
"""One scripted answer: a reply, a text, a fault, or a function of the request body."""

_SECRET_HEADERS = frozenset({"x-api-key", "authorization", "proxy-authorization", "cookie"})


def redact(headers: Mapping[str, str]) -> dict[str, str]:
    """Lower-cased headers with credentials hidden (a Bearer scheme stays visible)."""
    out: dict[str, str] = {}
    for key, value in headers.items():
        key = key.lower()
        if key in _SECRET_HEADERS:
            scheme = value.split(" ", 1)[0] if " " in value else ""
            value = f"{scheme} <redacted>".lstrip()
        out[key] = value
    return out


@dataclass(slots=True)
class RecordedRequest:
    """One request the fake received, as the test may inspect it (credentials redacted)."""

    method: str
    path: str
    """The path without the query string (`/v1/messages`, maybe after a gateway prefix)."""
    query: str
    headers: dict[str, str]
    body: Any
    """The decoded JSON body (None when there was none or it was not JSON)."""
    step: int | None
    """The 0-based script step that answered, or None (not a step, or rejected)."""

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The request's `messages` (empty when the body has none)."""
        return self.body.get("messages", []) if isinstance(self.body, dict) else []


def describe(step: Any) -> str:
    """A short name for a step, for error messages."""
    if isinstance(step, Message):
        calls = [b.name for b in step.tool_uses]
        return f"reply calling {', '.join(calls)}" if calls else f"reply {step.text[:30]!r}"
    if isinstance(step, Fault):
        return f"Fault.{step.kind}"
    if isinstance(step, str):
        return f"text {step[:30]!r}"
    return f"function {getattr(step, '__name__', type(step).__name__)}"


_MODELS = [
    ("claude-sonnet-4-5-20250929", "Claude Sonnet 4.5", "2025-09-29T00:00:00Z", 64000),
    ("claude-haiku-4-5-20251001", "Claude Haiku 4.5", "2025-10-01T00:00:00Z", 64000),
    ("claude-opus-4-1-20250805", "Claude Opus 4.1", "2025-08-05T00:00:00Z", 32000),
]


def _model_info(model_id: str) -> dict[str, Any]:
    for mid, name, created, max_tokens in _MODELS:
        if model_id in (mid, mid.rsplit("-", 1)[0]):
            return {
                "type": "model",
                "id": mid,
                "display_name": name,
                "created_at": created,
                "max_input_tokens": 200000,
                "max_tokens": max_tokens,
            }
    return {
        "type": "model",
        "id": model_id,
        "display_name": model_id,
        "created_at": "2025-01-01T00:00:00Z",
        "max_input_tokens": 200000,
        "max_tokens": 64000,
    }


class Script:
    """Steps served in order to `POST /v1/messages`, shared by every front end.

    `respond()` turns one raw request into a `Plan`. Thread-safe: steps are taken under a
    lock, so a `FakeServer` thread and the test can use one script.
    """

    def __init__(
        self,
        steps: Iterable[Step] | FunctionModel = (),
        *,
        strict: bool = True,
        latency: float = 0.0,
        chunk_size: int = 16,
        wire_chunk: int | None = None,
        record: bool = True,
    ) -> None:
        self._model = steps if isinstance(steps, FunctionModel) else None
        self._steps: list[Any] = [] if isinstance(steps, FunctionModel) else list(steps)
        self._next = 0
        self._served = 0
        self._lock = threading.Lock()
        self.strict = strict
        """Answer requests the real API would reject with its 400 (see `check_request`)."""
        self.latency = latency
        """Seconds added before every answer (for benchmarks)."""
        self.chunk_size = chunk_size
        """Characters per text/thinking/JSON delta in SSE replies."""
        self.wire_chunk = wire_chunk
        """Re-cut SSE bodies into pieces of this many bytes, splitting events (and UTF-8
        characters) as TCP may; None sends one piece per event."""
        self.record = record
        """Keep every request in `requests` (off for a long-running server)."""
        self.requests: list[RecordedRequest] = []
        """Every request received, in order (when `record`)."""
        self.errors: list[ScriptError] = []
        """Failures of the script itself (no step left, a step function raised)."""

    def push(self, *steps: Step) -> None:
        """Append steps to the script."""
        with self._lock:
            self._steps.extend(steps)

    @property
    def remaining(self) -> list[Any]:
        """The steps not yet served."""
        return self._steps[self._next :]

    def assert_consumed(self) -> None:
        """Raise the first recorded `ScriptError`, or one listing the steps never requested."""
        if self.errors:
            raise self.errors[0]
        left = self.remaining
        if left:
            names = "; ".join(f"step {self._next + i} ({describe(s)})" for i, s in enumerate(left))
            raise ScriptError(
                f"{len(left)} scripted step(s) never requested: {names}. The code under test "
                "made fewer model calls than scripted; remove the steps or check why it stopped."
            )

    def respond(self, method: str, target: str, headers: Mapping[str, str], raw: bytes) -> Plan:
        """The plan answering one request. Raises `ScriptError` when the script has no answer
        (also recorded in `errors`); front ends without a caller to raise to serve a 400."""
        path, _, query = target.partition("?")
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
        lower = {k.lower(): v for k, v in headers.items()}
        record = RecordedRequest(method.upper(), path, query, redact(lower), body, None)
        if self.record:
            self.requests.append(record)
        plan = self._route(record, lower, raw)
        plan.delay += self.latency
        return plan

    def _route(self, record: RecordedRequest, headers: Mapping[str, str], raw: bytes) -> Plan:
        path, method = record.path.rstrip("/"), record.method
        if method == "POST" and path.endswith("/v1/messages/count_tokens"):
            tokens = {"input_tokens": _tokens(len(raw))}
            return Plan(200, [("content-type", "application/json")], [_json(tokens)])
        if method == "GET" and path.endswith("/v1/models"):
            data = [_model_info(m[0]) for m in _MODELS]
            page = {
                "data": data,
                "has_more": False,
                "first_id": data[0]["id"],
                "last_id": data[-1]["id"],
            }
            return Plan(200, [("content-type", "application/json")], [_json(page)])
        if method == "GET" and "/v1/models/" in path:
            model_id = path.rsplit("/", 1)[1]
            return Plan(200, [("content-type", "application/json")], [_json(_model_info(model_id))])
        if not (method == "POST" and path.endswith("/v1/messages")):
            return error_plan(404, "not_found_error", f"Not found: {method} {record.path}")
        if raw and record.body is None:
            return error_plan(
                400,
                "invalid_request_error",
                "Request body is not valid JSON",
                [("x-should-retry", "false")],
            )
        if self.strict:
            problem = check_request(record.body, headers)
            if problem:
                return error_plan(
                    400, "invalid_request_error", problem, [("x-should-retry", "false")]
                )
        return self._serve_step(record, _tokens(len(raw)))

    def _take(self) -> tuple[int, Any]:
        with self._lock:
            self._served += 1
            if self._model is not None:
                return self._served - 1, self._model
            if self._next >= len(self._steps):
                error = ScriptError(
                    f"request {self._served} to POST /v1/messages has no scripted step: all "
                    f"{len(self._steps)} step(s) were used. The code under test made more model "
                    "calls than scripted; add a step or check for a loop."
                )
                self.errors.append(error)
                raise error
            index = self._next
            self._next += 1
            return index, self._steps[index]

    def _serve_step(self, record: RecordedRequest, input_tokens: int) -> Plan:
        index, step = self._take()
        record.step = index
        body: dict[str, Any] = record.body if isinstance(record.body, dict) else {}
        answer = step
        if callable(step) and not isinstance(step, (Message, Fault, str)):
            try:
                answer = step(body)
            except Exception as exc:
                error = ScriptError(f"step {index} ({describe(step)}) raised {exc!r}")
                self.errors.append(error)
                raise error from exc
        if isinstance(answer, str):
            answer = text_reply(answer)
        stream = body.get("stream") is True
        if isinstance(answer, Message):
            return self._recut(
                plan_reply(
                    self._fill(answer, body, input_tokens), stream, chunk_size=self.chunk_size
                )
            )
        if isinstance(answer, Fault):
            msg = self._fill(answer.reply, body, input_tokens) if answer.reply is not None else None
            return self._recut(plan_fault(answer, msg, stream, chunk_size=self.chunk_size))
        error = ScriptError(
            f"step {index} ({describe(step)}) gave {type(answer).__name__}; a step must be or "
            "return a Message, a str or a Fault"
        )
        self.errors.append(error)
        raise error

    def _recut(self, plan: Plan) -> Plan:
        size = self.wire_chunk
        if size and plan.stream:
            data = b"".join(plan.chunks)
            plan.chunks = [data[i : i + size] for i in range(0, len(data), size)]
        return plan

    @staticmethod
    def _fill(message: Message, body: dict[str, Any], input_tokens: int) -> dict[str, Any]:
        msg = message_dict(message)
        if not msg["model"]:
            msg["model"] = body.get("model", "")
        if not msg["usage"].get("input_tokens"):
            msg["usage"]["input_tokens"] = input_tokens
        return msg
