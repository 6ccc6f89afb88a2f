"""Approval decisions given to a paused run: which it takes, and which it refuses.

A decision is True (run the call), False or a string (deny the call; the string tells the
model why). Decisions given with a resume are checked before anything is applied or stored:
one that names no tool call of the run (a typo, another run's call) is refused, as is a value
of another type. A decision is final once given: `RunState.decisions` keeps every decision of
the run, so the same decision given again (the same resume made twice, after a crash or once
the run went on) is left out and nothing is decided twice, and a different one (approved,
then denied, the reverse, or denied for another reason) is refused: for a call answered
already it would not be applied, and for one decided but not yet answered (a resume cut
before the call ran) the journal cannot tell whether the call started (an idempotent call is
run with no mark), and one call has one decision on record.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from .._errors import UsageError
from .history import tool_use_names
from .state import RunState
from .steps import ToolInfo

__all__ = ["DENIED", "approver_decision", "check_values", "denial", "open_decisions"]

DENIED = "the user denied this call"
"""What the model is told of a call denied with False (no reason given)."""


def check_values(decisions: Mapping[str, bool | str]) -> None:
    """Raises `UsageError` for a value that is no decision (it needs no run to tell)."""
    for i, decision in decisions.items():
        problem = _no_decision(decision)
        if problem is not None:
            raise UsageError(f"decisions[{i!r}] = {decision!r}: {problem}. Nothing was decided")


def approver_decision(call: Mapping[str, Any], verdict: object) -> bool | str | None:
    """What an `approve` callback's `verdict` decides of `call` (a `Deny` given as its reason):
    True, False or a reason; None leaves the call undecided, so the run pauses for it. Raises
    `UsageError` naming the call for a value that is no decision, before anything is run."""
    if verdict is None:
        return None
    problem = _no_decision(verdict)
    if problem is not None:
        raise UsageError(
            f"the approve callback returned {verdict!r} for call {call.get('id')!r} "
            f"({call.get('name')}): {problem.replace('give', 'return')}, or None to leave the "
            "call for later (the run pauses, as with no callback). Nothing was run"
        )
    return cast("bool | str", verdict)


_APPROVING = frozenset({
    "yes", "y", "ok", "okay", "true", "approve", "approved", "allow", "allowed", "accept",
    "accepted", "confirm", "confirmed", "go", "run", "sure",
})
"""Strings that read as an approval, given where a string is a denial's reason."""


def _no_decision(decision: object) -> str | None:
    """Why `decision` decides nothing as meant, or None: a bool, or a string that does not
    read as an approval (a string denies the call, telling the model why: "yes" would deny
    it, saying "yes")."""
    if isinstance(decision, bool):
        return None
    if isinstance(decision, str):
        if decision.strip().rstrip(".!").lower() not in _APPROVING:
            return None
        return (
            "a string denies the call (it is the reason the model is told), and this one reads "
            "as an approval; give True to run the call, or a reason such as 'not now' to deny it"
        )
    return (
        "give True (run the call), False (deny it) or a string (deny it, saying why to the "
        "model)"
    )


def denial(decision: bool | str) -> str | None:
    """Why the call is denied (None: it is approved); a blank reason is no reason."""
    if decision is True:
        return None
    return decision if isinstance(decision, str) and decision.strip() else DENIED


def open_decisions(
    state: RunState, tools: Mapping[str, ToolInfo], decisions: Mapping[str, bool | str]
) -> dict[str, bool | str]:
    """Those of `decisions` for calls still open (made, no result) and not decided yet. Raises
    `UsageError`, naming the calls awaiting a decision (as the pause recorded them, or as the
    turn's `tools` say), for an id that is no call of the run or a value that is no decision,
    and for a decision that changes one given already."""
    check_values(decisions)
    open_ids = {c["id"]: c["name"] for c in state.pending if c["id"] not in state.results}
    names = tool_use_names(state.messages)
    # A decided call a context policy cut from the history is still one of the run's.
    known = open_ids.keys() | names.keys() | state.decisions.keys()
    unknown = [i for i in decisions if i not in known]
    if unknown:
        waiting = [
            f"{i!r} ({name})"
            for i, name in open_ids.items()
            if i in state.awaiting_approval
            or (i not in state.decisions and (t := tools.get(name)) and t.requires_approval)
        ]
        awaits = (
            f"the calls awaiting a decision are {', '.join(waiting)}"
            if waiting
            else "it awaits no decision"
        )
        raise UsageError(
            f"decisions= names {', '.join(map(repr, unknown))}, which is no tool call of this "
            f"run; {awaits} (`result.pending_approvals`). Nothing was decided"
        )
    # A state saved by an agentkit before decisions were kept once their calls were answered
    # holds none for those calls: a decision for one is left out unchecked, as it was then (a
    # durable run's journal has every decision given, so its replayed state holds them all).
    changed = [
        _changed(i, open_ids.get(i) or names.get(i), state.decisions[i], answered=i not in open_ids)
        for i, d in decisions.items()
        if i in state.decisions and denial(d) != denial(state.decisions[i])
    ]
    if changed:
        raise UsageError(
            f"decisions= changes a decision already given: {'; '.join(changed)}. A call's "
            "decision is final once given. Nothing was decided: give the same decision again, "
            "or leave the call out"
        )
    return {i: d for i, d in decisions.items() if i in open_ids and i not in state.decisions}


def _changed(call_id: str, name: str | None, given: bool | str, *, answered: bool) -> str:
    """A changed decision's call, the decision in force and what it did already."""
    call = f"{call_id!r} ({name})" if name else repr(call_id)
    reason = denial(given)
    if reason is None:
        done = "its result is in the conversation" if answered else "the call may have started"
        return f"{call} was approved already, and {done}"
    done = "the model was told so" if answered else "the model will be told so"
    return f"{call} was denied already ({reason!r}), and {done}"
