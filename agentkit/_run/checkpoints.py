"""A durable run's checkpoints: `Journal`, what the driver calls as the run goes, each
commit one `store.append_many`.

It is called on the event loop: a commit is one `write()`, cheaper than a hop to a worker
thread. When the store fsyncs (`synchronous="FULL"`), the fsync is not waited for there: the
store's syncer makes it in its threads and the driver awaits `durability` where the rules
need the disk (before a reply's calls start, before the next model call, before an event
reports a checkpoint, before `run()` returns), the other runs on the loop going on meanwhile.
What is committed:

- `reply`: a model reply, committed before any of its tool calls starts;
- `starting`: the calls of a batch that do not resume (non-idempotent, and no agent's:
  `subagent.resumes`), committed before they start;
- `result`: a tool result, committed as soon as it exists;
- `decisions`: approval decisions, as they are given;
- `context`: the context policy's inputs that are not replies (a token count, an overflow),
  before the step they decide, and its decisions that change the history or the request (a
  trim, a summary to ask for), before the request (so a replay sizes no request, and lists
  no tools for it; the `start` entry says its journal has them);
- usage merged into the run (a sub-agent's, `RunUsage.merged`), with the checkpoint after it;
  a durable sub-run's (`merge`), with its call's result.

How a run opens and ends (the claim, the replay, the status, the release) is `durable.py`'s.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from .._api.wire import Message
from .._durable.journal import EntryKind, Lease, Payload, RunStatus, RunStore, Summary
from .._loop.state import RunState
from .._loop.usage import RunUsage
from .._tools.tool import Tool
from .durability import Durability
from .subagent import resumes

__all__ = ["Journal"]


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
    _held: dict[str, list[RunUsage]] = field(default_factory=dict[str, list[RunUsage]])
    """Usage merged in by calls still running (durable sub-runs'), by call: journaled with
    the call's result (`merge`)."""
    cut: tuple[str, ...] = ()
    """Non-idempotent calls a cancellation cut in this process (`tool_calls.ToolCalls`): the
    answers the engine gives them as the run ends are journaled with its status, so a resume
    tells the model what the run told it, not that the process stopped."""
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
        """A model reply (held or taken: `Engine.hold`), with the run's totals as summary
        columns (absolute values)."""
        s = self.state
        usage, turns = s.usage, s.turns + (s.held is not None)
        self._summary = Summary(  # status, turns, input and output tokens, cost
            "running", turns, usage.input_tokens, usage.output_tokens, usage.known_cost_usd
        )
        raw = message.raw_json  # the reply as it came (bytes, or the dict a stream made): no dump
        payload = (message.raw_wire or message.to_wire()) if raw is None else orjson.Fragment(raw)
        self._pending.append(("reply", payload))
        if not self.defer:
            self.flush()

    async def starting(self, calls: Sequence[Mapping[str, Any]], tools: Mapping[str, Tool]) -> None:
        """Mark the calls of a batch that must not run twice started (non-idempotent, and no
        agent's: its sub-run resumes), before any of them starts; the reply and results still
        pending share the commit. When the store fsyncs, this waits until the disk has it
        (and every commit before it), while other runs on this event loop go on."""
        ids = [c["id"] for c in calls if not resumes(tools[c["name"]])]
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

    def merge(self, tool_use_id: str, usage: RunUsage) -> None:
        """Usage merged into the run by call `tool_use_id` (a durable sub-run's whole usage):
        counted at once, journaled only with the call's result (before it, in its commit). A
        call cut before its result is run again on resume, and brings the sub-run's whole
        usage again: journaled before, the part spent until the cut would count twice."""
        total = self.state.usage
        merged, total.merged = total.merged, None  # not with the next checkpoint: see above
        try:
            total.merge(usage)
        finally:
            total.merged = merged
        self._held.setdefault(tool_use_id, []).append(usage)

    def result(self, block: Mapping[str, Any]) -> None:
        """A tool result that now exists; see the class docstring for when it is committed."""
        if self._held and (held := self._held.pop(block["tool_use_id"], None)):
            merged = self.state.usage.merged
            if merged is not None:  # journaled first, in the result's commit (`flush`)
                merged.extend(held)
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
        if self.cut:  # as the engine answered them when it ended the run
            self._pending.extend(("tool_result", b) for b in _answers(self.state, self.cut))
            self.cut = ()
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


def _answers(state: RunState, ids: Sequence[str]) -> list[Mapping[str, Any]]:
    """The results the run's last user turn gives calls `ids` (none if it gives none)."""
    last = state.messages[-1] if state.messages else None
    if last is None or last["role"] != "user" or isinstance(last["content"], str):
        return []
    wanted = set(ids)
    return [b for b in last["content"]
            if b.get("type") == "tool_result" and b.get("tool_use_id") in wanted]
