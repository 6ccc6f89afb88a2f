"""A run's header row in the SQLite store: the columns it is read from (`HEADER`), the ones a
sync brings up to the journal (`SYNC_SET`, `synced`), and the `RunHeader` a row makes, caught
up with what its journal holds beyond the row's last sync (`to_header`). The row is a view of
the journal, brought up to date with each renewal and the release: readers catch it up."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from agentkit._durable.journal import Holder, RunHeader, RunStatus, Summary
from agentkit._durable.log import RunLog, Totals

__all__ = ["HEADER", "SYNC_SET", "synced", "to_header"]

HEADER = (
    "run_id, fingerprint, model, agent, status, turns, input_tokens, output_tokens, cost_usd, "
    "created, updated, log_seq, lease_host, lease_pid, lease_expires, id, log_size"
)
# The header brought up to its journal (status, totals, where it ends), with a renewal or the
# release.
SYNC_SET = """updated = ?, log_seq = ?, log_size = ?,
    status = coalesce(?, status), turns = coalesce(?, turns),
    input_tokens = coalesce(?, input_tokens), output_tokens = coalesce(?, output_tokens),
    cost_usd = coalesce(?, cost_usd)"""


def to_header(row: tuple[Any, ...], journal: Callable[[int], str]) -> RunHeader:
    """A header from its row (`HEADER`), with what its journal (`journal(key)`, its path)
    holds beyond the row's last sync."""
    (run_id, fingerprint, model, agent, status, turns, inputs, outputs, cost) = row[:9]
    created, updated, last_seq, host, pid, expires, key, size = row[9:]
    now = Totals(status, turns, inputs, outputs, cost, updated, last_seq).caught_up(
        journal(key), size
    )
    return RunHeader(
        run_id=run_id,
        fingerprint=fingerprint,
        model=model,
        agent=agent,
        status=cast(RunStatus, now.status),
        turns=now.turns,
        input_tokens=now.input_tokens,
        output_tokens=now.output_tokens,
        cost_usd=now.cost_usd,
        created=created,
        updated=now.updated,
        entries=now.seq,
        holder=None if host is None else Holder(host=host, pid=pid, expires=expires),
        unreadable=now.unreadable,
    )


def synced(log: RunLog, s: Summary, now: float) -> tuple[object, ...]:
    """The values of `SYNC_SET`, for a header brought up to `log` at `now`."""
    return (now, log.seq, log.size, s.status, s.turns, s.input_tokens, s.output_tokens,
            s.cost_usd)
