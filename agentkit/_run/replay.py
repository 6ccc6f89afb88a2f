"""Replaying a durable run's journal through the engine: the engine's state rebuilt from the
entries a process committed, with no model or tool call, and the calls a crash interrupted
answered. `durable.py` claims the run and keeps its journal; this is how its state comes back.

The engine decides each step as it did the first time (`next_step()` without a time: no
deadline in replay), in its replaying mode: it builds no request (the journal holds each reply,
and a context policy's decisions as notes; a journal begun before those were journaled has the
policy size each request again, its tools listed) and asks for a turn's tools only when
they decide something, i.e. when one of the turn's calls has no journaled result (an unknown
tool, a denied call, one awaiting approval) or is still open when the journal ends (the run
goes on from there with that turn's tools; the engine lists no tools for calls that all have
their results, live or replayed). Each `ListTools` is answered by the toolset's
`prepare` hooks again with that turn's context as it was when its request was made, so a turn
offers the tools it offered; a turn whose calls all returned lists nothing, so the stored
result of a finished run is read back with its tool sources (MCP servers) down, with a context
policy too. The journal's replies, decisions, context notes and merged usage are fed where the
driver fed them. Started
marks and results are fed as they come, for the calls still open (anything else does not
fit): a journaled result is what the call returned, whatever tools the agent offers today.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any, cast

from .._api.wire import Message, tool_result
from .._durable.journal import Entry
from .._errors import ConversationError, RunError, StoreError, UsageError
from .._loop.engine import Engine
from .._loop.limits import Limits
from .._loop.steps import CallModel, ListTools
from .._loop.usage import RunUsage
from .._tools.context import RunContext
from .._tools.toolset import Toolset

__all__ = ["INTERRUPTED", "answer_interrupted", "replay"]

INTERRUPTED = (
    "Interrupted: the process running this tool call stopped before the call finished, so it "
    "may or may not have taken effect. It was not run again (it is not marked idempotent); "
    "check its effect before calling it again."
)


async def replay(
    engine: Engine, entries: Sequence[Entry], toolset: Toolset, deps: object, run_id: str,
    *, checked: bool = False,
) -> set[str]:
    """Feed the journal's entries to the engine, asking it for each step as the driver does
    (no deadline: `next_step()` without a time), with no limits and no `stop_when`: they
    decide live steps, and the journal says how far the run went (a run stopped by a limit
    and continued under a raised one replays whole under either; the live steps after it meet
    today's). A `stop_when` that reads more than the state (a flag a user's "stop" button
    sets) would otherwise end the replay where the first process went on. Each turn's tools
    are listed again with the turn's own context, as the driver listed them. `checked`: the
    agent has an `after_model` hook, which may not have passed on the last reply (`_unchecked`):
    that reply is held (`Engine.hold`), for the driver to run the hook on it again. Returns the
    ids of calls marked started that have no result yet."""
    config = engine.config
    engine.config = replace(config, limits=_UNLIMITED, stop_when=None)
    engine.replaying = True
    held = _unchecked(entries) if checked else None
    try:
        return await _feed(engine, entries, toolset, deps, run_id, held)
    finally:
        engine.config, engine.replaying = config, False


_UNLIMITED = Limits()


def _unchecked(entries: Sequence[Entry]) -> Entry | None:
    """The last reply, when its `after_model` hook may not have passed: nothing follows it but
    how a process left the run (failed, interrupted, or nothing: a crash). A run that went on
    from a reply, or ended with it (finished, paused), had the hook pass on it."""
    for entry in reversed(entries):
        if entry.kind == "reply":
            return entry
        left = entry.kind == "status" and entry.payload.get("status") in ("failed", "interrupted")
        if not (left or entry.kind == "attempt"):
            return None
    return None


async def _feed(
    engine: Engine, entries: Sequence[Entry], toolset: Toolset, deps: object, run_id: str,
    held: Entry | None,
) -> set[str]:
    s = engine.state
    started: set[str] = set()
    todo = [e for e in entries if e.kind not in ("status", "attempt")]
    asked = _Asked(engine)  # the context each turn's tools were listed with
    i = 0
    while i < len(todo):
        entry = todo[i]
        if entry.kind == "decisions":
            engine.on_decisions(cast("dict[str, bool | str]", entry.payload["decisions"]))
            i += 1
            continue
        if entry.kind == "usage":  # merged where it was merged (a hook's, a sub-agent's)
            s.usage.merge(RunUsage.from_dict(entry.payload))
            i += 1
            continue
        if entry.kind in ("tool_started", "tool_result"):
            # Fed as they come, before the engine is asked for its tool step: a journaled call
            # ran with the tools of its day, so today's list (a tool hidden or gone since)
            # must not turn it into an "unknown tool" the engine answers itself.
            _call_made(engine, entry, run_id, started)
            i += 1
            continue
        step = engine.next_step()
        engine.resolved.clear()
        if isinstance(step, ListTools):
            await asked.list_tools(step.turn, toolset, deps, run_id)
        elif entry.kind == "context":  # what the step just asked for: a count, an overflow
            engine.on_context(entry.payload)
            i += 1
        elif isinstance(step, CallModel) and entry.kind == "reply":
            asked.request()
            message = Message.from_wire(entry.payload)
            if entry is held:  # its after_model hook runs on it again before the run goes on
                engine.hold(message)
            else:
                engine.on_reply(message)
            i += 1
        else:
            raise _misfit(run_id, entry, f"the agent's next step is {type(step).__name__}")
    if any(c["id"] not in s.results for c in s.pending) and asked.turn != s.turns - 1:
        # Calls of the last reply are still open: the live steps decide on that turn's tools,
        # listed here with the context of its request, as the first process listed them.
        engine.replaying = False
        step = engine.next_step()
        if isinstance(step, ListTools):
            await asked.list_tools(step.turn, toolset, deps, run_id)
    engine.resolved.clear()  # reported by the process that made those calls, not again
    _ended_as_stored(engine, entries, run_id)
    return started


class _Asked:
    """The context of each replayed request, for its turn's tools if they are asked for later
    (messages and usage have grown since: a `prepare` hook must see them as they were)."""

    __slots__ = ("engine", "last", "messages", "request_turn", "turn", "usage")

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.request_turn = -1
        self.messages = 0
        self.last: dict[str, Any] = {}
        """The request's last message: a reply joining it (after a `pause_turn`) replaces it
        in the history (the messages before it stay as they are)."""
        self.usage = engine.state.usage
        self.turn = -1
        """The last turn whose tools were listed."""

    def request(self) -> None:
        """A request is replayed: keep the context its tools were (or would be) listed with."""
        s = self.engine.state
        if self.turn == s.turns:  # listed already (a context policy sized the request)
            return
        usage = s.usage
        self.request_turn, self.messages, self.last = s.turns, len(s.messages), s.messages[-1]
        self.usage = replace(
            usage, server_tool_use=dict(usage.server_tool_use), turns=list(usage.turns)
        )

    async def list_tools(self, turn: int, toolset: Toolset, deps: object, run_id: str) -> None:
        engine = self.engine
        s = engine.state
        at_request = turn == self.request_turn
        ctx = RunContext(
            deps=deps,
            messages=[*s.messages[: self.messages - 1], self.last] if at_request else s.messages,
            usage=self.usage if at_request else s.usage,
            model=engine.config.model,
            turn=turn,
            run_id=run_id,
        )
        try:
            tools = await toolset.tools_for(ctx)
        except (UsageError, ConversationError):
            raise
        except Exception as exc:  # an MCP server down, a `prepare` hook failing: as live
            raise RunError(
                f"resuming run {run_id!r} failed: listing the tools of its turn {turn + 1} "
                f"raised {type(exc).__name__}: {exc}. Nothing was run or stored; call it again "
                "when the tools can be listed.",
                messages=s.messages, usage=s.usage,
            ) from exc
        engine.on_tools(tools)
        self.turn = turn


def _ended_as_stored(engine: Engine, entries: Sequence[Entry], run_id: str) -> None:
    """A run stored as finished by its structured output replays to that output: an agent
    whose output type refuses it (changed since, under the same output tool name, which is
    all the fingerprint holds of it) would ask the model for another and go on with a finished
    run. Raises `StoreError` then."""
    end = entries[-1] if entries else None
    if end is None or end.kind != "status" or end.payload.get("reason") != "output":
        return
    if engine.state.stop_reason == "output":
        return
    name = engine.config.output_tool["name"] if engine.config.output_tool else None
    raise StoreError(
        f"run {run_id!r} finished with a structured output (its {name or 'output'!r} tool's "
        "input) that this agent's output_type does not accept: was output_type changed since "
        "the run was stored? Nothing was run or changed. Call it with the output_type that "
        "started it, or start a new run"
    )


def _call_made(engine: Engine, entry: Entry, run_id: str, started: set[str]) -> None:
    """A journaled started mark or result, for calls of the last reply that are still open."""
    s = engine.state
    open_ids = {c["id"] for c in s.pending if c["id"] not in s.results}
    if entry.kind == "tool_started":
        ids = cast("list[str]", entry.payload["ids"])
    else:
        ids = [cast(str, entry.payload["tool_use_id"])]
    if not open_ids.issuperset(ids):
        raise _misfit(run_id, entry, "the run has no open call by that id")
    if entry.kind == "tool_started":
        started.update(ids)
    else:
        engine.on_result(entry.payload)
        started.difference_update(ids)


def _misfit(run_id: str, entry: Entry, found: str) -> StoreError:
    return StoreError(
        f"the journal of run {run_id!r} does not fit this agent: entry {entry.seq} is a "
        f"{entry.kind!r} where {found}; were its tools or settings changed since the run was "
        "stored? Resume it with the agent that started it, or start a new run"
    )


def answer_interrupted(engine: Engine, started: set[str]) -> list[dict[str, Any]]:
    """Non-idempotent calls that started and have no result (their process stopped, or the run
    was cancelled; user code failing the run journaled their answers: `tool_calls.ToolCalls`)
    are never run again: each gets the "interrupted" `is_error` result, which the engine takes
    here and the caller journals like any result (returned). Also when its tool is no longer
    offered (hidden by a `prepare` hook, an MCP server's list changed): it did start, so
    "unknown tool" would tell the model it never ran. Unlike the answers a replay makes again,
    these are new: they go in `engine.resolved`, so the driver reports each
    (`ToolCallFinished`) as it reports the calls the engine answers.

    Then the other open calls the engine answers itself from what is journaled (a denial, a
    tool its turn did not offer) are answered as the process before answered them, and
    reported by it: not again (`_answered_as_before`)."""
    state = engine.state
    cut: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for call in state.pending:
        if call["id"] in started:
            block = tool_result(call["id"], INTERRUPTED, is_error=True)
            engine.on_result(block)
            cut.append((call, block))
    _answered_as_before(engine)
    engine.resolved.extend(cut)
    return [block for _, block in cut]


def _answered_as_before(engine: Engine) -> None:
    """The engine's tool step taken for the last turn's open calls whose tools were listed
    (`_feed`), as it is replayed (no limit, no `stop_when`: the live steps decide those): the
    calls it answers itself are answered, and not reported, as the process that journaled their
    cause (a decision, the reply) had its engine answer and report them before it went on. The
    step it gives is the live run's to take: asked for again."""
    s = engine.state
    if not any(c["id"] not in s.results for c in s.pending):
        return
    config = engine.config
    engine.config = replace(config, limits=_UNLIMITED, stop_when=None)
    try:
        engine.next_step()
    finally:
        engine.config = config
    engine.resolved.clear()
