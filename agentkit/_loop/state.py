"""`RunState`: everything a run knows between steps, as plain data.

The engine (`engine.py`) is its only writer. It is JSON-ready (`to_dict` / `from_dict`), so a
run can be saved after any step and resumed; a field added later has a default, so older
saved states still load.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from .usage import RunUsage

__all__ = ["RunState"]


@dataclass(slots=True)
class RunState:
    """Everything a run knows between steps. Plain data: `to_dict()` is JSON-ready."""

    messages: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]])
    usage: RunUsage = field(default_factory=RunUsage)
    turns: int = 0
    """Model replies received in this run."""
    pending: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]])
    """`tool_use` blocks of the last assistant turn that still need a `tool_result`."""
    results: dict[str, dict[str, Any]] = field(default_factory=dict[str, dict[str, Any]])
    """`tool_result` blocks obtained so far for `pending`, by `tool_use_id`."""
    decisions: dict[str, bool | str] = field(default_factory=dict[str, bool | str])
    """Every approval decision of the run, by call id: True, or False / a reason to deny. Kept
    once the call is answered, so a decision given again is checked against it (a state saved
    before they were kept holds only the open turn's); an id a later reply uses again is
    undecided then."""
    awaiting_approval: list[str] = field(default_factory=list[str])
    """Ids of the `pending` calls the last tool step asked a decision for (`NeedApproval`):
    the ones a run paused for approval waits on, not the calls made next to them."""
    answer: str = ""
    """The final answer's text (continuations after `max_tokens` appended)."""
    output: Any = None
    """The structured output or the stop-after-tool input, once known."""
    stop_reason: str | None = None
    """The model's last stop reason, or the framework's: a limit name, `approval_required`,
    `stop_condition`, `stop_after_tool`, `cancelled`. Written only by `Engine._stop`; it
    reports, and steers nothing but the end of an approval pause."""
    stop_sequence: str | None = None
    limit: str | None = None
    """The limit that ended the run, if one did."""
    continuations: int = 0
    output_retries: int = 0
    retries: int = 0
    """Retries the current model call has used (its budget is `model_retries`)."""
    seed: int = field(default_factory=lambda: random.getrandbits(32))
    """Where the retry back-off's jitter comes from, so a replayed run sleeps the same."""
    done: bool = False
    held: dict[str, Any] | None = None
    """A reply the `after_model` hook failed on (raised, or was cancelled): `{"reply": its
    wire form, "usage": the run's usage before it}`. Counted in `usage` but not yet in
    `messages`; given again, the run runs the hook on it (with the context it came in) and,
    once it passes, takes it and goes on (`Engine.hold`)."""
    context: dict[str, Any] = field(default_factory=dict[str, Any])
    """What the context policy remembers (`_loop/context/manager.py`): the last measure of
    the conversation's size, a summary in progress, compactions made."""

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["usage"] = self.usage.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunState:
        values = dict(data)
        values["usage"] = RunUsage.from_dict(values.get("usage") or {})
        return cls(**values)
