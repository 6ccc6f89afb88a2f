"""The store's file format (`agentkit/_durable/schema.py`): a new or empty file becomes a
store; a file that is not one this agentkit can use raises `StoreFormatError` naming the path
and is left byte for byte as it was."""

from __future__ import annotations

import json
import os
import sqlite3
import struct
import zlib
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import orjson
import pytest

from agentkit._durable.journal import Entry, Summary
from agentkit._durable.records import MAGIC, encode_framed, first
from agentkit._durable.schema import APPLICATION_ID, FORMAT, SCHEMA
from agentkit._durable.sqlite import SQLiteStore
from agentkit._errors import UsageError
from agentkit.errors import StoreError, StoreFormatError


def refused(path: Path, problem: str, match: str) -> None:
    before = path.read_bytes()
    with pytest.raises(StoreFormatError, match=match) as caught:
        SQLiteStore(path)
    assert caught.value.problem == problem and caught.value.path == str(path)
    assert str(path) in str(caught.value)
    assert path.read_bytes() == before


def pragmas(path: Path) -> tuple[int, int, str]:
    with closing(sqlite3.connect(path)) as db:
        app = db.execute("PRAGMA application_id").fetchone()[0]
        version = db.execute("PRAGMA user_version").fetchone()[0]
        mode = db.execute("PRAGMA journal_mode").fetchone()[0]
    return app, version, mode


@pytest.mark.parametrize("existing", [False, True])
def test_a_new_or_empty_file_becomes_a_store_in_wal_mode(tmp_path: Path, existing: bool) -> None:
    path = tmp_path / "runs.db"
    if existing:
        path.touch()
    SQLiteStore(path).close()
    assert pragmas(path) == (APPLICATION_ID, FORMAT, "wal")
    with SQLiteStore(path, synchronous="FULL") as again:  # reopening keeps what is there
        assert again.runs() == []


def test_a_text_file_is_not_a_store(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("my notes, not a database\n")
    refused(path, "not_sqlite", "not a SQLite database")


def test_a_damaged_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    path.write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 16)
    refused(path, "corrupt", "damaged SQLite database")


def test_another_applications_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    with closing(sqlite3.connect(path)) as db:
        db.execute("CREATE TABLE users (name TEXT)")
        db.commit()
    refused(path, "foreign", "another application")


def test_a_database_with_another_application_id_is_refused_even_empty(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    with closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA application_id = 42")
    refused(path, "foreign", "application_id 0x2a")


def test_a_store_of_a_newer_format_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    SQLiteStore(path).close()
    with closing(sqlite3.connect(path)) as db:
        db.execute(f"PRAGMA user_version = {FORMAT + 1}")
    refused(path, "newer", "upgrade agentkit")


def test_a_path_that_cannot_be_opened_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder"
    with pytest.raises(StoreFormatError, match=f"its folder {missing} does not exist") as caught:
        SQLiteStore(missing / "runs.db")
    assert caught.value.problem == "unreadable"
    # A folder was "cannot read the run store: [Errno 21] Is a directory", saying not what to
    # give instead.
    with pytest.raises(StoreFormatError, match=f"{tmp_path} is a folder, not a run store file; "
                       f"give the path of a file in it .*e.g. {tmp_path / 'runs.db'}") as caught:
        SQLiteStore(tmp_path)
    assert caught.value.problem == "unreadable"


def test_a_path_that_is_no_regular_file_is_refused_untouched(tmp_path: Path) -> None:
    # /dev/null failed with SQLite's "cannot rollback - no transaction is active".
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    for path in (Path("/dev/null"), fifo):
        with pytest.raises(StoreFormatError, match=f"{path} is no regular file .*give the path "
                           "of a store, or of a new file") as caught:
            SQLiteStore(path)
        assert caught.value.problem == "unreadable"
    assert fifo.is_fifo() and not (tmp_path / "pipe-wal").exists()


def test_bad_settings_are_refused() -> None:
    with pytest.raises(UsageError, match="synchronous"):
        SQLiteStore(":memory:", synchronous="OFF")  # pyright: ignore[reportArgumentType]  # on purpose
    with pytest.raises(UsageError, match="lease_seconds"):
        SQLiteStore(":memory:", lease_seconds=0)
    # An empty path (an unset setting) was "cannot read the run store : Is a directory: '.'".
    with pytest.raises(UsageError, match=r"SQLiteStore\(''\): give the path of the store file"):
        SQLiteStore("")


V1_RUNS = """CREATE TABLE runs (
    id INTEGER PRIMARY KEY, run_id TEXT NOT NULL UNIQUE, format INTEGER NOT NULL,
    fingerprint TEXT NOT NULL, model TEXT NOT NULL, agent TEXT NOT NULL, status TEXT NOT NULL,
    turns INTEGER NOT NULL DEFAULT 0, input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0, cost_usd REAL NOT NULL DEFAULT 0,
    created REAL NOT NULL, updated REAL NOT NULL, lease_token TEXT, lease_host TEXT,
    lease_node TEXT, lease_pid INTEGER, lease_started INTEGER, lease_expires REAL)"""
V1_ENTRIES = "CREATE TABLE entries (key INTEGER PRIMARY KEY, kind TEXT NOT NULL, " \
    "at REAL NOT NULL, payload TEXT NOT NULL)"


def v1_store(path: Path) -> None:
    """A format-1 store: each journal as rows (key = run id << 32 | seq) of an `entries`
    table; run "a" has three entries, "b" none."""
    with closing(sqlite3.connect(path)) as db:
        db.execute(V1_RUNS)
        db.execute(V1_ENTRIES)
        db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        db.execute("PRAGMA user_version = 1")
        for key, run_id, entries in ((1, "a", 3), (2, "b", 0)):
            db.execute(
                "INSERT INTO runs (id, run_id, format, fingerprint, model, agent, status, "
                "turns, created, updated) VALUES (?, ?, 1, 'f', 'm', 'x', 'paused', 1, 5, 6)",
                (key, run_id),
            )
            for seq in range(1, entries + 1):
                db.execute(
                    "INSERT INTO entries VALUES (?, 'reply', ?, ?)",
                    (key << 32 | seq, 10.0 + seq, f'{{"n": {seq}}}'),
                )
        db.commit()


def test_a_format_1_store_is_moved_to_journal_files_and_resumes(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    v1_store(path)
    with SQLiteStore(path) as store:
        assert [(e.seq, e.kind, e.payload, e.at) for e in store.entries("a")] == [
            (n, "reply", {"n": n}, 10.0 + n) for n in (1, 2, 3)
        ]
        assert store.entries("b") == []
        header = store.header("a")
        assert header is not None and (header.status, header.turns, header.entries) == (
            "paused", 1, 3
        )
        lease = store.claim("a", fingerprint="f", model="m", agent="x").lease
        assert store.append(lease, "tool_result", {}) == 4
    assert pragmas(path)[1] == FORMAT
    with closing(sqlite3.connect(path)) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    assert "entries" not in tables


def test_a_format_1_stores_journals_reach_the_disk_before_its_rows_are_dropped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The move drops the only other copy of every run's history: a power loss after it must
    # not find the journals still in the page cache, whatever `synchronous` says.
    path = tmp_path / "old.db"
    v1_store(path)
    events: list[str] = []
    fsync = os.fsync

    def synced(fd: int) -> None:
        events.append(f"fsync {os.readlink(f'/proc/self/fd/{fd}')}")
        fsync(fd)

    monkeypatch.setattr(os, "fsync", synced)
    traced(monkeypatch, events.append)
    SQLiteStore(path).close()
    folder = Path(f"{path}.journals")
    dropped = events.index("DROP TABLE entries")
    commit = dropped + events[dropped:].index("COMMIT")
    wanted = [f"fsync {folder / '1.log'}", f"fsync {folder / '2.log'}", f"fsync {folder}"]
    assert all(events.index(event) < commit for event in wanted)


def test_a_format_1_store_that_cannot_be_moved_says_why_and_stays_as_it_was(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    v1_store(path)
    folder = Path(f"{path}.journals")
    folder.write_text("in the way")
    with pytest.raises(StoreError, match=f"cannot move the run store {path} to format {FORMAT}"
                       f".*{folder}.*File exists.*stays in format 1"):
        SQLiteStore(path)
    assert pragmas(path)[1] == 1
    folder.unlink()
    with SQLiteStore(path) as store:
        assert [e.seq for e in store.entries("a")] == [1, 2, 3]


def one_run(path: Path) -> Path:
    """A store at `path` with run "a" holding its start entry; returns the run's journal."""
    with SQLiteStore(path) as store:
        lease = store.claim("a", fingerprint="f", model="m", agent="x").lease
        store.append(lease, "start", {"n": 0})
        store.release(lease)
    (journal,) = Path(f"{path}.journals").iterdir()
    return journal


def v2_record(seq: int, kind: str, at: float, payload: object, totals: object = None) -> bytes:
    """A format-2 journal record: one entry, `[seq, kind, at, payload, summary]`."""
    body = json.dumps([seq, kind, at, payload, totals]).encode()
    return struct.pack("<II", len(body), zlib.crc32(body)) + body


def test_a_format_2_store_reads_its_one_entry_records_beside_the_new_ones(
    tmp_path: Path,
) -> None:
    # Format 2 wrote a record an entry; format 3 writes a record a commit. A store moved from
    # 2 keeps its old records, and a run resumed there appends new ones after them.
    path = tmp_path / "runs.db"
    journal = one_run(path)
    journal.write_bytes(
        v2_record(1, "start", 5.0, {"n": 0})
        + v2_record(2, "reply", 6.0, {"n": 1}, ["running", 1, 10, 2, 0.5])
        + v2_record(3, "tool_started", 6.0, {"ids": ["t"]})
    )
    with closing(sqlite3.connect(path)) as db:
        db.execute("UPDATE runs SET format = 2, log_seq = 3, log_size = ?",
                   (journal.stat().st_size,))
        db.execute("PRAGMA user_version = 2")
        db.commit()
    assert first(str(journal)) == Entry(1, "start", {"n": 0}, 5.0)
    with SQLiteStore(path) as store:
        lease = store.claim("a", fingerprint="f", model="m", agent="x").lease
        last = store.append_many(
            lease, [("tool_result", {"n": 2}), ("tool_result", {"n": 3})],
            summary=Summary(turns=2),
        )
        assert last == 5
        entries = store.entries("a")
        assert [(e.seq, e.kind, e.payload) for e in entries] == [
            (1, "start", {"n": 0}), (2, "reply", {"n": 1}), (3, "tool_started", {"ids": ["t"]}),
            (4, "tool_result", {"n": 2}), (5, "tool_result", {"n": 3}),
        ]
        store.release(lease)
        header = store.header("a")
        assert header is not None and (header.turns, header.input_tokens) == (2, 10)
        assert [e.seq for e in store.entries("a", after=3)] == [4, 5]
    assert pragmas(path)[1] == FORMAT == 5
    assert journal.read_bytes()[:8] == v2_record(1, "start", 5.0, {"n": 0})[:8]  # framed still


def test_a_commit_of_several_entries_is_one_line(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "runs.db") as store:
        lease = store.claim("a", fingerprint="f", model="m", agent="x").lease
        store.append(lease, "start", {})
        store.append_many(lease, [("reply", {"n": 1}), ("tool_started", {"ids": ["t"]})])
        (journal,) = Path(f"{store.path}.journals").iterdir()
        data = journal.read_bytes()
    assert data.startswith(MAGIC)
    lines = data[len(MAGIC) :].split(b"\n")
    assert lines[-1] == b""  # every record ends with its newline
    records = [json.loads(line) for line in lines[:-1]]
    assert [record[3::2] for record in records] == [["start"], ["reply", "tool_started"]]
    assert [record[0] for record in records] == [1, 2]  # each record numbers its first entry


def v3_store(path: Path) -> Path:
    """A format-3 store (as an agentkit of format 3 left it) with run "a": its framed journal
    holds a start and a reply; returns the journal."""
    journal = one_run(path)
    data = encode_framed([("start", {"n": 0})], 0, 5.0, None) + encode_framed(
        [("reply", {"n": 1})], 1, 6.0, Summary("running", 1, 10, 2, 0.5)
    )
    journal.write_bytes(data)
    with closing(sqlite3.connect(path)) as db:
        db.execute("UPDATE runs SET format = 3, log_seq = 2, log_size = ?", (len(data),))
        db.execute("PRAGMA user_version = 3")
        db.commit()
    return journal


def test_a_format_3_journal_is_read_and_resumed_in_frames_and_new_runs_write_lines(
    tmp_path: Path,
) -> None:
    path = tmp_path / "runs.db"
    journal = v3_store(path)
    with SQLiteStore(path) as store:
        assert pragmas(path)[1] == FORMAT == 5
        lease = store.claim("a", fingerprint="f", model="m", agent="x").lease
        assert store.append(lease, "tool_result", {"n": 2}) == 3
        store.release(lease)
        assert [(e.seq, e.kind, e.payload) for e in store.entries("a")] == [
            (1, "start", {"n": 0}), (2, "reply", {"n": 1}), (3, "tool_result", {"n": 2}),
        ]
        header = store.header("a")
        assert header is not None and (header.turns, header.input_tokens) == (1, 10)
        fresh = store.claim("b", fingerprint="f", model="m", agent="x").lease
        store.append(fresh, "start", {"n": 9})
        store.release(fresh)
        assert [e.payload for e in store.entries("b")] == [{"n": 9}]
    data = journal.read_bytes()
    assert not data.startswith(MAGIC)  # a file is framed or lines, never both
    length, _ = struct.unpack_from("<II", data)
    assert json.loads(data[8 : 8 + length])[3] == "start"
    (other,) = set(Path(f"{path}.journals").iterdir()) - {journal}
    assert other.read_bytes().startswith(MAGIC)


@pytest.mark.parametrize(
    "tail",
    [
        b'[3,7.0,null,"tool_result",{"n":2}]',  # cut short before its newline
        b'[3,7.0,null,"tool_res',  # cut short mid-record
        b"\x00" * 40 + b"\n",  # a power loss's zeros
        b'[9,7.0,null,"tool_result",{"n":2}]\n',  # numbered out of turn
        b'{"n":2}\n',  # JSON, but no record
        b'[3,7.0,null,"tool_result",{"n":2},"reply"]\n',  # a kind without its payload
        b'[3,7.0,["finished",1],"status",{"n":2}]\n',  # a summary of the wrong shape
        b'[3,7.0,7,"status",{"n":2}]\n',  # a summary that is no array
        b'[3,"7",null,"tool_result",{"n":2}]\n',  # a time that is no number
        b'[3,7.0,null,"note",{"n":2}]\n',  # a kind this journal has not
        b'[3,7.0,null,"tool_result",[2]]\n',  # a payload that is no object
    ],
    ids=[
        "no newline", "mid-record", "zeros", "out of turn", "not a record", "odd",
        "summary shape", "summary type", "time", "kind", "payload",
    ],
)
def test_a_journal_ends_at_its_last_whole_line_and_the_next_writer_cuts_the_rest(
    tmp_path: Path, tail: bytes
) -> None:
    with SQLiteStore(tmp_path / "runs.db") as store:
        lease = store.claim("a", fingerprint="f", model="m", agent="x").lease
        store.append(lease, "start", {"n": 0})
        store.append(lease, "reply", {"n": 1})
        store.release(lease)
        (journal,) = Path(f"{store.path}.journals").iterdir()
        whole = journal.read_bytes()
        journal.write_bytes(whole + tail)
        assert [e.seq for e in store.entries("a")] == [1, 2]
        lease = store.claim("a", fingerprint="f", model="m", agent="x").lease
        assert journal.read_bytes() == whole  # cut back to its last whole record
        assert store.append(lease, "tool_result", {"n": 2}) == 3
        store.release(lease)
        assert [(e.seq, e.payload) for e in store.entries("a")] == [
            (1, {"n": 0}), (2, {"n": 1}), (3, {"n": 2})
        ]


def test_a_journal_torn_in_its_first_write_starts_over_as_a_new_one(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "runs.db") as store:
        lease = store.claim("a", fingerprint="f", model="m", agent="x").lease
        store.append(lease, "start", {"n": 0})
        store.release(lease)
        (journal,) = Path(f"{store.path}.journals").iterdir()
        journal.write_bytes(journal.read_bytes()[:7])  # not even its first line whole
        with sqlite3.connect(store.path) as db:  # killed in that write: the header never knew
            db.execute("UPDATE runs SET log_seq = 0, log_size = 0")
        db.close()
        assert store.entries("a") == []
        lease = store.claim("a", fingerprint="f", model="m", agent="x").lease
        assert store.append(lease, "start", {"n": 1}) == 1
        store.release(lease)
        assert journal.read_bytes().startswith(MAGIC)
        assert [e.payload for e in store.entries("a")] == [{"n": 1}]


def test_a_reply_kept_as_it_came_over_several_lines_is_one_record(tmp_path: Path) -> None:
    # A gateway may send pretty-printed JSON; a reply is journalled as the bytes it came in.
    raw = b'{\n  "role": "assistant",\n  "content": [{"type": "text", "text": "a\\nb"}]\n}\n'
    with SQLiteStore(tmp_path / "runs.db") as store:
        lease = store.claim("a", fingerprint="f", model="m", agent="x").lease
        store.append(lease, "start", {})
        store.append_many(lease, [("reply", orjson.Fragment(raw)), ("tool_started", {"ids": []})])
        assert store.append(lease, "tool_result", {"n": 2}) == 4
        store.release(lease)
        assert [(e.kind, e.payload) for e in store.entries("a")] == [
            ("start", {}),
            ("reply", json.loads(raw)),
            ("tool_started", {"ids": []}),
            ("tool_result", {"n": 2}),
        ]
        (journal,) = Path(f"{store.path}.journals").iterdir()
        assert journal.read_bytes().count(b"\n") == 4  # MAGIC's and one a commit


def traced(monkeypatch: pytest.MonkeyPatch, trace: Callable[[str], None]) -> None:
    """Call `trace` with each statement of the next store opened, just before it runs."""
    real = sqlite3.connect

    def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        db = real(*args, **kwargs)
        db.set_trace_callback(trace)
        monkeypatch.setattr(sqlite3, "connect", real)
        return db

    monkeypatch.setattr(sqlite3, "connect", connect)


def create_store(path: Path) -> None:
    """Make a store at `path` as another process's `SQLiteStore` does before it turns on WAL,
    unless a writer is at it (then the other process would wait)."""
    with closing(sqlite3.connect(path, isolation_level=None, timeout=0)) as db:
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            return
        for sql in SCHEMA:
            db.execute(sql)
        db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        db.execute(f"PRAGMA user_version = {FORMAT}")
        db.execute("COMMIT")


@pytest.mark.parametrize("statement", range(1, 8))
def test_a_store_another_process_creates_meanwhile_is_opened_as_the_store_it_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, statement: int
) -> None:
    path = tmp_path / "runs.db"
    seen: list[str] = []

    def trace(sql: str) -> None:
        seen.append(sql)
        if len(seen) == statement:
            create_store(path)

    traced(monkeypatch, trace)
    with SQLiteStore(path) as store:
        assert store.runs() == []
    assert pragmas(path) == (APPLICATION_ID, FORMAT, "wal")


def test_a_store_switched_to_wal_while_another_process_writes_waits_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As its creator leaves a new store before it turns on WAL. SQLite answers "busy" to the
    # switch at once, without its timeout, while another connection writes.
    path = tmp_path / "runs.db"
    create_store(path)
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    tries: list[str] = []

    def trace(sql: str) -> None:
        if "journal_mode" in sql:
            tries.append(sql)
            if len(tries) == 2:  # it waited: the writer is done
                other.execute("COMMIT")

    traced(monkeypatch, trace)
    try:
        with SQLiteStore(path, timeout=10) as store:
            assert store.runs() == []
    finally:
        other.close()
    assert len(tries) == 2 and pragmas(path) == (APPLICATION_ID, FORMAT, "wal")


def test_a_format_4_store_moves_to_5_with_its_runs_as_they_were(tmp_path: Path) -> None:
    # Format 5 only adds the entry kind `usage` (an agentkit of format 4 would take one for the
    # end of a journal): the number changes, the journals stay as written.
    path = tmp_path / "runs.db"
    journal = one_run(path)
    before = journal.read_bytes()
    with closing(sqlite3.connect(path)) as db:
        db.execute("UPDATE runs SET format = 4")
        db.execute("PRAGMA user_version = 4")
        db.commit()
    with SQLiteStore(path) as store:
        assert pragmas(path)[1] == FORMAT == 5
        assert [(e.seq, e.kind) for e in store.entries("a")] == [(1, "start")]
        lease = store.claim("a", fingerprint="f", model="m", agent="x").lease
        assert store.append(lease, "usage", {"requests": 1}) == 2
        store.release(lease)
    assert journal.read_bytes().startswith(before)
