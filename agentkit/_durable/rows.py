"""A run's header row in the SQLite store: the columns it is read from (`HEADER`), the ones a
sync brings up to the journal (`SYNC_SET`, `synced`), the `RunHeader` a row makes, caught
up with what its journal holds beyond the row's last sync (`to_header`, `Totals`), and the
errors a row's lease columns explain (`locked`, `not_held`). The row is a view of
the journal, brought up to date with each renewal and the release: readers catch it up."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, cast

from agentkit._durable.journal import Holder, Lease, RunHeader, RunStatus, Summary
from agentkit._durable.log import RunLog
from agentkit._durable.records import read
from agentkit._errors import RunLockedError, RunNotFoundError, StoreError

__all__ = ["HEADER", "SYNC_SET", "Totals", "locked", "not_held", "storable", "synced", "to_header"]

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


@dataclass(frozen=True, slots=True)
class Totals:
    """A run's status and totals as its header row has them, as of `updated` and record `seq`."""

    status: str
    turns: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    updated: float
    seq: int
    unreadable: str | None = None
    """Why the journal could not be read (the error), or None."""

    def caught_up(self, path: str, size: int) -> Totals:
        """These, with what the journal at `path` holds past byte `size` (its length at the
        header's last sync): the run's status and totals now, even while it runs. A journal
        that cannot be read (its permissions, a folder in its place) leaves them as stored,
        with `unreadable` saying why: one bad journal must not hide a store's other runs."""
        try:
            tail = read(path, start=size, seq=self.seq)
        except StoreError as exc:
            return replace(self, unreadable=str(exc))
        if not tail.entries:
            return self
        s = tail.summary or Summary()
        return Totals(
            status=s.status or self.status,
            turns=self.turns if s.turns is None else s.turns,
            input_tokens=self.input_tokens if s.input_tokens is None else s.input_tokens,
            output_tokens=self.output_tokens if s.output_tokens is None else s.output_tokens,
            cost_usd=self.cost_usd if s.cost_usd is None else s.cost_usd,
            updated=tail.at or self.updated,
            seq=tail.last_seq,
        )


def locked(run_id: str, row: tuple[Any, ...] | None) -> RunLockedError:
    """The error for a run whose journal another process has locked, naming it as the header
    does (`row[3:6]`: host, pid, expiry)."""
    host, pid, expires = (None, None, None) if row is None else row[3:6]
    return RunLockedError(
        run_id, host=host or "this machine", pid=pid or 0, expires=expires or 0.0
    )


def not_held(lease: Lease, row: tuple[Any, ...] | None, path: str) -> StoreError:
    """Why a store cannot write with `lease`, given the run's row (`lease_token, lease_host,
    lease_pid, lease_expires`; None: no such run) in the store at `path`."""
    if row is None:
        return RunNotFoundError(lease.run_id, path=path)
    token, host, pid, expires = row
    if token is None:
        return StoreError(
            f"run {lease.run_id!r} is not claimed by this process (its lease was "
            "released); claim it again before writing"
        )
    if token == lease.token:
        return StoreError(
            f"run {lease.run_id!r} was claimed through another SQLiteStore object; write "
            "through the one that claimed it"
        )
    return RunLockedError(lease.run_id, host=host, pid=pid, expires=expires)


def storable(run_id: str) -> bool:
    """Whether a run could be stored as `run_id`: not when it holds a lone surrogate (a file
    name's byte that is not UTF-8), which a claim refuses (`check_run_id`), so none has it."""
    try:
        run_id.encode()
    except UnicodeEncodeError:
        return False
    return True
