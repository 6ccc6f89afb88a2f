"""`DBOSAgent`: an agent whose runs are DBOS workflows, recoverable by any process that runs
the same code with the same executor id (or by DBOS's admin and Conductor recovery).

The workflow is the agent's own driver, carrying out its engine's steps as it always does;
only the steps with side effects go through `DBOSEffects` (each a DBOS step). The workflow's
inputs are the run's initial messages, approval decisions (none yet: an agent under DBOS
decides with its `approve` callback, a step) and a fingerprint of agent and prompt; its
output is the final `RunState` (with how it ended), from which `run` rebuilds the `RunResult`
or the `LimitExceeded` / `RunError` it raised.

Everything the workflow does outside steps runs again on recovery and must decide the same:
the engine does (its back-off jitter is drawn from a seed made from the workflow id), and so
must the agent's `prepare` and `before_model` / `after_model` hooks (they run again on
replay; put side effects in tools, whose hooks run inside the tool's step).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, cast

from dbos import DBOS, SetWorkflowID, WorkflowHandleAsync
from dbos._error import DBOSUnexpectedStepError

from .._errors import LimitExceeded, RunError, RunMismatchError, UsageError
from .._loop.engine import Engine, RunState
from .._run import observe
from .._run.agent import Agent
from .._run.driver import Emit
from .._run.fingerprint import fingerprint, former
from .._run.replay import INTERRUPTED
from .._run.result import OutputT, RunResult
from ._effects import DBOSEffects
from ._outcome import cause_record, outcome_result, stored_state

__all__ = ["DBOSAgent", "drive_workflow"]

_REGISTERED: dict[str, DBOSAgent[Any]] = {}


class DBOSAgent(Generic[OutputT]):
    """Runs `agent` as DBOS workflows: each model call and tool call a DBOS step.

    Make it before `DBOS.launch()` (which recovers this executor's unfinished runs, so their
    workflow must be registered by then), in every process that may run or recover it.
    `name` names the workflow (default: the agent's name, else `"agent"`): keep it stable
    across deploys, and unique per process. `deps` is what tools and hooks get as `ctx.deps`
    in every run, recovered ones included (a run's inputs are stored; live objects are not).
    """

    def __init__(
        self, agent: Agent[OutputT], *, name: str | None = None, deps: object = None
    ) -> None:
        """Raises `UsageError` when another `DBOSAgent` of this process has the same name."""
        self.agent = agent
        self.name = name or agent.name or "agent"
        self.deps = deps
        self.workflow_name = f"agentkit.run:{self.name}"
        """The DBOS workflow's registered name (what `DBOS.list_workflows` shows)."""
        if self.workflow_name in _REGISTERED:
            raise UsageError(
                f"a DBOSAgent named {self.name!r} already exists in this process; give each "
                "agent its own name: DBOSAgent(agent, name='...')"
            )
        _REGISTERED[self.workflow_name] = self

        async def workflow(
            messages: list[dict[str, Any]], decisions: dict[str, bool | str], given: str
        ) -> dict[str, Any]:
            del given  # stored with the inputs, for `run` to compare
            return await self._workflow(messages, decisions)

        self._run_workflow = DBOS.workflow(name=self.workflow_name)(workflow)

    def __repr__(self) -> str:
        return f"DBOSAgent({self.agent!r}, name={self.name!r})"

    async def run(
        self,
        prompt: str | list[dict[str, Any]] | None = None,
        *,
        workflow_id: str | None = None,
        history: Sequence[dict[str, Any]] | None = None,
    ) -> RunResult[OutputT]:
        """Run the agent as the DBOS workflow `workflow_id` (default: a new id) and return
        its result. An id that already has a workflow (running here or in another process,
        or finished) is attached to: its result is returned, nothing started again. Without
        a prompt or history, only attaches.

        Raises:
            LimitExceeded: the run hit a limit; `.result` holds the conversation and usage.
            RunError: a model call failed for good or a tool raised (`raise_errors`).
            RunMismatchError: `workflow_id` was used for another prompt or agent.
            UsageError: no workflow `workflow_id` to attach to, and no prompt.
        """
        wid = workflow_id or str(uuid.uuid4())
        if prompt is None and history is None:
            status = await DBOS.get_workflow_status_async(wid)
            if status is None or status.name != self.workflow_name:
                raise UsageError(
                    f"there is no run {wid!r} of {self.name!r} in the DBOS system database to "
                    "attach to; pass a prompt to start it"
                )
            handle: WorkflowHandleAsync[dict[str, Any]] = await DBOS.retrieve_workflow_async(wid)
            return self._result(await handle.get_result())
        messages = self.agent.first_messages(prompt, history)
        config, names = self.agent.config, self.agent.toolset.names
        given = fingerprint(config, names, messages)
        await self._check_existing(wid, given, former(config, names, given))
        with SetWorkflowID(wid):
            handle = await DBOS.start_workflow_async(
                self._run_workflow, messages, {}, given
            )
        return self._result(await handle.get_result())

    async def _check_existing(self, wid: str, given: str, old: str | None) -> None:
        """Refuse an id stored for another agent or prompt (DBOS alone would return that
        workflow's result for any inputs); `old` is what an agentkit before context policies
        were fingerprinted gave the same agent and prompt, which its workflows keep."""
        status = await DBOS.get_workflow_status_async(wid)
        if status is None:
            return
        stored = "another workflow"
        if status.name == self.workflow_name and status.input is not None:
            args = status.input["args"]
            stored = str(args[2]) if len(args) > 2 else stored
        if stored not in (given, old):
            raise RunMismatchError(wid, stored=stored, given=given)

    async def _workflow(
        self, messages: list[dict[str, Any]], decisions: dict[str, bool | str]
    ) -> dict[str, Any]:
        wid = DBOS.workflow_id
        if wid is None:  # DBOS calls this as a workflow, which always has an id
            raise RuntimeError("the agentkit workflow ran outside a DBOS workflow")
        return await drive_workflow(
            self.agent, wid, messages, decisions, self.deps, go_on=_go_on(wid)
        )

    def _result(self, outcome: Mapping[str, Any]) -> RunResult[OutputT]:
        return outcome_result(outcome, self.agent.config)


def _go_on(wid: str) -> Callable[[bool], str]:
    """How a `DBOSAgent` run that failed goes on: its workflow ended with the error (attaching
    returns it again), so from its conversation, every call of it answered, under a new id;
    a reply an `after_model` hook failed on (`held`) is not in that conversation."""

    def advice(held: bool) -> str:
        said = (
            f"the workflow {wid!r} has ended (run with its id, it returns this error again): "
            "go on under a new workflow id from its conversation, every call in it answered, "
            "with DBOSAgent.run(history=error.result.messages, workflow_id=<a new id>)"
        )
        if held:
            said += (
                ", which asks the model again for the reply the after_model hook failed on "
                "(kept in .result.state.held, with its usage, but not in the conversation)"
            )
        return said

    return advice


async def drive_workflow(
    agent: Agent[Any],
    run_id: str,
    messages: list[dict[str, Any]],
    decisions: dict[str, bool | str],
    deps: object,
    on_event: Emit | None = None,
    told: Mapping[str, dict[str, Any]] | None = None,
    *,
    go_on: Callable[[bool], str],
) -> dict[str, Any]:
    """A DBOS workflow's body: `agent`'s driver over a new run of `messages`, its model and
    tool calls DBOS steps; returns the final state (with how it ended). `run_id` is what tools
    see as `ctx.run_id` and what seeds the back-off jitter; `told`: what the attempt this one
    was forked from told the model of calls it cut (`cut_answers`); `go_on`: how the run goes
    on if it fails, as its error says (`DBOSEffects.advice`)."""
    state = RunState(messages=messages, seed=_seed(run_id))
    engine = Engine(agent.config, state)
    effects = DBOSEffects(run_id, go_on, state.usage, told=told or {})
    try:
        async with (
            observe.run(agent.name, agent.description, agent.model, run_id) as observed,
            agent.client_for_run() as client,
        ):
            await agent.driver.drive(engine, client, deps, decisions, on_event,
                                     observed=observed, effects=effects)
    except LimitExceeded as exc:
        return {"state": stored_state(state), "limit": exc.limit, "error": str(exc)}
    except RunError as exc:
        unexpected = _unexpected_step(exc.__cause__)
        if unexpected is not None:
            return {"state": _unfit(state), "error": _unfit_error(run_id, unexpected)}
        cause = cause_record(exc.__cause__) if exc.__cause__ is not None else None
        return {"state": stored_state(state), "error": str(exc), "cause": cause}
    return {"state": stored_state(state)}


def _unexpected_step(cause: BaseException | None) -> DBOSUnexpectedStepError | None:
    """The DBOS error saying a step does not fit the record, when that is what failed the run:
    alone, or in a group (parallel calls' steps each meet it, as many as get there first)."""
    if isinstance(cause, DBOSUnexpectedStepError):
        return cause
    if isinstance(cause, BaseExceptionGroup):
        group = cast("BaseExceptionGroup[BaseException]", cause)
        found = group.subgroup(DBOSUnexpectedStepError)
        if found is not None:
            return _unexpected_step(found.exceptions[0])
    return None


def _unfit(state: RunState) -> dict[str, Any]:
    """The state of a recovery whose steps stopped fitting the record: the last turn's calls
    it answered itself ("unknown tool", "not run", "not finished": `history.unfinished`, the
    failure's own answer) may have run in the execution that recorded
    them, so they are answered "interrupted" (may or may not have taken effect), never as
    calls that did not run, which a conversation continued from here would repeat."""
    data = stored_state(state)
    last = data["messages"][-1] if data["messages"] else None
    if last is not None and last["role"] == "user" and isinstance(last["content"], list):
        for block in cast("list[dict[str, Any]]", last["content"]):
            text = block.get("content")
            if block.get("type") == "tool_result" and isinstance(text, str) and \
                    text.startswith(("Unknown tool ", "Not run: ", "Not finished: ")):
                block.update(content=INTERRUPTED, is_error=True)
    return data


def _unfit_error(run_id: str, cause: DBOSUnexpectedStepError) -> str:
    return (
        f"the recovery of workflow {run_id!r} does not fit its recorded steps ({cause}). A "
        "turn's calls and which of them are idempotent decide its steps: a tool gone, hidden "
        "or marked otherwise since they were recorded (an MCP server's tool list or hints "
        "changed, a prepare hook) makes them differ. Nothing recorded ran again; the calls "
        "of the last turn are answered as interrupted. Recover it with the tools as they "
        "were, or continue it under a new workflow id with history=error.result.messages"
    )


def _seed(workflow_id: str) -> int:
    """The back-off jitter's seed, the same in every process that runs this workflow."""
    return int.from_bytes(hashlib.sha256(workflow_id.encode()).digest()[:4], "big")
