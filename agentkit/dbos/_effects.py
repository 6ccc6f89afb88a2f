"""`DBOSEffects`: the driver's steps with side effects as DBOS steps, inside a workflow.

Each model call, token count (a context policy decides on it), tool call and approval is a
DBOS step (its output checkpointed in the system database before the workflow goes on); each
back-off is `DBOS.sleep_async`, a durable sleep. On recovery DBOS returns the recorded outputs
instead of running the steps again, and runs again the steps that had no recorded output.

That last rule would repeat a non-idempotent tool that was in flight, so such a call gets a
started mark first: one DBOS step per batch of calls about to start, recorded before any of
them runs. When the workflow is replayed and that step's output comes from the database (its
function is not called), the calls it names started in an earlier process; if a call's own
step then has no recorded output, its function does not run the tool but gives the
"interrupted" `is_error` result (the SQLite store's words), which DBOS records as the call's
output. Step ids are reserved in call order before parallel calls start, so they are the same
on every replay whichever call finishes first.

A model call that failed is recorded as a plain JSON record of the error (never pickled), so a
replay hands the engine an error of the same class, status and `retry_after`, and it decides
the same retry and back-off.

User code that fails the run inside a step (an approve callback, a tool raising under
`raise_errors`, a tool hook, an event consumer of a streamed reply) is never recorded as the
step's error, which every replay would raise again: a rerun after the fix (`HostedRuns`) could
never get past it. Such a step runs again on replay (the callback asked again, an idempotent
tool run again), but for a non-idempotent call, which must not: its step records the answer the
failed run gave it in memory (`failure.failed_call`), which a replay hands back as its result.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson
from dbos import DBOS, StepReservation
from dbos._error import DBOSException

from .. import errors
from .._api.jsonbytes import stdlib_json
from .._api.wire import Message, tool_result
from .._errors import APIError, MalformedStreamError
from .._loop.usage import RunUsage, merges_into
from .._run.failure import failed_call
from .._run.replay import INTERRUPTED
from .._tools.tool import Tool

__all__ = ["DBOSEffects", "error_from_record", "error_record", "is_json"]

T = TypeVar("T")

MODEL_STEP = "agentkit.model"
COUNT_STEP = "agentkit.count_tokens"
STARTED_STEP = "agentkit.tool_started"
APPROVE_STEP = "agentkit.approve"
TOOL_STEP = "agentkit.tool:{name}"
_MERGED = "agentkit_merged_usage"
"""A tool step's output is its `tool_result`, or with usage merged during it (a sub-agent's)
`{_MERGED: [usage, ...], "result": block}`."""
_ERROR_FIELDS = (
    "message",
    "body",
    "request_id",
    "error_type",
    "status_code",
    "retry_after",
    "should_retry",
    "index",
)


@dataclass(slots=True)
class DBOSEffects:
    """Carries out one workflow's model calls, tools, back-offs and approvals as DBOS steps."""

    run_id: str
    """The workflow id: tools see it as `ctx.run_id`."""
    advice: Callable[[bool], str]
    """How the run goes on if it fails, as its `RunError` says (`DBOSAgent`'s way or
    `HostedRuns`'; given whether a reply is held): the workflow ends with the error, so a
    plain run's advice is not it."""
    usage: RunUsage = field(default_factory=RunUsage)
    """The run's usage: what a tool merges into it (a sub-agent's) is recorded with the tool's
    result, and merged again when a replay hands the result back without running it."""
    told: Mapping[str, dict[str, Any]] = field(default_factory=dict[str, dict[str, Any]])
    """What an earlier attempt that ended told the model of calls it cut (the timeout, a
    failure next to them; `HostedRuns` forks it into this one), by call id: such a call has its
    started mark and no result, and is told the same again, not that its process stopped."""
    _reserved: dict[str, StepReservation] = field(default_factory=dict[str, StepReservation])
    _idempotent: set[str] = field(default_factory=set[str])
    """Announced calls whose tool is idempotent: run again on replay when they failed the run."""
    _interrupted: set[str] = field(default_factory=set[str])
    """Calls marked started by an earlier execution (their mark step was replayed)."""

    def go_on(self, held: bool) -> str:
        return self.advice(held)

    async def model(self, send: Callable[[], Awaitable[Message]]) -> Message:
        live: list[Exception] = []

        async def step() -> dict[str, Any]:
            try:
                message = await send()
            except (APIError, MalformedStreamError) as exc:
                live.append(exc)  # this process's own error, raised as it is
                return {"error": error_record(exc)}
            return {"reply": message.to_wire()}

        out: dict[str, Any] = await _step(MODEL_STEP, step)
        if "error" in out:
            raise live[0] if live else error_from_record(out["error"])
        return Message.from_wire(out["reply"])

    async def count(self, send: Callable[[], Awaitable[int | None]]) -> int | None:
        async def step() -> int | None:
            return await send()

        return await _step(COUNT_STEP, step)

    async def starting(self, calls: Sequence[dict[str, Any]], tools: Mapping[str, Tool]) -> None:
        ids = [c["id"] for c in calls if not tools[c["name"]].idempotent]
        if ids:
            ran: list[bool] = []

            async def mark() -> list[str]:
                ran.append(True)
                return ids

            await DBOS.run_step_async({"name": STARTED_STEP}, mark)
            if not ran:  # recorded by an earlier execution: these calls may have run
                self._interrupted.update(ids)
        for call in calls:
            self._reserved[call["id"]] = DBOS.reserve_step()
            if tools[call["name"]].idempotent:
                self._idempotent.add(call["id"])

    async def tool(
        self, call: dict[str, Any], run: Callable[[], Awaitable[dict[str, Any]]]
    ) -> dict[str, Any]:
        reservation = self._reserved.pop(call["id"])
        interrupted = call["id"] in self._interrupted
        once = call["id"] not in self._idempotent
        self._idempotent.discard(call["id"])

        ran: list[bool] = []
        live: list[Exception] = []

        async def step() -> dict[str, Any]:
            if interrupted:  # started before a crash, no result recorded: never run again
                return self.told.get(call["id"]) or tool_result(
                    call["id"], INTERRUPTED, is_error=True
                )
            ran.append(True)
            with merges_into(self.usage) as merged:
                try:
                    block = await run()
                except Exception as exc:
                    if not once:  # idempotent: unrecorded, run again on replay
                        raise
                    live.append(exc)  # raised below; a replay gets what the run told it
                    block = tool_result(call["id"], failed_call(exc), is_error=True)
            if merged:  # a sub-agent's usage, in none of this run's replies
                return {_MERGED: [u.to_dict() for u in merged], "result": block}
            return block

        out = await _step(TOOL_STEP.format(name=call["name"]), step, reservation)
        if live:
            raise live[0]
        if _MERGED not in out:
            return out
        if not ran:  # replayed: the usage the recorded execution merged, merged once more
            for usage in out[_MERGED]:
                self.usage.merge(RunUsage.from_dict(usage))
        return out["result"]

    async def sleep(self, seconds: float) -> None:
        await DBOS.sleep_async(seconds)

    async def approve(
        self, ask: Callable[[], Awaitable[dict[str, bool | str]]]
    ) -> dict[str, bool | str]:
        async def step() -> dict[str, bool | str]:
            return await ask()

        return await _step(APPROVE_STEP, step)


class _Unrecorded(BaseException):
    """User code's exception leaving a step: DBOS records an `Exception` as the step's outcome
    (raised again by every replay), not a `BaseException`, so it is carried out in this."""

    def __init__(self, error: Exception) -> None:
        super().__init__(error)
        self.error = error


async def _step(
    name: str, body: Callable[[], Awaitable[T]], reservation: StepReservation | None = None
) -> T:
    """`body` as the DBOS step `name` (in `reservation`, if given), its output recorded; an
    exception it raises is raised here unrecorded, so a replay runs the step again."""

    async def unrecorded() -> T:
        try:
            return await body()
        except DBOSException:  # DBOS's own (a cancelled workflow): DBOS decides
            raise
        except Exception as exc:
            raise _Unrecorded(exc) from None

    try:
        if reservation is None:
            return await DBOS.run_step_async({"name": name}, unrecorded)
        return await reservation.run_async({"name": name}, unrecorded)
    except _Unrecorded as carried:
        error = carried.error
    raise error


def error_record(exc: Exception) -> dict[str, Any]:
    """A failed model call as JSON: its class name and the fields the engine reads."""
    fields: dict[str, Any] = {}
    for name in _ERROR_FIELDS:
        value = getattr(exc, name, None)
        if value is not None and is_json(value):
            fields[name] = value
    fields.setdefault("message", str(exc))
    return {"type": type(exc).__name__, "fields": fields}


def error_from_record(record: Mapping[str, Any]) -> Exception:
    """The error `error_record` described, rebuilt: same class (an `agentkit.errors` one, else
    `APIConnectionError`), same fields; what arrived before it (`partial`) is not kept."""
    cls: object = getattr(errors, str(record.get("type")), None)
    if not (isinstance(cls, type) and issubclass(cls, APIError | MalformedStreamError)):
        cls = errors.APIConnectionError
    fields: dict[str, Any] = dict(record.get("fields") or {})
    error: Exception = cls.__new__(cls)
    Exception.__init__(error, fields.get("message", ""))
    error.__dict__.update({**dict.fromkeys(_ERROR_FIELDS), "partial": None, **fields})
    return error


def is_json(value: object) -> bool:
    """Whether `value` can be recorded as JSON (a lone surrogate in a string included)."""
    try:
        orjson.dumps(value)
    except TypeError:  # or JSON orjson refuses: a lone surrogate (a body's escaped "\ud800")
        try:
            stdlib_json(value)
        except (TypeError, ValueError):
            return False
    return True
