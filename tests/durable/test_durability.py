"""Durable runs at `synchronous="FULL"` (`_run/durability.py`): no fsync stops the event loop,
and every checkpoint is on the disk before what depends on it goes on: a reply's before any of
its calls starts, results before the next model call, the status before `run()` returns. A
failed fsync stops the run with the `StoreError` a failed write raises.

The disk is a fake `os.fdatasync` (`tests/support/syncs.py`) that records each sync and holds or
fails the ones asked for; what is waited for is an event, never a duration."""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path
from typing import Any

import anyio
import pytest
from syncs import WAIT, Disk

from agentkit import Agent, AsyncClient, Hooks, RunContext, SQLiteStore, tool
from agentkit._durable import syncer as syncer_module
from agentkit._durable.journal import Lease
from agentkit.errors import RunError, StoreError
from agentkit.events import AgentEvent, ToolCallFinished, TurnFinished
from agentkit.testing import FunctionModel, ScriptedTransport, reply, text_reply

MODEL = "claude-sonnet-4-5"
_RUN_ID = re.compile(rb'"run_id":"([^"]+)"')


class RunDisk(Disk):
    """A `Disk` that names a journal by its run (its start entry's `run_id`), and notes, per
    run, how many bytes of the journal each sync that ended covered and on which thread."""

    def __init__(self) -> None:
        super().__init__()
        self.synced: list[tuple[str, int, int]] = []
        """(run, journal bytes the sync covered, thread id), in the order the syncs ended."""

    def __call__(self, fd: int) -> None:
        found = _RUN_ID.search(os.pread(fd, 4096, 0))
        run = found.group(1).decode() if found else ""
        size = os.fstat(fd).st_size
        if run in self.held:
            self.entered.set()
            assert self.let_go.wait(WAIT)
        if run in self.failing:
            raise OSError(5, "Input/output error")
        self._real(fd)
        self.synced.append((run, size, threading.get_ident()))

    def covered(self, run: str) -> int:
        """Bytes of `run`'s journal known to be on the disk."""
        return max((size for r, size, _ in self.synced if r == run), default=0)


@pytest.fixture
def disk(monkeypatch: pytest.MonkeyPatch) -> RunDisk:
    fake = RunDisk()
    monkeypatch.setattr(os, "fdatasync", fake)
    monkeypatch.setattr(syncer_module, "FAST", -1.0)  # a real disk: synced in the threads
    return fake


def journal_size(store: SQLiteStore, run_id: str) -> int:
    """Bytes of the run's journal now (its header names it by its key)."""
    (path,) = [
        p
        for p in Path(f"{store.path}.journals").iterdir()
        if f'"run_id":"{run_id}"'.encode() in p.read_bytes()[:4096]
    ]
    return path.stat().st_size


def plays(body: dict[str, Any]) -> Any:
    """One charge, then a text: whatever run asks."""
    if any(m["role"] == "assistant" for m in body["messages"]):
        return text_reply("Charged.")
    return reply(tool_calls=[("charge", {"order": 1})])


def agent_for(charge: Any, hooks: Hooks | None = None) -> Agent[str]:
    transport = ScriptedTransport(FunctionModel(plays))
    client = AsyncClient(api_key="sk-test", transport=transport, max_retries=0)
    return Agent(MODEL, tools=[charge], client=client, hooks=hooks or Hooks())


@pytest.mark.asyncio
async def test_a_run_whose_fsync_is_held_stops_no_other_run_on_the_loop(
    disk: RunDisk, tmp_path: Path
) -> None:
    @tool
    async def charge(ctx: RunContext[None], order: int) -> str:
        """Charge an order."""
        return "charged"

    store = SQLiteStore(tmp_path / "runs.db", synchronous="FULL")
    agent = agent_for(charge)
    disk.held.add("held")
    finished: list[str] = []

    async def run(run_id: str) -> None:
        await agent.run("go", run_id=run_id, store=store)
        finished.append(run_id)
        if run_id == "free":
            disk.let_go.set()  # only now may the held run's sync end

    async with anyio.create_task_group() as tg:
        tg.start_soon(run, "held")
        await anyio.to_thread.run_sync(disk.entered.wait, WAIT)
        tg.start_soon(run, "free")
    assert finished == ["free", "held"]  # the other run went on, whole, while one was held
    loop_thread = threading.get_ident()
    assert disk.synced and all(thread != loop_thread for _, _, thread in disk.synced)
    store.close()


@pytest.mark.asyncio
async def test_a_reply_s_call_starts_and_the_next_model_call_goes_only_once_on_the_disk(
    disk: RunDisk, tmp_path: Path
) -> None:
    store = SQLiteStore(tmp_path / "runs.db", synchronous="FULL")
    seen: list[tuple[str, int, int]] = []  # (moment, journal bytes then, bytes on the disk)

    @tool
    async def charge(ctx: RunContext[None], order: int) -> str:
        """Charge an order."""
        seen.append(("call", journal_size(store, "r"), disk.covered("r")))
        return "charged"

    def before_model(ctx: RunContext[None], params: Any) -> None:
        if ctx.turn:  # the second model call: after the result
            seen.append(("model", journal_size(store, "r"), disk.covered("r")))

    result = await agent_for(charge, Hooks(before_model=before_model)).run(
        "go", run_id="r", store=store
    )
    assert result.text == "Charged."
    assert [moment for moment, _, _ in seen] == ["call", "model"]
    for moment, written, on_disk in seen:  # everything written so far was on the disk
        assert on_disk == written, moment
    assert disk.covered("r") == journal_size(store, "r")  # the status, before run() returned
    loop_thread = threading.get_ident()
    assert all(thread != loop_thread for _, _, thread in disk.synced)  # none on the loop
    store.close()


@pytest.mark.asyncio
async def test_with_an_event_consumer_each_checkpoint_is_on_the_disk_before_its_event(
    disk: RunDisk, tmp_path: Path
) -> None:
    store = SQLiteStore(tmp_path / "runs.db", synchronous="FULL")
    seen: list[tuple[str, int, int]] = []

    @tool
    async def charge(ctx: RunContext[None], order: int) -> str:
        """Charge an order."""
        return "charged"

    def on_event(event: AgentEvent) -> None:
        if isinstance(event, TurnFinished | ToolCallFinished):
            seen.append((type(event).__name__, journal_size(store, "e"), disk.covered("e")))

    await agent_for(charge).run("go", run_id="e", store=store, on_event=on_event)
    assert [name for name, _, _ in seen] == ["TurnFinished", "ToolCallFinished", "TurnFinished"]
    for name, written, on_disk in seen:
        assert on_disk == written, name
    store.close()


async def two_lookups_reported(disk: RunDisk, store: SQLiteStore) -> tuple[str, list[str]]:
    """A run of two parallel calls with an event consumer, at FULL: both results are committed,
    and both calls wait for the disk before their event, before the disk answers. Its text and
    the results its `ToolCallFinished` events reported."""
    entered, both, returned = [0], anyio.Event(), [0]

    @tool(idempotent=True)
    async def lookup(ctx: RunContext[None], key: str) -> str:
        """Look a value up."""
        entered[0] += 1
        if entered[0] == 2:
            disk.held.add("p")  # the results' syncs wait until both results are committed
            both.set()
        await both.wait()
        returned[0] += 1
        if returned[0] == 2:  # the other call waits for the disk already: this one's is next
            disk.let_go.set()
        return key

    def two_lookups(body: dict[str, Any]) -> Any:
        if any(m["role"] == "assistant" for m in body["messages"]):
            return text_reply("Looked up.")
        return reply(tool_calls=[("lookup", {"key": "a"}), ("lookup", {"key": "b"})])

    client = AsyncClient(api_key="sk-test", transport=ScriptedTransport(FunctionModel(
        two_lookups)), max_retries=0)
    reported: list[str] = []

    def on_event(event: AgentEvent) -> None:
        if isinstance(event, ToolCallFinished):
            reported.append(event.result["content"])

    with anyio.fail_after(WAIT):  # only reached when a call waits for news it is never told
        result = await Agent(MODEL, tools=[lookup], client=client).run(
            "go", run_id="p", store=store, on_event=on_event
        )
    return result.text, reported


@pytest.mark.asyncio
async def test_with_an_event_consumer_parallel_calls_each_report_once_their_result_is_on_disk(
    disk: RunDisk, tmp_path: Path
) -> None:
    # Each wait is told (one used to be forgotten: the run hung for ever).
    store = SQLiteStore(tmp_path / "runs.db", synchronous="FULL")
    text, reported = await two_lookups_reported(disk, store)
    assert text == "Looked up." and sorted(reported) == ["a", "b"]
    assert disk.covered("p") == journal_size(store, "p")
    store.close()


def test_on_trio_parallel_calls_with_an_event_consumer_each_report_once_on_disk(
    disk: RunDisk, tmp_path: Path
) -> None:
    # trio has no asyncio loop to hand the news to: each call waits in a worker thread, on one
    # `threading.Event` all of them share (`Durability._settled_in_thread`).
    store = SQLiteStore(tmp_path / "runs.db", synchronous="FULL")

    async def main() -> tuple[str, list[str]]:
        return await two_lookups_reported(disk, store)

    text, reported = anyio.run(main, backend="trio")
    assert text == "Looked up." and sorted(reported) == ["a", "b"]
    assert disk.covered("p") == journal_size(store, "p")
    store.close()


@pytest.mark.asyncio
async def test_a_failed_fsync_stops_the_run_with_store_error_before_its_call_starts(
    disk: RunDisk, tmp_path: Path
) -> None:
    store = SQLiteStore(tmp_path / "runs.db", synchronous="FULL")
    charged: list[int] = []
    requests: list[int] = []

    @tool
    async def charge(ctx: RunContext[None], order: int) -> str:
        """Charge an order."""
        charged.append(order)
        return "charged"

    hooks = Hooks(before_model=lambda ctx, params: requests.append(1))
    original = RunDisk.__call__

    def fails_after_the_reply(self: RunDisk, fd: int) -> None:
        if b'"tool_started"' in os.pread(fd, 1 << 16, 0):
            raise OSError(5, "Input/output error")
        original(self, fd)

    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(RunDisk, "__call__", fails_after_the_reply)
        with pytest.raises(RunError, match="cannot sync the run journal") as caught:
            await agent_for(charge, hooks).run("go", run_id="r", store=store)
    assert isinstance(caught.value.__cause__, StoreError)
    assert charged == [] and requests == [1]  # nothing went on past the failed sync
    store.close()
    again = SQLiteStore(tmp_path / "runs.db", synchronous="FULL")
    result = await agent_for(charge).run("go", run_id="r", store=again)
    assert result.text == "Charged."
    assert charged == []  # marked started, never known to have run: never run (interrupted)
    again.close()


@pytest.mark.asyncio
async def test_closing_the_store_while_a_sync_is_held_stops_the_run_and_it_resumes(
    disk: RunDisk, tmp_path: Path
) -> None:
    store = SQLiteStore(tmp_path / "runs.db", synchronous="FULL")
    charged: list[int] = []

    @tool(idempotent=True)
    async def charge(ctx: RunContext[None], order: int) -> str:
        """Charge an order (safe to repeat)."""
        charged.append(order)
        return "charged"

    disk.held.add("r")
    closed = threading.Event()

    def close_meanwhile() -> None:
        assert disk.entered.wait(WAIT)
        threading.Timer(0.05, disk.let_go.set).start()  # the close must wait for the sync
        store.close()
        closed.set()

    closer = threading.Thread(target=close_meanwhile)
    closer.start()
    with pytest.raises((RunError, StoreError), match="closed"):
        await agent_for(charge).run("go", run_id="r", store=store)
    closer.join(WAIT)
    assert closed.is_set()
    disk.held.clear()
    again = SQLiteStore(tmp_path / "runs.db", synchronous="FULL")
    result = await agent_for(charge).run("go", run_id="r", store=again)
    assert result.text == "Charged." and charged == [1]
    again.close()


def test_a_full_run_on_trio_waits_for_the_disk_in_a_thread(disk: RunDisk, tmp_path: Path) -> None:
    pytest.importorskip("trio")
    store = SQLiteStore(tmp_path / "runs.db", synchronous="FULL")
    seen: list[tuple[int, int]] = []

    @tool
    async def charge(ctx: RunContext[None], order: int) -> str:
        """Charge an order."""
        seen.append((journal_size(store, "t"), disk.covered("t")))
        return "charged"

    async def main() -> str:
        return (await agent_for(charge).run("go", run_id="t", store=store)).text

    assert anyio.run(main, backend="trio") == "Charged."
    ((written, on_disk),) = seen
    assert on_disk == written
    assert disk.covered("t") == journal_size(store, "t")
    trio_thread = threading.get_ident()  # anyio.run runs trio in this thread
    assert all(thread != trio_thread for _, _, thread in disk.synced)  # none on the loop
    store.close()


@pytest.mark.asyncio
async def test_a_normal_store_starts_no_syncer_and_its_runs_await_no_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_sync(fd: int) -> None:
        raise AssertionError("NORMAL fsynced a journal")

    monkeypatch.setattr(os, "fdatasync", no_sync)

    @tool
    async def charge(ctx: RunContext[None], order: int) -> str:
        """Charge an order."""
        return "charged"

    store = SQLiteStore(tmp_path / "runs.db")
    assert (await agent_for(charge).run("go", run_id="n", store=store)).text == "Charged."
    assert store._syncer is None  # pyright: ignore[reportPrivateUsage]
    store.close()


def write_during_a_header_transaction(store: SQLiteStore, lease: Lease) -> tuple[bool, bool]:
    """Append a start entry from a thread while another holds the store's header lock (a
    claim's or a release's SQLite commit, its fsync slow at FULL): (whether the append was
    held up by it, whether its commit was then reported on the disk)."""
    release, committed = threading.Event(), threading.Event()
    in_transaction = threading.Event()

    def header_transaction() -> None:
        with store._lock:  # pyright: ignore[reportPrivateUsage]
            in_transaction.set()
            assert release.wait(WAIT)

    holder = threading.Thread(target=header_transaction)
    holder.start()
    assert in_transaction.wait(WAIT)
    writer = threading.Thread(
        target=lambda: store.append_many(lease, [("start", {})], then=lambda e: committed.set())
    )
    writer.start()
    writer.join(WAIT)
    held_up = writer.is_alive()
    release.set()
    holder.join(WAIT)
    writer.join(WAIT)
    return held_up, committed.wait(WAIT)


def test_a_header_transaction_in_another_thread_holds_no_checkpoint_up(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "runs.db", synchronous="FULL")
    lease = store.claim("h", fingerprint="f", model=MODEL, agent="a").lease
    held_up, committed = write_during_a_header_transaction(store, lease)
    assert not held_up  # written while the header's transaction went on
    assert committed
    store.close()


def test_a_lease_renewal_due_at_a_full_checkpoint_is_made_off_the_writer_s_thread(
    tmp_path: Path,
) -> None:
    now = [1000.0]
    store = SQLiteStore(
        tmp_path / "runs.db", synchronous="FULL", lease_seconds=3.0, clock=lambda: now[0]
    )
    lease = store.claim("h", fingerprint="f", model=MODEL, agent="a").lease
    now[0] += 2.0  # past a third of the lease: the next append renews it
    renewed, renew = threading.Event(), store.renew

    def renewing(lease: Lease) -> Lease:
        renewed_lease = renew(lease)
        renewed.set()
        return renewed_lease

    store.renew = renewing  # type: ignore[method-assign]
    held_up, committed = write_during_a_header_transaction(store, lease)
    assert not held_up  # the renewal would wait for the header's lock
    assert committed
    assert renewed.wait(WAIT)  # in its thread, once the lock was free
    header = store.header("h")
    assert header is not None and header.holder is not None
    assert header.holder.expires == now[0] + 3.0
    store.close()
