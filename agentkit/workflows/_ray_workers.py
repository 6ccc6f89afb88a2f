"""The driver's view of a Ray batch's workers: `Workers`, which one takes an item, and when
an item whose worker died is given up.

Owns the retry decision of `RayEngine`. Ray raises the same `RayActorError`s whether a
worker died while running an item (it exits, or its node goes) or a worker is merely being
restarted, so the driver keeps the state itself: a worker whose call failed is down until a
probe (a call Ray holds until the actor is alive again) sees it back. Rules: items go only
to live workers (the least loaded); an item counts a death only when a worker it was
running on failed, so only an item that keeps killing its worker fails after `max_attempts`;
while no worker is live, items wait for one, at most `restart_timeout` seconds since the
last one went down, then fail with why. Ray is not imported here (the engine passes its
error classes), so the decision is tested with fake actors.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

__all__ = ["Workers", "failed", "first_line"]


class Workers:
    """A batch's Ray actors as the driver sees them: load, live or down, and `submit`."""

    def __init__(
        self, actors: Sequence[Any], died: tuple[type[BaseException], ...], *,
        max_attempts: int, restart_timeout: float,
    ) -> None:
        self._actors = list(actors)
        self._died = died
        self._max_attempts = max_attempts
        self._restart_timeout = restart_timeout
        self._load = [0] * len(self._actors)
        self._up = [True] * len(self._actors)
        self._epoch = [0] * len(self._actors)  # counts a worker's deaths seen by the driver
        self._changed = asyncio.Condition()
        self._all_down_since: float | None = None
        self._probes: set[asyncio.Task[None]] = set()

    async def submit(self, item_id: object, value: Any) -> tuple[dict[str, Any], Any]:
        """Run one item on a live worker; its record and the worker's limiter stats."""
        deaths, last = 0, None
        while True:
            index = await self._live()
            if index is None:
                return failed(item_id, (
                    f"no worker was live for {self._restart_timeout:g} s (Ray could not "
                    "restart one: are the cluster's nodes gone or its CPUs taken?); "
                    f"RayEngine(restart_timeout=...) sets how long items wait; last: "
                    f"{first_line(last)}"
                )), None
            epoch = self._epoch[index]
            self._load[index] += 1
            try:
                return await self._actors[index].run.remote(item_id, value)
            except self._died as exc:  # the worker (or its node) died under the item
                deaths, last = deaths + 1, exc
                if self._epoch[index] == epoch:  # the first of its items to hear of it
                    self._down(index)
                if deaths >= self._max_attempts:
                    return failed(item_id, (
                        f"its worker died {deaths} times while running it (an item that "
                        f"kills its worker, or nodes lost); last: {first_line(exc)}"
                    )), None
            except Exception as exc:  # the worker could not run it (its runner failed)
                cause = getattr(exc, "cause", None)  # a RayTaskError's original exception
                why = first_line(cause if isinstance(cause, BaseException) else exc)
                return failed(item_id, f"the worker failed: {why}"), None
            finally:
                self._load[index] -= 1

    async def close(self) -> None:
        """Stop probing workers that are down."""
        for probe in self._probes:
            probe.cancel()
        await asyncio.gather(*self._probes, return_exceptions=True)

    async def _live(self) -> int | None:
        """The least loaded live worker; None if none came back within the timeout."""
        loop = asyncio.get_running_loop()
        async with self._changed:
            while not any(self._up):
                since = self._all_down_since if self._all_down_since is not None else loop.time()
                left = since + self._restart_timeout - loop.time()
                if left <= 0:
                    return None
                try:
                    await asyncio.wait_for(self._changed.wait(), left)
                except TimeoutError:
                    return None
            live = [i for i, up in enumerate(self._up) if up]
            return min(live, key=self._load.__getitem__)

    def _down(self, index: int) -> None:
        self._up[index] = False
        self._epoch[index] += 1
        if not any(self._up):
            self._all_down_since = asyncio.get_running_loop().time()
        probe = asyncio.ensure_future(self._revive(index))
        self._probes.add(probe)
        probe.add_done_callback(self._probes.discard)

    async def _revive(self, index: int) -> None:
        """Wait until Ray has the worker back (its actor restarted), then send it items."""
        ready = self._actors[index].ready.options(max_task_retries=-1)
        pause = 0.1
        while True:
            try:
                await ready.remote()  # Ray holds it while the actor restarts
                break
            except self._died:  # not back yet (or gone): ask again, less often
                await asyncio.sleep(pause)
                pause = min(pause * 2, 5.0)
        async with self._changed:
            self._up[index] = True
            self._all_down_since = None
            self._changed.notify_all()


def first_line(error: BaseException | None) -> str:
    """`Type: message` of an error, its first line."""
    return f"{type(error).__name__}: {error}".strip().splitlines()[0]


def failed(item_id: object, error: str) -> dict[str, Any]:
    """The record of an item that no worker could run."""
    return {"id": item_id, "ok": False, "error": error, "usage": None, "cost_usd": None,
            "worker": None, "seconds": None}
