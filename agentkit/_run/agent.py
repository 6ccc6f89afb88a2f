"""`Agent`: the public face of a run, and the one async driver of the engine.

The driver only does I/O: it sends the requests the engine builds, runs the tool calls it
asks for (concurrently, in an anyio task group), and reports back. `run_sync` is the same
driver under `anyio.run`, so the loop exists once. Rules it keeps:
- a tool result is recorded the moment it exists, so a cancelled or failed run keeps it;
- on cancellation every open `tool_use` is answered ("cancelled") and the cancellation
  re-raised, never swallowed; on any other failure the raised `RunError` carries the
  conversation and usage so far, and the `RunState` can be resumed;
- a mid-stream error or a cut stream is retried by re-issuing the whole request (bounded):
  a partial reply is never appended to the conversation.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any, Generic

import anyio
from anyio.abc import ObjectSendStream

from .._api.client import AsyncClient
from .._api.message_stream import AsyncMessageStream
from .._api.sansio import retry_delay
from .._api.wire import Message
from .._errors import (
    APIError,
    APIStreamError,
    APITimeoutError,
    ConversationError,
    IncompleteStreamError,
    LimitExceeded,
    MalformedStreamError,
    RunError,
    UsageError,
)
from .._loop.conversation import append_user_content
from .._loop.engine import (
    CallModel,
    Engine,
    EngineConfig,
    Finished,
    NeedApproval,
    RunState,
    RunTools,
)
from .._loop.limits import Limits
from .._loop.thinking import ThinkingPlan, plan_thinking
from .._loop.usage import RunUsage
from .._tools.context import RunContext
from .._tools.output import OutputSpec
from .._tools.tool import Tool
from .._tools.toolset import Toolset
from .events import (
    AgentEvent,
    ModelRequest,
    ModelRetry,
    RunFinished,
    TextChunk,
    ThinkingChunk,
    ToolCallFinished,
    ToolCallStarted,
    ToolInputChunk,
    TurnFinished,
)
from .handle import AgentRun
from .hooks import Deny, Hooks, MaybeAwaitable, maybe_await
from .result import OutputT, RunResult

__all__ = ["Agent"]

@dataclass(slots=True)
class _Turn:
    """Per-run wiring the driver needs (not state: nothing here is saved)."""

    client: AsyncClient
    deps: Any
    emit: Callable[[AgentEvent], Any] | None


class Agent(Generic[OutputT]):
    """A model, tools and instructions; `run` drives them until a stop condition holds."""

    def __init__(
        self,
        model: str,
        *,
        tools: Iterable[Tool | Toolset | Callable[..., Any]] = (),
        system: str | list[dict[str, Any]] | None = None,
        max_tokens: int = 1024,
        thinking: Any = None,
        stream: bool = False,
        client: AsyncClient | None = None,
        output_type: type[OutputT] | None = None,
        limits: Limits | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        top_k: int | None = None,
        stop_sequences: Sequence[str] | None = None,
        tool_choice: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        extra_params: Mapping[str, Any] | None = None,
        betas: Sequence[str] = (),
        cache: bool = False,
        hooks: Hooks | None = None,
        approve: Callable[[RunContext[Any], dict[str, Any]], MaybeAwaitable] | None = None,
        stop_after_tools: Iterable[str] = (),
        stop_when: Callable[[RunState], bool] | None = None,
        max_concurrency: int = 16,
        max_continuations: int = 0,
        output_retries: int = 2,
        model_retries: int = 2,
        raise_tool_errors: bool = False,
        max_result_chars: int | None = None,
        interleaved_thinking: bool = False,
        name: str | None = None,
        description: str | None = None,
    ) -> None:
        if max_tokens < 1:
            raise UsageError(f"max_tokens must be at least 1, got {max_tokens}")
        if max_concurrency < 1:
            raise UsageError(f"max_concurrency must be at least 1, got {max_concurrency}")
        self.model = model
        self.name = name
        self.description = description
        self.stream = stream
        self.hooks = hooks or Hooks()
        self.approve = approve
        self.max_concurrency = max_concurrency
        self.model_retries = model_retries
        self.raise_tool_errors = raise_tool_errors
        self.max_result_chars = max_result_chars
        self.toolset = Toolset(tools)
        self._client = client
        self._output = OutputSpec.build(output_type) if output_type is not None else None
        params: dict[str, Any] = dict(extra_params or {})
        for key, value in (
            ("temperature", temperature),
            ("top_p", top_p),
            ("top_k", top_k),
            ("stop_sequences", list(stop_sequences) if stop_sequences else None),
            ("tool_choice", tool_choice),
            ("metadata", metadata),
        ):
            if value is not None:
                params[key] = value
        plan: ThinkingPlan | None = plan_thinking(
            thinking, max_tokens=max_tokens, interleaved=interleaved_thinking
        )
        self.config = EngineConfig(
            model=model,
            max_tokens=max_tokens,
            system=system,
            thinking=plan,
            params=params,
            betas=tuple(betas),
            limits=limits or Limits(),
            max_continuations=max_continuations,
            stop_after_tools=frozenset(stop_after_tools),
            output_tool=self._output.tool_param if self._output else None,
            parse_output=self._output.parse if self._output else None,
            output_retries=output_retries,
            cache=cache,
            stop_when=stop_when,
        )

    def __repr__(self) -> str:
        return f"Agent(model={self.model!r}, tools={self.toolset.names})"

    # -- public entry points -------------------------------------------------------------

    async def run(
        self,
        prompt: str | list[dict[str, Any]] | None = None,
        *,
        history: Sequence[dict[str, Any]] | None = None,
        state: RunState | None = None,
        deps: Any = None,
        decisions: Mapping[str, bool | str] | None = None,
        on_event: Callable[[AgentEvent], Any] | None = None,
    ) -> RunResult[OutputT]:
        """Run until a stop condition holds and return the result.

        `prompt` is appended as a user turn (merged after tool results if the conversation
        ends with them). `history` continues a finished conversation (`result.messages`);
        `state` resumes an unfinished run (paused for approval, saved mid-run) or, when
        finished, continues its conversation. A `RunState` passed in is updated in place at
        every step, so it stays valid even if the run is cancelled. `decisions` answers
        pending approvals by `tool_use` id: True, or False / a reason to deny.

        Raises:
            LimitExceeded: a limit was hit; `.result` holds the conversation and usage.
            RunError: the model call failed for good; the cause is chained, nothing is lost.
            UsageError: invalid arguments (e.g. both `history` and `state`).
        """
        run_state = self._start(prompt, history, state)
        return await self._drive(run_state, deps, decisions or {}, on_event)

    def run_sync(self, prompt: str | list[dict[str, Any]] | None = None, **kwargs: Any) -> Any:
        """`run` for synchronous code (starts an event loop; not for use inside one)."""
        try:
            anyio.get_current_task()
        except RuntimeError:
            pass
        else:
            raise UsageError("run_sync() was called inside an event loop; use `await agent.run()`")

        async def main() -> RunResult[OutputT]:
            if self._client is not None:
                return await self.run(prompt, **kwargs)
            # A client is bound to the event loop it was made in: make one for this loop.
            async with AsyncClient() as client:
                saved, self._client = self._client, client
                try:
                    return await self.run(prompt, **kwargs)
                finally:
                    self._client = saved

        return anyio.run(main)

    @asynccontextmanager
    async def iter(
        self,
        prompt: str | list[dict[str, Any]] | None = None,
        *,
        history: Sequence[dict[str, Any]] | None = None,
        state: RunState | None = None,
        deps: Any = None,
        decisions: Mapping[str, bool | str] | None = None,
    ) -> AsyncIterator[AgentRun]:
        """Run in the background and iterate its events: `async with agent.iter(p) as run:`."""
        run_state = self._start(prompt, history, state)
        send, receive = anyio.create_memory_object_stream[AgentEvent](math.inf)
        handle = AgentRun(run_state, receive)

        async def drive(send: ObjectSendStream[AgentEvent]) -> None:
            async with send:
                handle.result = await self._drive(
                    run_state, deps, decisions or {}, send.send_nowait
                )

        error: BaseException | None = None
        try:
            async with anyio.create_task_group() as tg, receive:
                tg.start_soon(drive, send)
                yield handle
                # Leaving the block before the run finished (a break, an exception) ends it;
                # the driver then closes the conversation as for any cancellation.
                tg.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            # The task group wraps what the run (or the block) raised: give callers the
            # RunError itself, as `run()` does.
            error = _sole(group)
            if error is group:
                raise
        if error is not None:
            raise error

    def as_tool(self, name: str | None = None, description: str | None = None) -> Tool:
        """This agent as a tool another agent can call; its usage counts in the caller's."""
        tool_name = name or self.name
        text = description or self.description
        if not tool_name or not text:
            raise UsageError(
                "as_tool() needs a name and a description (pass them or set them on the Agent)"
            )

        async def handler(input: dict[str, Any], ctx: RunContext[Any]) -> str:
            try:
                result = await self.run(input["task"], deps=ctx.deps)
            except RunError as exc:
                # A sub-run that failed still spent tokens: count them, then report it.
                if isinstance(ctx.usage, RunUsage) and isinstance(exc.usage, RunUsage):
                    ctx.usage.merge(exc.usage)
                raise
            if isinstance(ctx.usage, RunUsage):
                ctx.usage.merge(result.usage)
            return result.text

        return Tool.from_schema(
            name=tool_name,
            description=text,
            input_schema={
                "type": "object",
                "properties": {"task": {"type": "string", "description": "What to do, in full."}},
                "required": ["task"],
            },
            handler=handler,
        )

    # -- the driver ----------------------------------------------------------------------

    def _start(
        self,
        prompt: str | list[dict[str, Any]] | None,
        history: Sequence[dict[str, Any]] | None,
        state: RunState | None,
    ) -> RunState:
        if history is not None and state is not None:
            raise UsageError("pass history= (a conversation) or state= (a run), not both")
        if state is None:
            state = RunState(messages=list(history or ()))
        elif state.done and prompt is not None:
            state = RunState(messages=list(state.messages))
        elif state.done:
            raise UsageError("this run has finished; pass a prompt to continue its conversation")
        if prompt is not None:
            if state.pending:
                raise UsageError(
                    "the run is waiting for tool results or approvals; resume it "
                    "with decisions= before adding a prompt"
                )
            content = [{"type": "text", "text": prompt}] if isinstance(prompt, str) else prompt
            append_user_content(state.messages, content)
            state.stop_reason = None
        if not state.messages:
            raise UsageError("nothing to send: pass a prompt")
        return state

    async def _drive(
        self,
        state: RunState,
        deps: Any,
        decisions: Mapping[str, bool | str],
        emit: Callable[[AgentEvent], Any] | None,
    ) -> RunResult[OutputT]:
        engine = Engine(self.config, state)
        if decisions:
            engine.on_decisions(decisions)
        client = self._client or self._default_client()
        turn = _Turn(client, deps, emit)
        timeout = self.config.limits.timeout
        try:
            with anyio.move_on_after(timeout if timeout is not None else math.inf) as scope:
                result = await self._loop(engine, turn)
            if scope.cancelled_caught:
                engine.abort("timeout", "Not run: the run hit its timeout limit.", limit="timeout")
                result = self._result(state)
        except anyio.get_cancelled_exc_class():
            engine.abort("cancelled", "Not run: the run was cancelled before this call finished.")
            raise
        except APIError as exc:
            raise RunError(
                f"the model request failed: {exc}. The conversation so far is kept "
                "(.messages, .result.state); resume with agent.run(state=...).",
                messages=state.messages,
                usage=state.usage,
                result=self._result(state),
            ) from exc
        except BaseException as exc:
            # A tool that re-raises (raise_errors), a hook, a KeyboardInterrupt: the history
            # must still be valid to continue from.
            cause = _sole(exc)
            engine.abort("failed", f"Not run: the run failed ({type(cause).__name__}).")
            local = isinstance(cause, UsageError | ConversationError)
            if isinstance(cause, Exception) and not local:
                # Raised by user code in the run; a task group may have wrapped it.
                raise RunError(
                    f"the run failed: {type(cause).__name__}: {cause}. The conversation so far "
                    "is kept (.messages, .result); continue it with agent.run(prompt, "
                    "history=...).",
                    messages=state.messages,
                    usage=state.usage,
                    result=self._result(state),
                ) from cause
            raise
        if emit is not None:
            emit(RunFinished(result))
        if state.limit is not None and state.stop_reason not in ("approval_required",):
            raise LimitExceeded(
                f"the run stopped at its {state.limit} limit; the conversation and usage so far "
                "are in .result",
                limit=state.limit,
                messages=state.messages,
                usage=state.usage,
                result=result,
            )
        return result

    async def _loop(self, engine: Engine, turn: _Turn) -> RunResult[OutputT]:
        state = engine.state
        while True:
            ctx = self._context(turn, state)
            tools = await self.toolset.tools_for(ctx)
            step = engine.next_step(tools)
            if engine.resolved:
                self._report_resolved(engine, turn)
            if isinstance(step, CallModel):
                message = await self._call_model(step, ctx, turn)
                usage = engine.on_reply(message)
                if turn.emit is not None:
                    turn.emit(TurnFinished(state.turns, message, usage))
                if engine.resolved:
                    self._report_resolved(engine, turn)
            elif isinstance(step, RunTools):
                await self._run_tools(step.calls, {t.name: t for t in tools}, engine, turn)
            elif isinstance(step, NeedApproval):
                decided = await self._approve(step.calls, ctx)
                if decided is None:
                    state.stop_reason = "approval_required"
                    return self._result(state)
                engine.on_decisions(decided)
            elif isinstance(step, Finished):
                return self._result(state)

    async def _call_model(self, step: CallModel, ctx: RunContext[Any], turn: _Turn) -> Message:
        params = step.params
        if self.hooks.before_model is not None:
            params = await maybe_await(self.hooks.before_model(ctx, params)) or params
        if turn.emit is not None:
            turn.emit(ModelRequest(ctx.turn + 1, params))
        attempt = 0
        while True:
            try:
                if self.stream:
                    message = await self._stream_once(params, step.betas, ctx.turn + 1, turn)
                else:
                    message = await turn.client.create(params, betas=step.betas)
                    if turn.emit is not None:
                        _emit_blocks(message, ctx.turn + 1, turn.emit)
                break
            except (APIStreamError, IncompleteStreamError, MalformedStreamError) as exc:
                # The partial reply is dropped: the whole request is re-issued.
                retryable = not isinstance(exc, APIStreamError) or exc.retryable
                if not retryable or attempt >= self.model_retries:
                    if isinstance(exc, MalformedStreamError):
                        raise APIStreamError(str(exc), error_type="malformed_stream") from exc
                    raise
                # Back off as the client does between its own retries: an API that just
                # sent `overloaded_error` must not be asked again at once.
                await turn.client._sleep(retry_delay(attempt, self.model_retries) or 0.0)
                attempt += 1
                if turn.emit is not None:
                    turn.emit(ModelRetry(ctx.turn + 1, attempt, exc))
        if self.hooks.after_model is not None:
            await maybe_await(self.hooks.after_model(ctx, message))
        return message

    async def _stream_once(
        self, params: dict[str, Any], betas: tuple[str, ...], n: int, turn: _Turn
    ) -> Message:
        async with turn.client.stream(params, betas=betas) as stream:
            try:
                return await self._read_stream(stream, n, turn.emit)
            except APITimeoutError as exc:
                # The reply began, then stalled: as incomplete as a cut stream, so re-issued.
                raise IncompleteStreamError(
                    f"{exc.message}; the reply stalled after it began",
                    partial=stream.current_message(),
                    request_id=exc.request_id,
                ) from exc

    async def _read_stream(
        self, stream: AsyncMessageStream, n: int, emit: Callable[[AgentEvent], Any] | None
    ) -> Message:
        if emit is None:
            return await stream.get_final_message()
        names: dict[int, tuple[str, str]] = {}
        async for event in stream:
            kind = event.type
            if kind == "content_block_delta":
                delta = event.delta
                if delta.type == "text_delta":
                    emit(TextChunk(n, delta.text))
                elif delta.type == "thinking_delta":
                    emit(ThinkingChunk(n, delta.thinking))
                elif delta.type == "input_json_delta" and event.index in names:
                    emit(ToolInputChunk(n, names[event.index][0], delta.partial_json))
            elif kind == "content_block_start" and event.content_block.type == "tool_use":
                block = event.content_block
                names[event.index] = (block.id, block.name)
                emit(ToolCallStarted(n, block.id, block.name, None))
        return await stream.get_final_message()

    async def _run_tools(
        self,
        calls: Sequence[dict[str, Any]],
        by_name: Mapping[str, Tool],
        engine: Engine,
        turn: _Turn,
    ) -> None:
        # A limiter costs a checkpoint per call: make one only when it can limit anything.
        limiter = (
            anyio.CapacityLimiter(self.max_concurrency)
            if len(calls) > self.max_concurrency
            else None
        )

        async def one(call: dict[str, Any]) -> None:
            ctx = self._context(turn, engine.state, call)
            if limiter is None:
                block = await self._call_tool(by_name[call["name"]], call, ctx)
            else:
                async with limiter:
                    block = await self._call_tool(by_name[call["name"]], call, ctx)
            engine.on_result(block)
            if turn.emit is not None:
                turn.emit(
                    ToolCallFinished(ctx.turn, call["id"], call["name"], call["input"], block)
                )

        # Calls flagged sequential run alone, in order; the others run concurrently.
        batch: list[dict[str, Any]] = []
        for call in [*calls, None]:
            if call is not None and not by_name[call["name"]].sequential:
                batch.append(call)
                continue
            if len(batch) == 1:
                await one(batch[0])
            elif batch:
                async with anyio.create_task_group() as tg:
                    for queued in batch[1:]:
                        tg.start_soon(one, queued)
                    await one(batch[0])  # in this task: one spawn fewer (~20 us a batch)
            batch = []
            if call is not None:
                await one(call)

    async def _call_tool(
        self, t: Tool, call: dict[str, Any], ctx: RunContext[Any]
    ) -> dict[str, Any]:
        args = call["input"]
        if self.hooks.before_tool is not None:
            verdict = await maybe_await(self.hooks.before_tool(ctx, call))
            if isinstance(verdict, Deny):
                return _denied(call, verdict.reason)
            if isinstance(verdict, dict):
                args = verdict
        block = await t.run(
            args, ctx, raise_errors=self.raise_tool_errors, max_result_chars=self.max_result_chars
        )
        if self.hooks.after_tool is not None:
            block = await maybe_await(self.hooks.after_tool(ctx, call, block)) or block
        return block

    async def _approve(
        self, calls: Sequence[dict[str, Any]], ctx: RunContext[Any]
    ) -> dict[str, bool | str] | None:
        if self.approve is None:
            return None
        decided: dict[str, bool | str] = {}
        for call in calls:
            verdict = await maybe_await(
                self.approve(replace(ctx, tool_use_id=call["id"], tool_name=call["name"]), call)
            )
            decided[call["id"]] = verdict.reason if isinstance(verdict, Deny) else verdict
        return decided

    def _report_resolved(self, engine: Engine, turn: _Turn) -> None:
        """Calls the engine answered itself get the same `ToolCallFinished` as run ones."""
        if turn.emit is not None:
            for call, block in engine.resolved:
                turn.emit(
                    ToolCallFinished(
                        engine.state.turns, call["id"], call["name"], call["input"], block
                    )
                )
        engine.resolved.clear()

    def _context(
        self, turn: _Turn, state: RunState, call: dict[str, Any] | None = None
    ) -> RunContext[Any]:
        return RunContext(
            deps=turn.deps,
            messages=state.messages,
            usage=state.usage,
            model=self.model,
            turn=state.turns,
            tool_use_id=call["id"] if call else None,
            tool_name=call["name"] if call else None,
        )

    def _result(self, state: RunState) -> RunResult[OutputT]:
        output = state.output if state.output is not None else state.answer
        return RunResult(state, output)

    def _default_client(self) -> AsyncClient:
        self._client = AsyncClient()
        return self._client


def _sole(exc: BaseException) -> BaseException:
    """The exception inside (nested) one-member groups: what a task group wrapped."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def _denied(call: Mapping[str, Any], reason: str) -> dict[str, Any]:
    return {
        "type": "tool_result",
        "tool_use_id": call["id"],
        "content": f"Not run: {reason}.",
        "is_error": True,
    }


def _emit_blocks(message: Message, n: int, emit: Callable[[AgentEvent], Any]) -> None:
    for block in message.content:
        kind = block.type
        if kind == "text":
            emit(TextChunk(n, block.text))  # type: ignore[union-attr]
        elif kind == "thinking":
            emit(ThinkingChunk(n, block.thinking))  # type: ignore[union-attr]
        elif kind == "tool_use":
            emit(ToolCallStarted(n, block.id, block.name, block.input))  # type: ignore[union-attr]
