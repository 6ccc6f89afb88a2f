"""Durable runs: a run kept in a `RunStore` as a journal of the engine's inputs, so that it
resumes after a crash with nothing repeated that finished.

`open_run` claims the run (a new `run_id` starts it, a known one resumes it), rebuilds its
`RunState` by replaying the journal through the engine (`replay.py`: no model or tool call),
answers the calls a crash interrupted, and records how the run ended. The checkpoints between
are `checkpoints.Journal`'s, which the driver calls. When the store fsyncs
(`synchronous="FULL"`), the claim and the release, whose SQLite commits fsync, go to a worker
thread.

Usage is stored only as the replies hold it, and as merged in from outside them (a sub-agent's
`usage` entries): a resume recomputes it from the replayed entries, so nothing is counted
twice or dropped. Replay answers the engine's `ListTools` by running the toolset's
`prepare` hooks again with that turn's context (the tools offered on a turn decide what the
engine does with its calls). The `start` entry keeps `RunState.seed`, so a resumed run's
back-offs are drawn as the first process's were, and the run's id and fingerprint, so a store
never resumes another run's journal (`journal.expect_run`). What is not journalled on
purpose: failed model attempts (a resumed call starts with its whole retry budget) and the
deadline (per call: `Limits.timeout` counts from each start or resume, on the process's own
clock).

While the run goes on, `subagent.CALLER` names its journal: an agent it uses as a tool runs
each call as a durable run of its own in the same store (`subagent.py`).

An observed run (`agentkit.instrument()`) keeps its span's W3C `traceparent` in its `start`
and `status` entries, and a resumed attempt's in an `attempt` entry with its first commit (a
process killed with SIGKILL writes no status), so the span of a resumed run links to the
processes that ran it before (`Journal.traces`); the store never reads it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar, cast

import anyio
import anyio.to_thread

from .._durable.journal import Claim, Entry, Lease, RunStatus, RunStore, check_store
from .._errors import ConversationError, LimitExceeded, RunMismatchError, StoreError, UsageError
from .._loop.decisions import check_values
from .._loop.engine import APPROVAL_REQUIRED, Engine, EngineConfig
from .._loop.state import RunState
from .._tools.toolset import Toolset
from .checkpoints import Journal
from .fingerprint import fingerprint, former
from .replay import answer_interrupted, replay
from .subagent import CALLER, opened

__all__ = ["DurableRun", "Journal", "open_run"]

_T = TypeVar("_T")


@dataclass(slots=True)
class DurableRun:
    """A claimed run: its engine (the state replayed) and its journal."""

    engine: Engine
    journal: Journal


@asynccontextmanager
async def open_run(
    store: RunStore,
    run_id: str,
    *,
    config: EngineConfig,
    toolset: Toolset,
    agent: str,
    messages: list[dict[str, Any]] | None,
    deps: object,
    traceparent: str | None = None,
    decisions: Mapping[str, bool | str] | None = None,
    checked: bool = False,
) -> AsyncGenerator[DurableRun]:
    """Claim run `run_id` and rebuild its state; on leaving, record how it ended (finished,
    paused, failed, interrupted) and release the lease.

    `messages` are the run's initial messages (history and prompt); None resumes a stored run
    without checking its prompt (the agent is still checked). `traceparent`: the observed
    run's span, kept in the journal (see the module docstring). `decisions` (the resume's) are
    checked before anything is written (against the run once replayed), so a caller's mistake
    writes nothing; so is a new run that meets one before its first reply (`_forget`).
    `checked`: the agent has an `after_model` hook (`replay.replay`).

    Raises:
        RunMismatchError: the run was stored for another prompt or agent.
        RunLockedError: another live process is running it.
        UsageError: no such run and no prompt to start it with (also when it was deleted
            meanwhile); `decisions` for a new run (it has no call to decide) or no decisions;
            `store` is no run store (a path given for it).
        StoreFormatError: the file or the run is not one this agentkit can read.
        StoreError: the journal does not fit this agent (its tools changed since).
    """
    check_store(store)
    if decisions:
        check_values(decisions)
        if messages is not None and store.header(run_id) is None:
            raise UsageError(
                f"decisions= names {', '.join(map(repr, decisions))}, but run {run_id!r} is new "
                "and has made no tool call to decide; decisions are for resuming a paused run "
                "(`result.pending_approvals`). Nothing was stored"
            )
    given = fingerprint(config, toolset.names, messages)
    old = former(config, toolset.names, given)
    if messages is None:
        given, old = _stored_fingerprint(store, run_id, given, old)
    claim = await _header_write(
        store,
        partial(
            store.claim, run_id, fingerprint=given, former=old, model=config.model, agent=agent
        ),
        partial(_unclaim, store),
    )
    lease = claim.lease
    if claim.created and messages is None:
        # Deleted by another process since its header was read: a resume has no prompt to
        # start it with, and the claim must not leave an empty run in the deleted one's place.
        _forget(store, lease)
        raise _no_run(store, run_id)
    try:
        entries = [] if claim.created else store.entries(run_id)
        journal = _journal(store, lease, given, entries, messages, traceparent)
        engine = Engine(config, journal.state)
        if engine.context is not None:
            engine.context.noted = journal.context_decisions
        rest = entries[1:]  # after its start: nothing for a new run, which skips the replay
        started: set[str] = set()
        if rest:
            started = await replay(engine, rest, toolset, deps, run_id, checked=checked)
        if decisions:  # refused before the calls a crash cut are answered in the journal
            engine.check_decisions(decisions)
        interrupted = answer_interrupted(engine, started)
        if interrupted:
            journal.results(interrupted)
        engine.state.usage.merged = []  # from here on, usage merged in is journaled
        header_status = claim.run.status
        run = DurableRun(engine, journal)
    except BaseException:
        with contextlib.suppress(StoreError):
            store.release(lease)
        raise
    opened(run_id, engine.state)
    caller = CALLER.set(journal)  # its agents used as tools run durably, in this store
    try:
        yield run
    except BaseException as exc:
        if claim.created and journal.written == 1 and not journal.due and _local(exc):
            _forget(store, journal.lease)
            raise
        status, reason = _over(engine.state) or _raised(exc)
        if not journal.changed and (isinstance(exc, UsageError) or header_status in _AT_REST):
            # This call wrote nothing, so its journal is as stored and so is what its status
            # says: a caller's mistake, or a consumer cancelled or failing while a finished or
            # paused run was handed back, is no end of the run.
            raise
        if journal.changed or header_status != status:
            with contextlib.suppress(StoreError):
                journal.status(status, reason)
        await _settled(journal)
        raise
    else:
        status = _ended(engine.state)
        if journal.changed or header_status != status:
            journal.status(status, engine.state.stop_reason)
        if journal.durability is not None:  # the status on the disk before `run()` returns
            await journal.durability.settled()
    finally:
        CALLER.reset(caller)
        with contextlib.suppress(StoreError):
            await _header_write(store, partial(store.release, journal.lease))


_AT_REST: tuple[RunStatus, ...] = ("finished", "paused")
"""Statuses that describe the journal itself (it ended, or waits for decisions), true as long
as nothing is added to it; the others describe how the last process left it."""


async def _header_write(
    store: RunStore, write: Callable[[], _T], undo: Callable[[_T], object] | None = None
) -> _T:
    """A claim or a release: a commit of the header's SQLite transaction, which waits for the
    disk at FULL, so made in a worker thread then (once per run, not per checkpoint); shielded,
    so it is never left half known. asyncio's own cancellation (`task.cancel()`,
    `asyncio.timeout`) goes through the shield: the write then ends in its thread, and what it
    took that the caller will never have (a claim's lease) is given back by `undo`, before the
    cancellation goes on (the run is free again when the caller hears of it)."""
    if not store.fsyncs:
        return write()
    lock, finished = threading.Lock(), threading.Event()
    done: list[_T] = []  # the value, for the caller to take
    began: list[bool] = []  # the thread is writing
    gone: list[bool] = []  # the caller stopped waiting: the thread undoes what it wrote

    def work() -> None:
        with lock:
            if gone:  # cancelled before its thread began: nothing written, nothing to undo
                return
            began.append(True)
        try:
            value = write()
            with lock:
                if not gone:
                    done.append(value)
                    return
            if undo is not None:
                undo(value)
        finally:
            finished.set()

    try:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(work)
    except BaseException:
        with lock:
            gone.append(True)
            untaken = list(done)  # written, but the caller was cancelled before taking it
            writing = bool(began) and not finished.is_set()
        if untaken and undo is not None:
            undo(untaken[0])
        elif writing:  # its thread undoes what it writes: waited for, so it is done here
            await anyio.to_thread.run_sync(finished.wait)
        raise
    return done[0]


def _unclaim(store: RunStore, claim: Claim) -> None:
    """Give back a claim its caller never had (cancelled while it committed): a run it created
    is forgotten (it did nothing), a stored one released as it was."""
    if claim.created:
        _forget(store, claim.lease)
        return
    with contextlib.suppress(StoreError):
        store.release(claim.lease)


async def _settled(journal: Journal) -> None:
    """Wait for a stopping run's commits to reach the disk (a cancelled run's too), whatever
    they raise: the run stops with what stopped it."""
    if journal.durability is not None:
        with anyio.CancelScope(shield=True), contextlib.suppress(StoreError):
            await journal.durability.settled()


def _local(exc: BaseException) -> bool:
    """A caller's mistake found in the run (a request its own checks refuse), not a failure."""
    return isinstance(exc, UsageError | ConversationError)


def _forget(store: RunStore, lease: Lease) -> None:
    """Delete a run this call created that did nothing but start (a caller's mistake found at
    its first request): stored, it would be a failed run that never was; fixed, the same call
    starts it afresh."""
    with contextlib.suppress(StoreError):
        store.release(lease)
        store.delete(lease.run_id)


def _stored_fingerprint(
    store: RunStore, run_id: str, given: str, old: str | None
) -> tuple[str, str | None]:
    """The fingerprints to claim the stored run with, when resuming without a prompt (`given`
    and `old`, this agent's now and before context policies were fingerprinted, with the stored
    run's prompt half): its agent half must be this agent's (the prompt half cannot be checked,
    having no prompt)."""
    header = store.header(run_id)
    if header is None:
        raise _no_run(store, run_id)
    agent, prompt = header.fingerprint.split("-")[0], header.fingerprint.rpartition("-")[2]
    if agent == given.split("-")[0] or (old is not None and agent == old.split("-")[0]):
        now = f"{given.split('-')[0]}-{prompt}"
        return now, None if old is None else f"{old.split('-')[0]}-{prompt}"
    raise RunMismatchError(run_id, stored=header.fingerprint, given=given)


def _no_run(store: RunStore, run_id: str) -> UsageError:
    return UsageError(
        f"there is no run {run_id!r} in {_where(store)} to resume; pass a prompt to start it"
    )


def _journal(
    store: RunStore,
    lease: Lease,
    given: str,
    entries: Sequence[Entry],
    messages: list[dict[str, Any]] | None,
    traceparent: str | None,
) -> Journal:
    """The run's journal over its initial state: the stored `start`, or a new one."""
    if entries and entries[0].kind == "start":
        first = entries[0].payload
        state = RunState(
            messages=cast("list[dict[str, Any]]", first["messages"]),
            seed=cast(int, first["seed"]),
        )
        traced = ("start", "status", "attempt")
        traces = [e.payload.get("traceparent") for e in entries if e.kind in traced]
        earlier = tuple(dict.fromkeys(t for t in traces if isinstance(t, str)))
        return Journal(
            store, lease, state, traceparent=traceparent, traces=earlier, resumed=True,
            context_decisions=first.get("context_decisions") is True,
        )
    if messages is None:
        raise StoreError(
            f"run {lease.run_id!r} in {_where(store)} was claimed but never started (its process "
            "stopped at once); pass the prompt again to start it"
        )
    state = RunState(messages=[dict(m) for m in messages])
    journal = Journal(store, lease, state, traceparent=traceparent)
    journal.start(messages, state.seed, given)
    return journal


def _raised(exc: BaseException) -> tuple[RunStatus, str]:
    """How a run that raised ended, and why. A limit ends it (a call with the limit raised
    goes on: limits are not fingerprinted), but for the timeout: the deadline is per call (a
    resumed run gets `Limits.timeout` afresh, from when it resumes), so a run that timed out
    is interrupted and the same call resumes it. A run that failed (its model call gave up:
    `RunError`) resumes with that call."""
    if isinstance(exc, LimitExceeded):
        return ("interrupted" if exc.limit == "timeout" else "finished"), exc.limit
    if isinstance(exc, anyio.get_cancelled_exc_class()):
        return "interrupted", "cancelled"  # its message names tasks and scopes, no reason
    status: RunStatus = "failed" if isinstance(exc, Exception) else "interrupted"
    message = str(exc)
    return status, f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _over(state: RunState) -> tuple[RunStatus, str] | None:
    """How a run ended on its own when its call raised after (its consumer failed or was
    cancelled on `RunFinished`): stored as it ended, as its journal says. None when it had not
    ended, or the driver ended it (failed, cancelled)."""
    reason = state.stop_reason
    if reason is None or reason in ("failed", "cancelled"):
        return None
    if not (state.done or reason == APPROVAL_REQUIRED):
        return None
    if state.limit is not None:  # as `_raised` stores the `LimitExceeded` it raises
        return ("interrupted" if state.limit == "timeout" else "finished"), state.limit
    return _ended(state), reason


def _ended(state: RunState) -> RunStatus:
    """How a run that returned ended: the driver's own aborts are told apart."""
    if state.stop_reason == APPROVAL_REQUIRED and not state.done:
        return "paused"
    if state.stop_reason == "cancelled":
        return "interrupted"
    return "failed" if state.stop_reason == "failed" else "finished"


def _where(store: RunStore) -> str:
    return str(getattr(store, "path", store))
