"""The fake Messages API's decisions: which answer one request gets.

Owns `Script`, which turns one raw request into a `Plan` (scripted steps for
`POST /v1/messages`, canned answers for `count_tokens` and `models`), `FunctionModel`, and the
`RecordedRequest`s a test inspects. The front ends (`ScriptedTransport` in `agentkit.testing`,
`FakeServer` in `_server`) only carry plans out, so both serve identical bytes; a strict script
first asks `_strict.check_request` whether the real API would reject the request.

Rules: imports only `_errors`, `_api.wire`, `_replies` and `_strict` (no httpx, no event
loop); steps are consumed in order under a lock, and a step function runs outside it; every
failure of the script itself is recorded in `Script.errors` as a `ScriptError` naming the
step, never swallowed."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias, cast

from pydantic_core import to_json

from .._api.wire import Message
from .._errors import ScriptError
from .._tools.accepted import MAX_REQUEST_BYTES
from ._context import ContextEffect, apply_context
from ._ratelimit import RateLimit
from ._replies import (
    ERROR_TYPES,
    Fault,
    Plan,
    error_plan,
    estimate_tokens,
    message_dict,
    plan_fault,
    plan_reply,
    reply,
    text_reply,
)
from ._strict import check_request, turns

__all__ = [
    "FunctionModel",
    "RecordedRequest",
    "Script",
    "ScriptFront",
    "Step",
]

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
        return turns(self.body)


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
        context_window: int | None = None,
        betas: Iterable[str] | None = None,
        rate_limit: RateLimit | None = None,
    ) -> None:
        self._model = steps if isinstance(steps, FunctionModel) else None
        self._steps: list[Any] = [] if isinstance(steps, FunctionModel) else list(steps)
        self._next = 0
        self._served = 0
        self._lock = threading.Lock()
        self.strict = strict
        """Answer requests the real API would reject with its 400 (see `check_request`), and
        a body over the API's 32 MB with its 413."""
        self.latency = latency
        """Seconds added before every answer (for benchmarks)."""
        self.chunk_size = chunk_size
        """Characters per text/thinking/JSON delta in SSE replies."""
        self.wire_chunk = wire_chunk
        """Re-cut SSE bodies into pieces of this many bytes, splitting events (and UTF-8
        characters) as TCP may; None sends one piece per event."""
        self.record = record
        self.rate_limit = rate_limit
        """Budgets enforced on `POST /v1/messages` with the API's 429s and headers."""
        """Keep every request in `requests` (off for a long-running server)."""
        self.context_window = context_window
        """Answer "prompt is too long" (400) to a request larger than this many tokens (about
        four bytes of JSON a token, after server-side context edits); None: no limit."""
        self.betas = None if betas is None else frozenset(betas)
        """The `anthropic-beta` values this fake knows, like a gateway that knows only some
        (others get the API's 400); None: every beta is accepted."""
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
            tokens = {"input_tokens": estimate_tokens(len(raw))}
            return Plan(200, [("content-type", "application/json")], [to_json(tokens)])
        if method == "GET" and path.endswith("/v1/models"):
            data = [_model_info(m[0]) for m in _MODELS]
            page = {
                "data": data,
                "has_more": False,
                "first_id": data[0]["id"],
                "last_id": data[-1]["id"],
            }
            return Plan(200, [("content-type", "application/json")], [to_json(page)])
        if method == "GET" and "/v1/models/" in path:
            model_id = path.rsplit("/", 1)[1]
            return Plan(
                200, [("content-type", "application/json")], [to_json(_model_info(model_id))]
            )
        if not (method == "POST" and path.endswith("/v1/messages")):
            return error_plan(404, "not_found_error", f"Not found: {method} {record.path}")
        if raw and record.body is None:
            return error_plan(
                400,
                "invalid_request_error",
                "Request body is not valid JSON",
                [("x-should-retry", "false")],
            )
        if self.strict and len(raw) > MAX_REQUEST_BYTES:
            return error_plan(413, *ERROR_TYPES[413], [("x-should-retry", "false")])
        if self.strict:
            problem = check_request(record.body, headers)
            if problem:
                return error_plan(
                    400, "invalid_request_error", problem, [("x-should-retry", "false")]
                )
        effect = ContextEffect(estimate_tokens(len(raw)))
        if (
            self.context_window is not None
            or self.betas is not None
            or b'"context_management"' in raw
            or b'"compaction"' in raw
        ):
            answer = apply_context(
                record.body, headers, raw, window=self.context_window, known_betas=self.betas
            )
            if isinstance(answer, str):
                return error_plan(
                    400, "invalid_request_error", answer, [("x-should-retry", "false")]
                )
            effect = answer
        limits = self.rate_limit
        if limits is None:
            return self._serve_step(record, effect)
        admitted, said = limits.admit(effect.input_tokens)
        if not admitted:
            return error_plan(429, "rate_limit_error", ERROR_TYPES[429][1], said)
        plan = self._serve_step(record, effect)
        plan.headers += said
        return plan

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

    def _serve_step(self, record: RecordedRequest, effect: ContextEffect) -> Plan:
        index, step = self._take()
        record.step = index
        raw: object = record.body
        body = cast("dict[str, Any]", raw) if isinstance(raw, dict) else {}
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
            msg = effect.decorate(self._fill(answer, body, effect.input_tokens))
            if self.rate_limit is not None:
                self.rate_limit.charge_output(int(msg["usage"].get("output_tokens") or 0))
            return self._recut(plan_reply(msg, stream, chunk_size=self.chunk_size))
        if isinstance(answer, Fault):
            reply = answer.reply
            msg = self._fill(reply, body, effect.input_tokens) if reply is not None else None
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
        _think_if_asked(msg, body)
        return msg


THOUGHT = "Let me work through this step by step."
"""What the fakes think when thinking is on and the scripted reply has no thinking block."""


def _think_if_asked(msg: dict[str, Any], body: Mapping[str, Any]) -> None:
    """With thinking on, the real API starts a reply with a signed thinking block (the next
    request must echo it before tool results): a scripted reply without one gets one."""
    thinking: object = body.get("thinking")
    if not isinstance(thinking, Mapping):
        return
    kind = cast("Mapping[str, Any]", thinking).get("type")
    content: list[dict[str, Any]] = msg["content"]
    if kind not in ("enabled", "adaptive") or any(
        block.get("type") in ("thinking", "redacted_thinking") for block in content
    ):
        return
    block = message_dict(reply(thinking=THOUGHT))["content"][0]
    msg["content"] = [block, *content]
    msg["usage"]["output_tokens"] = msg["usage"].get("output_tokens", 0) + estimate_tokens(
        len(THOUGHT)
    )


class ScriptFront:
    """What every front end serving a `Script` offers: its requests, more steps, the check."""

    script: Script

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, in order."""
        return self.script.requests

    def push(self, *steps: Step) -> None:
        """Append steps to the script (safe while serving)."""
        self.script.push(*steps)

    def assert_consumed(self) -> None:
        """Raise `ScriptError` if a step was never requested or the script failed."""
        self.script.assert_consumed()
