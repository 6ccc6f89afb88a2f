"""The store's file format (`agentkit/_durable/schema.py`): a new or empty file becomes a
store; a file that is not one this agentkit can use raises `StoreFormatError` naming the path
and is left byte for byte as it was."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from agentkit._durable.schema import APPLICATION_ID, FORMAT
from agentkit._durable.sqlite import SQLiteStore
from agentkit._errors import UsageError
from agentkit.errors import StoreFormatError


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
    with pytest.raises(StoreFormatError, match="cannot") as caught:
        SQLiteStore(tmp_path / "no-such-folder" / "runs.db")
    assert caught.value.problem == "unreadable"
    with pytest.raises(StoreFormatError, match="cannot") as caught:
        SQLiteStore(tmp_path)
    assert caught.value.problem == "unreadable"


def test_bad_settings_are_refused() -> None:
    with pytest.raises(UsageError, match="synchronous"):
        SQLiteStore(":memory:", synchronous="OFF")  # pyright: ignore[reportArgumentType]  # on purpose
    with pytest.raises(UsageError, match="lease_seconds"):
        SQLiteStore(":memory:", lease_seconds=0)


V1_RUNS = """CREATE TABLE runs (
    id INTEGER PRIMARY KEY, run_id TEXT NOT NULL UNIQUE, format INTEGER NOT NULL,
    fingerprint TEXT NOT NULL, model TEXT NOT NULL, agent TEXT NOT NULL, status TEXT NOT NULL,
    turns INTEGER NOT NULL DEFAULT 0, input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0, cost_usd REAL NOT NULL DEFAULT 0,
    created REAL NOT NULL, updated REAL NOT NULL, lease_token TEXT, lease_host TEXT,
    lease_node TEXT, lease_pid INTEGER, lease_started INTEGER, lease_expires REAL)"""
V1_ENTRIES = "CREATE TABLE entries (key INTEGER PRIMARY KEY, kind TEXT NOT NULL, " \
    "at REAL NOT NULL, payload TEXT NOT NULL)"


def test_a_format_1_store_is_moved_to_journal_files_and_resumes(tmp_path: Path) -> None:
    # Format 1 kept each journal as rows (key = run id << 32 | seq) of an `entries` table.
    path = tmp_path / "old.db"
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
