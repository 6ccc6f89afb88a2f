"""The OpenTelemetry observer: a run's spans and the client metrics, from the driver's reports.

`Telemetry` implements `agentkit._run.observe.Observer`; `RunSpan` is one run's
`RunObserver`. The tree: INTERNAL `invoke_agent {agent}` per run; under it a CLIENT
`chat {model}` per model call (from the request as sent to the reply or the engine giving up,
its retries inside as `exception` events) and an INTERNAL `execute_tool {tool}` per call,
current while the tool runs, so a sub-agent's run (`Agent.as_tool`) and the tool's own spans
nest under it. Calls the engine answered without running them (denied, unknown tool, output
tool) get an `execute_tool` span of no length. Rules: content only when `capture` says so;
no header, key or token is ever read; a failed or denied call sets status ERROR and
`error.type`; a run resumed from a journal links to the spans that ran it before.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, cast
from urllib.parse import urlsplit

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.metrics import Histogram, Meter
from opentelemetry.trace import Span, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.util.types import AttributeValue

from .._api.jsonbytes import escaped_text
from .._api.wire import Message
from .._errors import LimitExceeded, RunError
from .._loop.usage import RunUsage, TurnUsage
from .._run.observe import CallTool, RunInfo
from .._tools.context import RunContext
from .._tools.tool import Tool
from . import _content as content
from . import _semconv as sc
from ._semconv import SEMCONV

if TYPE_CHECKING:
    from .._api.client import AsyncClient
    from .._loop.engine import Engine
    from .._run.checkpoints import Journal

__all__ = ["SEMCONV", "RunSpan", "Telemetry"]

T = TypeVar("T")
Attributes = dict[str, AttributeValue]


class Telemetry:
    """Spans from `tracer`, metrics on `meter`; message content when `capture` or the
    environment (`OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`) asks for it."""

    def __init__(self, tracer: trace.Tracer, meter: Meter, *, capture: bool) -> None:
        self.tracer = tracer
        self.capture = capture or sc.capture_from_env()
        self.duration: Histogram = meter.create_histogram(
            sc.OPERATION_DURATION,
            unit="s",
            description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=sc.DURATION_BUCKETS,
        )
        self.tokens: Histogram = meter.create_histogram(
            sc.TOKEN_USAGE,
            unit="{token}",
            description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=sc.TOKEN_BUCKETS,
        )

    def run(self, info: RunInfo) -> RunSpan:
        return RunSpan(self, info)

    @asynccontextmanager
    async def workflow(self, name: str) -> AsyncGenerator[None]:
        attributes: Attributes = {sc.OPERATION: "invoke_workflow", sc.WORKFLOW_NAME: name}
        async with self._span(f"invoke_workflow {name}", attributes):
            yield

    @asynccontextmanager
    async def step(self, workflow: str, index: int, name: str) -> AsyncGenerator[None]:
        attributes: Attributes = {
            sc.WORKFLOW_NAME: workflow, sc.STEP_INDEX: index, sc.STEP_NAME: name
        }
        async with self._span(f"{workflow} step {index} {name}", attributes):
            yield

    @asynccontextmanager
    async def _span(self, name: str, attributes: Attributes) -> AsyncGenerator[None]:
        with self.tracer.start_as_current_span(
            name,
            kind=SpanKind.INTERNAL,
            attributes=attributes,
            record_exception=False,  # `fail` records it, with the type
            set_status_on_exception=False,
        ) as span:
            try:
                yield
            except BaseException as exc:
                fail(span, exc)
                raise


class RunSpan:
    """One run's span and the spans of its model and tool calls."""

    def __init__(self, telemetry: Telemetry, info: RunInfo) -> None:
        self.telemetry = telemetry
        self.info = info
        self.span: Span = trace.INVALID_SPAN
        self.traceparent: str | None = None
        self.engine: Engine | None = None
        self.server: Attributes | None = None
        """`server.*` of the API, read from the run's client at its first model call (a run
        that calls no model makes no client)."""
        self.client: Callable[[], AsyncClient] | None = None
        self.inputs: list[dict[str, Any]] | None = None
        self._chat: _Chat | None = None

    # -- the run ---------------------------------------------------------------------------

    async def __aenter__(self) -> RunSpan:
        info = self.info
        attributes = _operation("invoke_agent", info.model)
        if info.agent:
            attributes[sc.AGENT_NAME] = info.agent
        if info.description:
            attributes[sc.AGENT_DESCRIPTION] = info.description
        if info.run_id is not None:
            attributes[sc.CONVERSATION_ID] = info.run_id
        name = f"invoke_agent {info.agent}" if info.agent else "invoke_agent"
        self.span = self.telemetry.tracer.start_span(
            name, kind=SpanKind.INTERNAL, attributes=attributes
        )
        self.traceparent = _traceparent(self.span.get_span_context())
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        span = self.span
        if self._chat is not None:
            why = exc if exc is not None else self._state_error()
            self._end_chat(None, None, why if why is not None else "incomplete")
        if self.engine is not None:
            self._totals()
        if exc is not None:
            cause = exc.__cause__ if isinstance(exc, RunError) else None
            fail(span, exc if cause is None or _is_limit(exc) else cause, record=exc)
        span.end()

    async def drive(
        self,
        engine: Engine,
        client: Callable[[], AsyncClient],
        journal: Journal | None,
        loop: Awaitable[T],
    ) -> T:
        self.engine = engine
        self.client = client
        if self.telemetry.capture:
            self.inputs = content.input_messages(engine.state.messages)
        for earlier in journal.traces if journal is not None else ():
            linked = _span_context(earlier)
            if linked is not None:
                self.span.add_link(linked, {"agentkit.link": "continues"})
        token = otel_context.attach(trace.set_span_in_context(self.span))
        try:
            return await loop
        finally:
            otel_context.detach(token)

    def _totals(self) -> None:
        engine = self.engine
        if engine is None:
            return
        state, span = engine.state, self.span
        usage = state.usage
        attributes = _usage_attributes(usage)
        attributes[sc.RUN_TURNS] = state.turns
        attributes[sc.RUN_TOOL_CALLS] = usage.tool_calls
        if state.stop_reason is not None:
            attributes[sc.RUN_STOP_REASON] = state.stop_reason
            attributes[sc.FINISH_REASONS] = (sc.finish_reason(state.stop_reason),)
        if state.limit is not None:
            attributes[sc.RUN_LIMIT] = state.limit
        if usage.cost_usd is not None:
            attributes[sc.RUN_COST] = usage.cost_usd
        if self.telemetry.capture:
            system = engine.config.system
            if system:
                attributes[sc.SYSTEM_INSTRUCTIONS] = content.to_json(
                    content.system_instructions(system)
                )
            attributes[sc.INPUT_MESSAGES] = content.to_json(self.inputs or [])
            last = state.messages[-1] if state.messages else None
            if last is not None and last.get("role") == "assistant":
                blocks: object = last.get("content")
                answer: list[dict[str, Any]] = (
                    cast("list[dict[str, Any]]", blocks)
                    if isinstance(blocks, list)
                    else [{"type": "text", "text": blocks}]
                )
                attributes[sc.OUTPUT_MESSAGES] = content.to_json(
                    content.output_messages(answer, state.stop_reason)
                )
        span.set_attributes(attributes)

    def _api_server(self) -> Attributes:
        server = self.server
        if server is None:
            server = self.server = {} if self.client is None else _server(self.client().base_url)
        return server

    def _state_error(self) -> str | None:
        state = self.engine.state if self.engine is not None else None
        return None if state is None else state.limit or state.stop_reason

    # -- model calls -----------------------------------------------------------------------

    def model_request(self, params: dict[str, Any], stream: bool) -> None:
        if self._chat is not None:  # not expected: the driver ends each call first
            self._end_chat(None, None, "incomplete")
        model = str(params.get("model", self.info.model))
        attributes = {**_operation("chat", model), **self._api_server()}
        max_tokens = params.get("max_tokens")
        if isinstance(max_tokens, int):
            attributes[sc.REQUEST_MAX_TOKENS] = max_tokens
        for key, name in sc.REQUEST_SAMPLING.items():
            value = params.get(key)
            if isinstance(value, int | float):
                attributes[name] = float(value)
        stops = params.get("stop_sequences")
        if isinstance(stops, list):
            attributes[sc.REQUEST_STOP_SEQUENCES] = [str(s) for s in cast("list[object]", stops)]
        if stream:
            attributes[sc.REQUEST_STREAM] = True
        if self.info.run_id is not None:
            attributes[sc.CONVERSATION_ID] = self.info.run_id
        if self.telemetry.capture:
            attributes.update(_request_content(params))
        span = self.telemetry.tracer.start_span(
            f"chat {model}",
            context=trace.set_span_in_context(self.span),
            kind=SpanKind.CLIENT,
            attributes=attributes,
        )
        self._chat = _Chat(span, model, time.perf_counter())

    def model_sent(self, params: dict[str, Any], stream: bool) -> None:
        if self._chat is None:  # else a retry, inside the call its first live attempt began
            self.model_request(params, stream)

    def model_error(self, error: Exception) -> None:
        chat = self._chat
        if chat is None:
            return
        state = self.engine.state if self.engine is not None else None
        if state is not None and state.stop_reason == "failed":  # the engine gave up
            self._end_chat(None, None, error)  # which records it
        else:
            record_exception(chat.span, error)
            chat.retries += 1

    def model_reply(self, message: Message, usage: TurnUsage) -> None:
        self._end_chat(message, usage, None)

    def _end_chat(
        self, message: Message | None, usage: TurnUsage | None, error: BaseException | str | None
    ) -> None:
        chat, self._chat = self._chat, None
        if chat is None:
            return
        span = chat.span
        metric = {**_operation("chat", chat.model), **self._api_server()}
        if chat.retries:
            span.set_attribute(sc.RETRIES, chat.retries)
        if message is not None and usage is not None:
            metric[sc.RESPONSE_MODEL] = message.model
            span.set_attributes(_reply_attributes(message, usage))
            if self.telemetry.capture:
                span.set_attribute(sc.OUTPUT_MESSAGES, content.to_json(
                    content.output_messages(message.to_param()["content"], message.stop_reason)
                ))
            tokens = self.telemetry.tokens
            tokens.record(usage.total_input_tokens, {**metric, sc.TOKEN_TYPE: "input"})
            tokens.record(usage.output_tokens, {**metric, sc.TOKEN_TYPE: "output"})
        elif error is not None:
            metric[sc.ERROR_TYPE] = fail(span, error)
        self.telemetry.duration.record(time.perf_counter() - chat.started, metric)
        span.end()

    # -- tool calls ------------------------------------------------------------------------

    def tool(self, call_tool: CallTool) -> CallTool:
        async def observed(t: Tool, call: dict[str, Any], ctx: RunContext[Any]) -> dict[str, Any]:
            span = self._tool_span(call, t.description)
            token = otel_context.attach(trace.set_span_in_context(span))
            try:
                block = await call_tool(t, call, ctx)
            except BaseException as exc:
                fail(span, exc)
                raise
            else:
                self._tool_outcome(span, block)
                return block
            finally:
                otel_context.detach(token)
                span.end()

        return observed

    def resolved(self, answered: Sequence[tuple[dict[str, Any], dict[str, Any]]]) -> None:
        for call, block in answered:
            span = self._tool_span(call, None)
            span.set_attribute("agentkit.tool.executed", False)
            self._tool_outcome(span, block)
            span.end()

    def _tool_span(self, call: Mapping[str, Any], description: str | None) -> Span:
        name = str(call.get("name"))
        attributes: Attributes = {
            sc.OPERATION: "execute_tool",
            sc.TOOL_NAME: name,
            sc.TOOL_CALL_ID: str(call.get("id")),
            sc.TOOL_TYPE: "function",
        }
        if description:
            attributes[sc.TOOL_DESCRIPTION] = description
        if self.telemetry.capture:
            attributes[sc.TOOL_ARGUMENTS] = content.to_json(call.get("input"))
        return self.telemetry.tracer.start_span(
            f"execute_tool {name}",
            context=trace.set_span_in_context(self.span),
            kind=SpanKind.INTERNAL,
            attributes=attributes,
        )

    def _tool_outcome(self, span: Span, block: Mapping[str, Any]) -> None:
        response = content.tool_response(block.get("content", ""))
        if block.get("is_error"):
            text = response if isinstance(response, str) else ""
            # The result's text is content (what the tool wrote): only captured on request.
            span.set_status(Status(StatusCode.ERROR, text if self.telemetry.capture else None))
            span.set_attribute(sc.ERROR_TYPE, tool_error_type(text))
        elif self.telemetry.capture:
            span.set_attribute(sc.TOOL_RESULT, content.to_json(response))


class _Chat:
    """A model call in progress."""

    __slots__ = ("model", "retries", "span", "started")

    def __init__(self, span: Span, model: str, started: float) -> None:
        self.span, self.model, self.started = span, model, started
        self.retries = 0
        """Failed attempts the engine chose to retry."""


def tool_error_type(text: str) -> str:
    """`error.type` of a call that ended in an `is_error` result, from agentkit's own wording:
    `denied` (a hook or an approval said no), `not_run` (the run ended before it), `unknown_tool`
    (the model named none of the tools), `interrupted` (a durable run's process stopped during
    it, and it is not run again), else `tool_error` (the tool reported a failure)."""
    if text.startswith("Interrupted: the process running this tool call stopped"):
        return "interrupted"  # `_run.replay.INTERRUPTED`, not imported: a plain run loads none
    if text.startswith("Unknown tool "):
        return "unknown_tool"
    if text.startswith("Not run: "):
        ended = ("Not run: the run ", "Not run: the model refused", "Not run: its input was cut")
        return "not_run" if text.startswith(ended) else "denied"
    return "tool_error"


def fail(span: Span, error: BaseException | str, *, record: BaseException | None = None) -> str:
    """Mark `span` failed: status ERROR, `error.type`, the exception recorded; the type."""
    kind = error if isinstance(error, str) else sc.error_type(error)
    recorded = record if record is not None else error
    if isinstance(recorded, BaseException):
        record_exception(span, recorded)
    description = escaped_text(str(recorded)) if isinstance(recorded, BaseException) else None
    span.set_status(Status(StatusCode.ERROR, description or kind))
    span.set_attribute(sc.ERROR_TYPE, kind)
    return kind


def record_exception(span: Span, exc: BaseException) -> None:
    """`span.record_exception(exc)`, its message and stack trace valid UTF-8: a lone surrogate
    (an error body's escaped "\\ud800") as its escape. An OTLP exporter (protobuf strings are
    UTF-8) refuses the character, and with it the whole batch of spans."""
    stack = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    span.record_exception(exc, attributes={"exception.message": escaped_text(str(exc)),
                                           "exception.stacktrace": escaped_text(stack)})


def _is_limit(exc: BaseException) -> bool:
    return isinstance(exc, LimitExceeded)


def _operation(name: str, model: str) -> Attributes:
    """What every span and metric point of an operation on a model carries."""
    return {sc.OPERATION: name, sc.PROVIDER_NAME: sc.PROVIDER, sc.REQUEST_MODEL: model}


def _usage_attributes(usage: TurnUsage | RunUsage) -> Attributes:
    """Token counts as the conventions count them: input includes cache reads and writes."""
    return {
        sc.INPUT_TOKENS: usage.total_input_tokens,
        sc.OUTPUT_TOKENS: usage.output_tokens,
        sc.CACHE_READ_TOKENS: usage.cache_read_input_tokens,
        sc.CACHE_WRITE_TOKENS: usage.cache_creation_input_tokens,
    }


def _reply_attributes(message: Message, usage: TurnUsage) -> Attributes:
    attributes = _usage_attributes(usage)
    attributes[sc.RESPONSE_ID] = message.id
    attributes[sc.RESPONSE_MODEL] = message.model
    attributes[sc.FINISH_REASONS] = (sc.finish_reason(message.stop_reason),)
    if message.stop_reason is not None:
        attributes[sc.STOP_REASON] = message.stop_reason
    return attributes


def _request_content(params: Mapping[str, Any]) -> Attributes:
    attributes: Attributes = {
        sc.INPUT_MESSAGES: content.to_json(content.input_messages(params.get("messages") or ()))
    }
    system = params.get("system")
    if system:
        attributes[sc.SYSTEM_INSTRUCTIONS] = content.to_json(content.system_instructions(system))
    tools = params.get("tools")
    if tools:
        attributes[sc.TOOL_DEFINITIONS] = content.to_json(content.tool_definitions(tools))
    return attributes


def _server(base_url: str) -> Attributes:
    """`server.address` and `server.port` of the API the client calls."""
    url = urlsplit(base_url)
    if not url.hostname:
        return {}
    port = url.port or (443 if url.scheme == "https" else 80)
    return {sc.SERVER_ADDRESS: url.hostname, sc.SERVER_PORT: port}


def _traceparent(ctx: SpanContext) -> str | None:
    """A span's context as a W3C `traceparent` (None for a span that records nothing)."""
    if not ctx.is_valid:
        return None
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"


def _span_context(traceparent: str) -> SpanContext | None:
    """The span a stored `traceparent` names (None if it is not one)."""
    fields = traceparent.split("-")
    if len(fields) != 4 or fields[0] != "00":
        return None
    try:
        trace_id, span_id, flags = int(fields[1], 16), int(fields[2], 16), int(fields[3], 16)
    except ValueError:
        return None
    linked = SpanContext(trace_id, span_id, is_remote=True, trace_flags=TraceFlags(flags))
    return linked if linked.is_valid else None

