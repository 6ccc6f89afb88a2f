"""`ToolCalls`: how the driver runs one `RunTools` step's calls, concurrently where allowed.

Its own module, and a class rather than closures in the driver, because of what a run holds
while its calls run: with thousands of runs in flight every object alive across an `await` is
work for the cyclic garbage collector (`benchmarks/conc.py`).

On asyncio a batch runs in asyncio's own `TaskGroup`: the same structured concurrency as
anyio's (a failure cancels the other calls and is raised in an exception group; a
cancellation reaches every call) for fewer objects and ~10% less CPU per turn at 3,000 runs.
One difference: a call cancelled before it began never begins (anyio lets it run to its first
checkpoint), durable runs included: a call marked started that never began is answered "Not
run" (`NOT_BEGUN`, journaled: a resume would say it may have taken effect) when the batch fails
or is cancelled in this process, and is never run twice. One that began when user code failed
the batch (a tool raising under `raise_errors`, a hook) is answered as the failed run answers
it in memory (`failure.failed_call`), journaled: a resume would say the process stopped; so
is one a cancellation cut (the caller's, the timeout's), when the run ends (`Journal.cut`). On
trio, anyio's task group.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import anyio
import pydantic_core

from .._api.wire import tool_result
from .._errors import StoreError
from .._loop.engine import Engine
from .._tools.accepted import check_block
from .._tools.context import RunContext
from .._tools.tool import Tool
from .effects import Effects
from .emit import Send
from .failure import failed_call
from .hooks import Deny, Hooks, maybe_await
from .observe import CallTool
from .options import ToolExecution
from .subagent import resumes

if TYPE_CHECKING:  # a durable run's journal: loaded only by a run that has one
    from .checkpoints import Journal

__all__ = ["NOT_BEGUN", "ToolCalls", "call_tool"]


@dataclass(frozen=True, slots=True)
class ToolCalls:
    """One `RunTools` step's calls: each run by `call_tool` (within `limiter`), its result
    recorded by the engine, journaled and reported as soon as it exists."""

    by_name: Mapping[str, Tool]
    engine: Engine
    call_tool: CallTool
    limiter: anyio.CapacityLimiter | None
    context: Callable[[dict[str, Any]], RunContext[Any]]
    """The `RunContext` of a call."""
    journal: Journal | None
    effects: Effects | None
    emit: Send | None
    began: set[str] | None = None
    """A durable run's calls that began (their `call_tool` was entered), to tell the calls it
    marked started that never began (`_not_begun`)."""

    async def batch(self, calls: list[dict[str, Any]]) -> None:
        """Run `calls` concurrently (the first in this task: one spawn fewer), once a durable
        run's journal and the effects have marked them as starting."""
        if not calls:
            return
        if self.journal is None:
            await self._run(calls)
            return
        # (The cancellation's class is asked for only when something was raised: asking costs
        # a tenth of a checkpoint.)
        try:  # durable: marked before non-idempotent tools
            await self.journal.starting(calls, self.by_name)
        except BaseException as exc:
            if isinstance(exc, anyio.get_cancelled_exc_class()):  # the marks were written:
                self._not_begun(calls)  # only the disk's news was awaited
            raise
        try:
            await self._run(calls)
        except BaseException as exc:  # failed or cancelled here, not a process dying
            if isinstance(exc, Exception):
                self._not_begun(calls)
                self._failed(calls, exc)
            elif isinstance(exc, anyio.get_cancelled_exc_class()):
                self._not_begun(calls)
                self._cut(calls)
            raise

    async def _run(self, calls: list[dict[str, Any]]) -> None:
        if self.effects is not None:
            await self.effects.starting(calls, self.by_name)
        if len(calls) == 1:
            await self.one(calls[0])
            return
        if _on_asyncio():
            async with asyncio.TaskGroup() as tg:
                for queued in calls[1:]:
                    tg.create_task(self.one(queued))
                await self.one(calls[0])
            return
        async with anyio.create_task_group() as tg:
            for queued in calls[1:]:
                tg.start_soon(self.one, queued)
            await self.one(calls[0])

    async def one(self, call: dict[str, Any]) -> None:
        """One call, its result recorded the moment it exists (so a cancelled run keeps it)."""
        ctx = self.context(call)
        tool = self.by_name[call["name"]]
        if self.limiter is None:
            block = await self._begin(tool, call, ctx)
        else:
            async with self.limiter:
                block = await self._begin(tool, call, ctx)
        self.engine.on_result(block)
        journal = self.journal
        if journal is not None:  # durable: a tool result, as soon as it exists
            journal.result(block)
        if self.emit is not None:
            if journal is not None and journal.durability is not None:
                await journal.durability.settled()  # on the disk before its event
            from . import events as ev

            await self.emit(
                ev.ToolCallFinished(ctx.turn, call["id"], call["name"], call["input"], block)
            )

    def _begin(self, tool: Tool, call: dict[str, Any], ctx: RunContext[Any]) -> Any:
        if self.began is not None:
            self.began.add(call["id"])
        return self.call_tool(tool, call, ctx)

    def _not_begun(self, calls: list[dict[str, Any]]) -> None:
        """A durable batch that failed or was cancelled in this process: its calls marked
        started that never began (cancelled before their task's first step, or the batch's
        mark awaited the disk) are answered so, journaled. Unanswered, a resume would tell the
        model they may have taken effect, when this process knows they never ran."""
        journal, began = self.journal, self.began or set[str]()
        for call in calls:
            if call["id"] in began or self.by_name[call["name"]].idempotent:
                continue  # began: its effect is not known; idempotent: a resume runs it
            block = tool_result(call["id"], NOT_BEGUN, is_error=True)
            self.engine.on_result(block)
            if journal is not None:
                with contextlib.suppress(StoreError):  # the run stops with what stopped it
                    journal.result(block)


    def _failed(self, calls: list[dict[str, Any]], exc: Exception) -> None:
        """A durable batch that user code failed (`exc`: a tool raising under `raise_errors`,
        a hook): its calls marked started that began and have no result are answered as the
        run answers them in memory (`failure.failed_call`), journaled. Unanswered, a resume
        would tell the model the process running them stopped, which it did not."""
        journal, began, results = self.journal, self.began or set[str](), self.engine.state.results
        said = failed_call(exc)
        for call in calls:
            if call["id"] not in began or call["id"] in results:
                continue
            if resumes(self.by_name[call["name"]]):  # idempotent, or an agent's: run again
                continue
            block = tool_result(call["id"], said, is_error=True)
            self.engine.on_result(block)
            if journal is not None:
                with contextlib.suppress(StoreError):  # the run stops with what stopped it
                    journal.result(block)

    def _cut(self, calls: list[dict[str, Any]]) -> None:
        """A durable batch cancelled in this process (its caller, the run's timeout): its calls
        marked started that began and have no result are answered when the run ends, as the
        engine answers them then (`Journal.cut`). Unanswered, a resume would tell the model
        the process running them stopped, which it did not."""
        journal, began, results = self.journal, self.began or set[str](), self.engine.state.results
        if journal is None:
            return
        journal.cut += tuple(
            call["id"] for call in calls
            if call["id"] in began and call["id"] not in results
            and not resumes(self.by_name[call["name"]])
        )


NOT_BEGUN = (
    "Not run: the run stopped (a call next to it failed, it was cancelled or timed out) "
    "before this call began, so it had no effect; call it again if it is still needed."
)


def _on_asyncio() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # trio
        return False
    return True


async def call_tool(
    hooks: Hooks, execution: ToolExecution, t: Tool, call: dict[str, Any], ctx: RunContext[Any]
) -> dict[str, Any]:
    """One tool call's result block: `before_tool` (which may deny it or rewrite its input),
    the tool run as `execution` says, then `after_tool`."""
    args: dict[str, Any] = call["input"]
    if hooks.before_tool is not None:
        verdict = await maybe_await(hooks.before_tool(ctx, call))
        if isinstance(verdict, Deny):
            return tool_result(call["id"], f"Not run: {verdict.reason}.", is_error=True)
        if isinstance(verdict, dict):
            args = verdict
        elif verdict is not None:  # False meant "deny" and ran the call
            raise TypeError(
                f"the before_tool hook returned {verdict!r} for call {call['id']} of tool "
                f"`{t.name}`: return Deny(reason) to refuse the call, a dict to replace its "
                "input, or None to let it run as it is. The call was not run"
            )
    block = await t.run(
        args,
        ctx,
        raise_errors=execution.raise_errors,
        max_result_chars=execution.max_result_chars,
    )
    if hooks.after_tool is not None:
        replaced = await maybe_await(hooks.after_tool(ctx, call, block))
        if replaced:  # None (or another falsy value, as before) keeps the result
            block = _hook_result(cast(object, replaced), call, t)
    return block


def _hook_result(block: object, call: dict[str, Any], t: Tool) -> dict[str, Any]:
    """The block an `after_tool` hook returned, as the JSON it is sent, journaled and replayed
    as (a datetime as its ISO text, a tuple as a list), so what the model gets is what a
    resume gets; content the API refuses is left out, said in a note (`check_block`), as it
    is of a tool's return value, or it would fail every request after it. A hook is user
    code: a block that is no answer to the call, or not JSON, fails the run as a hook raising
    does, named here (the encoder's error named no hook).

    Raises:
        TypeError: not a `tool_result` for `call`, or not JSON."""
    if not isinstance(block, dict):
        why = f"a {type(block).__name__}"
    else:
        given = cast("dict[str, Any]", block)
        if given.get("type") != "tool_result" or given.get("tool_use_id") != call["id"]:
            why = "a dict that is no tool_result block for this call"
        else:
            try:
                sent = cast("dict[str, Any]", pydantic_core.to_jsonable_python(given))
                return check_block(sent)  # refused content left out, said, as a tool's is
            except (pydantic_core.PydanticSerializationError, ValueError) as exc:  # a cycle too
                why = f"a tool_result that cannot be sent as JSON ({exc})"
    raise TypeError(
        f"the after_tool hook returned, for call {call['id']} of tool `{t.name}`, {why}. It "
        f"must return None (the result kept) or a tool_result block with tool_use_id "
        f"{call['id']!r} holding JSON data (content a str or content blocks)"
    )
