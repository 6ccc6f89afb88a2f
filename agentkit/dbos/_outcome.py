"""A DBOS workflow's outcome: what a run's workflow returns (recorded by DBOS as its output)
and how a caller reads it back: the `RunResult`, or the `LimitExceeded` / `RunError` it ended
with, chaining what failed it (`cause_record`); what it told the model of the calls it cut
(`cut_answers`, for a `HostedRuns` rerun). Plain data only, never a pickled object of the
user's: a structured output is recorded as JSON and validated again by the reading agent's
`output_type`, so a class defined where DBOS cannot pickle it, or changed since, is no
matter to the record.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Any, cast

import pydantic_core

from .. import errors
from .._errors import APIError, LimitExceeded, MalformedStreamError, RunError, UsageError
from .._loop.config import EngineConfig
from .._loop.state import RunState
from .._run.result import RunResult
from ._effects import error_from_record, is_json

__all__ = ["cause_from_record", "cause_record", "cut_answers", "outcome_result", "stored_state"]


def stored_state(state: RunState) -> dict[str, Any]:
    """`state` as the outcome holds it: JSON-ready, its structured output as JSON."""
    data = state.to_dict()
    data["output"] = pydantic_core.to_jsonable_python(data["output"])
    return data


def cut_answers(outcome: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """What a run that ended with an error told the model of the calls it left open (its
    last turn's `is_error` results, by call id): a replay of it finds such a call marked
    started with no result (cut by the timeout, or by a failure next to it)."""
    messages = cast("list[dict[str, Any]]", outcome["state"]["messages"])
    last = messages[-1] if messages else None
    if last is None or last["role"] != "user" or isinstance(last["content"], str):
        return {}
    return {b["tool_use_id"]: b for b in cast("list[dict[str, Any]]", last["content"])
            if b.get("type") == "tool_result" and b.get("is_error")}


def outcome_result(outcome: Mapping[str, Any], config: EngineConfig) -> RunResult[Any]:
    """The `RunResult` a workflow's outcome describes, or the error it ended with, raised;
    `config` is the reading agent's, whose `output_type` makes the output typed again.

    Raises:
        LimitExceeded: the run hit a limit; `.result` holds the conversation and usage.
        RunError: the run failed, chaining what failed it when it was recorded (`cause_record`).
        UsageError: its structured output is not one the agent's `output_type` accepts.
    """
    state = RunState.from_dict(cast("Mapping[str, Any]", outcome["state"]))
    if state.stop_reason == "output":
        state.output = _typed_output(state, config)
    output = state.output if state.output is not None else state.answer
    result: RunResult[Any] = RunResult(state, output)
    error = outcome.get("error")
    if error is None:
        return result
    limit = outcome.get("limit")
    if limit is not None:
        raise LimitExceeded(
            str(error), limit=str(limit), messages=state.messages, usage=state.usage,
            result=result,
        )
    failed = RunError(str(error), messages=state.messages, usage=state.usage, result=result)
    cause = outcome.get("cause")
    raise failed from None if cause is None else cause_from_record(cause)


def cause_record(cause: BaseException) -> dict[str, Any] | None:
    """The error a run's `RunError` chains, as JSON for the workflow's outcome: its class
    name, message and JSON fields (a `UsageError`, a `ConversationError`'s rule, an API
    error's status), so every caller that attaches gets it chained, as the store's run
    chains it; None when it is no class `cause_from_record` rebuilds (a user's own)."""
    name = type(cause).__name__
    if _error_class(name) is not type(cause) or not isinstance(cause, Exception):
        return None
    fields = {k: v for k, v in vars(cause).items() if not k.startswith("_") and is_json(v)}
    return {"type": name, "message": str(cause), "fields": fields}


def cause_from_record(record: Mapping[str, Any]) -> Exception | None:
    """The error `cause_record` described, rebuilt (an `agentkit.errors` class or a built-in
    one), without what was not JSON (an API error's `partial`); None for another class."""
    cls = _error_class(str(record.get("type")))
    if cls is None:
        return None
    fields: dict[str, Any] = dict(record.get("fields") or {})
    if issubclass(cls, APIError | MalformedStreamError):  # its fields as a model step's
        fields = {"message": record.get("message", ""), **fields}
        return error_from_record({"type": cls.__name__, "fields": fields})
    error = cls.__new__(cls)
    Exception.__init__(error, str(record.get("message", "")))
    error.__dict__.update(fields)
    return error


def _error_class(name: str) -> type[Exception] | None:
    for home in (errors, builtins):
        cls: object = getattr(home, name, None)
        if isinstance(cls, type) and issubclass(cls, Exception):
            return cls
    return None


def _typed_output(state: RunState, config: EngineConfig) -> Any:
    """The structured output a run that ended with it (`stop_reason == "output"`) recorded,
    validated again from the output tool's call, as the engine validated it."""
    tool, parse = config.output_tool, config.parse_output
    if tool is None or parse is None or len(state.messages) < 2:
        return state.output
    answers = {b.get("tool_use_id"): b for b in _blocks(state.messages[-1])}
    calls = [b for b in _blocks(state.messages[-2]) if b.get("type") == "tool_use"
             and b.get("name") == tool["name"] and not answers.get(b.get("id"), {}).get("is_error")]
    if not calls:
        return state.output
    try:
        return parse(calls[-1]["input"])
    except ValueError as exc:
        raise UsageError(
            f"the run finished with a structured output (its {tool['name']!r} tool's input) "
            f"that this agent's output_type does not accept ({exc}): was output_type changed "
            "since the workflow ran? Read it with the output_type that ran it"
        ) from exc


def _blocks(message: Mapping[str, Any]) -> list[dict[str, Any]]:
    content = message.get("content")
    if not isinstance(content, list):
        return []
    return [cast("dict[str, Any]", b) for b in cast("list[object]", content)
            if isinstance(b, dict)]
