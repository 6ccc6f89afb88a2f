"""Durable batch items on DBOS: `DurableRunner` (extra: `pip install "agentkit[dbos]"`).

Owns running another runner's items so that rerunning a batch after a crash resumes each
unfinished item from its checkpoints instead of starting it over: every agent run an item
makes is a DBOS workflow (`agentkit.dbos.HostedRuns`) whose id is the batch id, the item's
id and what the run is, each model call and tool call a step. A rerun runs the item's code
again; its runs that finished return their recorded results, calling nothing, and one that
was cut off goes on from its last recorded step. Rules: DBOS is imported only here, when
used; each worker process launches DBOS itself (its own executor id), so it runs only the
runs its own items make; a Ray cluster needs Postgres (SQLite is a file on one machine).
"""

from __future__ import annotations

import hashlib
import importlib
import os
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from .._api.jsonbytes import escaped_text
from .._api.ratelimit import RateLimiter
from .._errors import UsageError
from .._loop.usage import RunUsage
from ._runners import ITEM_ID, ItemRunner, RunOne

__all__ = ["DurableRunner", "check_database_url", "default_batch_id"]

_SCHEMES = ("sqlite:///", "postgresql://", "postgresql+psycopg://")


def check_database_url(url: object) -> str:
    """`url` if it is a DBOS system database URL.

    Raises:
        UsageError: it is not (the message names the two kinds; never the URL, which may
            hold a password).
    """
    kinds = "sqlite:///path/runs.sqlite (one machine) or postgresql://user@host:5432/dbname"
    if not isinstance(url, str):
        # A `SQLiteStore` is the natural guess: it keeps the runs made with `run_id=`.
        raise UsageError(
            f"durable= takes a DBOS system database URL ({kinds}), got a "
            f"{type(url).__name__}. A SQLiteStore keeps runs made with run_id=: to use one, "
            "pass run_id= and store= to the agent runs of your function instead"
        )
    if not url.startswith(_SCHEMES):
        scheme = url.partition(":")[0] or "(none)"
        raise UsageError(f"a durable batch needs a DBOS system database URL: {kinds}; got a "
                         f"{scheme!r} URL")
    return url


def default_batch_id(out: str | Path) -> str:
    """The id a batch's durable runs are kept under when none is given: the results file's
    name and a hash of its absolute path (the same batch for every rerun with that file)."""
    path = Path(out).resolve()
    # A name that is not UTF-8 (decoded with surrogateescape) hashed as its bytes, and named
    # with its escapes: the database stores the id as UTF-8 text.
    digest = hashlib.sha256(os.fsencode(path)).hexdigest()[:8]
    return f"{escaped_text(path.name)}-{digest}"


def _hosted() -> ModuleType:
    try:
        return importlib.import_module("agentkit.dbos._hosted")
    except ModuleNotFoundError as exc:
        if exc.name != "dbos":
            raise
        raise UsageError(
            'a durable batch needs DBOS: pip install "agentkit[dbos]" (or pip install dbos)'
        ) from None


@dataclass(frozen=True)
class DurableRunner:
    """Runs `runner`'s items durably: `run_batch(DurableRunner(RecipeRunner(r), db=...))`,
    or `run_batch(..., durable=url)`.

    `db`: the DBOS system database (`sqlite:///file` on one machine, `postgresql://...` for
    a cluster); None uses the DBOS this process launched already. `batch_id` names the
    batch: its runs are found again by it, so a rerun of the same batch must give the same.
    """

    runner: ItemRunner
    db: str | None = None
    batch_id: str = "batch"

    def __post_init__(self) -> None:
        if self.db is not None:
            check_database_url(self.db)
        if not self.batch_id or ":" in self.batch_id:
            raise UsageError(
                f"batch_id must be a non-empty name without ':', got {self.batch_id!r}"
            )

    @asynccontextmanager
    async def open(self, limiter: RateLimiter | None) -> AsyncGenerator[RunOne, None]:
        hosted = _hosted()
        async with hosted.launched(self.db), self.runner.open(limiter) as run:

            async def durable(value: Any) -> tuple[Any, RunUsage | None]:
                item = ITEM_ID.get(None)
                if item is None:
                    raise UsageError("a DurableRunner runs batch items: use it with run_batch")
                with hosted.HostedRuns(f"{self.batch_id}:{item}").active():
                    return await run(value)

            yield durable
