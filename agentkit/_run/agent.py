"""`Agent`: the public face of a run. It holds a model, tools and instructions, checks its
settings when made, and hands each run to the one async driver (`driver.py`); `run_sync` is
the same driver under `anyio.run` (`loop.run_loop`), so the loop exists once.
"""

from __future__ import annotations

import math
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Generic, Self, TypedDict, Unpack, cast

import anyio

from .._api.aiohttp_driver import release_loop_pools
from .._api.client import AsyncClient
from .._errors import UsageError
from .._loop.config import check_stop_when
from .._loop.engine import Engine, EngineConfig, RunState
from .._loop.limits import Limits
from .._loop.request import check_summary_room
from .._loop.request_rules import check_tool_choice_offered, check_tool_names
from .._loop.steps import CallModel, ListTools
from .._loop.thinking import ThinkingBudget, plan_thinking
from .._tools.context import RunContext
from .._tools.server import split_server_tools
from .._tools.tool import Tool
from .._tools.toolset import Toolset
from . import observe
from .clock import Clock, SystemClock
from .driver import Driver, Emit
from .effects import RUN_HOST
from .emit import check_emit
from .failure import sole_exception
from .handle import AgentRun
from .hooks import Approve, Hooks
from .loop import run_loop
from .options import ModelSettings, ToolExecution
from .result import OutputT, RunResult
from .start import first_messages, start

if TYPE_CHECKING:
    from anyio.streams.memory import MemoryObjectSendStream

    from .._durable.journal import RunStore
    from .._loop.context.policies import ContextPolicy
    from .durable import DurableRun
    from .events import AgentEvent

# A plain run loads neither the durable machinery (a store, its journal, replay), nor the
# context policies, nor structured output, nor the events (for a run without a consumer):
# each is imported where a run asks for it, so `from agentkit import Agent` and one run cost
# less CPU (`benchmarks/bench.py`, figure 4).

__all__ = ["Agent", "RunArgs"]


class RunArgs(TypedDict, total=False):
    """The keywords `run`, `run_sync` and `iter` share: where the run starts, and for whom."""

    history: Sequence[dict[str, Any]] | None
    """A finished conversation to continue (`result.messages`)."""
    state: RunState | None
    """A run to resume (paused for approval, saved mid-run), or a finished one to continue.
    It is updated in place at every step, so it stays valid even if the run is cancelled."""
    deps: object
    """Handed to tools and hooks as `ctx.deps`."""
    decisions: Mapping[str, bool | str] | None
    """Answers to pending approvals by `tool_use` id: True, or False / a reason to deny."""
    run_id: str | None
    """Make the run durable under this id: a new id starts it, the same call after a crash
    resumes it from its last checkpoint, and after it finished returns the stored result
    (without calling the model: no API key needed, nor tools listed for calls that returned)."""
    store: RunStore | None
    """Where a durable run is kept (default: the agent's `store`), e.g. `SQLiteStore(path)`."""


class Agent(Generic[OutputT]):
    """A model, tools and instructions; `run` drives them until a stop condition holds.

    `Agent("model")` is an `Agent[str]` (the output is the answer's text);
    `Agent("model", output_type=Plan)` an `Agent[Plan]`.
    """

    def __init__(
        self,
        model: str,
        *,
        tools: Iterable[Tool | Toolset | Callable[..., Any] | Mapping[str, Any]] = (),
        system: str | list[dict[str, Any]] | None = None,
        max_tokens: int = 1024,
        thinking: int | str | Mapping[str, Any] | ThinkingBudget | None = None,
        output_type: type[OutputT] | None = None,
        limits: Limits | None = None,
        approve: Approve | None = None,
        hooks: Hooks | None = None,
        stream: bool = False,
        cache: bool = False,
        client: AsyncClient | None = None,
        name: str | None = None,
        description: str | None = None,
        settings: ModelSettings | None = None,
        tool_execution: ToolExecution | None = None,
        model_retries: int = 2,
        output_retries: int = 2,
        max_continuations: int = 0,
        stop_after_tools: Iterable[str] = (),
        stop_when: Callable[[RunState], bool] | None = None,
        clock: Clock | None = None,
        store: RunStore | None = None,
        context: ContextPolicy | None = None,
    ) -> None:
        """Raises `UsageError` for a setting that can never work, naming it.

        `client`: the `AsyncClient` every run uses; yours to close (`async with`). Without
        one, each run makes its own from the environment and closes it when the run ends (a
        durable run when it first calls the model, or runs calls the model is asked about next:
        a stored result needs no API key).
        `model_retries`: retries per model call, whatever failed (the client's `max_retries`
        is for direct client use). `clock`: what runs read the time from and sleep on
        (`now()`, `async sleep()`); `agentkit.testing.FakeClock` sleeps without waiting.
        `store`: the default store of durable runs (`run(run_id=...)`). `context`: how long
        runs stay inside the context window, a policy from `agentkit.context` (`Auto()`,
        `Compaction()`, `Trim()`, `ServerCompaction()`, `ServerEditing()`).
        """
        if context is not None and not isinstance(cast(object, context), _policy_types()):
            raise UsageError(
                f"context= takes a policy from agentkit.context (Auto(), Compaction(), Trim(), "
                f"ServerCompaction(), ServerEditing()), not {context!r}"
            )
        check_stop_when(stop_when)
        _at_least(max_tokens=(max_tokens, 1), model_retries=(model_retries, 0))
        _at_least(output_retries=(output_retries, 0), max_continuations=(max_continuations, 0))
        settings = settings or ModelSettings()
        self.model = model
        self.name = name
        self.description = description
        client_tools, server_tools = split_server_tools(tools)
        self.toolset = Toolset(client_tools)
        if store is not None:  # a path given for it is refused here, not at the first run
            from .._durable.journal import check_store

            check_store(store)
        self.store = store
        """The default store of durable runs (`run(run_id=...)`)."""
        self._client = client
        output = None
        if output_type is not None:
            from .._tools.output import OutputSpec

            output = OutputSpec.build(output_type)
        names = [*self.toolset.names, *([output.tool_param["name"]] if output else [])]
        check_tool_names(names, server_tools)
        # Hooks and sources decide a turn's tools as it is made: its request is checked then.
        names.extend(t["name"] for t in server_tools)
        offered = names if self.toolset.static else None
        check_tool_choice_offered(settings.params().get("tool_choice"), offered, "this agent")
        self.config = EngineConfig(
            model=model,
            max_tokens=max_tokens,
            system=system,
            thinking=plan_thinking(
                thinking, max_tokens=max_tokens, interleaved=settings.interleaved_thinking
            ),
            params=settings.params(),
            betas=tuple(settings.betas),
            limits=limits or Limits(),
            max_continuations=max_continuations,
            stop_after_tools=frozenset(stop_after_tools),
            output_tool=output.tool_param if output else None,
            parse_output=output.parse if output else None,
            output_retries=output_retries,
            cache=cache,
            stop_when=stop_when,
            keep_tool_choice=settings.tool_choice_after_tools == "keep",
            server_tools=tuple(server_tools),
            model_retries=model_retries,
            approvals=approve is not None,
            context=context,
        )
        if context is not None:
            check_summary_room(self.config)
            from .._loop.capabilities import model_caps
            from .._loop.context.server import check_supported  # a policy is given

            check_supported(context, model, model_caps(model))
        self._driver: Driver[OutputT] = Driver(
            model=model,
            toolset=self.toolset,
            config=self.config,
            hooks=hooks or Hooks(),
            approve=approve,
            stream=stream,
            tool_execution=tool_execution or ToolExecution(),
            clock=clock or SystemClock(),
        )

    def __repr__(self) -> str:
        return f"Agent(model={self.model!r}, tools={self.toolset.names})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close what the agent's tools hold open (MCP servers' processes and connections).

        The agent stays usable: a later run opens them again when it needs them.
        """
        await self.toolset.aclose()

    async def run(
        self,
        prompt: str | list[dict[str, Any]] | None = None,
        *,
        on_event: Emit | None = None,
        **args: Unpack[RunArgs],
    ) -> RunResult[OutputT]:
        """Run until a stop condition holds and return the result.

        `prompt` is appended as a user turn (merged after tool results if the conversation
        ends with them); `args` are `RunArgs`: `history`, `state`, `deps`, `decisions`,
        `run_id`, `store`. `on_event` gets each event as it happens (see `agentkit.events`).

        With `run_id`, the run is durable (see the README's "Durable runs"): checkpointed in
        the store as it goes, resumed by the same call after a crash.

        Raises:
            LimitExceeded: a limit was hit; `.result` holds the conversation and usage.
            RunError: the model call failed for good; the cause is chained, nothing is lost.
            UsageError: invalid arguments (e.g. both `history` and `state`).
            StoreError: a durable run could not be stored or resumed: `RunLockedError`
                (another process runs it), `RunMismatchError` (the id was used for another
                prompt or agent), `StoreFormatError` (not a store this agentkit can read).
        """
        if on_event is not None:
            check_emit(on_event)
        host = RUN_HOST.get()
        if host is not None and args.get("run_id") is None and args.get("state") is None:
            return cast("RunResult[OutputT]", await host.run(self, prompt, on_event, args))
        deps, decisions = args.get("deps"), args.get("decisions") or {}
        async with (
            self._observe(args) as observed,
            self._durable(prompt, args, observed) as durable,
        ):
            engine = durable.engine if durable is not None else self._start(prompt, args)
            async with self._client_for_run(durable) as client:
                journal = durable.journal if durable is not None else None
                return await self._driver.drive(
                    engine, client, deps, decisions, on_event, journal, observed
                )

    def run_sync(
        self,
        prompt: str | list[dict[str, Any]] | None = None,
        *,
        on_event: Emit | None = None,
        **args: Unpack[RunArgs],
    ) -> RunResult[OutputT]:
        """`run` for synchronous code (starts an event loop; not for use inside one)."""
        try:
            anyio.get_current_task()
        except RuntimeError:
            pass
        else:
            raise UsageError("run_sync() was called inside an event loop; use `await agent.run()`")

        async def main() -> RunResult[OutputT]:
            try:
                return await self.run(prompt, on_event=on_event, **args)
            finally:  # the pools bound to this loop die with it: closed (the agent's
                await release_loop_pools()  # client opens a new one in the next loop)

        return run_loop(main)

    @asynccontextmanager
    async def iter(
        self, prompt: str | list[dict[str, Any]] | None = None, **args: Unpack[RunArgs]
    ) -> AsyncGenerator[AgentRun]:
        """Run in the background and iterate its events: `async with agent.iter(p) as run:`."""
        async with (
            self._observe(args) as observed,
            self._durable(prompt, args, observed) as durable,
        ):
            engine = durable.engine if durable is not None else self._start(prompt, args)
            journal = durable.journal if durable is not None else None
            from .events import AgentEvent, RunFinished

            send, receive = anyio.create_memory_object_stream[AgentEvent](math.inf)
            failure: list[Exception] = []  # what the run raised, if it failed
            handle = AgentRun(engine.state, receive, failure)
            ended = False  # the run sent its `RunFinished`: only its cleanup is left

            def deliver(event: AgentEvent) -> None:
                nonlocal ended
                ended = ended or isinstance(event, RunFinished)
                send.send_nowait(event)

            async def drive(send: MemoryObjectSendStream[AgentEvent]) -> None:
                # A failure is the stream's end, not the block's cancellation: the consumer
                # reads the events sent before it first (the block raises it all the same).
                async with send:
                    try:
                        async with self._client_for_run(durable) as client:
                            handle.result = await self._driver.drive(
                                engine, client, args.get("deps"), args.get("decisions") or {},
                                deliver, journal, observed,
                            )
                    except Exception as exc:
                        failure.append(exc)

            error: BaseException | None = None
            try:
                # The stream closes after the run's task ends: a run with nothing left to do
                # (a stored one) may send its last event after the block was left.
                async with receive, anyio.create_task_group() as tg:
                    tg.start_soon(drive, send)
                    yield handle
                    # Leaving the block before the run finished (a break, an exception) ends
                    # it; the driver then closes the conversation as for any cancellation.
                    # A run that ended is let finish: cancelled while it closes its client,
                    # it would lose its result (or the error it raises) and leak the pool.
                    if not ended:
                        tg.cancel_scope.cancel()
            except BaseExceptionGroup as group:
                # The task group wraps what the run (or the block) raised: give callers the
                # RunError itself, as `run()` does.
                error = sole_exception(group)
                if error is group:
                    raise
            if error is not None:
                raise error
            if failure:  # the consumer left the block before the error, or caught it
                raise failure[0]

    async def count_tokens(
        self,
        prompt: str | list[dict[str, Any]] | None = None,
        *,
        history: Sequence[dict[str, Any]] | None = None,
        deps: object = None,
    ) -> int:
        """The input tokens of the request a run would send now (`count_tokens`: free, an
        estimate): `history` with `prompt` added, this agent's system prompt, tools and
        settings.

        Raises:
            APIError: the count failed (e.g. a gateway without `count_tokens`).
            UsageError: nothing to count (no prompt and no history).
        """
        engine = start(self.config, prompt, history, None)
        engine = Engine(replace(self.config, context=None), engine.state)
        step = engine.next_step()
        if isinstance(step, ListTools):
            state = engine.state
            ctx = RunContext(
                deps=deps, messages=state.messages, usage=state.usage, model=self.model, turn=0
            )
            engine.on_tools(await self.toolset.tools_for(ctx))
            step = engine.next_step()
        if not isinstance(step, CallModel):  # unreachable: a new run's first step is a request
            raise RuntimeError(f"count_tokens: unexpected step {step!r}")
        from .._loop.context.manager import counted_fields

        async with self.client_for_run() as client:
            counted = await client.count_tokens(counted_fields(step.params), betas=step.betas)
        return counted.input_tokens

    def as_tool(self, name: str | None = None, description: str | None = None) -> Tool:
        """This agent as a tool another agent can call; its usage counts in the caller's.

        The caller's model gets the sub-run's structured output as JSON (with `output_type`,
        or a stop-after tool's input), else the answer's text; an `is_error` result naming the
        calls when the sub-run paused for approval (this agent has no `approve` callback).
        """
        tool_name = name or self.name
        text = description or self.description
        if not tool_name or not text:
            raise UsageError(
                "as_tool() needs a name and a description (pass them or set them on the Agent)"
            )

        from .subagent import agent_tool

        def sub_run(
            task: str, deps: object, state: RunState, durable: tuple[str, RunStore] | None
        ) -> Awaitable[RunResult[OutputT]]:
            if durable is not None:  # its caller is a durable run: so is it, in the same store
                return self.run(task, deps=deps, run_id=durable[0], store=durable[1])
            if RUN_HOST.get() is not None:  # a host carries it out (a workflow of its own)
                return self.run(task, deps=deps)
            # In `state`, so the tokens a sub-run that is cancelled spent are known to its caller.
            state.messages = first_messages(task, None)
            return self.run(deps=deps, state=state)

        return agent_tool(tool_name, text, sub_run)

    @property
    def driver(self) -> Driver[OutputT]:
        """The driver that carries out this agent's runs, for integrations that run it under
        a workflow engine (`agentkit.dbos`)."""
        return self._driver

    def first_messages(
        self, prompt: str | list[dict[str, Any]] | None,
        history: Sequence[dict[str, Any]] | None = None,
    ) -> list[dict[str, Any]]:
        """A new run's first messages, `history` with `prompt` added, as `run` starts them (for
        integrations that drive runs). Raises `UsageError` when there is nothing to send."""
        return first_messages(prompt, history)

    def client_for_run(self) -> AbstractAsyncContextManager[AsyncClient]:
        """The client one run uses, as `run` gets it (for integrations that drive runs)."""
        if self._client is not None:
            return nullcontext(self._client)
        return AsyncClient()

    def _client_for_run(
        self, durable: DurableRun | None
    ) -> AbstractAsyncContextManager[AsyncClient | None]:
        """The agent's client (the caller's to close), or this run's own: bound to this event
        loop and closed when the run ends. A durable run gets None: the driver makes its
        client when the run first calls the model, as a stored run may have nothing left to
        ask (its result is read back without an API key)."""
        if durable is not None and self._client is None:
            return nullcontext(None)
        return self.client_for_run()

    def _observe(self, args: RunArgs) -> AbstractAsyncContextManager[observe.RunObserver | None]:
        """The run's observer (`agentkit.instrument()`), or None: the run is not observed."""
        return observe.run(self.name, self.description, self.model, args.get("run_id"))

    def _durable(
        self,
        prompt: str | list[dict[str, Any]] | None,
        args: RunArgs,
        observed: observe.RunObserver | None = None,
    ) -> AbstractAsyncContextManager[DurableRun | None]:
        """The durable run these arguments ask for (claimed and replayed on entering), or
        None when they ask for none (no `run_id`)."""
        run_id = args.get("run_id")
        if run_id is None:
            if args.get("store") is not None:
                raise UsageError("store= keeps durable runs: pass run_id= too, or leave it out")
            return nullcontext(None)
        from .._durable.journal import check_run_id
        from .durable import open_run

        check_run_id(run_id)
        store = args.get("store") or self.store
        if store is None:
            raise UsageError(
                f"run_id={run_id!r} makes the run durable, which needs a store: pass "
                "store=SQLiteStore(path) or make the agent with Agent(store=...)"
            )
        if args.get("state") is not None:
            raise UsageError(
                "pass run_id= (a stored run) or state= (a run in memory), not both"
            )
        has_input = prompt is not None or args.get("history") is not None
        messages = first_messages(prompt, args.get("history")) if has_input else None
        return open_run(
            store, run_id, config=self.config, toolset=self.toolset, agent=self.name or "",
            messages=messages, deps=args.get("deps"),
            traceparent=observed.traceparent if observed is not None else None,
            decisions=args.get("decisions"), checked=self._driver.hooks.after_model is not None,
        )

    def _start(self, prompt: str | list[dict[str, Any]] | None, args: RunArgs) -> Engine:
        """The engine of a run kept in memory, as these arguments ask (`start.start`)."""
        return start(self.config, prompt, args.get("history"), args.get("state"))


def _at_least(**options: tuple[int, int]) -> None:
    """Each option's value against its least allowed value: a `UsageError` naming it."""
    for option, (value, least) in options.items():
        if value < least:
            raise UsageError(f"{option} must be at least {least}, got {value}")


def _policy_types() -> tuple[type, ...]:
    """The context policy classes `context=` takes (loaded when a policy is given)."""
    from .._loop.context.policies import POLICY_TYPES

    return POLICY_TYPES
