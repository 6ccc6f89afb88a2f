"""An agent as a tool another agent calls (`Agent.as_tool`): the sub-run's usage counted in
the caller's, what the caller's model is handed back, and the sub-run made durable when its
caller is.

In a durable run (the embedded store's: `CALLER` names it while its steps run), a call of an
agent's tool runs its sub-run as a durable run of its own, in the caller's store, under
`sub_run_id(caller, tool_use_id)`: the same id whichever process makes the call. The caller's
journal marks no such call started (`resumes`), so a resume runs it again, and the sub-run's
own journal makes that safe: it goes on where it stopped (nothing that finished repeated, its
non-idempotent calls never run twice) or, finished, hands back its stored result with no model
call. Its usage goes into the caller's with the call's result (`Caller.merge`): a call cut
before its result leaves none of it in the caller's journal, and its re-run brings the
sub-run's whole usage (replayed), so each token counts once. Elsewhere (a plain run, a DBOS
step) the sub-run is not stored, and the call is an ordinary non-idempotent tool's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Protocol

from .._api.jsonbytes import to_json
from .._errors import RunError, RunMismatchError, ToolError
from .._loop.state import RunState
from .._loop.usage import RunUsage
from .._tools.context import RunContext
from .._tools.tool import Tool
from .result import RunResult

if TYPE_CHECKING:  # a durable run's: loaded only by a run that has one
    from .._durable.journal import RunStore

__all__ = ["CALLER", "AgentTool", "Caller", "SubRun", "agent_tool", "opened", "resumes"]

SubRun = Callable[[str, Any, RunState, "tuple[str, RunStore] | None"], Awaitable[RunResult[Any]]]
"""`run(task, deps, state, durable)`: the sub-agent's run of `task`, in `state` (which the
agent fills as it goes), or with `durable` (its run id and store) as that durable run."""


class Caller(Protocol):
    """The durable run whose tool calls are running (its `checkpoints.Journal`)."""

    @property
    def run_id(self) -> str: ...

    @property
    def store(self) -> RunStore: ...

    def merge(self, tool_use_id: str, usage: RunUsage) -> None:
        """Count `usage` in the run now, and journal it with call `tool_use_id`'s result."""
        ...


CALLER: ContextVar[Caller | None] = ContextVar("agentkit_durable_caller", default=None)
"""The durable run whose steps this context carries out (set by `durable.open_run`)."""

_OPENING: ContextVar[tuple[str, list[RunState]] | None] = ContextVar(
    "agentkit_opening_sub_run", default=None
)
"""The durable sub-run a call is starting, by id, and where its state goes once opened: the
call's own view of what the sub-run spent, when it is stopped before returning."""


def opened(run_id: str, state: RunState) -> None:
    """Durable run `run_id` was opened with `state` (`durable.open_run` tells): kept for the
    call that started it, if it is a sub-run's."""
    opening = _OPENING.get()
    if opening is not None and opening[0] == run_id:
        opening[1].append(state)


class AgentTool(Tool):
    """An agent as a tool: in a durable run, a call a crash cut resumes (`resumes`)."""

    __slots__ = ()


def resumes(tool: Tool) -> bool:
    """Whether a call of `tool` that a crash cut runs again when its durable run resumes: the
    tool is idempotent, or an agent's (its sub-run has a journal of its own)."""
    return tool.idempotent or isinstance(tool, AgentTool)


def agent_tool(name: str, description: str, run: SubRun) -> Tool:
    """The tool `name` whose call runs `run(task, deps, state, durable)` (the sub-agent's
    run) with the caller's deps; `durable` when the caller is a durable run (see the module
    docstring). The caller's model gets the sub-run's structured output as JSON, else its
    answer's text; an `is_error` result naming the calls when the sub-run paused for approval.
    Its usage counts in the caller's however it ends: a sub-run cancelled (the caller's
    timeout, the caller cancelled) spent tokens too.
    """

    async def handler(input: dict[str, Any], ctx: RunContext[Any]) -> str:
        caller = CALLER.get()
        if caller is not None and ctx.tool_use_id is not None and caller.run_id == ctx.run_id:
            result = await _durable(run, input["task"], ctx.deps, caller, ctx.tool_use_id)
        else:
            result = await _plain(run, input["task"], ctx)
        if result.pending_approvals:  # a pause no one can answer here: say so, not ""
            raise ToolError(_paused(name, result.pending_approvals))
        return _handed_over(result)

    return AgentTool.from_schema(
        name=name,
        description=description,
        input_schema={
            "type": "object",
            "properties": {"task": {"type": "string", "description": "What to do, in full."}},
            "required": ["task"],
        },
        handler=handler,
    )


async def _plain(run: SubRun, task: str, ctx: RunContext[Any]) -> RunResult[Any]:
    """The sub-run, not stored; its usage merged into the caller's however it ends."""
    state = RunState()
    try:
        result = await run(task, ctx.deps, state, None)
    except RunError as exc:
        # A sub-run that failed still spent tokens: count them, then report it.
        if isinstance(exc.usage, RunUsage):
            ctx.usage.merge(exc.usage)
        raise
    except BaseException:
        if state.usage.requests:  # what the sub-run spent until it was stopped
            ctx.usage.merge(state.usage)
        raise
    ctx.usage.merge(result.usage)
    return result


async def _durable(
    run: SubRun, task: str, deps: object, caller: Caller, tool_use_id: str
) -> RunResult[Any]:
    """The sub-run as a durable run in the caller's store, its whole usage (replayed and new)
    merged into the caller's with the call's result, however it ends."""
    from .._durable.journal import sub_run_id

    run_id = sub_run_id(caller.run_id, tool_use_id)
    states: list[RunState] = []
    token = _OPENING.set((run_id, states))
    try:
        result = await run(task, deps, RunState(), (run_id, caller.store))
    except RunError as exc:
        if isinstance(exc.usage, RunUsage):
            caller.merge(tool_use_id, exc.usage)
        raise
    except RunMismatchError as exc:  # the sub-agent changed since (a StoreError fails the caller)
        raise RunMismatchError(run_id, stored=exc.stored, given=exc.given, fix=(
            f"It is the sub-run of call {tool_use_id} of run {caller.run_id!r}: resume "
            f"{caller.run_id!r} with that sub-agent as it was, or delete the sub-run "
            "(store.delete; the call then starts it over and does again what it did)"
        )) from None
    except BaseException:
        if states and states[0].usage.requests:  # stopped: what it spent is in its journal
            caller.merge(tool_use_id, states[0].usage)
        raise
    finally:
        _OPENING.reset(token)
    caller.merge(tool_use_id, result.usage)
    return result


def _handed_over(result: RunResult[Any]) -> str:
    """What a sub-run gives the model that called it: its output as JSON (spelled as the model
    wrote it, aliases kept), else its answer's text."""
    output = result.state.output
    if output is None:
        return result.text
    return to_json(output, by_alias=True).decode()


def _paused(name: str, calls: Sequence[Mapping[str, Any]]) -> str:
    """What the model that called a sub-agent is told when the sub-run paused for approval."""
    waiting = ", ".join(f"{c['name']} ({c['id']})" for c in calls)
    return (
        f"Not done: the agent {name!r} stopped to wait for approval of {waiting}, and no one "
        "can approve a call inside a tool call, so those calls were not run. To let it run "
        "them, give that agent an approve callback that decides them (Agent(approve=...))."
    )
