"""Every exception agentkit raises, in one tree.

```
AgentkitError
├── APIError                    the API or the network failed us (remote)
│   ├── APIConnectionError      no HTTP response: refused, reset, DNS, TLS
│   │   ├── APITimeoutError
│   │   └── IncompleteStreamError   the SSE stream ended before message_stop
│   ├── APIStreamError          an `error` event arrived mid-stream (HTTP was already 200)
│   └── APIStatusError          a non-2xx response
│       ├── BadRequestError 400, AuthenticationError 401, BillingError 402,
│       ├── PermissionDeniedError 403, NotFoundError 404, ConflictError 409,
│       ├── RequestTooLargeError 413, UnprocessableEntityError 422,
│       ├── RateLimitError 429, InternalServerError 5xx, OverloadedError 529
├── ConversationError           we were about to send an invalid conversation (local)
├── ModelBehaviorError          the model sent something unusable (unknown tool, bad JSON)
│   └── MalformedStreamError    an SSE event or a block's JSON could not be parsed
├── ToolError                   raised by tool code: becomes an `is_error` tool_result, run goes on
├── RunError                    a run ended abnormally; carries the conversation and usage
│   └── LimitExceeded           a configured limit (turns, tokens, cost, time) was hit
├── UsageError                  a developer mistake, raised at definition time
├── WorkflowError               raised by workflow code: a step or gate stopped the workflow
├── StoreError                  the run store could not do what was asked
│   ├── StoreFormatError        the file is not a run store this agentkit can use
│   ├── RunLockedError          another live process holds the run's lease
│   ├── RunMismatchError        the run id was used for a different prompt or agent
│   └── RunNotFoundError        no run has this id
└── ScriptError                 a test fake's script did not match the requests (a test failure)
```

Cancellation is never wrapped in any of these. Rules: constructors have no side effects;
messages say what was wrong and what to do; no exception ever holds an API key or token
(the client redacts headers before raising).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any, Literal

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APIStreamError",
    "APITimeoutError",
    "AgentkitError",
    "AuthenticationError",
    "BadRequestError",
    "BillingError",
    "ConflictError",
    "ConversationError",
    "IncompleteStreamError",
    "InternalServerError",
    "LimitExceeded",
    "MalformedStreamError",
    "ModelBehaviorError",
    "NotFoundError",
    "OverloadedError",
    "PermissionDeniedError",
    "RateLimitError",
    "RequestTooLargeError",
    "RunError",
    "RunLockedError",
    "RunMismatchError",
    "RunNotFoundError",
    "ScriptError",
    "StoreError",
    "StoreFormatError",
    "ToolError",
    "UnprocessableEntityError",
    "UsageError",
    "WorkflowError",
]


class AgentkitError(Exception):
    """Base class of every error agentkit raises."""

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as the error it is, its attributes kept, so it can cross to another process
        (multiprocessing, Ray, a task queue). Pickle's default calls the class again with
        `args` alone, which leaves out the keyword-only arguments most of these take."""
        return (_rebuilt, (type(self), self.args, self.__dict__))


def _rebuilt(cls: type[AgentkitError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    """An `AgentkitError` as it was pickled (`AgentkitError.__reduce__`), `__init__` not run."""
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(state)
    return error


# -- remote ------------------------------------------------------------------------------------


class APIError(AgentkitError):
    """The Messages API (or the network on the way to it) failed.

    `body` is the decoded error body when there was one; `request_id` is the `request-id`
    response header (or the body's `request_id`), worth quoting to Anthropic support.
    """

    def __init__(
        self,
        message: str,
        *,
        body: Any = None,
        request_id: str | None = None,
        error_type: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.body = body
        self.request_id = request_id
        self.error_type = error_type

    def __str__(self) -> str:
        suffix = f" (request-id: {self.request_id})" if self.request_id else ""
        return f"{self.message}{suffix}"


class APIConnectionError(APIError):
    """No usable HTTP response arrived: connection refused or reset, DNS or TLS failure."""


class APITimeoutError(APIConnectionError):
    """The request timed out (connect or read). Retried like any connection error."""


class IncompleteStreamError(APIConnectionError):
    """The SSE stream ended before `message_stop`.

    `partial` is the `Message` assembled from what had arrived (or None before
    `message_start`); it must not be appended to a conversation as if it were complete.
    """

    def __init__(self, message: str, *, partial: Any = None, request_id: str | None = None):
        super().__init__(message, request_id=request_id)
        self.partial = partial


class APIStreamError(APIError):
    """An `error` event arrived in the middle of a stream whose HTTP status was 200.

    `error_type` is the event's `error.type` (e.g. `overloaded_error`); `partial` is the
    `Message` assembled before the error, kept so nothing that arrived is lost.
    """

    def __init__(
        self,
        message: str,
        *,
        error_type: str | None,
        body: Any = None,
        partial: Any = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, body=body, request_id=request_id, error_type=error_type)
        self.partial = partial

    @property
    def retryable(self) -> bool:
        """Whether re-issuing the whole request may succeed (transient server-side errors)."""
        return self.error_type in {"overloaded_error", "api_error", "timeout_error", None}


class APIStatusError(APIError):
    """The API answered with a non-2xx status. `status_code` and `error_type` say which."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        body: Any = None,
        request_id: str | None = None,
        error_type: str | None = None,
        retry_after: float | None = None,
        should_retry: bool | None = None,
    ) -> None:
        super().__init__(message, body=body, request_id=request_id, error_type=error_type)
        self.status_code = status_code
        self.retry_after = retry_after
        """The delay the response asked for (`retry-after-ms` / `retry-after`), in seconds."""
        self.should_retry = should_retry
        """The response's `x-should-retry` header as a bool, None when absent."""

    def __str__(self) -> str:
        return f"HTTP {self.status_code}: {super().__str__()}"


class BadRequestError(APIStatusError):
    """400: the request was malformed; fix it rather than retrying."""


class AuthenticationError(APIStatusError):
    """401: the key or token was missing or wrong."""


class BillingError(APIStatusError):
    """402: a billing problem on the account."""


class PermissionDeniedError(APIStatusError):
    """403: the key may not use this resource or model."""


class NotFoundError(APIStatusError):
    """404: unknown model id or path (check `base_url` and the model name)."""


class ConflictError(APIStatusError):
    """409: a conflicting concurrent request; retried."""


class RequestTooLargeError(APIStatusError):
    """413: the request body is over the API's size limit (32 MB for Messages)."""


class UnprocessableEntityError(APIStatusError):
    """422: the request was well-formed but could not be processed."""


class RateLimitError(APIStatusError):
    """429: rate limited; retried after `retry-after` when the server gives one."""


class InternalServerError(APIStatusError):
    """5xx: a server-side failure; retried."""


class OverloadedError(InternalServerError):
    """529: the API is overloaded (not your quota); retried with backoff."""


# -- local -------------------------------------------------------------------------------------


class ConversationError(AgentkitError):
    """The conversation about to be sent breaks a Messages API rule.

    Raised before anything is sent, so the API never answers with a 400 caused by us.
    `index` is the offending message's position in `messages` (None for request-level
    rules) and `rule` a short stable name of the rule (e.g. `"alternation"`).
    """

    def __init__(self, message: str, *, index: int | None = None, rule: str) -> None:
        where = f"messages[{index}]: " if index is not None else ""
        super().__init__(f"{where}{message} [rule: {rule}]")
        self.index = index
        self.rule = rule


class ModelBehaviorError(AgentkitError):
    """The model sent something the run cannot use (an unknown tool, unparsable JSON, …)."""


class MalformedStreamError(ModelBehaviorError):
    """An SSE event, or the accumulated JSON of one block, could not be parsed.

    `index` is the content block's index when the fault is in one block.
    """

    def __init__(self, message: str, *, index: int | None = None, partial: Any = None):
        super().__init__(message)
        self.index = index
        self.partial = partial


class ToolError(AgentkitError):
    """Raised by tool code to tell the model the call failed; the run goes on.

    The tool's `tool_result` gets `is_error: true` and `content` as its content: a string, or a
    list of content-block dicts (text, image, document); anything else is sent as JSON text, as
    a tool's return value is. Use it for failures the model can act on ("no such city; try a
    nearby one"); any other exception is reported as `Type: message`.
    """

    def __init__(self, content: str | list[dict[str, Any]]) -> None:
        super().__init__(content if isinstance(content, str) else "tool error (content blocks)")
        self.content = content


class RunError(AgentkitError):
    """A run ended abnormally. Nothing is lost: `messages` is the conversation so far (valid,
    continuable wire form) and `usage` what the run consumed; `result` is the `RunResult`
    that a later `agent.run(..., history=...)` can continue from, when one could be built.
    """

    def __init__(
        self, message: str, *, messages: Any = None, usage: Any = None, result: Any = None
    ):
        super().__init__(message)
        self.messages = messages
        self.usage = usage
        self.result = result


class LimitExceeded(RunError):
    """A configured limit was reached (`limit` names it: `"max_turns"`, `"max_cost"`, …)."""

    def __init__(
        self,
        message: str,
        *,
        limit: str,
        messages: Any = None,
        usage: Any = None,
        result: Any = None,
    ) -> None:
        super().__init__(message, messages=messages, usage=usage, result=result)
        self.limit = limit


class UsageError(AgentkitError):
    """agentkit was used wrongly (raised at definition time, naming the function or argument)."""


class ResultsWriteError(AgentkitError):
    """The results file could not be written (a full disk, /dev/full): the batch stops, the
    records written so far are kept, and rerunning the command resumes after them."""

    def __init__(self, out: object, exc: OSError) -> None:
        super().__init__(
            f"cannot write the results to {out}: {exc.strerror or exc}; the batch stopped. "
            "Free some space (or choose another --out) and run the same command again: the "
            "items recorded so far are skipped"
        )
        self.out = str(out)


class WorkflowError(AgentkitError):
    """Raised by workflow code to stop a workflow: a gate found an intermediate result unusable.

    Say what was wrong with it and what to change (the input, the prompt), so whoever ran the
    workflow can act; `agentkit run` prints the message instead of a traceback.
    """


FormatProblem = Literal["unreadable", "not_sqlite", "corrupt", "foreign", "newer"]


class StoreError(AgentkitError):
    """The run store could not do what was asked. Every message names the file or the run and
    says what to do; when one of these is raised, nothing was written."""


class StoreFormatError(StoreError):
    """The file at `path` is not a run store this agentkit can use; it was left untouched.

    `problem` says why: `"unreadable"` (cannot be opened), `"not_sqlite"` (not a SQLite
    database), `"corrupt"` (a damaged SQLite database), `"foreign"` (another application's
    database), `"newer"` (written by a newer agentkit: upgrade agentkit to read it).
    """

    def __init__(self, message: str, *, path: str, problem: FormatProblem) -> None:
        super().__init__(message)
        self.path = path
        self.problem: FormatProblem = problem


class RunLockedError(StoreError):
    """Another live process holds run `run_id`: `host` and `pid` name it, and `expires` is when
    its lease ends unless renewed (it renews while the run goes on). Raised to the loser of a
    claim race and to a delete of a held run; the holder keeps the run until it ends, releases
    it or dies (the kernel frees its lock at once).
    """

    def __init__(self, run_id: str, *, host: str, pid: int, expires: float) -> None:
        import socket  # an error's path only: `agentkit --help` need not load it

        try:
            until = datetime.fromtimestamp(expires, UTC).isoformat(timespec="seconds")
        except (OverflowError, ValueError, OSError):  # a lease too long for a date
            until = f"{expires:g} (Unix seconds)"
        if pid == os.getpid() and host in (socket.gethostname(), "this machine"):
            held = (
                f"this process (pid {pid}), in another task or thread (lease until {until}); "
                "wait for that run to finish: a run id runs once at a time"
            )
        else:
            held = (
                f"process {pid} on {host} (lease until {until}); wait for it to finish, or "
                "stop that process: its run is free the moment it exits"
            )
        super().__init__(f"run {run_id!r} is being run by {held}")
        self.run_id = run_id
        self.host = host
        self.pid = pid
        self.expires = expires


class RunMismatchError(StoreError):
    """Run `run_id` is stored with another fingerprint: the id was used for a different prompt
    or agent. Nothing was changed."""

    def __init__(self, run_id: str, *, stored: str, given: str, fix: str | None = None) -> None:
        # A durable run's fingerprint is `<agent>-<prompt>` (`_run/durable.py`): say which.
        # `fix`: what to do instead of the usual (a sub-run's id cannot be chosen anew).
        agent, _, prompt = stored.partition("-")
        this_agent, _, this_prompt = given.partition("-")
        if prompt and this_prompt and agent == this_agent:
            what = "a different prompt (the agent is the same)"
        elif prompt and this_prompt:
            what = (
                "a different agent (its model, system prompt, tool names, output type or "
                "context policy)"
            )
        else:
            what = "a different prompt or agent"
        super().__init__(
            f"run id {run_id!r} was already used for {what} (stored fingerprint {stored}, "
            f"this run {given}); nothing was changed. "
            + (fix or "Use a new run_id, or delete the old run first")
        )
        self.run_id = run_id
        self.stored = stored
        self.given = given


class RunNotFoundError(StoreError):
    """No run has the id `run_id` (it was never started, or it was deleted)."""

    def __init__(self, run_id: str, *, path: str) -> None:
        super().__init__(f"no run {run_id!r} in {path}; check the id (`agentkit runs list`)")
        self.run_id = run_id
        self.path = path


class ScriptError(AgentkitError, AssertionError):
    """An `agentkit.testing` fake got a request its script had no answer for, a step function
    raised, or steps were left unrequested. A test failure, so it is also an `AssertionError`.
    """


class CassetteError(AgentkitError, AssertionError):
    """An `agentkit.testing.Cassette` could not serve a request (none recorded matches it, or
    all were played), holds no exchanges to replay, or left exchanges unplayed. A test failure,
    so it is also an `AssertionError`; the message says what differs and how to record again.
    """
