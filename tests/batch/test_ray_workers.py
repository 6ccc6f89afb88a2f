"""Where a Ray batch's items go and when one is given up (`_ray_workers.Workers`), with fake
actors: Ray raises the same errors for a worker that died under an item and for one being
restarted, so only deaths under an item count against it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection
from typing import Any

import pytest

from agentkit.workflows._ray_workers import Workers


class Died(Exception):
    """Stands for Ray's `RayActorError`."""


class Method:
    """`actor.method.remote(...)` and `.options(...)`, as a Ray actor handle has them."""

    def __init__(self, call: Callable[..., Awaitable[Any]]) -> None:
        self._call = call

    def options(self, **_: Any) -> Method:
        return self

    def remote(self, *args: Any) -> Awaitable[Any]:
        return self._call(*args)


class FakeWorker:
    """A worker that dies under the items in `kills` (each once, or always if `poison`)
    and, once dead, answers "restarting" until `restarted` is set."""

    def __init__(self, name: str, kills: Collection[object] = (), *,
                 poison: bool = False) -> None:
        self.name, self.kills, self.poison = name, set(kills), poison
        self.up = True
        self.calls: list[object] = []
        self.probed, self.restarted = asyncio.Event(), asyncio.Event()
        self.run, self.ready = Method(self._run), Method(self._ready)

    async def _run(self, item_id: object, value: Any) -> tuple[dict[str, Any], None]:
        self.calls.append(item_id)
        if not self.up:
            raise Died("The actor is temporarily unavailable: IOError: The actor is restarting")
        if item_id in self.kills:
            if not self.poison:
                self.kills.discard(item_id)
            self.up, self.restarted = False, asyncio.Event()
            raise Died("The actor is temporarily unavailable: RpcError: Socket closed")
        return {"id": item_id, "ok": True, "worker": self.name}, None

    async def _ready(self) -> None:
        self.probed.set()
        await self.restarted.wait()
        self.up = True


async def first_of(task: asyncio.Future[Any], event: asyncio.Event) -> bool:
    """Whether `event` was set before `task` finished."""
    waiting = asyncio.ensure_future(event.wait())
    await asyncio.wait({task, waiting}, return_when=asyncio.FIRST_COMPLETED)
    waiting.cancel()
    return event.is_set() and not task.done()


@pytest.mark.asyncio
async def test_an_item_whose_only_worker_is_restarting_waits_for_it() -> None:
    worker = FakeWorker("w", kills={1})
    workers = Workers([worker], (Died,), max_attempts=4, restart_timeout=300)
    item = asyncio.ensure_future(workers.submit(1, {}))
    assert await first_of(item, worker.probed)  # waiting for the worker, not failed
    worker.restarted.set()
    record, _ = await item
    assert record == {"id": 1, "ok": True, "worker": "w"}
    assert worker.calls == [1, 1]  # never sent to the worker while it was down
    await workers.close()


@pytest.mark.asyncio
async def test_an_item_whose_worker_died_runs_again_on_a_live_one_at_once() -> None:
    dying, live = FakeWorker("a", kills={1}), FakeWorker("b")
    workers = Workers([dying, live], (Died,), max_attempts=4, restart_timeout=300)
    records = [r for r, _ in await asyncio.gather(*(workers.submit(i, {}) for i in range(1, 6)))]
    assert all(r["ok"] for r in records)
    assert next(r for r in records if r["id"] == 1)["worker"] == "b"
    assert dying.calls == [1]  # down: nothing more was sent to it
    await workers.close()


@pytest.mark.asyncio
async def test_an_item_that_keeps_killing_its_worker_fails_after_max_attempts() -> None:
    worker = FakeWorker("w", kills={"poison"}, poison=True)
    workers = Workers([worker], (Died,), max_attempts=3, restart_timeout=300)
    item = asyncio.ensure_future(workers.submit("poison", {}))
    for _ in range(2):  # Ray restarts the worker each time
        assert await first_of(item, worker.probed)
        worker.probed.clear()
        worker.restarted.set()
    record, _ = await item
    assert record["ok"] is False and worker.calls == ["poison"] * 3
    assert record["error"].startswith("its worker died 3 times while running it")
    assert "RpcError: Socket closed" in record["error"]
    worker.restarted.set()
    record, _ = await workers.submit("fine", {})  # the others run on
    assert record["ok"] is True
    await workers.close()


@pytest.mark.asyncio
async def test_items_fail_with_why_when_no_worker_comes_back() -> None:
    worker = FakeWorker("w", kills={1})
    workers = Workers([worker], (Died,), max_attempts=4, restart_timeout=0.05)
    record, _ = await workers.submit(1, {})
    assert record["ok"] is False
    assert record["error"].startswith("no worker was live for 0.05 s")
    assert "RayEngine(restart_timeout=...)" in record["error"]
    await workers.close()
