"""`HostedRuns`: every `Agent.run` made under it becomes a DBOS workflow whose id is its
content, so code that makes agents as it goes (a recipe, a batch item) is durable without
registering them before `DBOS.launch()`.

A run's workflow id is `{prefix}:{agent name}:{fingerprint of agent and prompt}:{n}` (`n`
counts the same run made again under the same prefix): the same code run again under the
same prefix (a batch rerun after a crash) finds each of its runs by what it is, whatever
order parallel runs start in (a run that an agentkit from before context policies were
fingerprinted started is found by the id it gave it: `fingerprint.former`). A finished run
returns its recorded result, calling nothing; a new one starts; one whose process died is
resumed here from its checkpoints: DBOS forks it into the next attempt (`{id}~2`, `~3`, ...),
the recorded steps copied, on this process's own application version, so only this process
(which holds the live agent, its client and `deps`) runs it. A run that ended in an error is
resumed the same way, its failed model call sent again (`_fork`), and with what it told the
model of the calls it cut (`cut_answers`). Tools see the first attempt's id as `ctx.run_id`,
so `ctx.idempotency_key` stays the same across attempts.

The live objects of a run (agent, deps, event sink) are kept in this process by workflow id,
never stored. A run whose caller is cancelled is cancelled too (DBOS would go on running it,
shielded from its caller), so its rerun is the only execution going on. A run made inside a
DBOS workflow or step (an agent used as a tool, a `DBOSAgent`'s) is the agent's own: the step
around it is what is recorded.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections import Counter
from collections.abc import AsyncGenerator, Callable, Generator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, cast

import anyio
from dbos import DBOS, SetWorkflowID, WorkflowHandleAsync

from .._errors import UsageError
from .._run.agent import Agent
from .._run.driver import Emit
from .._run.effects import RUN_HOST
from .._run.fingerprint import fingerprint, former
from ._agent import drive_workflow
from ._effects import MODEL_STEP
from ._outcome import cut_answers, outcome_result

__all__ = ["HostedRuns", "launched"]

WORKFLOW_NAME = "agentkit.hosted_run"
_ENDED_BADLY = frozenset({"ERROR", "CANCELLED", "MAX_RECOVERY_ATTEMPTS_EXCEEDED"})


@dataclass(slots=True)
class _Executions:
    """A workflow's executions in this process (DBOS runs each in a task of its own, shielded
    from the caller: on DBOS's own loop, in another thread, when it was launched outside one)
    and whether its caller stopped them, under a lock: an execution that begins while its
    caller stops is either stopped by it or never runs, never left going on."""

    tasks: set[asyncio.Task[Any]] = field(default_factory=set[asyncio.Task[Any]])
    stopped: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def enter(self, task: asyncio.Task[Any]) -> bool:
        """Whether `task` may run the workflow (its caller has not stopped it); kept if so."""
        with self.lock:
            if not self.stopped:
                self.tasks.add(task)
            return not self.stopped

    def leave(self, task: asyncio.Task[Any]) -> None:
        with self.lock:
            self.tasks.discard(task)

    def stop(self) -> list[asyncio.Task[Any]]:
        """The executions to cancel; none begins after this."""
        with self.lock:
            self.stopped = True
            return list(self.tasks)


@dataclass(frozen=True, slots=True)
class _Live:
    agent: Agent[Any]
    run_id: str
    deps: object
    on_event: Emit | None
    go_on: Callable[[bool], str]
    """How the run goes on if it fails: its code run again under its prefix (a held reply
    is replayed, its hook run on it again)."""
    told: Mapping[str, dict[str, Any]] = field(default_factory=dict[str, dict[str, Any]])
    """What the attempt this one goes on from told the model of calls it cut."""
    running: _Executions = field(default_factory=_Executions)
    """The workflow's execution in this process: cancelled with its caller (`_stop`)."""


_LIVE: dict[str, _Live] = {}
_ACTIVE: set[str] = set()
"""The runs (first attempt ids) going on in this process: one may not start twice at once."""


async def _hosted_run(
    messages: list[dict[str, Any]], decisions: dict[str, bool | str]
) -> dict[str, Any]:
    wid = DBOS.workflow_id
    live = _LIVE.get(wid or "")
    if live is None:
        raise RuntimeError(
            f"the agent run {wid!r} has no live agent in this process; it resumes when the "
            "code that made it runs again under the same prefix (rerun the batch)"
        )
    task = cast("asyncio.Task[Any]", asyncio.current_task())  # DBOS runs it in a task
    if not live.running.enter(task):  # its caller stopped it as it began (another thread)
        raise RuntimeError(
            f"the agent run {wid!r} was stopped by its caller before it began; it resumes "
            "when the code that made it runs again under the same prefix (rerun the batch)"
        )
    try:
        return await drive_workflow(
            live.agent, live.run_id, messages, decisions, live.deps, live.on_event, live.told,
            go_on=live.go_on,
        )
    finally:
        live.running.leave(task)


_workflow = DBOS.workflow(name=WORKFLOW_NAME)(_hosted_run)


@dataclass(slots=True)
class HostedRuns:
    """Runs each `Agent.run` made under it (`with hosted.active():`) as a DBOS workflow
    named by `prefix` and the run's content."""

    prefix: str
    _made: Counter[str] = field(default_factory=Counter[str])

    @contextmanager
    def active(self) -> Generator[None]:
        """Hand the `Agent.run` calls of this context (and of tasks it starts) to this."""
        token = RUN_HOST.set(self)
        try:
            yield
        finally:
            RUN_HOST.reset(token)

    async def run(
        self, agent: Agent[Any], prompt: str | list[dict[str, Any]] | None, on_event: Any,
        args: Mapping[str, Any],
    ) -> Any:
        if DBOS.workflow_id is not None or args.get("store") is not None:
            # Inside a workflow or step, which records it; or a store's (the agent says why).
            token = RUN_HOST.set(None)
            try:
                return await agent.run(prompt, on_event=on_event, **args)
            finally:
                RUN_HOST.reset(token)
        if args.get("decisions"):
            raise UsageError(
                "decisions= cannot be given to a run under HostedRuns (DBOS): each call is a "
                "workflow of its own, and one that paused for approval stays ended. Give the "
                "agent an approve= callback (its decisions are recorded as a step), or "
                "continue the paused run outside HostedRuns with agent.run(state=result.state, "
                "decisions=...). Nothing was run"
            )
        messages = agent.first_messages(prompt, args.get("history"))
        given = fingerprint(agent.config, agent.toolset.names, messages)
        key = f"{self.prefix}:{agent.name or 'agent'}:{given}"
        n = self._made[key]
        self._made[key] += 1  # before any await: parallel runs of the same content differ
        base = f"{key}:{n}"
        old = former(agent.config, agent.toolset.names, given)
        if old is not None:
            base = await _started(base, f"{self.prefix}:{agent.name or 'agent'}:{old}:{n}")
        if base in _ACTIVE:
            raise UsageError(
                f"the run {base!r} is going on in this process already: give each HostedRuns "
                "that runs at the same time a prefix of its own"
            )
        go_on = (
            f"run the same code again under HostedRuns({self.prefix!r}) (a durable batch: "
            "rerun it with the same batch id) once the cause is fixed: this run goes on from "
            "its recorded steps, nothing that finished in it done again"
        )
        live = _Live(agent, base, args.get("deps"), on_event, lambda held: go_on)
        decisions = dict(args.get("decisions") or {})
        _ACTIVE.add(base)
        try:
            outcome = await _outcome(base, live, messages, decisions)
        finally:
            _ACTIVE.discard(base)
        return outcome_result(outcome, agent.config)


async def _started(base: str, legacy: str) -> str:
    """The first attempt id of a run: `base`, or `legacy` (its id under an agentkit from before
    context policies were fingerprinted) when a workflow was started under that one and none
    under `base`, so a run that agentkit left unfinished goes on rather than starting again."""
    if await DBOS.get_workflow_status_async(base) is not None:
        return base
    return legacy if await DBOS.get_workflow_status_async(legacy) is not None else base


def _attempt(base: str, n: int) -> str:
    return base if n == 1 else f"{base}~{n}"


async def _outcome(
    base: str, live: _Live, messages: list[dict[str, Any]], decisions: dict[str, bool | str]
) -> dict[str, Any]:
    """The run's outcome: recorded, resumed from the last attempt, or from a new start."""
    n, last = 1, None
    while (status := await DBOS.get_workflow_status_async(_attempt(base, n))) is not None:
        last, n = status, n + 1
    wid = _attempt(base, n)
    _LIVE[wid] = live
    try:  # `_LIVE[wid]` is what the workflow runs with, whichever way it is started
        handle: WorkflowHandleAsync[dict[str, Any]]
        if last is None:
            with SetWorkflowID(wid):
                handle = await DBOS.start_workflow_async(_workflow, messages, decisions)
        elif last.status == "SUCCESS":
            previous: WorkflowHandleAsync[dict[str, Any]] = await DBOS.retrieve_workflow_async(
                last.workflow_id
            )
            outcome = await previous.get_result()
            if outcome.get("error") is None:
                return outcome
            _LIVE[wid] = replace(live, told=cut_answers(outcome))
            handle = await _fork(last.workflow_id, wid, retry_model=True)
        else:  # its process died (PENDING, ENQUEUED), or it raised: go on from its steps
            handle = await _fork(last.workflow_id, wid, retry_model=last.status in _ENDED_BADLY)
        try:
            return await handle.get_result()
        except asyncio.CancelledError:
            await _stop(_LIVE[wid])
            raise
    finally:
        del _LIVE[wid]


async def _stop(live: _Live) -> None:
    """A run whose caller was cancelled stops, as `Agent.run` does (its open calls answered in
    memory, its workflow left to resume): DBOS would go on running it in the background, and
    the caller's rerun would fork it while it ran, two executions each calling the model and
    the tools. Waits, shielded, until it stopped; one that has not begun never runs (its
    live agent is gone by then, or it finds itself stopped: `_Executions`)."""
    with anyio.CancelScope(shield=True):
        here = asyncio.get_running_loop()
        for task in live.running.stop():
            home = task.get_loop()  # DBOS's own loop when it was launched outside one
            if home is here:
                task.cancel()
                await asyncio.wait({task})
                continue
            home.call_soon_threadsafe(task.cancel)
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(_ended(task), home))


async def _ended(task: asyncio.Task[Any]) -> None:
    await asyncio.wait({task})


async def _fork(source: str, wid: str, *, retry_model: bool) -> WorkflowHandleAsync[Any]:
    """`source` forked into `wid` with every recorded step (but a last model call that
    failed, with `retry_model`), run by this process: forks go to its own application version.
    A last model call that got its reply is kept: the run failed after it (an `after_model`
    hook, a limit, a step user code failed, unrecorded), and sending it again would pay twice."""
    steps = sorted(await DBOS.list_workflow_steps_async(source, load_output=retry_model),
                   key=lambda s: s["function_id"])
    start = steps[-1]["function_id"] + 1 if steps else 1
    last = steps[-1] if retry_model and steps else None
    if last is not None and last["function_name"] == MODEL_STEP and _failed(last["output"]):
        start -= 1
    with SetWorkflowID(wid):
        return await DBOS.fork_workflow_async(
            source, start, application_version=DBOS.application_version
        )


def _failed(output: object) -> bool:
    """Whether a model step's recorded output is a failed call's (`DBOSEffects.model`)."""
    return isinstance(output, dict) and "error" in output


async def _is_launched() -> bool:
    try:
        await DBOS.get_workflow_status_async("agentkit-launched-probe")
    except Exception:  # DBOS's error for "not launched" has no class of its own
        return False
    return True


@asynccontextmanager
async def launched(system_database_url: str | None) -> AsyncGenerator[None]:
    """DBOS launched on `system_database_url` in this event loop for the block (None: the
    DBOS this process launched already), with an executor id and application version of its
    own: a run this process leaves unfinished is resumed by the code that made it, run again
    (`HostedRuns`), never by another process's recovery.

    Raises:
        UsageError: None and DBOS is not launched in this process, or a URL and it is.
    """
    running = await _is_launched()
    if system_database_url is None:
        if not running:
            raise UsageError(
                "no system database given and DBOS is not launched in this process: pass "
                "one (sqlite:///file or postgresql://...) or launch DBOS first"
            )
        yield
        return
    if running:
        raise UsageError(
            "DBOS is launched in this process already (one per process): run the batch on it "
            "with DurableRunner(runner) and no db, or in a process of its own"
        )
    own = f"agentkit-{uuid.uuid4().hex[:16]}"
    DBOS(config={"name": "agentkit-batch", "system_database_url": system_database_url,
                 "executor_id": own, "application_version": own, "log_level": "WARNING"})
    try:
        DBOS.launch()
        yield
    finally:
        DBOS.destroy(destroy_registry=False)
