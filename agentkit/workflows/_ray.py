"""Batches on a Ray cluster: `RayEngine` (extra: `pip install "agentkit[ray]"`).

Owns spreading a batch's items over Ray async actors, each a worker process that opens the
batch's runner once (one HTTP client, its share of the rate limits, offline one fake
server) and runs up to its share of `concurrency` items at once on its own event loop; and
carrying items through the death of a worker or a node. Rules: the driver keeps every item
in flight until a record comes back, so an item whose worker died is sent again to a live
one (Ray restarts the dead actor; `_ray_workers.Workers` decides where items go and when
one is given up) and only the driver writes records: each input is recorded once. Ray is
imported only here, when used.
"""

from __future__ import annotations

import asyncio
import importlib
import math
import os
from collections.abc import AsyncGenerator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

from .._api.ratelimit import RateLimiter, RateLimitStats
from .._errors import UsageError
from ._ray_workers import Workers
from ._runners import ItemRunner, RunOne, run_item

__all__ = ["RayEngine"]


def _ray() -> Any:
    try:
        return importlib.import_module("ray")
    except ModuleNotFoundError as exc:
        if exc.name != "ray":
            raise
        raise UsageError(
            'engine="ray" needs Ray: pip install "agentkit[ray]" (or pip install ray)'
        ) from None


class BatchWorker:
    """A Ray async actor: the batch's runner, opened once, running many items at once."""

    def __init__(self, runner: ItemRunner, limiter: RateLimiter | None) -> None:
        self._runner = runner
        self._limiter = limiter
        self._stack = AsyncExitStack()
        self._opening: asyncio.Task[RunOne] | None = None

    async def _open(self) -> RunOne:
        return await self._stack.enter_async_context(self._runner.open(self._limiter))

    async def run(
        self, item_id: object, value: Any
    ) -> tuple[dict[str, Any], RateLimitStats | None]:
        """Run one item; its record and this worker's limiter stats."""
        if self._opening is None:
            self._opening = asyncio.ensure_future(self._open())
        run = await asyncio.shield(self._opening)
        record = await run_item(run, item_id, value, self._limiter)
        return record, self._limiter.stats if self._limiter is not None else None

    async def ready(self) -> None:
        """Nothing: answers once the actor is up (the driver's probe after a restart)."""

    async def close(self) -> None:
        """Close what the runner opened (its client, its fake server)."""
        await self._stack.aclose()


def _whole(value: object) -> bool:
    """Whether `value` is a whole number, 1 or more (not a bool)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _positive(value: object) -> bool:
    """Whether `value` is a number more than 0 (not a bool)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


@dataclass(frozen=True)
class RayEngine:
    """Run a batch's items on Ray: `run_batch(..., engine=RayEngine(address="auto"))`.

    `address`: the cluster (`"HOST:PORT"` of the head, `"auto"` for the one this machine
    belongs to); None uses the Ray instance already initialised, else `RAY_ADDRESS`, else
    starts a new local one on 127.0.0.1 for the batch. `workers`: actors to start
    (default: one per CPU of the cluster), each asking Ray for `num_cpus`, spread over the
    nodes. `max_attempts`: how many times an item's worker may die while running it before
    the item is recorded as failed (an item that kills its worker fails; items held up by a
    worker being restarted do not count it). `restart_timeout`: how long, in seconds, items
    wait for a worker when none is live (Ray restarting them after a node is lost) before
    the rest are recorded as failed. `runtime_env` is passed to `ray.init` (e.g.
    `{"env_vars": {...}}` for online runs on nodes without the key).
    """

    address: str | None = None
    workers: int | None = None
    num_cpus: float = 1.0
    max_attempts: int = 4
    restart_timeout: float = 300.0
    runtime_env: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.workers is not None and not _whole(self.workers):
            raise UsageError(
                "RayEngine workers must be a whole number, 1 or more (or None: one per CPU of "
                f"the cluster), got {self.workers!r}"
            )
        if not _whole(self.max_attempts):
            raise UsageError(
                f"RayEngine max_attempts must be a whole number, 1 or more, got "
                f"{self.max_attempts!r}"
            )
        if not _positive(self.restart_timeout):
            raise UsageError(
                "RayEngine restart_timeout must be a number of seconds more than 0, got "
                f"{self.restart_timeout!r}"
            )

    def _connect(self, ray: Any) -> bool:
        """Connect to the cluster unless connected; whether we started the connection."""
        if ray.is_initialized():
            return False
        address = self.address
        if address is None and not os.environ.get("RAY_ADDRESS"):
            # A new local instance (never another one running on this machine): listening
            # on loopback only, sending no usage stats.
            address = "local"
            os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        ray.init(address=address, include_dashboard=False, runtime_env=self.runtime_env,
                 log_to_driver=False)
        return True

    @asynccontextmanager
    async def start(
        self, runner: ItemRunner, limiter: RateLimiter | None, concurrency: int
    ) -> AsyncGenerator[Any, None]:
        ray = _ray()
        owned = self._connect(ray)
        count = self.workers or max(1, int(ray.cluster_resources().get("CPU", 1) // self.num_cpus))
        per_worker = max(1, math.ceil(concurrency / count))
        share = limiter.portion(1 / count) if limiter is not None else None
        actor = ray.remote(BatchWorker).options(
            max_concurrency=per_worker + 2, max_restarts=-1, max_task_retries=0,
            num_cpus=self.num_cpus, scheduling_strategy="SPREAD",
        )
        actors = [actor.remote(runner, share) for _ in range(count)]
        died = tuple(
            getattr(ray.exceptions, name)
            for name in ("RayActorError", "ActorUnavailableError")
            if hasattr(ray.exceptions, name)
        )
        workers = Workers(actors, died, max_attempts=self.max_attempts,
                          restart_timeout=self.restart_timeout)
        try:
            yield workers.submit
        finally:
            await workers.close()
            closing = [a.close.remote() for a in actors]
            await asyncio.wait([asyncio.ensure_future(_settle(c)) for c in closing], timeout=10)
            for a in actors:
                ray.kill(a)
            if owned:
                ray.shutdown()


async def _settle(ref: Any) -> None:
    try:
        await ref
    except Exception:  # a dead worker has nothing left to close
        return
