"""The run store's exceptions (they join `agentkit._errors` when the store is wired in).

```
AgentkitError
└── StoreError                  the run store could not do what was asked
    ├── StoreFormatError        the file is not a run store this agentkit can use
    ├── RunLockedError          another live process holds the run's lease
    ├── RunMismatchError        the run id was used for a different prompt or agent
    └── RunNotFoundError        no run has this id
```

Every message names the file or the run, says what was wrong and what to do. When one of
these is raised, nothing was written.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from agentkit._errors import AgentkitError

__all__ = [
    "RunLockedError",
    "RunMismatchError",
    "RunNotFoundError",
    "StoreError",
    "StoreFormatError",
]

FormatProblem = Literal["unreadable", "not_sqlite", "corrupt", "foreign", "newer"]


class StoreError(AgentkitError):
    """The run store could not do what was asked."""


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
    """Another process holds the lease of run `run_id`: `host` and `pid` name it, and the lease
    expires at `expires` (Unix seconds) unless it is renewed. Raised to the loser of a claim
    race, and to a holder whose lease was taken over after it expired.
    """

    def __init__(self, run_id: str, *, host: str, pid: int, expires: float) -> None:
        until = datetime.fromtimestamp(expires, UTC).isoformat(timespec="seconds")
        super().__init__(
            f"run {run_id!r} is being run by process {pid} on {host} (lease until {until}); "
            "wait for it to finish, stop that process, or resume after the lease expires"
        )
        self.run_id = run_id
        self.host = host
        self.pid = pid
        self.expires = expires


class RunMismatchError(StoreError):
    """Run `run_id` is stored with another fingerprint: the id was used for a different prompt
    or agent. Nothing was changed."""

    def __init__(self, run_id: str, *, stored: str, given: str) -> None:
        super().__init__(
            f"run id {run_id!r} was already used for a different prompt or agent (stored "
            f"fingerprint {stored[:12]}, this run {given[:12]}); nothing was changed. Use a "
            "new run_id, or delete the old run first"
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
