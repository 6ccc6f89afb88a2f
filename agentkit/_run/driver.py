"""The async driver: it carries out the engine's steps and reports what happened.

A thin loop: it lists the turn's tools, runs the `before_model` hook and sends the request
(the client's own retries off: the engine is the one retrier), sleeps the back-offs the engine
asks for, runs the tool calls (concurrently: `tool_calls.ToolCalls`), asks for approvals, and
bounds each step's wait by the engine's deadline. It decides nothing. Rules it keeps:
- a tool result is recorded the moment it exists, so a cancelled or failed run keeps it, and
  a reply the `after_model` hook fails on is held (`Engine.hold`), rechecked when given again;
- on cancellation every open `tool_use` is answered ("cancelled") and the cancellation
  re-raised, never swallowed; on any other failure the raised `RunError` carries the
  conversation and usage so far, and the `RunState` can be resumed;
- a failed model call is reported whole (the engine retries it or gives up): a partial reply
  is never appended to the conversation.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, Any, Generic, assert_never, cast

import anyio

from .._api.client import AsyncClient
from .._api.wire import Message
from .._errors import (
    APIError,
    APITimeoutError,
    IncompleteStreamError,
    LimitExceeded,
    MalformedStreamError,
    RunError,
)
from .._loop.decisions import approver_decision
from .._loop.engine import Engine, EngineConfig, RunState
from .._loop.steps import (
    CallModel,
    CountTokens,
    Finished,
    ListTools,
    NeedApproval,
    RunTools,
    Sleep,
    Step,
)
from .._loop.usage import RunUsage
from .._tools.context import RunContext
from .._tools.tool import Tool
from .._tools.toolset import Toolset
from . import observe
from .clock import Clock
from .effects import Effects
from .emit import Emit, Send, emit_blocks, new_run_id, read_stream, sender
from .failure import as_api_error, failed, kept, model_failed, run_failed, sole_exception
from .hooks import Approve, Deny, Hooks, call_before_model, maybe_await
from .options import ToolExecution
from .result import OutputT, RunResult
from .tool_calls import ToolCalls, call_tool

if TYPE_CHECKING:  # a durable run's journal: loaded only by a run that has one
    from .checkpoints import Journal

# The events (`events.py`) load with the first run that has a consumer: each branch that
# emits one imports them, so a run without `on_event` does not pay for their classes.

__all__ = ["Driver", "Emit"]


@dataclass(slots=True)
class _Turn:
    """Per-run wiring the driver needs (not state: nothing here is saved)."""

    client: AsyncClient | None
    """None until the run first calls the model (`api`): a stored result needs no API key."""
    deps: object
    emit: Send | None
    journal: Journal | None = None
    """Where a durable run commits its checkpoints (None: the run is not stored)."""
    observed: observe.RunObserver | None = None
    """Who is told of each step (None: nothing observes the run, see `observe.py`)."""
    effects: Effects | None = None
    """Who carries out the model calls, tools, back-offs and approvals (None: the driver)."""
    streamed: int = 0
    """The turn whose reply this execution streamed, its blocks sent as deltas (a replayed
    step's reply, `effects`', arrives whole: its blocks are sent as a read reply's are)."""

    def api(self) -> AsyncClient:
        """The run's client, made from the environment when the run first needs one."""
        self.client = self.client or AsyncClient()
        return self.client


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
    tool_execution: ToolExecution
    clock: Clock

    async def drive(
        self,
        engine: Engine,
        client: AsyncClient | None,
        deps: object,
        decisions: Mapping[str, bool | str],
        emit: Emit | None,
        journal: Journal | None = None,
        observed: observe.RunObserver | None = None,
        effects: Effects | None = None,
    ) -> RunResult[OutputT]:
        """Run `engine` until it finishes or pauses, and return the result (`effects`: a
        workflow engine that carries out and records the steps with side effects). `client`
        None: the run makes its own when it first calls the model, and closes it at the end.

        Raises:
            LimitExceeded: a limit was hit; `.result` holds the conversation and usage.
            RunError: the model call or user code failed; the cause is chained.
        """
        state = engine.state
        # What the run had when given: changed when it fails, this call has something to lose
        given, requests = len(state.messages), state.usage.requests
        engine.start(self.clock.now())
        if decisions and (decided := engine.check_decisions(decisions)):
            engine.on_decisions(decided)
            if journal is not None:  # durable: on decisions
                journal.decisions(decided)
        if journal is not None:  # durable: with no event consumer, checkpoints may share commits
            journal.defer = emit is None
        run_id = held.run_id if (held := journal or effects) is not None else new_run_id()
        sends = sender(emit, run_id) if emit is not None else None
        turn = _Turn(client, deps, sends, journal, observed, effects)
        ended = False  # the run is over: only its `RunFinished` is left to deliver
        try:
            loop = self._loop(engine, turn)
            if observed is not None:
                loop = observed.drive(engine, turn.api, journal, loop)
            failure = await loop
            result = self._result(engine)
            if failure is None and turn.emit is not None:
                from . import events as ev

                # In the try: a consumer failing on the last event fails the call as on any,
                # but the run is left as it ended (a durable one stored so, not as failed).
                ended = True
                await turn.emit(ev.RunFinished(result))
        except anyio.get_cancelled_exc_class():
            if not ended:
                engine.abort("cancelled", "the run was cancelled")
            raise
        except BaseException as exc:
            # A tool that re-raises (raise_errors), a hook, a KeyboardInterrupt: the history
            # must still be valid to continue from.
            cause = sole_exception(exc)
            grown = len(state.messages) != given or state.usage.requests != requests
            if not ended:
                engine.abort("failed", failed(cause))
            if kept(cause, grown):  # raised by user code or found by a check in the run
                way = None if effects is None else effects.go_on(state.held is not None)
                raise run_failed(
                    cause, state, journal, ended, self._result(engine), way
                ) from cause
            if cause is not exc:  # a KeyboardInterrupt in a tool, not its task group's wrapper
                raise cause from None
            raise
        finally:
            if client is None and turn.client is not None:  # the run's own
                await turn.client.aclose()
        if failure is not None:
            raise RunError(
                model_failed(failure, journal, None if effects is None else effects.go_on(False)),
                messages=state.messages,
                usage=state.usage,
                result=self._result(engine),
            ) from as_api_error(failure)
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

    async def _loop(self, engine: Engine, turn: _Turn) -> Exception | None:
        """Carry out steps until the engine says finished; the model failure it gave up on."""
        clock = self.clock
        if engine.state.held is not None:  # before anything else: the run goes on from it
            deadline = engine.deadline
            with anyio.move_on_after(None if deadline is None else deadline - clock.now()) as scope:
                await self._take_held(engine, turn)
            if scope.cancelled_caught:
                engine.on_timeout()
        while True:
            step = engine.next_step(clock.now())
            if engine.context is not None:
                await self._report_context(engine, turn)
            journal = turn.journal
            if journal is not None and journal.due and not isinstance(step, RunTools | Finished):
                journal.flush()  # durable: what is pending, before the next step
                if journal.durability is not None:  # on the disk (FULL), the loop going on
                    await journal.durability.settled()
            if engine.resolved:
                await self._report_resolved(engine, turn)
            if isinstance(step, Finished):
                return step.error
            deadline = engine.deadline
            if deadline is None:
                await self._carry_out(step, engine, turn)
                continue
            with anyio.move_on_after(deadline - clock.now()) as scope:
                await self._carry_out(step, engine, turn)
            if scope.cancelled_caught:
                engine.on_timeout()

    async def _carry_out(self, step: Step, engine: Engine, turn: _Turn) -> None:
        state = engine.state
        match step:
            case ListTools():
                ctx = self._context(turn, state, turn_number=step.turn)
                engine.on_tools(await self.toolset.tools_for(ctx))
            case CallModel():
                message = await self._call_model(step, engine, turn)
                if message is not None:
                    await self._take(message, engine, turn)
            case CountTokens():
                if turn.effects is None:
                    engine.on_count(await _count(step, turn.api()))
                else:  # recorded: a replay decides on the count the first execution got
                    engine.on_count(await turn.effects.count(partial(_count, step, turn.api())))
            case Sleep():
                if turn.emit is not None:
                    from . import events as ev

                    await turn.emit(ev.ModelRetry(state.turns + 1, step.attempt, step.error))
                if turn.effects is None:
                    await self.clock.sleep(step.seconds)
                else:
                    await turn.effects.sleep(step.seconds)
            case RunTools():
                await self._run_tools(step, engine, turn)
            case NeedApproval():
                await self._need_approval(step, engine, turn)
            case Finished():
                pass
            case _:
                assert_never(step)

    async def _take(self, reply: Message, engine: Engine, turn: _Turn, held: bool = False) -> None:
        """Record a reply (`held`: the one a failed `after_model` hook held, reported and
        journaled then) and report it."""
        state = engine.state
        n = state.turns + 1  # the turn its request was numbered as
        usage = engine.on_reply(reply)
        journal = turn.journal
        if not held:
            if turn.observed is not None:
                turn.observed.model_reply(reply, usage)
            if journal is not None:  # durable: the reply, before any of its calls
                journal.reply(reply)
        if turn.emit is not None:
            if journal is not None and journal.durability is not None:
                await journal.durability.settled()  # on the disk before its event
            from . import events as ev

            if turn.streamed != n or held:  # a reply read whole: its blocks once it is
                # recorded, so a consumer failing or cancelled on one loses no reply paid for
                await emit_blocks(reply, n, turn.emit)
            await turn.emit(ev.TurnFinished(n, reply, usage))
        if engine.resolved:
            await self._report_resolved(engine, turn)

    async def _take_held(self, engine: Engine, turn: _Turn) -> None:
        """Go on from the reply a failed `after_model` hook held (`RunState.held`): the hook
        runs on it again, given what it was then, and the run takes it once it passes."""
        held = cast("dict[str, Any]", engine.state.held)
        message = Message.from_wire(held["reply"])
        if self.hooks.after_model is not None:
            ctx = self._context(turn, engine.state)
            ctx.usage = RunUsage.from_dict(held["usage"])  # the usage it was received with
            await maybe_await(self.hooks.after_model(ctx, message))
        await self._take(message, engine, turn, held=True)

    async def _need_approval(self, step: NeedApproval, engine: Engine, turn: _Turn) -> None:
        ctx = self._context(turn, engine.state)
        if turn.effects is None:
            decided = await self._approve(step.calls, ctx)
        else:
            decided = await turn.effects.approve(lambda: self._approve(step.calls, ctx))
        engine.on_decisions(decided, [c["id"] for c in step.calls])
        if turn.journal is not None and decided:  # durable: on decisions
            turn.journal.decisions(decided)

    async def _call_model(self, step: CallModel, engine: Engine, turn: _Turn) -> Message | None:
        """The reply, or None when the call failed (reported to the engine, which decides)."""
        params, n = step.params, engine.state.turns + 1
        turn.api()  # the client, made before a hook runs or an event says the call began
        ctx: RunContext[Any] | None = None  # made for hooks only: a waiting run would hold it
        if step.attempt == 0:
            if self.hooks.before_model is not None:
                ctx = self._context(turn, engine.state)
                params = await call_before_model(self.hooks.before_model, ctx, params)
            params = engine.on_request(params, hooked=ctx is not None)
            if turn.observed is not None and turn.effects is None:  # else told by the step
                turn.observed.model_request(params, self.stream)
            if turn.emit is not None:
                from . import events as ev

                await turn.emit(ev.ModelRequest(n, params))
        effects = turn.effects
        try:
            if effects is None:  # no closure: what a waiting run keeps alive is GC work
                message = await self._send(params, step.betas, n, turn)
            else:
                send = observe.sent(turn.observed, params, self.stream,
                                    partial(self._send, params, step.betas, n, turn))
                message = await effects.model(send)
        except (APIError, MalformedStreamError) as exc:
            engine.on_model_error(exc)
            if turn.observed is not None:
                turn.observed.model_error(exc)
            return None
        if self.hooks.after_model is not None:
            ctx = ctx or self._context(turn, engine.state)
            try:
                await maybe_await(self.hooks.after_model(ctx, message))
            except BaseException:  # kept, counted and journaled, held until the hook passes
                usage = engine.hold(message)
                if turn.observed is not None:
                    turn.observed.model_reply(message, usage)
                if turn.journal is not None:
                    turn.journal.reply(message)
                raise
        return message

    def _send(
        self, params: dict[str, Any], betas: tuple[str, ...], n: int, turn: _Turn
    ) -> Awaitable[Message]:
        """The model call, returned to be awaited: one coroutine fewer held while it waits."""
        if self.stream:
            return self._stream_once(params, betas, n, turn)
        return turn.api().create(params, betas=betas, max_retries=0)

    async def _stream_once(
        self, params: dict[str, Any], betas: tuple[str, ...], n: int, turn: _Turn
    ) -> Message:
        turn.streamed = n
        async with turn.api().stream(params, betas=betas, max_retries=0) as stream:
            try:
                return await read_stream(stream, n, turn.emit)
            except APITimeoutError as exc:
                # The reply began, then stalled: as incomplete as a cut stream, so re-issued.
                raise IncompleteStreamError(
                    f"{exc.message}; the reply stalled after it began",
                    partial=stream.current_message(),
                    request_id=exc.request_id,
                ) from exc

    async def _run_tools(self, step: RunTools, engine: Engine, turn: _Turn) -> None:
        if turn.client is None and step.then_model:  # a lazy client: made first, so no call
            turn.api()  # runs when the request after the calls cannot be made (no API key)
        calls, by_name = step.calls, cast("Mapping[str, Tool]", step.tools)
        # A limiter costs a checkpoint per call: make one only when it can limit anything.
        most = self.tool_execution.max_concurrency
        limiter = anyio.CapacityLimiter(most) if len(calls) > most else None
        effects = turn.effects
        call_tool: observe.CallTool = self._tool_step
        if turn.observed is not None:
            call_tool = turn.observed.tool(call_tool)
        if effects is not None:  # observed inside the step: a replayed one reports nothing
            call_tool = partial(self._tool_step, effects=effects, observed=call_tool)
        run = ToolCalls(
            by_name, engine, call_tool, limiter, partial(self._context, turn, engine.state),
            turn.journal, turn.effects, turn.emit, None if turn.journal is None else set(),
        )
        # Calls flagged sequential run alone, in order; the others run concurrently.
        batch: list[dict[str, Any]] = []
        for call in calls:
            if not by_name[call["name"]].sequential:
                batch.append(call)
                continue
            await run.batch(batch)
            batch = []
            await run.batch([call])
        await run.batch(batch)

    def _tool_step(
        self, t: Tool, call: dict[str, Any], ctx: RunContext[Any], effects: Effects | None = None,
        observed: observe.CallTool | None = None,
    ) -> Awaitable[dict[str, Any]]:
        """The tool call, by the driver or, with `effects`, as their step (running `observed`)."""
        if effects is None:
            return call_tool(self.hooks, self.tool_execution, t, call, ctx)
        return effects.tool(call, lambda: (observed or self._tool_step)(t, call, ctx))

    async def _approve(
        self, calls: Sequence[dict[str, Any]], ctx: RunContext[Any]
    ) -> dict[str, bool | str]:
        approve = self.approve
        if approve is None:  # the engine asks only when `config.approvals` says someone can
            raise RuntimeError("NeedApproval without an approve callback")
        decided: dict[str, bool | str] = {}
        for call in calls:
            verdict: object = await maybe_await(
                approve(replace(ctx, tool_use_id=call["id"], tool_name=call["name"]), call)
            )
            explicit = isinstance(verdict, Deny)  # its reason is told as it is, unchecked
            decision = (verdict.reason or False) if explicit else approver_decision(call, verdict)
            if decision is not None:  # None: left for later, the run pauses for it
                decided[call["id"]] = decision
        return decided

    async def _report_resolved(self, engine: Engine, turn: _Turn) -> None:
        """Calls the engine answered itself get the same `ToolCallFinished` as run ones."""
        if turn.observed is not None:
            turn.observed.resolved(engine.resolved)
        if turn.emit is not None:
            from . import events as ev

            n = engine.state.turns
            for call, block in engine.resolved:
                await turn.emit(
                    ev.ToolCallFinished(n, call["id"], call["name"], call["input"], block)
                )
        engine.resolved.clear()

    async def _report_context(self, engine: Engine, turn: _Turn) -> None:
        """The context policy's inputs are journaled, its changes reported as events."""
        context = engine.context
        if context is None:
            return
        if context.notes:
            if turn.journal is not None:  # durable: a count or an overflow, before its step
                turn.journal.context(context.notes)
            context.notes.clear()
        if context.changes:
            changes = list(context.changes)
            context.changes.clear()
            if turn.emit is not None:
                from . import events as ev

                for c in changes:
                    await turn.emit(
                        ev.ContextEdited(
                            engine.state.turns, c.kind, c.tokens_before, c.tokens_after, c.details
                        )
                    )

    def _context(
        self,
        turn: _Turn,
        state: RunState,
        call: dict[str, Any] | None = None,
        *,
        turn_number: int | None = None,
    ) -> RunContext[Any]:
        return RunContext(
            deps=turn.deps,
            messages=state.messages,
            usage=state.usage,
            model=self.model,
            turn=state.turns if turn_number is None else turn_number,
            tool_use_id=call["id"] if call else None,
            tool_name=call["name"] if call else None,
            run_id=_run_id(turn),
        )

    def _result(self, engine: Engine) -> RunResult[OutputT]:
        state = engine.state
        output = state.output if state.output is not None else state.answer
        # `RunState` is plain, JSON-ready data, so its output is untyped: this is where the
        # agent's output type is restored (see `RunResult.output` for when it holds).
        return RunResult(state, cast(OutputT, output))


async def _count(step: CountTokens, client: AsyncClient) -> int | None:
    """The size `step` asks for, or None when the count failed (the estimate then decides,
    e.g. behind a gateway without `count_tokens`)."""
    try:
        return (await client.count_tokens(step.params, betas=step.betas)).input_tokens
    except APIError:
        return None


def _run_id(turn: _Turn) -> str | None:
    holder = turn.journal or turn.effects
    return holder.run_id if holder is not None else None
