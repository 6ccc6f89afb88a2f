"""SQLiteStore on real files: the journal, the header and listing, fingerprints, leases,
concurrency (threads sharing one store, processes racing for one run), the paths that name a
store (relative, through a symlink), and full or read-only disks (`tests/support/disk.py`)."""

from __future__ import annotations

import fcntl
import math
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pytest
from disk import fill

from agentkit._durable import log as log_module
from agentkit._durable import records as records_module
from agentkit._durable import sqlite as sqlite_module
from agentkit._durable.journal import (
    KINDS,
    Claim,
    EntryKind,
    Lease,
    RunStatus,
    RunStore,
    Summary,
)
from agentkit._durable.log import RunLog
from agentkit._durable.schema import FORMAT
from agentkit._durable.sqlite import SQLiteStore
from agentkit._errors import UsageError
from agentkit.errors import (
    RunLockedError,
    RunMismatchError,
    RunNotFoundError,
    StoreError,
    StoreFormatError,
)

ROOT = Path(__file__).resolve().parents[2]
LEASE = 60.0


class Clock:
    """Unix seconds that only move when a test says so (no sleeps)."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> Iterator[SQLiteStore]:
    with SQLiteStore(tmp_path / "runs.db", lease_seconds=LEASE, clock=clock) as opened:
        yield opened


PAYLOADS: dict[EntryKind, dict[str, Any]] = {
    "start": {
        "messages": [{"role": "user", "content": "Charge the open orders ✓"}],
        "fingerprint": "f1",
    },
    "reply": {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "content": [
            {"type": "text", "text": "Charging."},
            {"type": "tool_use", "id": "toolu_1", "name": "charge", "input": {"order": 7}},
        ],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 120, "output_tokens": 30},
    },
    "tool_started": {"tool_use_id": "toolu_1"},
    "tool_result": {
        "type": "tool_result",
        "tool_use_id": "toolu_1",
        "content": "ok",
        "is_error": False,
    },
    "decisions": {"toolu_2": {"approved": False, "reason": "too expensive"}},
    "status": {"status": "finished", "reason": None, "ratio": 0.5, "big": 2**53},
    "context": {"count": 48_100},
    "usage": {"requests": 1, "input_tokens": 40, "output_tokens": 9, "turns": []},
    "attempt": {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
}


def claim(store: RunStore, run_id: str = "r1", fingerprint: str = "f1") -> Claim:
    return store.claim(run_id, fingerprint=fingerprint, model="claude-x", agent="orders")


def test_sqlite_store_is_a_run_store(store: SQLiteStore) -> None:
    typed: RunStore = store
    assert typed is store


def test_every_entry_kind_round_trips_in_order(store: SQLiteStore, clock: Clock) -> None:
    lease = claim(store).lease
    seqs: list[int] = []
    for kind in KINDS:
        clock.now += 1
        seqs.append(store.append(lease, kind, PAYLOADS[kind]))
    assert seqs == list(range(1, len(KINDS) + 1))
    entries = store.entries("r1")
    assert [(e.seq, e.kind, e.payload) for e in entries] == [
        (i + 1, kind, PAYLOADS[kind]) for i, kind in enumerate(KINDS)
    ]
    assert [e.at for e in entries] == [clock.now - len(KINDS) + 1 + i for i in range(len(KINDS))]
    assert [e.seq for e in store.entries("r1", after=4)] == list(range(5, len(KINDS) + 1))
    assert store.entries("nobody") == []


def test_claim_creates_then_loads_and_the_header_shows_the_lease(
    store: SQLiteStore, clock: Clock
) -> None:
    first = claim(store)
    assert first.created and first.run.entries == 0 and first.run.status == "running"
    assert (first.run.model, first.run.agent, first.run.fingerprint) == ("claude-x", "orders", "f1")
    assert first.run.holder is not None and first.run.holder.pid == os.getpid()
    assert first.lease.expires == clock.now + LEASE
    store.append(first.lease, "start", PAYLOADS["start"])
    assert store.release(first.lease)
    header = store.header("r1")
    assert header is not None and header.holder is None and header.entries == 1
    again = claim(store)
    assert not again.created and again.run.entries == 1 and again.lease.token != first.lease.token
    assert store.header("nobody") is None


def test_summary_columns_are_set_with_the_append_and_none_keeps_a_column(
    store: SQLiteStore, clock: Clock
) -> None:
    lease = claim(store).lease
    clock.now += 5
    store.append(
        lease,
        "reply",
        PAYLOADS["reply"],
        summary=Summary(turns=1, input_tokens=120, output_tokens=30, cost_usd=0.0012),
    )
    clock.now += 5
    store.append(lease, "status", {"status": "paused"}, summary=Summary(status="paused"))
    header = store.header("r1")
    assert header is not None
    assert (header.status, header.turns, header.input_tokens, header.output_tokens) == (
        "paused",
        1,
        120,
        30,
    )
    assert header.cost_usd == 0.0012 and header.updated == clock.now
    assert header.created == clock.now - 10 and header.entries == 2


def test_runs_lists_newest_first_filtered_and_paged(store: SQLiteStore, clock: Clock) -> None:
    statuses: list[RunStatus] = ["finished", "paused", "finished", "failed"]
    for i, status in enumerate(statuses):
        clock.now += 1
        lease = claim(store, f"r{i}").lease
        store.append(lease, "status", {"status": status}, summary=Summary(status=status))
        # The filter is the header's as of its last update (the release), the header the journal's.
        assert f"r{i}" not in [h.run_id for h in store.runs(status=status)]
        assert store.header(f"r{i}").status == status  # type: ignore[union-attr]
        store.release(lease)
    assert [h.run_id for h in store.runs()] == ["r3", "r2", "r1", "r0"]
    assert [h.run_id for h in store.runs(status="finished")] == ["r2", "r0"]
    assert [h.run_id for h in store.runs(limit=2, offset=1)] == ["r2", "r1"]
    assert store.runs(status="interrupted") == []


def test_delete_removes_the_run_and_its_journal_but_not_a_held_one(store: SQLiteStore) -> None:
    lease = claim(store).lease
    store.append(lease, "start", PAYLOADS["start"])
    with pytest.raises(RunLockedError):
        store.delete("r1")
    assert store.entries("r1") != []
    store.release(lease)
    assert store.delete("r1")
    assert store.header("r1") is None and store.entries("r1") == []
    assert not store.delete("r1")
    fresh = claim(store)
    assert fresh.created and store.append(fresh.lease, "start", {}) == 1


def test_a_reused_run_id_with_another_fingerprint_is_refused_and_nothing_changes(
    store: SQLiteStore, clock: Clock
) -> None:
    lease = claim(store).lease
    store.append(lease, "start", PAYLOADS["start"])
    store.release(lease)
    before = store.header("r1")
    clock.now += 1
    with pytest.raises(RunMismatchError, match="different prompt or agent") as caught:
        claim(store, fingerprint="f2")
    assert (caught.value.run_id, caught.value.stored, caught.value.given) == ("r1", "f1", "f2")
    assert store.header("r1") == before


@pytest.mark.parametrize(
    ("named", "printed", "resumes"),
    [
        (None, None, True),  # a journal from before journals named their run: no check
        ("r1", None, True),
        ("r1", "f1", True),
        ("r2", "f1", False),  # another run's journal under this run's key
        ("r1", "f9", False),  # another store's run of the same id
    ],
)
def test_a_claim_resumes_only_a_journal_whose_start_names_this_run(
    store: SQLiteStore, clock: Clock, named: str | None, printed: str | None, resumes: bool
) -> None:
    start: dict[str, Any] = {"messages": [], "seed": 7}
    start.update({k: v for k, v in (("run_id", named), ("fingerprint", printed)) if v})
    lease = claim(store).lease
    store.append_many(lease, [("start", start), ("reply", PAYLOADS["reply"])])
    store.release(lease)
    (journal,) = Path(f"{store.path}.journals").iterdir()
    with journal.open("ab") as torn:
        torn.write(b'[3, 1.0, null, "sta')  # a record cut short: cut off only by a claim
    before, data = store.header("r1"), journal.read_bytes()
    clock.now += 1
    if resumes:
        assert not claim(store).created
        return
    with pytest.raises(StoreError, match=(
        rf"the journal {journal} is not run 'r1'.s: it is run '{named}'.s \(fingerprint "
        rf"{printed}\), and this store has run 'r1' with fingerprint f1.*nothing was changed"
    )):
        claim(store)
    assert store.header("r1") == before and journal.read_bytes() == data
    assert not RunLog.held(str(journal))


def test_a_second_claim_while_the_first_lease_lives_fails(store: SQLiteStore, clock: Clock) -> None:
    first = claim(store)
    with pytest.raises(RunLockedError, match=f"this process \\(pid {os.getpid()}\\)") as caught:
        claim(store)
    assert (caught.value.run_id, caught.value.pid) == ("r1", os.getpid())
    assert caught.value.expires == clock.now + LEASE
    assert store.append(first.lease, "start", {}) == 1  # the holder is unaffected


def test_a_holder_keeps_its_run_past_its_lease_time_until_it_releases_it(
    store: SQLiteStore, clock: Clock
) -> None:
    old = claim(store).lease
    store.append(old, "start", {})
    clock.now += LEASE * 10  # the lease time says nothing about a live holder
    with pytest.raises(RunLockedError):
        claim(store)
    assert store.append(old, "reply", PAYLOADS["reply"]) == 2
    assert store.release(old)
    new = claim(store).lease
    with pytest.raises(RunLockedError):
        store.append(old, "reply", PAYLOADS["reply"])
    with pytest.raises(RunLockedError):
        store.renew(old)
    assert not store.release(old)
    assert [e.kind for e in store.entries("r1")] == ["start", "reply"]
    assert store.append(new, "tool_result", PAYLOADS["tool_result"]) == 3


def test_renew_extends_the_lease_the_header_shows(store: SQLiteStore, clock: Clock) -> None:
    lease = claim(store).lease
    clock.now += LEASE * 0.9
    renewed = store.renew(lease)
    assert renewed.expires == clock.now + LEASE and renewed.token == lease.token
    header = store.header("r1")
    assert header is not None and header.holder is not None
    assert header.holder.expires == clock.now + LEASE


def test_appends_renew_the_lease_and_sync_the_header_once_a_third_of_it_is_spent(
    store: SQLiteStore, clock: Clock
) -> None:
    lease = claim(store).lease
    store.append(lease, "reply", {}, summary=Summary(turns=1))
    row = store.runs()[0]  # the header row as stored (runs() shows the journal's totals too)
    assert row.holder is not None and row.holder.expires == lease.expires
    clock.now += LEASE / 3
    store.append(lease, "reply", {}, summary=Summary(turns=2))
    header = store.header("r1")
    assert header is not None and header.holder is not None
    assert header.holder.expires == clock.now + LEASE and header.turns == 2
    assert store._db is not None  # pyright: ignore[reportPrivateUsage]  # the row itself
    synced = store._db.execute(  # pyright: ignore[reportPrivateUsage]
        "SELECT turns, log_seq FROM runs"
    ).fetchone()
    assert synced == (2, 2)


HOLDER = """
import sys
from agentkit._durable import log as log_module
from agentkit._durable import sqlite as sqlite_module
from agentkit._durable.sqlite import SQLiteStore

store = SQLiteStore(sys.argv[1], lease_seconds=0.001)  # expired at once: it must not matter
lease = store.claim("held", fingerprint="f1", model="claude-x", agent="orders").lease
store.append(lease, "start", {})
print("held", flush=True)
sys.stdin.readline()
"""


def test_a_live_holder_in_another_process_keeps_its_run_and_its_death_frees_it_at_once(
    tmp_path: Path,
) -> None:
    path = tmp_path / "runs.db"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with SQLiteStore(path) as store:
            elsewhere = f"by process {holder.pid} on .*stop that process"
            with pytest.raises(RunLockedError, match=elsewhere) as caught:
                claim(store, "held")
            assert caught.value.pid == holder.pid
            with pytest.raises(RunLockedError):
                store.delete("held")
            holder.kill()
            holder.wait()
            taken = claim(store, "held")  # at once: no lease to wait out
            assert taken.run.entries == 1
            assert store.append(taken.lease, "reply", PAYLOADS["reply"]) == 2
    finally:
        holder.kill()
        holder.communicate()


def test_writing_after_release_or_delete_fails_and_writes_nothing(store: SQLiteStore) -> None:
    lease = claim(store).lease
    assert store.release(lease) and not store.release(lease)
    with pytest.raises(StoreError, match="released") as caught:
        store.append(lease, "start", {})
    assert not isinstance(caught.value, RunLockedError)
    assert store.delete("r1")
    with pytest.raises(RunNotFoundError, match="'r1'"):
        store.append(lease, "start", {})
    with pytest.raises(RunNotFoundError):
        store.renew(lease)


def test_bad_appends_are_refused_before_anything_is_written(store: SQLiteStore) -> None:
    lease = claim(store).lease
    with pytest.raises(UsageError, match="kinds are"):
        store.append(lease, "note", {})  # pyright: ignore[reportArgumentType]  # the wrong kind on purpose
    with pytest.raises(TypeError):
        store.append(lease, "start", {"when": object()})
    assert store.entries("r1") == []
    assert store.append(lease, "start", {}) == 1


def test_a_run_id_that_names_nothing_is_refused_before_anything_is_written(
    store: SQLiteStore,
) -> None:
    for bad in ("", " ", "a\0b", 7, None):
        with pytest.raises(UsageError, match="a durable run's id"):
            store.claim(bad, fingerprint="f", model="m", agent="a")  # pyright: ignore[reportArgumentType]
    assert store.runs() == []


def test_a_run_written_by_a_newer_agentkit_is_refused(store: SQLiteStore) -> None:
    lease = claim(store).lease
    store.append(lease, "start", {})
    store.release(lease)
    assert store._db is not None  # pyright: ignore[reportPrivateUsage]  # simulating a newer writer
    store._db.execute(f"UPDATE runs SET format = {FORMAT + 1}")  # pyright: ignore[reportPrivateUsage]
    with pytest.raises(StoreFormatError, match="upgrade agentkit") as caught:
        claim(store)
    assert caught.value.problem == "newer"
    with pytest.raises(StoreFormatError, match="newer agentkit"):
        store.entries("r1")


@pytest.mark.parametrize("synchronous", ["NORMAL", "FULL"])
@pytest.mark.parametrize("kind", KINDS)
def test_full_fsyncs_every_append_and_normal_none(
    tmp_path: Path, kind: EntryKind, synchronous: Literal["NORMAL", "FULL"],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    synced = spy(monkeypatch, "fdatasync")
    with SQLiteStore(tmp_path / "runs.db", synchronous=synchronous) as store:
        assert store.fsyncs == (synchronous == "FULL")
        lease = claim(store).lease
        store.append(lease, kind, PAYLOADS[kind])
        assert len(synced) == (1 if synchronous == "FULL" else 0)


def spy(monkeypatch: pytest.MonkeyPatch, name: str) -> list[tuple[Any, ...]]:
    """Record the calls of `os.<name>` (and still make them)."""
    calls: list[tuple[Any, ...]] = []
    real = getattr(os, name)

    def recorded(*args: Any) -> Any:
        calls.append(args)
        return real(*args)

    monkeypatch.setattr(os, name, recorded)
    return calls


def test_a_closed_store_says_so(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "runs.db")
    store.close()
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.runs()


@pytest.mark.parametrize("new", [True, False], ids=["new run", "known run"])
def test_a_store_kept_busy_too_long_by_another_writer_is_a_store_error_and_nothing_changes(
    tmp_path: Path, new: bool
) -> None:
    path = tmp_path / "runs.db"
    with SQLiteStore(path) as store:
        store.release(store.claim("known", fingerprint="f", model="m", agent="a").lease)
    store = SQLiteStore(path, timeout=0.05)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process mid-write
    try:
        with pytest.raises(StoreError, match="busy"):
            store.claim("new" if new else "known", fingerprint="f", model="m", agent="a")
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert [run.run_id for run in store.runs()] == ["known"]  # the lock was given back
    lease = store.claim("known", fingerprint="f", model="m", agent="a").lease
    assert store.release(lease)
    store.close()


def test_many_threads_append_to_their_own_runs_through_one_store(store: SQLiteStore) -> None:
    threads, appends = 8, 60
    leases = [claim(store, f"t{i}").lease for i in range(threads)]
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def work(lease: Lease) -> None:
        try:
            barrier.wait()
            for n in range(appends):
                seq = store.append(
                    lease, "tool_result", {"run": lease.run_id, "n": n}, summary=Summary(turns=n)
                )
                assert seq == n + 1
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(lease,)) for lease in leases]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    for lease in leases:
        entries = store.entries(lease.run_id)
        assert [e.payload for e in entries] == [
            {"run": lease.run_id, "n": n} for n in range(appends)
        ]
        header = store.header(lease.run_id)
        assert header is not None and header.turns == appends - 1


RACER = """
import sys
from agentkit.errors import RunLockedError
from agentkit._durable import log as log_module
from agentkit._durable import sqlite as sqlite_module
from agentkit._durable.sqlite import SQLiteStore

store = SQLiteStore(sys.argv[1])
print("ready", flush=True)
sys.stdin.readline()
try:
    store.claim("race", fingerprint="f", model="m", agent="a")
except RunLockedError:
    print("locked", flush=True)
else:
    print("won", flush=True)
sys.stdin.readline()  # stay alive (holding the lease) until every racer has answered
"""


def test_processes_racing_for_one_run_exactly_one_wins(tmp_path: Path) -> None:
    path = tmp_path / "race.db"  # new: the racers also race to create the store
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        for _ in range(3)
    ]
    try:
        pipes = [(r.stdin, r.stdout) for r in racers]
        answers: list[str] = []
        for _, out in pipes:
            assert out is not None and out.readline() == "ready\n"
        for into, _ in pipes:
            assert into is not None
            into.write("go\n")
            into.flush()
        for _, out in pipes:
            assert out is not None
            answers.append(out.readline().strip())
        assert sorted(answers) == ["locked", "locked", "won"]
    finally:
        for racer in racers:
            racer.communicate()  # closes its pipes and waits
    assert all(r.returncode == 0 for r in racers)


WRITER = """
import sys
from agentkit._durable import log as log_module
from agentkit._durable import sqlite as sqlite_module
from agentkit._durable.sqlite import SQLiteStore

store = SQLiteStore(sys.argv[1])
lease = store.claim("killed", fingerprint="f", model="m", agent="a").lease
for n in range(100_000):
    kind = "tool_started" if n % 10 == 0 else "reply"
    print(store.append(lease, kind, {"n": n, "text": "x" * 2000}), flush=True)
"""


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
def test_a_sigkilled_writer_loses_no_committed_entry_and_its_run_is_resumable_at_once(
    tmp_path: Path,
) -> None:
    path = tmp_path / "runs.db"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    assert writer.stdout is not None
    seen = [int(writer.stdout.readline()) for _ in range(60)]  # committed before printed
    writer.send_signal(signal.SIGKILL)
    writer.communicate()
    assert writer.returncode == -signal.SIGKILL
    with SQLiteStore(path) as store:
        resumed = claim(store, "killed", fingerprint="f")  # no wait for the lease to expire
        entries = store.entries("killed")
        assert resumed.run.entries == len(entries) >= seen[-1] == 60
        assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
        assert [e.payload["n"] for e in entries] == list(range(len(entries)))
        assert store.append(resumed.lease, "status", {"status": "finished"}) == len(entries) + 1


def test_append_many_commits_in_order_in_one_write_all_or_nothing(
    store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    lease = claim(store).lease
    store.append(lease, "start", {})
    writes, synced = spy(monkeypatch, "pwrite"), spy(monkeypatch, "fdatasync")
    last = store.append_many(
        lease,
        [("reply", {"n": 1}), ("tool_started", {"ids": ["a"]})],
        summary=Summary(turns=1),
    )
    assert last == 3
    assert [(e.seq, e.kind) for e in store.entries("r1")] == [
        (1, "start"), (2, "reply"), (3, "tool_started")
    ]
    assert len(writes) == 1 and synced == []  # one write; NORMAL: not fsynced
    header = store.header("r1")
    assert header is not None and header.turns == 1 and header.entries == 3
    with pytest.raises(TypeError):
        store.append_many(lease, [("tool_result", {"n": 2}), ("tool_result", {"x": object()})])
    with pytest.raises(UsageError, match="at least one"):
        store.append_many(lease, [])
    assert [e.seq for e in store.entries("r1")] == [1, 2, 3]
    assert store.append(lease, "tool_result", {}) == 4


def test_a_short_write_is_finished_and_a_full_disk_keeps_nothing_of_the_commit(
    store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    lease = claim(store).lease
    store.append(lease, "start", {})
    real = os.pwrite
    room = [10**9]  # bytes the "disk" still takes; a write takes at most 7 at a time

    def pwrite(fd: int, data: bytes, offset: int) -> int:
        n = min(len(data), 7, room[0])
        room[0] -= n
        return real(fd, data[:n], offset) if n else 0

    monkeypatch.setattr(os, "pwrite", pwrite)
    assert store.append_many(lease, [("reply", {"n": 1}), ("tool_started", {"ids": ["a"]})]) == 3
    (journal,) = Path(f"{store.path}.journals").iterdir()
    size = journal.stat().st_size
    room[0] = 20  # the disk fills in the middle of the next commit
    with pytest.raises(StoreError, match=r"no space left on device.*nothing of this checkpoint"):
        store.append(lease, "tool_result", {"tool_use_id": "a", "content": "x" * 50})
    assert journal.stat().st_size == size  # the 20 bytes written are cut off again
    monkeypatch.setattr(os, "pwrite", real)
    assert [(e.seq, e.kind) for e in store.entries("r1")] == [
        (1, "start"), (2, "reply"), (3, "tool_started")
    ]
    assert store.append(lease, "tool_result", {"tool_use_id": "a"}) == 4  # after the cut
    assert [e.seq for e in store.entries("r1")] == [1, 2, 3, 4]


def test_only_the_store_object_that_claimed_a_run_writes_to_it(
    store: SQLiteStore, tmp_path: Path, clock: Clock
) -> None:
    lease = claim(store).lease
    store.append(lease, "start", {})
    with SQLiteStore(tmp_path / "runs.db", lease_seconds=LEASE, clock=clock) as other:
        with pytest.raises(StoreError, match="another SQLiteStore object"):
            other.append(lease, "reply", {})
        assert not other.release(lease)
    assert store.append(lease, "tool_result", {}) == 2
    assert [e.kind for e in store.entries("r1")] == ["start", "tool_result"]


def test_a_new_run_is_claimed_by_nobody_else_before_its_creator_holds_its_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another process claiming the run between its row's insert and its journal's lock used to
    # take it (an empty journal, no entries counted yet) while the creator, refused, deleted
    # the row: two processes ran the run, or the creator cut the other's entries off.
    path = tmp_path / "runs.db"
    store, other = SQLiteStore(path), SQLiteStore(path, timeout=0.01)
    seen: list[str] = []
    take = RunLog.take

    def racing(journal: str, **options: bool) -> RunLog | None:
        if options.get("fresh") and not seen:  # the creator, about to lock the journal
            seen.append("racing")
            try:
                claim(other)
            except StoreError as exc:  # the run's row is not there to claim yet
                seen.append(type(exc).__name__)
            else:
                seen.append("claimed")
        return take(journal, **options)

    monkeypatch.setattr(RunLog, "take", staticmethod(racing))
    try:
        first = claim(store)
        assert seen == ["racing", "StoreError"] and first.created
        with pytest.raises(RunLockedError):
            claim(other)
        assert store.append(first.lease, "start", {}) == 1
        assert [h.run_id for h in other.runs()] == ["r1"] and other.entries("r1") != []
    finally:
        store.close()
        other.close()


def test_a_claimer_racing_a_release_meets_the_holder_named_or_takes_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The release cleared the header's holder before it unlocked the journal: a claimer in
    # between was refused as locked by "process 0 on this machine", a holder that is none.
    path = tmp_path / "runs.db"
    store, other = SQLiteStore(path), SQLiteStore(path)
    close = RunLog.close
    raced: list[BaseException] = []

    def racing(log: RunLog) -> None:
        if not raced:  # the holder, about to unlock the journal: another process claims
            with pytest.raises(RunLockedError) as caught:
                claim(other)
            raced.append(caught.value)
        close(log)

    try:
        lease = claim(store).lease
        monkeypatch.setattr(RunLog, "close", racing)
        assert store.release(lease)
        monkeypatch.undo()
        assert isinstance(raced[0], RunLockedError) and raced[0].pid == os.getpid()
        taken = claim(other)  # and once released, the run is free at once
        assert not taken.created and other.release(taken.lease)
        header = store.header("r1")
        assert header is not None and header.holder is None
    finally:
        store.close()
        other.close()


@pytest.mark.parametrize("action", ["claim", "delete"])
def test_a_reader_probing_a_free_run_s_journal_does_not_make_it_locked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, action: str
) -> None:
    # `agentkit runs list` and `agentkit ui` ask whether a writer holds a run's journal by
    # taking a shared lock on it for a moment: a claim or a delete at that moment was refused
    # as locked by "process 0" (a fifth of the claims of a free run, with a reader looping).
    with SQLiteStore(tmp_path / "runs.db") as store:
        store.release(claim(store).lease)
        probe = os.open(store._files.path(1), os.O_RDONLY)  # pyright: ignore[reportPrivateUsage]
        fcntl.flock(probe, fcntl.LOCK_SH | fcntl.LOCK_NB)  # a reader, at this very moment
        probes: list[int] = [probe]

        def reader_done(seconds: float) -> None:
            if probes:
                os.close(probes.pop())

        monkeypatch.setattr(log_module, "_pause", reader_done, raising=False)
        try:
            if action == "claim":
                assert store.release(claim(store).lease)
            else:
                assert store.delete("r1") and store.runs() == []
        finally:
            for fd in probes:
                os.close(fd)
        assert probes == []  # the reader's lock was there, and was waited out
        if action == "claim":  # a writer's lock is still a writer's: refused at once
            held = claim(store).lease
            with SQLiteStore(tmp_path / "runs.db") as other, pytest.raises(RunLockedError):
                claim(other)
            store.release(held)


def test_a_claim_failed_on_a_full_disk_leaves_the_run_free_to_claim_once_there_is_space(
    small_disk: Path,
) -> None:
    path = small_disk / "runs.db"
    with SQLiteStore(path) as store, SQLiteStore(path) as other:
        lease = claim(store).lease
        store.append(lease, "start", {})
        store.release(lease)
        filler = fill(small_disk)
        with pytest.raises(StoreError, match="full"):
            claim(store)  # its header's lease cannot be written: the journal must not stay locked
        filler.unlink()
        taken = claim(other)
        assert taken.run.entries == 1 and other.append(taken.lease, "reply", {}) == 2
        other.release(taken.lease)
        assert claim(store).run.entries == 2


def test_an_append_whose_header_sync_fails_is_still_committed_and_says_so(
    tmp_path: Path, clock: Clock
) -> None:
    # The journal is the run: once its write is done, the header's sync (the lease renewal
    # every third of a lease) failing must not report the entries lost. A run told its "tool
    # started" marks failed never starts the calls, and its resume answered them interrupted.
    path = tmp_path / "runs.db"
    with SQLiteStore(path, lease_seconds=LEASE, clock=clock, timeout=0.01) as store:
        lease = claim(store).lease
        store.append(lease, "start", {})
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process keeps the header table busy
        clock.now += LEASE / 3
        try:
            assert store.append_many(lease, [("reply", {}), ("tool_started", {"ids": ["a"]})]) == 3
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert [e.seq for e in store.entries("r1")] == [1, 2, 3]
        clock.now += LEASE / 3  # the sync is tried again a third of a lease later
        assert store.append(lease, "tool_result", {}) == 4
        row = store._db.execute("SELECT log_seq, lease_expires FROM runs").fetchone()  # pyright: ignore[reportPrivateUsage, reportOptionalMemberAccess]
        assert row == (4, clock.now + LEASE)


def test_a_store_opened_by_a_relative_path_keeps_its_journals_when_the_directory_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path)
    with SQLiteStore("runs.db") as store:
        lease = claim(store).lease
        store.append(lease, "start", {})
        store.release(lease)
        monkeypatch.chdir(tmp_path / "elsewhere")  # a tool, say, changes directory
        assert [e.seq for e in store.entries("r1")] == [1]
        resumed = claim(store)
        assert resumed.run.entries == 1 and store.append(resumed.lease, "reply", {}) == 2
        store.append(claim(store, "r2").lease, "start", {})
    assert not (tmp_path / "elsewhere" / "runs.db.journals").exists()
    assert len(list((tmp_path / "runs.db.journals").iterdir())) == 2


def test_a_store_opened_through_a_symlink_shares_the_journals_and_their_locks(
    tmp_path: Path,
) -> None:
    (tmp_path / "data").mkdir()
    real, link = tmp_path / "data" / "runs.db", tmp_path / "runs.db"
    SQLiteStore(real).close()
    link.symlink_to(real)
    with SQLiteStore(real) as store, SQLiteStore(link) as linked:
        lease = claim(store).lease
        store.append(lease, "start", {})
        with pytest.raises(RunLockedError):
            claim(linked)  # one run, one holder, whatever path names its store
        assert [e.seq for e in linked.entries("r1")] == [1]
        store.release(lease)
        assert claim(linked).run.entries == 1
    assert not Path(f"{link}.journals").exists()


def test_journals_an_older_agentkit_kept_beside_a_symlink_are_named_not_ignored(
    tmp_path: Path,
) -> None:
    (tmp_path / "data").mkdir()
    real, link = tmp_path / "data" / "runs.db", tmp_path / "runs.db"
    with SQLiteStore(real) as store:
        store.append(claim(store).lease, "start", {})
    link.symlink_to(real)
    Path(f"{real}.journals").rename(f"{link}.journals")  # where they used to go
    with pytest.raises(StoreError, match=f"move .*{link}.journals.* to .*{real}.journals"):
        SQLiteStore(link)
    assert len(list(Path(f"{link}.journals").iterdir())) == 1  # nothing moved or lost
    Path(f"{link}.journals").rename(f"{real}.journals")
    with SQLiteStore(link) as store:
        assert [e.seq for e in store.entries("r1")] == [1]


def test_a_full_disk_stops_a_new_run_saying_so_and_what_to_do(small_disk: Path) -> None:
    with SQLiteStore(small_disk / "runs.db") as store:
        filler = fill(small_disk)
        with pytest.raises(StoreError, match=r"is full .*free some space, then try again"):
            claim(store)
        filler.unlink()
        assert store.runs() == [] and claim(store).created


def test_a_store_on_a_read_only_file_system_says_what_to_do_and_loses_nothing(
    small_disk: Path,
) -> None:
    path = small_disk / "runs.db"
    with SQLiteStore(path) as store:
        store.append(claim(store).lease, "start", {})
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    with pytest.raises(StoreError, match=rf"cannot write to the run store {path} .*writable"):
        SQLiteStore(path)
    subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
    with SQLiteStore(path) as store:
        assert [e.seq for e in store.entries("r1")] == [1]


def test_a_journals_folder_that_cannot_be_made_is_a_store_error_naming_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "runs.db"
    folder = Path(f"{path}.journals")
    folder.write_text("not a folder")  # e.g. a copy gone wrong
    with SQLiteStore(path) as store:
        with pytest.raises(StoreError, match=f"folder of the run journals {folder}") as caught:
            claim(store)
        assert "File exists" in str(caught.value) and store.runs() == []
        folder.unlink()
        assert claim(store).created
    assert folder.is_dir()


def test_a_store_closed_by_another_thread_during_a_release_says_it_is_closed(
    store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    lease = claim(store).lease
    use = store._use  # pyright: ignore[reportPrivateUsage]

    def closed_meanwhile(*, write: bool) -> Any:
        store.close()  # another thread, at this very moment
        return use(write=write)

    monkeypatch.setattr(store, "_use", closed_meanwhile)
    with pytest.raises(StoreError, match="closed"):
        store.release(lease)


def test_a_claim_finishing_after_another_thread_closed_the_store_keeps_nothing_locked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "runs.db"
    store = SQLiteStore(path)
    held = sqlite_module._Held  # pyright: ignore[reportPrivateUsage]

    def closed_meanwhile(*args: Any) -> Any:
        store.close()  # another thread, between the claim's commit and its bookkeeping
        return held(*args)

    monkeypatch.setattr(sqlite_module, "_Held", closed_meanwhile)
    with pytest.raises(StoreError, match="closed"):
        claim(store)
    monkeypatch.undo()
    with SQLiteStore(path) as other:  # the run is not left locked by this process
        assert claim(other).run.entries == 0


@pytest.mark.parametrize("seconds", [math.inf, 1e15])
def test_a_lease_too_long_for_a_date_still_refuses_a_second_claimer_as_locked(
    tmp_path: Path, seconds: float
) -> None:
    with SQLiteStore(tmp_path / "runs.db", lease_seconds=seconds) as store:
        claim(store)
        with pytest.raises(RunLockedError, match="this process") as caught:
            claim(store)
        assert caught.value.expires > 1e14


def test_a_journal_that_is_no_file_is_named_with_what_to_do_and_nothing_is_lost(
    store: SQLiteStore,
) -> None:
    lease = claim(store).lease
    store.append(lease, "start", {})
    store.release(lease)
    (journal,) = Path(f"{store.path}.journals").iterdir()
    kept = journal.with_suffix(".kept")
    journal.rename(kept)
    journal.mkdir()  # a directory in its place
    todo = "must be a file this process can .* move what is in its place"
    with pytest.raises(StoreError, match=f"{journal}.*Is a directory.*{todo}"):
        claim(store)
    with pytest.raises(StoreError, match=todo):
        store.entries("r1")
    journal.rmdir()
    kept.rename(journal)
    assert claim(store).run.entries == 1 and [e.seq for e in store.entries("r1")] == [1]


@pytest.mark.parametrize("damage", ["directory", "permissions"])
def test_a_run_whose_journal_cannot_be_read_is_listed_with_its_header_s_figures_and_why(
    store: SQLiteStore, damage: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One unreadable journal made `runs()` raise, so no run of the store could be listed.
    for run_id in ("r1", "r2"):
        lease = claim(store, run_id).lease
        store.append(lease, "start", {}, summary=Summary("finished", 2, 10, 5, 0.5))
        store.release(lease)
    journal = Path(f"{store.path}.journals") / "1.log"
    if damage == "directory":
        journal.unlink()
        journal.mkdir()
    else:  # a mode of 000 stops no root process: the error any other one gets
        def refusing(file: str, *args: Any, **kwargs: Any) -> Any:
            if file == str(journal):
                raise PermissionError(13, "Permission denied", file)
            return open(file, *args, **kwargs)

        monkeypatch.setattr(records_module, "open", refusing, raising=False)
    listed = {h.run_id: h for h in store.runs()}
    assert listed["r2"].unreadable is None and listed["r2"].turns == 2
    bad = listed["r1"]
    assert (bad.status, bad.turns, bad.input_tokens, bad.entries) == ("finished", 2, 10, 1)
    assert bad.unreadable is not None and f"cannot read the run journal {journal}" in bad.unreadable
    assert store.header("r1") == bad
    with pytest.raises(StoreError, match=f"cannot read the run journal {journal}"):
        store.entries("r1")


def test_an_id_no_run_can_have_names_no_run_to_read_or_delete(store: SQLiteStore) -> None:
    # A lone surrogate (a file name's byte that is not UTF-8) cannot be stored, so no run has
    # it; reading or deleting under it raised SQLite's UnicodeEncodeError, naming no run.
    claim(store, "a")
    bad = "a\udcff"
    assert store.header(bad) is None
    assert store.entries(bad) == []
    assert store.delete(bad) is False
    assert store.header("a") is not None
