"""The async driver: it carries out the engine's steps and does the run's I/O.

It sends the requests the engine builds, runs the tool calls it asks for (concurrently, in an
anyio task group), asks for approvals, and reports back. Rules it keeps:
- a tool result is recorded the moment it exists, so a cancelled or failed run keeps it;
- on cancellation every open `tool_use` is answered ("cancelled") and the cancellation
  re-raised, never swallowed; on any other failure the raised `RunError` carries the
  conversation and usage so far, and the `RunState` can be resumed;
- a mid-stream error or a cut stream is retried by re-issuing the whole request (bounded):
  a partial reply is never appended to the conversation.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Generic, assert_never, cast

import anyio

from .._api.client import AsyncClient
from .._api.message_stream import AsyncMessageStream
from .._api.sansio import retry_delay
from .._api.wire import Message, TextBlock, ThinkingBlock, ToolUseBlock
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
from .._loop.engine import (
    CallModel,
    Engine,
    EngineConfig,
    Finished,
    NeedApproval,
    RunState,
    RunTools,
)
from .._tools.context import RunContext
from .._tools.tool import Tool
from .._tools.toolset import Toolset
from . import events as ev
from .durable import Journal
from .hooks import Approve, Deny, Hooks, maybe_await
from .options import ToolExecution
from .result import OutputT, RunResult

__all__ = ["Driver", "Emit", "sole_exception"]

Emit = Callable[[ev.AgentEvent], object]
"""Where a run's events go (`run(on_event=...)`, or the stream `Agent.iter` reads)."""


@dataclass(slots=True)
class _Turn:
    """Per-run wiring the driver needs (not state: nothing here is saved)."""

    client: AsyncClient
    deps: object
    emit: Emit | None
    journal: Journal | None = None
    """Where a durable run commits its checkpoints (None: the run is not stored)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Driver(Generic[OutputT]):
    """Carries out an agent's runs: everything an `Agent` fixed at construction but the
    engine's own settings (`config`)."""

    model: str
    toolset: Toolset
    config: EngineConfig
    hooks: Hooks
    approve: Approve | None
    stream: bool
    model_retries: int
    tool_execution: ToolExecution

    async def drive(
        self,
        engine: Engine,
        client: AsyncClient,
        deps: object,
        decisions: Mapping[str, bool | str],
        emit: Emit | None,
        journal: Journal | None = None,
    ) -> RunResult[OutputT]:
        """Run `engine` until it finishes or pauses, and return the result.

        Raises:
            LimitExceeded: a limit was hit; `.result` holds the conversation and usage.
            RunError: the model call or user code failed; the cause is chained.
        """
        state = engine.state
        if decisions:
            engine.on_decisions(decisions)
            if journal is not None:  # durable: on decisions
                journal.decisions(decisions)
        turn = _Turn(client, deps, emit, journal)
        timeout = self.config.limits.timeout
        try:
            with anyio.move_on_after(timeout if timeout is not None else math.inf) as scope:
                await self._loop(engine, turn)
            if scope.cancelled_caught:
                engine.abort("timeout", "Not run: the run hit its timeout limit.", limit="timeout")
        except anyio.get_cancelled_exc_class():
            engine.abort("cancelled", "Not run: the run was cancelled before this call finished.")
            raise
        except APIError as exc:
            raise RunError(
                f"the model request failed: {exc}. The conversation so far is kept "
                "(.messages, .result.state); resume with agent.run(state=...).",
                messages=state.messages,
                usage=state.usage,
                result=self._result(engine),
            ) from exc
        except BaseException as exc:
            # A tool that re-raises (raise_errors), a hook, a KeyboardInterrupt: the history
            # must still be valid to continue from.
            cause = sole_exception(exc)
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
                    result=self._result(engine),
                ) from cause
            raise
        result = self._result(engine)
        if emit is not None:
            emit(ev.RunFinished(result))
        if state.limit is not None:
            raise LimitExceeded(
                f"the run stopped at its {state.limit} limit; the conversation and usage so far "
                "are in .result",
                limit=state.limit,
                messages=state.messages,
                usage=state.usage,
                result=result,
            )
        return result

    async def _loop(self, engine: Engine, turn: _Turn) -> None:
        state = engine.state
        while True:
            ctx = self._context(turn, state)
            tools = await self.toolset.tools_for(ctx)
            step = engine.next_step(tools)
            if engine.resolved:
                self._report_resolved(engine, turn)
            match step:
                case CallModel():
                    message = await self._call_model(step, ctx, turn)
                    usage = engine.on_reply(message)
                    if turn.journal is not None:  # durable: after the engine recorded a reply
                        turn.journal.reply(message)
                    if turn.emit is not None:
                        turn.emit(ev.TurnFinished(state.turns, message, usage))
                    if engine.resolved:
                        self._report_resolved(engine, turn)
                case RunTools():
                    await self._run_tools(step.calls, {t.name: t for t in tools}, engine, turn)
                case NeedApproval():
                    decided = await self._approve(step.calls, ctx)
                    if decided is None:
                        engine.pause()
                        return
                    engine.on_decisions(decided)
                    if turn.journal is not None:  # durable: on decisions
                        turn.journal.decisions(decided)
                case Finished():
                    return
                case _:
                    assert_never(step)

    async def _call_model(self, step: CallModel, ctx: RunContext[Any], turn: _Turn) -> Message:
        params = step.params
        if self.hooks.before_model is not None:
            params = await maybe_await(self.hooks.before_model(ctx, params)) or params
        if turn.emit is not None:
            turn.emit(ev.ModelRequest(ctx.turn + 1, params))
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
                # sent `overloaded_error` must not be asked again at once. `_sleep` is the
                # client's seam for that sleep (tests record it); it has no public name yet.
                delay = retry_delay(attempt, self.model_retries) or 0.0
                await turn.client._sleep(delay)  # pyright: ignore[reportPrivateUsage]
                attempt += 1
                if turn.emit is not None:
                    turn.emit(ev.ModelRetry(ctx.turn + 1, attempt, exc))
        if self.hooks.after_model is not None:
            await maybe_await(self.hooks.after_model(ctx, message))
        return message

    async def _stream_once(
        self, params: dict[str, Any], betas: tuple[str, ...], n: int, turn: _Turn
    ) -> Message:
        async with turn.client.stream(params, betas=betas) as stream:
            try:
                return await _read_stream(stream, n, turn.emit)
            except APITimeoutError as exc:
                # The reply began, then stalled: as incomplete as a cut stream, so re-issued.
                raise IncompleteStreamError(
                    f"{exc.message}; the reply stalled after it began",
                    partial=stream.current_message(),
                    request_id=exc.request_id,
                ) from exc

    async def _run_tools(
        self,
        calls: Sequence[dict[str, Any]],
        by_name: Mapping[str, Tool],
        engine: Engine,
        turn: _Turn,
    ) -> None:
        # A limiter costs a checkpoint per call: make one only when it can limit anything.
        most = self.tool_execution.max_concurrency
        limiter = anyio.CapacityLimiter(most) if len(calls) > most else None

        async def one(call: dict[str, Any]) -> None:
            ctx = self._context(turn, engine.state, call)
            if limiter is None:
                block = await self._call_tool(by_name[call["name"]], call, ctx)
            else:
                async with limiter:
                    block = await self._call_tool(by_name[call["name"]], call, ctx)
            engine.on_result(block)
            if turn.journal is not None:  # durable: when a tool result exists
                turn.journal.result(block)
            if turn.emit is not None:
                turn.emit(
                    ev.ToolCallFinished(ctx.turn, call["id"], call["name"], call["input"], block)
                )

        # Calls flagged sequential run alone, in order; the others run concurrently.
        batch: list[dict[str, Any]] = []
        for call in [*calls, None]:
            if call is not None and not by_name[call["name"]].sequential:
                batch.append(call)
                continue
            if turn.journal is not None and batch:  # durable: before non-idempotent tools
                await turn.journal.starting(batch, by_name)
            if len(batch) == 1:
                await one(batch[0])
            elif batch:
                async with anyio.create_task_group() as tg:
                    for queued in batch[1:]:
                        tg.start_soon(one, queued)
                    await one(batch[0])  # in this task: one spawn fewer (~20 us a batch)
            batch = []
            if call is not None:
                if turn.journal is not None:  # durable: before a non-idempotent tool starts
                    await turn.journal.starting([call], by_name)
                await one(call)

    async def _call_tool(
        self, t: Tool, call: dict[str, Any], ctx: RunContext[Any]
    ) -> dict[str, Any]:
        args: dict[str, Any] = call["input"]
        if self.hooks.before_tool is not None:
            verdict = await maybe_await(self.hooks.before_tool(ctx, call))
            if isinstance(verdict, Deny):
                return _denied(call, verdict.reason)
            if isinstance(verdict, dict):
                args = verdict
        execution = self.tool_execution
        block = await t.run(
            args,
            ctx,
            raise_errors=execution.raise_errors,
            max_result_chars=execution.max_result_chars,
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
            n = engine.state.turns
            for call, block in engine.resolved:
                turn.emit(ev.ToolCallFinished(n, call["id"], call["name"], call["input"], block))
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
            run_id=turn.journal.run_id if turn.journal is not None else None,
        )

    def _result(self, engine: Engine) -> RunResult[OutputT]:
        state = engine.state
        output = state.output if state.output is not None else state.answer
        # `RunState` is plain, JSON-ready data, so its output is untyped: this is where the
        # agent's output type is restored (see `RunResult.output` for when it holds).
        return RunResult(state, cast(OutputT, output))


def sole_exception(exc: BaseException) -> BaseException:
    """The exception inside (nested) one-member groups: what a task group wrapped."""
    members = _members(exc)
    while len(members) == 1:
        exc = members[0]
        members = _members(exc)
    return exc


def _members(exc: BaseException) -> tuple[BaseException, ...]:
    if not isinstance(exc, BaseExceptionGroup):
        return ()
    return cast("BaseExceptionGroup[BaseException]", exc).exceptions


async def _read_stream(stream: AsyncMessageStream, n: int, emit: Emit | None) -> Message:
    if emit is None:
        return await stream.get_final_message()
    names: dict[int, tuple[str, str]] = {}
    async for event in stream:
        kind = event.type
        if kind == "content_block_delta":
            delta = event.delta
            if delta.type == "text_delta":
                emit(ev.TextChunk(n, delta.text))
            elif delta.type == "thinking_delta":
                emit(ev.ThinkingChunk(n, delta.thinking))
            elif delta.type == "input_json_delta" and event.index in names:
                emit(ev.ToolInputChunk(n, names[event.index][0], delta.partial_json))
        elif kind == "content_block_start" and event.content_block.type == "tool_use":
            block = event.content_block
            names[event.index] = (block.id, block.name)
            emit(ev.ToolCallStarted(n, block.id, block.name, None))
    return await stream.get_final_message()


def _denied(call: Mapping[str, Any], reason: str) -> dict[str, Any]:
    return {
        "type": "tool_result",
        "tool_use_id": call["id"],
        "content": f"Not run: {reason}.",
        "is_error": True,
    }


def _emit_blocks(message: Message, n: int, emit: Emit) -> None:
    for block in message.content:
        if isinstance(block, TextBlock):
            emit(ev.TextChunk(n, block.text))
        elif isinstance(block, ThinkingBlock):
            emit(ev.ThinkingChunk(n, block.thinking))
        elif isinstance(block, ToolUseBlock):
            emit(ev.ToolCallStarted(n, block.id, block.name, block.input))
