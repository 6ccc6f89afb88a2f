"""Approval decisions given to a paused run: which it takes, and which it refuses.

A decision is True (run the call), False or a string (deny the call; the string tells the
model why). Decisions given with a resume are checked before anything is applied or stored:
one that names no tool call of the run (a typo, another run's call) is refused, as is a value
of another type; one for a call that is no longer open (decided and run already: the same
resume made again, after a crash or once the run went on) is left out, so nothing is decided
twice. A decision is final once given: a call decided but not yet answered (a resume cut
before the call ran) keeps it; given again it is left out, and changed (approved, then
denied, or the reverse) it is refused, as the journal cannot tell whether the call started
(an idempotent call is run with no mark), and one call has one decision on record.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

from .._errors import UsageError
from .history import tool_use_ids
from .state import RunState
from .steps import ToolInfo

__all__ = ["check_values", "open_decisions"]


def check_values(decisions: Mapping[str, bool | str]) -> None:
    """Raises `UsageError` for a value that is no decision (it needs no run to tell)."""
    for i, decision in decisions.items():
        if not isinstance(cast(object, decision), bool | str):  # typed so; given anything
            raise UsageError(
                f"decisions[{i!r}] = {decision!r}: give True (run the call), False (deny it) "
                "or a string (deny it, saying why to the model). Nothing was decided"
            )


def open_decisions(
    state: RunState, tools: Mapping[str, ToolInfo], decisions: Mapping[str, bool | str]
) -> dict[str, bool | str]:
    """Those of `decisions` for calls still open (made, no result) and not decided yet. Raises
    `UsageError`, naming the calls awaiting a decision (as the pause recorded them, or as the
    turn's `tools` say), for an id that is no call of the run or a value that is no decision,
    and for a decision that changes one given already."""
    check_values(decisions)
    open_ids = {c["id"]: c["name"] for c in state.pending if c["id"] not in state.results}
    known = open_ids.keys() | tool_use_ids(state.messages)
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
    changed = [
        f"{i!r} ({open_ids[i]}) was {'approved' if state.decisions[i] is True else 'denied'}"
        for i, d in decisions.items()
        if i in open_ids and i in state.decisions and (d is True) != (state.decisions[i] is True)
    ]
    if changed:
        raise UsageError(
            f"decisions= changes a decision already given: {', '.join(changed)} already, and a "
            "call's decision is final once given (the call may have started). Nothing was decided"
        )
    return {i: d for i, d in decisions.items() if i in open_ids and i not in state.decisions}
