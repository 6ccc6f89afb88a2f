"""The store's group commit (`_durable/syncer.py`): journals synced in threads of its own,
waiters that ask meanwhile sharing a sync, a closed journal never synced, a failure final.

Syncs are held and let go with `threading.Event`s (a fake `os.fdatasync`), never timed."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from syncs import WAIT, Disk

from agentkit._durable import syncer as syncer_module
from agentkit._durable.log import RunLog
from agentkit._durable.syncer import Syncer
from agentkit._errors import StoreError


@pytest.fixture
def disk(monkeypatch: pytest.MonkeyPatch) -> Disk:
    fake = Disk()
    monkeypatch.setattr(os, "fdatasync", fake)
    monkeypatch.setattr(syncer_module, "FAST", -1.0)  # never synced inline: the threads' rules
    return fake


@pytest.fixture
def logs(tmp_path: Path) -> Iterator[Callable[[str], RunLog]]:
    made: list[RunLog] = []

    def make(name: str) -> RunLog:
        log = RunLog.take(str(tmp_path / name), fresh=True)
        assert log is not None
        log.append([("start", {"n": name})], 1.0, None, sync=False)
        made.append(log)
        return log

    yield make
    for log in made:
        log.close()


class Told:
    """Waiters' news, in the order told."""

    def __init__(self) -> None:
        self.news: list[tuple[int, StoreError | None]] = []
        self.all_told = threading.Event()
        self.expected = 0

    def waiter(self, n: int) -> Callable[[StoreError | None], None]:
        self.expected += 1

        def then(error: StoreError | None) -> None:
            self.news.append((n, error))
            if len(self.news) == self.expected:
                self.all_told.set()

        return then


def test_waiters_that_ask_while_a_journal_syncs_share_its_next_sync(
    disk: Disk, logs: Callable[[str], RunLog]
) -> None:
    log, told, syncer = logs("1.log"), Told(), Syncer()
    disk.held.add("1.log")
    syncer.request(log, told.waiter(0))
    assert disk.entered.wait(WAIT)
    for n in range(1, 6):  # written and asked while the first sync is in flight
        log.append([("reply", {"n": n})], 1.0, None, sync=False)
        syncer.request(log, told.waiter(n))
    other = threading.Event()
    syncer.request(logs("2.log"), lambda error: other.set())  # wakes another thread
    assert other.wait(WAIT)  # which synced that journal, not the first a second time at once
    assert told.news == []  # nobody is told before a sync that began after they asked
    disk.held.clear()
    disk.let_go.set()
    assert told.all_told.wait(WAIT)
    mine = [event for event in disk.events if event[1] == "1.log"]
    assert mine == [("begun", "1.log"), ("ended", "1.log")] * 2  # six waiters, two syncs
    assert [n for n, _ in told.news] == [0, 1, 2, 3, 4, 5]
    assert all(error is None for _, error in told.news)
    syncer.close()


def test_other_journals_are_synced_while_one_sync_is_held(
    disk: Disk, logs: Callable[[str], RunLog]
) -> None:
    slow, fast, told, syncer = logs("1.log"), logs("2.log"), Told(), Syncer()
    disk.held.add("1.log")
    syncer.request(slow, told.waiter(1))
    assert disk.entered.wait(WAIT)
    other = threading.Event()
    syncer.request(fast, lambda error: other.set())
    assert other.wait(WAIT)  # told while the first journal's sync is still held
    assert told.news == []
    disk.let_go.set()
    assert told.all_told.wait(WAIT)
    syncer.close()


def test_closing_a_journal_waits_for_its_sync_in_flight_and_later_waiters_are_refused(
    disk: Disk, logs: Callable[[str], RunLog]
) -> None:
    log, told, syncer = logs("1.log"), Told(), Syncer()
    disk.held.add("1.log")
    syncer.request(log, told.waiter(0))
    assert disk.entered.wait(WAIT)
    closed = threading.Event()

    def close() -> None:
        log.close()
        closed.set()

    closer = threading.Thread(target=close)
    closer.start()
    assert not closed.wait(0.05)  # still open: its fd is being synced
    disk.let_go.set()
    closer.join(WAIT)
    assert told.all_told.wait(WAIT)
    assert told.news == [(0, None)]
    assert disk.events == [("begun", "1.log"), ("ended", "1.log")]  # the right file, whole
    refused = threading.Event()
    errors: list[StoreError | None] = []
    syncer.request(log, lambda error: (errors.append(error), refused.set()))
    assert refused.wait(WAIT)
    assert isinstance(errors[0], StoreError) and "was closed before" in str(errors[0])
    syncer.close()


def test_a_failed_sync_fails_its_waiters_and_every_later_sync_and_write(
    disk: Disk, logs: Callable[[str], RunLog]
) -> None:
    log, told, syncer = logs("1.log"), Told(), Syncer()
    disk.failing.add("1.log")
    syncer.request(log, told.waiter(0))
    assert told.all_told.wait(WAIT)
    ((_, failed),) = told.news
    assert isinstance(failed, StoreError) and "Input/output error" in str(failed)
    disk.failing.clear()  # the disk answers again: a lost write is still lost
    again = Told()
    syncer.request(log, again.waiter(1))
    assert again.all_told.wait(WAIT)
    assert again.news == [(1, failed)]
    with pytest.raises(StoreError, match="cannot sync"):
        log.append([("reply", {})], 1.0, None, sync=False)
    syncer.close()


def test_while_the_disk_is_fast_the_writer_syncs_itself_and_one_slow_sync_ends_it(
    monkeypatch: pytest.MonkeyPatch, logs: Callable[[str], RunLog]
) -> None:
    took = [0.0]
    ticks: list[float] = []

    def timed() -> float:  # each sync "takes" `took`: begun at 0, ended at `took`
        ticks.append(0.0)
        return 0.0 if len(ticks) % 2 else took[0]

    monkeypatch.setattr(syncer_module, "_clock", timed)
    log, syncer = logs("1.log"), Syncer()
    told = threading.Event()
    for n in range(syncer_module.FAST_RUN):  # fast syncs, in the threads
        seq, synced = syncer.append(log, [("reply", {"n": n})], 1.0, None, lambda e: told.set())
        assert not synced
        assert told.wait(WAIT)
        told.clear()
    assert syncer.inline
    seq, synced = syncer.append(log, [("reply", {})], 1.0, None, lambda e: told.set())
    assert synced and seq == log.seq  # synced as written, on this thread
    took[0] = 1.0  # the disk turns slow: the next sync waits
    syncer.append(log, [("reply", {})], 1.0, None, lambda e: told.set())
    assert not syncer.inline
    seq, synced = syncer.append(log, [("reply", {})], 1.0, None, lambda e: told.set())
    assert not synced and told.wait(WAIT)
    syncer.close()


def test_a_sync_the_writer_made_itself_that_failed_is_final_too(
    monkeypatch: pytest.MonkeyPatch, disk: Disk, logs: Callable[[str], RunLog]
) -> None:
    log, syncer = logs("1.log"), Syncer()
    syncer.inline = True  # the disk was fast: the writer syncs
    disk.failing.add("1.log")
    with pytest.raises(StoreError, match="Input/output error"):
        syncer.append(log, [("reply", {})], 1.0, None, lambda error: None)
    disk.failing.clear()  # the disk answers again; what it lost, a later sync would not say
    told = Told()
    syncer.request(log, told.waiter(0))
    assert told.all_told.wait(WAIT)
    ((_, error),) = told.news
    assert isinstance(error, StoreError) and "Input/output error" in str(error)
    syncer.close()
