"""Durable runs: a run kept in a `RunStore` as a journal of the engine's inputs, so that it
resumes after a crash with nothing repeated that finished.

`open_run` claims the run (a new `run_id` starts it, a known one resumes it), rebuilds its
`RunState` by replaying the journal through the engine (`replay.py`: no model or tool call),
answers the calls a crash interrupted, and records how the run ended. `Journal` is what the
driver calls at each checkpoint, on the event loop: a commit is one `write()`, cheaper than a
hop to a worker thread. When the store fsyncs (`synchronous="FULL"`), the fsync is not waited
for there: the store's syncer makes it in its threads and the driver awaits `durability`
where the rules need the disk (before a reply's calls start, before the next model call,
before an event reports a checkpoint, before `run()` returns), the other runs on the loop
going on meanwhile; the claim and the release, whose SQLite commits fsync, go to a worker
thread then:

- `reply`: a model reply, committed before any of its tool calls starts;
- `starting`: the non-idempotent calls of a batch, committed before they start;
- `result`: a tool result, committed as soon as it exists;
- `decisions`: approval decisions, as they are given;
- `context`: the context policy's inputs that are not replies (a token count, an overflow),
  before the step they decide, and its decisions that change the history or the request (a
  trim, a summary to ask for), before the request (so a replay sizes no request, and lists
  no tools for it; the `start` entry says its journal has them);
- usage merged into the run (a sub-agent's, `RunUsage.merged`), with the checkpoint after it.

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

An observed run (`agentkit.instrument()`) keeps its span's W3C `traceparent` in its `start`
and `status` entries, and a resumed attempt's in an `attempt` entry with its first commit (a
process killed with SIGKILL writes no status), so the span of a resumed run links to the
processes that ran it before (`Journal.traces`); the store never reads it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar, cast

import anyio
import anyio.to_thread
import orjson

from .._api.wire import Message
from .._durable.journal import Entry, EntryKind, Lease, Payload, RunStatus, RunStore, Summary
from .._errors import ConversationError, LimitExceeded, RunMismatchError, StoreError, UsageError
from .._loop.decisions import check_values
from .._loop.engine import APPROVAL_REQUIRED, Engine, EngineConfig
from .._loop.state import RunState
from .._tools.tool import Tool
from .._tools.toolset import Toolset
from .durability import Durability
from .fingerprint import fingerprint, former
from .replay import answer_interrupted, replay

__all__ = ["DurableRun", "Journal", "open_run"]

_T = TypeVar("_T")


@dataclass(slots=True)
class Journal:
    """The driver's checkpoints of one durable run, each committed by `store.append_many`.

    When is a checkpoint committed, exactly:
    - the start, decisions and the end status: at once;
    - a reply: before any of its calls starts and before anything reports it (an event); with
      `defer` it waits, with nothing awaited in between, for the commit of its calls' started
      marks (`starting`), for `flush` before the driver's next step, or for the end status
      (the run's last reply), whichever comes first;
    - started marks: before any call they name starts, in the same commit as the reply (and
      any results still pending);
    - a tool result, "as soon as it exists": without `defer`, before the task that produced it
      goes on; with `defer`, by a callback queued (`loop.call_soon`) the moment it exists, so
      in the event loop's next iteration at the latest, after only the callbacks queued before
      it (another parallel call's step among them: results of calls that finish together share
      one commit), and in any case before the driver takes its next step or commits anything
      else. Never later.

    At FULL "committed" means on the disk: each commit above is written then, and awaited
    (`durability.settled`) before the step, event or return that depends on it.
    """

    store: RunStore
    lease: Lease
    state: RunState
    idempotent: Mapping[str, bool] = field(default_factory=dict[str, bool])
    """Per tool name, as `starting` last saw it."""
    written: int = 0
    """Entries committed by this process (0: the run was only read)."""
    defer: bool = False
    """Set by the driver when nothing can observe a checkpoint before the next one (no event
    consumer): a reply then shares its commit with its calls' started marks, and results of
    calls that finish together share one."""
    traceparent: str | None = None
    """This process's run span (W3C `traceparent`), written with the start and the status."""
    traces: tuple[str, ...] = ()
    """The run spans of the processes that ran this run before, oldest first."""
    resumed: bool = False
    """Whether the run was stored before this process took it: then this process's span (when
    observed) goes in an `attempt` entry with its first commit, as a SIGKILL leaves no status."""
    context_decisions: bool = True
    """Whether a context policy's decisions are journaled (not by an agentkit from before)."""
    run_id: str = field(init=False)
    _pending: list[tuple[EntryKind, Payload]] = field(
        default_factory=list[tuple[EntryKind, Payload]]
    )
    _summary: Summary | None = None
    _queued: bool = False
    _loop: asyncio.AbstractEventLoop | None = None
    """The run's event loop, once a result needed it (asking for it costs a `getpid()`)."""
    _failed: BaseException | None = None
    """A deferred commit that raised (a full disk): raised at the next checkpoint."""
    _attempt: dict[str, Any] | None = None
    """A resumed, observed attempt's span (`traceparent`), for its first commit."""
    durability: Durability | None = field(init=False)
    """The commits on their way to the disk, when the store fsyncs (None: it does not, and
    a commit is done when `append_many` returns)."""

    def __post_init__(self) -> None:
        self.run_id = self.lease.run_id
        self.durability = Durability() if self.store.fsyncs else None
        if self.resumed and self.traceparent is not None:
            self._attempt = {"traceparent": self.traceparent}

    @property
    def due(self) -> bool:
        """Whether something waits to be committed, or to reach the disk (or a deferred commit
        failed): the driver calls `flush` (and awaits `durability`) before its next step only
        then."""
        return (
            bool(self._pending)
            or self._failed is not None
            or (self.durability is not None and self.durability.due)
        )

    @property
    def changed(self) -> bool:
        """Whether this process wrote to the run, or has something pending to write."""
        return bool(self.written or self._pending)

    def reply(self, message: Message) -> None:
        """A model reply, with the run's totals as summary columns (absolute values)."""
        s = self.state
        usage = s.usage
        self._summary = Summary(  # status, turns, input and output tokens, cost
            "running", s.turns, usage.input_tokens, usage.output_tokens, usage.known_cost_usd
        )
        raw = message.raw_json  # the reply as it came (bytes, or the dict a stream made): no dump
        payload = (message.raw_wire or message.to_wire()) if raw is None else orjson.Fragment(raw)
        self._pending.append(("reply", payload))
        if not self.defer:
            self.flush()

    async def starting(self, calls: Sequence[Mapping[str, Any]], tools: Mapping[str, Tool]) -> None:
        """Mark the non-idempotent calls of a batch started, before any of them starts; the
        reply and results still pending share the commit. When the store fsyncs, this waits
        until the disk has it (and every commit before it), while other runs on this event
        loop go on."""
        ids = [c["id"] for c in calls if not tools[c["name"]].idempotent]
        if ids:
            self._pending.append(("tool_started", {"ids": ids}))
        self.flush()
        if self.durability is not None:
            await self.durability.settled()

    def start(self, messages: Sequence[Mapping[str, Any]], seed: int, fingerprint: str) -> None:
        """The run's initial messages, its `RunState.seed` (the back-off jitter's source, so a
        resumed run draws the same jitter as the process that started it), and which run this
        is (its id and fingerprint: a store claiming the journal checks them)."""
        payload = {"messages": list(messages), "seed": seed, "run_id": self.run_id}
        payload["fingerprint"] = fingerprint
        payload["context_decisions"] = True  # a context policy's decisions are journaled
        self._commit("start", self._traced(payload))

    def result(self, block: Mapping[str, Any]) -> None:
        """A tool result that now exists; see the class docstring for when it is committed."""
        self._pending.append(("tool_result", block))
        if not self.defer:
            self.flush()
        elif not self._queued:
            loop = self._loop
            if loop is None:
                try:
                    loop = self._loop = asyncio.get_running_loop()
                except RuntimeError:  # not asyncio (trio): no callback to queue, commit now
                    self.flush()
                    return
            self._queued = True
            loop.call_soon(self._flush_queued)

    def results(self, blocks: Sequence[Mapping[str, Any]]) -> None:
        """Results that exist together (the calls a crash interrupted): one commit."""
        self._pending.extend(("tool_result", b) for b in blocks)
        self.flush()

    def decisions(self, decided: Mapping[str, bool | str]) -> None:
        self._commit("decisions", {"decisions": dict(decided)})

    def context(self, notes: Sequence[Mapping[str, Any]]) -> None:
        """The context policy's inputs (`ContextManager.notes`), with the next checkpoint."""
        self._pending.extend(("context", dict(n)) for n in notes)
        if not self.defer:
            self.flush()

    def status(self, status: RunStatus, reason: str | None) -> None:
        totals = self._summary  # a pending reply's, if any: one commit
        self._summary = Summary(status) if totals is None else totals._replace(status=status)
        payload: dict[str, Any] = {"status": status, "reason": reason}
        if status == "paused":  # which calls wait for a decision, for readers of the journal
            payload["awaiting"] = list(self.state.awaiting_approval)
        self._commit("status", self._traced(payload))

    def flush(self) -> None:
        """Commit what is pending (a reply, results, marks), if anything, in one transaction."""
        if self._failed is not None:
            failed, self._failed = self._failed, None
            raise failed
        if not self._pending:
            return
        entries, summary = self._pending, self._summary
        self._pending, self._summary = [], None
        merged = self.state.usage.merged
        if merged:  # usage merged in since the last commit (a sub-agent's), before what follows
            entries[:0] = [("usage", usage.to_dict()) for usage in merged]
            merged.clear()
            # The totals too, as a reply sets them: no reply may follow (a limit, a failure).
            s, usage = self.state, self.state.usage
            status = None if summary is None else summary.status
            summary = Summary(
                status, s.turns, usage.input_tokens, usage.output_tokens, usage.known_cost_usd
            )
        if self._attempt is not None:  # this process's span, with its first commit
            entries.insert(0, ("attempt", self._attempt))
            self._attempt = None
        durability = self.durability
        if durability is None:
            self.store.append_many(self.lease, entries, summary=summary)
        else:  # written now, on the disk later: awaited where the rules need it
            self.store.append_many(self.lease, entries, summary=summary, then=durability.then)
            durability.sent()
        self.written += len(entries)

    def _flush_queued(self) -> None:
        self._queued = False
        try:
            self.flush()
        except BaseException as exc:  # raised at the run's next checkpoint
            self._failed = exc

    def _traced(self, payload: dict[str, Any]) -> dict[str, Any]:
        if self.traceparent is not None:
            payload["traceparent"] = self.traceparent
        return payload

    def _commit(self, kind: EntryKind, payload: Mapping[str, Any]) -> None:
        self._pending.append((kind, payload))
        self.flush()


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
) -> AsyncGenerator[DurableRun]:
    """Claim run `run_id` and rebuild its state; on leaving, record how it ended (finished,
    paused, failed, interrupted) and release the lease.

    `messages` are the run's initial messages (history and prompt); None resumes a stored run
    without checking its prompt (the agent is still checked). `traceparent`: the observed
    run's span, kept in the journal (see the module docstring). `decisions` (the resume's) are
    checked before anything is written (against the run once replayed), so a caller's mistake
    writes nothing; so is a new run that meets one before its first reply (`_forget`).

    Raises:
        RunMismatchError: the run was stored for another prompt or agent.
        RunLockedError: another live process is running it.
        UsageError: no such run and no prompt to start it with (also when it was deleted
            meanwhile); `decisions` for a new run (it has no call to decide) or no decisions.
        StoreFormatError: the file or the run is not one this agentkit can read.
        StoreError: the journal does not fit this agent (its tools changed since).
    """
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
        started = await replay(engine, entries[1:], toolset, deps, run_id)
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
    try:
        yield run
    except BaseException as exc:
        if claim.created and journal.written == 1 and not journal.due and _local(exc):
            _forget(store, journal.lease)
            raise
        status, reason = _raised(exc)
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
        with contextlib.suppress(StoreError):
            await _header_write(store, partial(store.release, journal.lease))


_AT_REST: tuple[RunStatus, ...] = ("finished", "paused")
"""Statuses that describe the journal itself (it ended, or waits for decisions), true as long
as nothing is added to it; the others describe how the last process left it."""


async def _header_write(store: RunStore, write: Callable[[], _T]) -> _T:
    """A claim or a release: a commit of the header's SQLite transaction, which waits for the
    disk at FULL, so made in a worker thread then (once per run, not per checkpoint); shielded,
    so it is never left half known."""
    if not store.fsyncs:
        return write()
    done: list[_T] = []
    with anyio.CancelScope(shield=True):
        done.append(await anyio.to_thread.run_sync(write))
    return done[0]


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


def _ended(state: RunState) -> RunStatus:
    """How a run that returned ended: the driver's own aborts are told apart."""
    if state.stop_reason == APPROVAL_REQUIRED and not state.done:
        return "paused"
    if state.stop_reason == "cancelled":
        return "interrupted"
    return "failed" if state.stop_reason == "failed" else "finished"


def _where(store: RunStore) -> str:
    return str(getattr(store, "path", store))
