"""What a failed run tells its caller: how it may go on, and the error a `RunError` chains
(`sole_exception`: the one a task group wrapped).

A model request the API refused (a 4xx other than 408, 409 and 429, or a stream's `error`
event of such a type: the request itself is wrong) is sent again, the same, by a resume:
advising one would fail the same way every time, so the advice says what must change first.
Any other failure (5xx, overloaded, the network, a malformed reply) may pass, and resuming is
the advice. A request over the API's 32 MB (`request_too_large`) is a conversation whose tool
results together are too large (each alone is checked: `_tools/accepted.py`): the advice is
which to leave out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeGuard, cast

from .._errors import (
    APIStatusError,
    APIStreamError,
    ConversationError,
    MalformedStreamError,
    RunError,
    UsageError,
)
from .._loop.history import unfinished

if TYPE_CHECKING:
    from .._loop.state import RunState
    from .checkpoints import Journal

__all__ = [
    "as_api_error", "continue_failed", "failed", "failed_call", "go_on", "kept", "model_failed",
    "run_failed", "sole_exception",
]


def go_on(
    journal: Journal | None, otherwise: str, ended: bool = False, way: str | None = None
) -> str:
    """How to go on after a failure: a durable run resumes by the same call (one that ended
    is handed back by it); one a workflow engine carries out, its `way` (`Effects.go_on`)."""
    if way is not None:
        return way
    if journal is None:
        return otherwise
    verb = "the same call returns it" if ended else "resume it with the same call"
    return f"{verb} (run_id={journal.run_id!r})"


def continue_failed(held: bool) -> str:
    """How a run that user code failed goes on in memory: with a prompt (its open calls were
    answered), or, when an `after_model` hook failed on a reply (held, `RunState.held`), given
    again, which runs the hook on it again."""
    if not held:
        return "continue it with agent.run(prompt, history=...)"
    return (
        "the reply the after_model hook failed on is kept with its usage (.result.state.held): "
        "agent.run(state=error.result.state) runs the hook on it again and goes on once it passes"
    )


def kept(cause: BaseException, grown: bool) -> TypeGuard[Exception]:
    """Whether a run failed by `cause` raises a `RunError` carrying its conversation: for any
    `Exception` (user code: a tool under `raise_errors`, a hook, a consumer), and for a setup
    mistake a check finds (`UsageError`, `ConversationError`: a `prepare` hook's return, a
    forced tool a turn does not offer, a `before_model` rewrite, no API key) once the call has
    `grown` the conversation (a reply, a result, a context policy's cut: a request was paid
    for, or the history changed) and so has something to lose. Found before,
    such a mistake is raised as it is: its type says what to fix, and the caller still holds
    what it gave. A `BaseException` (Ctrl-C) propagates as it is."""
    if not isinstance(cause, Exception):
        return False
    return grown or not isinstance(cause, UsageError | ConversationError)


def run_failed(
    cause: Exception, state: RunState, journal: Journal | None, ended: bool, result: object,
    way: str | None = None,
) -> RunError:
    """The `RunError` of a run `cause` failed (`kept`), carrying its conversation and usage
    (`result`: the `RunResult` as it stopped) and saying how it goes on (`way`: a workflow
    engine's, `Effects.go_on`); `ended`: the run had ended, and its consumer failed on
    `RunFinished`."""
    again = go_on(journal, continue_failed(state.held is not None), ended, way)
    what = "its consumer failed on RunFinished" if ended else "the run failed"
    return RunError(
        f"{what}: {type(cause).__name__}: {cause}. The conversation so far is kept "
        f"(.messages, .result); {again}.",
        messages=state.messages,
        usage=state.usage,
        result=result,
    )


def failed(exc: BaseException) -> str:
    """Why a run that user code failed with `exc` (a tool raising under `raise_errors`, a hook)
    stopped, as it tells its open calls (`Engine.abort`)."""
    return f"the run failed ({type(sole_exception(exc)).__name__})"


def failed_call(exc: BaseException) -> str:
    """What such a run tells a call it stopped while the call ran: in memory, and journaled for
    a durable run's non-idempotent calls (`tool_calls.ToolCalls`), so a resume says the same,
    not that the process stopped."""
    return unfinished(failed(exc))


def model_failed(failure: Exception, journal: Journal | None, way: str | None = None) -> str:
    """A `RunError`'s message (a durable run's stored reason too) for a model request the
    engine gave up on: a transient failure resumes; a refused request names what must change,
    as resuming sends it again (`way`: how a workflow engine's run goes on, `Effects.go_on`)."""
    said = f"the model request failed: {failure}. The conversation so far is kept "
    said += "(.messages, .result.state); "
    if not _refused(failure):
        return said + go_on(journal, "resume with agent.run(state=...)", way=way) + "."
    if way is not None:
        return said + (
            "the API refused the request: sent again as it is, it fails the same way unless "
            "its cause changed (the model, the agent's settings, the API key, a tool result "
            f"too large or refused). Once it did: {way}."
        )
    if journal is None:
        how, where, anew = "agent.run(state=...)", "state", "continue from a corrected history="
    else:
        how = f"the same call, run_id={journal.run_id!r}"
        where, anew = "run", "start anew with history= or delete the run"
    if getattr(failure, "error_type", None) == "request_too_large":
        anew = "start anew" if journal else "continue"
        return said + (
            f"the request is over the API's 32 MB, and a resume ({how}) sends it again: the "
            "conversation's tool results (images, documents) are too large together. Leave the "
            f"largest out: {anew} with history= holding the messages without them"
            f"{' (or delete the run)' if journal else ''}; a tool can return smaller images."
        )
    return said + (
        f"the API refused the request, and a resume ({how}) sends it again: it fails the "
        "same way unless its cause changed (the model, the agent's settings, the API key). A "
        f"tool result it refuses stays in the {where}: {anew}."
    )


_REFUSING = frozenset({
    "invalid_request_error", "authentication_error", "billing_error", "permission_error",
    "not_found_error", "request_too_large",
})
"""The error types of the 4xx statuses that no retry passes (the wire contract's table), as
a stream's `error` event names them: its HTTP status was 200."""


def _refused(failure: Exception) -> bool:
    """A request the API refused as it is: sent again unchanged, it is refused again."""
    if isinstance(failure, APIStreamError):
        return failure.error_type in _REFUSING
    if not isinstance(failure, APIStatusError):
        return False
    return 400 <= failure.status_code < 500 and failure.status_code not in (408, 409, 429)


def as_api_error(failure: Exception) -> Exception:
    """The model failure a `RunError` chains: a malformed stream is reported as the stream
    error it amounts to (the parse error chained to it)."""
    if not isinstance(failure, MalformedStreamError):
        return failure
    error = APIStreamError(str(failure), error_type="malformed_stream")
    error.__cause__ = failure
    return error


def sole_exception(exc: BaseException) -> BaseException:
    """The exception inside (nested) one-member groups: what a task group wrapped."""
    members = _members(exc)
    while len(members) == 1:
        exc = members[0]
        members = _members(exc)
    return exc


def _members(exc: BaseException) -> tuple[BaseException, ...]:
    group = cast("BaseExceptionGroup[BaseException]", exc)
    return group.exceptions if isinstance(exc, BaseExceptionGroup) else ()
