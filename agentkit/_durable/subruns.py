"""Sub-runs among a store's runs, found by their ids alone: `journal.sub_run_id` makes a
sub-run's id `"{caller}›{tool_use_id}"`, and no id a user chooses holds `›`.

In SQL over the `runs` table (`SQLiteStore` and the viewer's reader query the same one): a
run's sub-runs, nested ones too, are the ids in one range of the `run_id` index (`below`,
`IN_RANGE`, `SUB_RUN_COUNT`), since SQLite compares text by its UTF-8 bytes, which order as
code points do; the runs a user started are those whose id holds no `›`, with the sub-runs
whose caller is gone (`TOP_LEVEL`: a delete killed between a run and its sub-runs leaves
them), so no run is ever out of every listing. In Python: whose sub-run an id is (`caller_of`),
and when a sub-run may not be deleted alone (`check_deletable`).
"""

from __future__ import annotations

from collections.abc import Callable

from agentkit._durable.journal import SUB_RUN_MARK, RunHeader
from agentkit._errors import UsageError

__all__ = [
    "IN_RANGE", "SUB_RUN_COUNT", "TOP_LEVEL", "below", "caller_of", "check_deletable",
    "sub_run_count",
]

_AFTER = chr(ord(SUB_RUN_MARK) + 1)
"""The character after `SUB_RUN_MARK`: where the range of a run's sub-runs' ids ends."""

IN_RANGE = "run_id >= ? AND run_id < ?"
"""The ids in a range `below` gives."""

_THROUGH_MARK = f"rtrim(runs.run_id, replace(runs.run_id, '{SUB_RUN_MARK}', ''))"
"""A row's id up to its last `SUB_RUN_MARK`, included ("" when it holds none): trimmed of the
characters after it, which are all characters but the mark."""

TOP_LEVEL = (
    f"(instr(runs.run_id, '{SUB_RUN_MARK}') = 0 OR NOT EXISTS (SELECT 1 FROM runs AS caller "
    f"WHERE caller.run_id = substr({_THROUGH_MARK}, 1, length({_THROUGH_MARK}) - 1)))"
)
"""A row of `runs` is a run a user started, or a sub-run whose caller is gone."""



def sub_run_count(table: str = "runs") -> str:
    """How many sub-runs, nested ones too, a row of `runs` has among the rows of `table`."""
    return (
        f"(SELECT count(*) FROM {table} AS sub WHERE sub.run_id >= runs.run_id || "
        f"'{SUB_RUN_MARK}' AND sub.run_id < runs.run_id || '{_AFTER}')"
    )


SUB_RUN_COUNT = sub_run_count()
"""How many sub-runs, nested ones too, a row of `runs` has."""


def below(run_id: str) -> tuple[str, str]:
    """The range `[low, high)` holding exactly the ids of `run_id`'s sub-runs, nested too."""
    return run_id + SUB_RUN_MARK, run_id + _AFTER


def caller_of(run_id: str) -> tuple[str, str] | None:
    """For a sub-run's id, its caller's run id and the `tool_use_id` of the call that made it;
    None for a run a user started."""
    caller, mark, call = run_id.rpartition(SUB_RUN_MARK)
    return (caller, call) if mark and caller and call else None


_UNFINISHED = {
    "running": "running (or its process was cut off, a crash)",
    "paused": "paused, awaiting approval decisions",
    "failed": "failed",
    "interrupted": "interrupted",
}


def check_deletable(run_id: str, header: Callable[[str], RunHeader | None]) -> None:
    """Refuse deleting sub-run `run_id` alone while its top-level run (the one a user started,
    the only one a resume names) is there and unfinished: a resume runs the call that made the
    sub-run again, which would find no sub-run and start the sub-agent afresh, its tools run a
    second time (a charge made twice). Allowed when that run finished or is gone: nothing
    would run the call again. `header` looks a run's header up. Raises `UsageError`, before
    anything is deleted."""
    if caller_of(run_id) is None:
        return
    top = run_id.partition(SUB_RUN_MARK)[0]
    caller = header(top)
    if caller is None or caller.status == "finished" or header(run_id) is None:
        return
    raise UsageError(
        f"cannot delete sub-run {run_id!r} alone: its run {top!r} is "
        f"{_UNFINISHED.get(caller.status, caller.status)}, and resuming it runs the call that "
        "made this sub-run again, which would find it gone and start the sub-agent over, its "
        "tools run a second time (a non-idempotent one, such as a charge, twice). Nothing was "
        f"deleted. Delete run {top!r} instead, which deletes its sub-runs with it, or resume it "
        "until it finishes and delete the sub-run then"
    )
