"""The SQLite file format of the run store, opening a file safely, and using it (`Use`).

A store file says it is one: `PRAGMA application_id` is `APPLICATION_ID` and
`PRAGMA user_version` the format version (`FORMAT`); each run row also records the format it
was written in. `connect` checks a file before it writes anything, so a file that is not a
SQLite database, a damaged one, another application's database, or one written by a newer
agentkit raises `StoreFormatError` and is left byte for byte as it was. An empty or new file
becomes a store (in WAL mode, see `sqlite.py`). An older store is moved to this format when
first opened: format 1 kept journals as rows of an `entries` table, now a journal file per run
(`log.py`); format 2 journals had a record an entry, which this agentkit reads as they are
beside the records of several entries it writes (hence format 3: an agentkit reading format 2
could not read those); formats 2 and 3 framed each record with a CRC, format 4 writes new
journals as lines (`log.MAGIC`), which an agentkit of format 3 could not read, and reads and
goes on the framed ones as they are; format 5 adds the journal entry kinds `usage` and
`attempt`, which an agentkit of format 4 would take for the end of a journal (and so repeat
what followed it). A `start` entry naming its run (`run_id`, `fingerprint`: checked by
`journal.expect_run`) came within format 5: every agentkit reads a start's `messages` and
`seed` by name and passes over other keys (as it does a `traceparent`), and a journal
without them is resumed unchecked.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import orjson

from agentkit._durable.records import MAGIC, encode
from agentkit._errors import StoreError, StoreFormatError

__all__ = [
    "APPLICATION_ID",
    "FORMAT",
    "Use",
    "connect",
    "journals",
    "newer_format",
    "translate",
]

APPLICATION_ID = 0x61676B74  # "agkt"
FORMAT = 5
SQLITE_MAGIC = b"SQLite format 3\x00"
_V1_SEQ_BITS = 32  # format 1: an entry's key was `run id << 32 | seq`

# No index on runs beyond its keys: listing is rare and scans a small table, while an index
# on `updated` would be rewritten by every header update.
SCHEMA = (
    """CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        run_id TEXT NOT NULL UNIQUE,
        format INTEGER NOT NULL,
        fingerprint TEXT NOT NULL,
        model TEXT NOT NULL,
        agent TEXT NOT NULL,
        status TEXT NOT NULL,
        turns INTEGER NOT NULL DEFAULT 0,
        input_tokens INTEGER NOT NULL DEFAULT 0,
        output_tokens INTEGER NOT NULL DEFAULT 0,
        cost_usd REAL NOT NULL DEFAULT 0,
        created REAL NOT NULL,
        updated REAL NOT NULL,
        lease_token TEXT,
        lease_host TEXT,
        lease_node TEXT,
        lease_pid INTEGER,
        lease_started INTEGER,
        lease_expires REAL,
        log_seq INTEGER NOT NULL DEFAULT 0,
        log_size INTEGER NOT NULL DEFAULT 0
    )""",
)
# `log_seq`, `log_size`: the run's journal as of the header's last sync (its last seq, its
# length in bytes); what follows in the file is newer than the header.


def journals(path: str) -> str:
    """The folder of the journals of the store at `path`: beside the store's file itself, as
    an absolute path, however `path` spells it (relative, through a symlink), so that every
    process, from any working directory, reads and locks the same journals.

    Raises `StoreError` when the folder beside `path` as spelled holds journals and is another
    one: an older agentkit kept them there for a store opened through a symlink.
    """
    folder = f"{os.path.realpath(path)}.journals"
    spelled = f"{os.path.abspath(path)}.journals"
    if spelled != folder and os.path.isdir(spelled) and os.path.realpath(spelled) != folder:
        with os.scandir(spelled) as found:
            if any(found):
                raise StoreError(
                    f"the journals of the run store {path} are in {spelled}, beside the "
                    f"symlink; they belong beside the file it names: move {spelled} to "
                    f"{folder} (with no process using the store; merge the two if both "
                    "exist), then open the store again. Nothing was changed"
                )
    return folder


def newer_format(path: str, version: int, what: str) -> StoreFormatError:
    return StoreFormatError(
        f"{what} in {path} was written by a newer agentkit (store format {version}, this "
        f"agentkit reads up to {FORMAT}); upgrade agentkit to use it. Nothing was changed",
        path=path,
        problem="newer",
    )


def translate(exc: sqlite3.Error, path: str) -> StoreError:
    """The store's error for a SQLite error met while using the file at `path`."""
    if type(exc) is sqlite3.DatabaseError:  # SQLITE_CORRUPT, SQLITE_NOTADB
        return StoreFormatError(
            f"{path} is a damaged SQLite database ({exc}); restore it from a backup or "
            "use another file",
            path=path,
            problem="corrupt",
        )
    if "locked" in str(exc) or "busy" in str(exc):
        return StoreError(
            f"the run store {path} is busy: another process kept it locked too long ({exc}); "
            "try again"
        )
    name = getattr(exc, "sqlite_errorname", "")
    if name == "SQLITE_FULL":
        return StoreError(
            f"the disk of the run store {path} is full ({exc}); nothing was written: free some "
            "space, then try again (a run resumes where it stopped)"
        )
    if name.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN")):
        return StoreError(
            f"cannot write to the run store {path} ({exc}): the file and its folder "
            "must be writable by this process (SQLite writes its -wal and -shm files beside "
            "it); fix their permissions or the mount, or give another path. Nothing was written"
        )
    return StoreError(f"the run store {path} failed: {exc}")


def _check_header(path: str) -> None:
    """Refuse a file that is not a SQLite database, before SQLite ever touches it."""
    file = Path(path)
    if not file.exists():
        return
    if file.is_dir():  # not "cannot read: Is a directory", which says nothing of what to give
        raise StoreFormatError(
            f"{path} is a folder, not a run store file; give the path of a file in it (a new "
            f"one is made), e.g. {os.path.join(path, 'runs.db')}",
            path=path,
            problem="unreadable",
        )
    if not file.is_file():  # /dev/null, a pipe: "cannot rollback - no transaction is active"
        raise StoreFormatError(
            f"{path} is no regular file (a device, a pipe or a socket), so not an agentkit run "
            "store; give the path of a store, or of a new file",
            path=path,
            problem="unreadable",
        )
    try:
        with file.open("rb") as stream:
            head = stream.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise StoreFormatError(
            f"cannot read the run store {path}: {exc}", path=path, problem="unreadable"
        ) from exc
    if head and head != SQLITE_MAGIC:
        raise StoreFormatError(
            f"{path} is not a SQLite database, so not an agentkit run store; give the path "
            "of a store, or of a new file",
            path=path,
            problem="not_sqlite",
        )


def _check_orphans(path: str, folder: str) -> None:
    """Refuse to make a new store (no file at `path`, or an empty one) beside a journals
    `folder` that holds journals: the store file that named them was deleted or moved (a
    delete of the runs themselves unlinks their journals). A new store would start those runs
    over, repeating what they did, and give their keys, so their journals, to new runs."""
    with contextlib.suppress(OSError):  # no file, or no folder: nothing to keep
        if os.path.getsize(path):
            return
    try:
        with os.scandir(folder) as found:
            logs = sum(1 for entry in found if entry.name.endswith(".log"))
    except OSError:
        return
    if logs:
        raise StoreError(
            f"the run store {path} is new (no such file, or an empty one), but its journals "
            f"folder {folder} holds the journals of {logs} run{'s' * (logs > 1)}: the store "
            "file that named them was deleted or moved, and a new one would start those runs "
            "over, repeating what they did. Put the file back (a run is its row there and its "
            f"journal here), make it again from the journals (`agentkit runs rebuild --db "
            f"{path}`), or delete the folder too to start afresh (its runs are lost). Nothing "
            "was changed"
        )


def _identity(db: sqlite3.Connection) -> tuple[int, int, int]:
    """The file's application id, format and count of schema objects, read in one statement
    (one snapshot: a store another process creates meanwhile is seen whole or not at all)."""
    app, version, tables = db.execute(
        "SELECT (SELECT application_id FROM pragma_application_id), "
        "(SELECT user_version FROM pragma_user_version), (SELECT count(*) FROM sqlite_master)"
    ).fetchone()
    return int(app), int(version), int(tables)


def _wal(db: sqlite3.Connection, timeout: float) -> None:
    """Put the store in WAL mode. Switching it from another mode, SQLite answers busy at once,
    without waiting, while another connection writes (the process creating the store
    meanwhile): tried again until `timeout` has passed."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() >= deadline:
                raise
        time.sleep(0.005)


def _check_identity(path: str, app: int, version: int, tables: int) -> bool:
    """True when the file is already a store of ours, False when it is empty; raises when it
    belongs to someone else or to a newer agentkit."""
    if app == APPLICATION_ID:
        if version > FORMAT:
            raise newer_format(path, version, "the run store")
        return True
    if app == 0 and tables == 0:
        return False
    raise StoreFormatError(
        f"{path} is a SQLite database of another application (application_id {app:#x}, "
        f"{tables} schema objects), not an agentkit run store; nothing was written. Give "
        "the path of a store, or of a new file",
        path=path,
        problem="foreign",
    )


def connect(
    path: str, *, synchronous: str, timeout: float, folder: str, rebuild: bool = False
) -> sqlite3.Connection:
    """Open the store at `path` (its journals in `folder`), creating it when the file is new or
    empty, moving it to this format when it is older.

    Raises `StoreFormatError` (file untouched) as described in the module docstring, and
    `StoreError` (nothing made) for a new file beside journals (`_check_orphans`), unless
    `rebuild` asks for it (`adopt.rebuild`: the store's first use adopts their runs).
    """
    if path != ":memory:":
        _check_header(path)
        if not rebuild:
            _check_orphans(path, folder)
    try:
        db = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        parent = Path(path).parent
        why = f"its folder {parent} does not exist" if not parent.is_dir() else str(exc)
        raise StoreFormatError(
            f"cannot open the run store {path}: {why}; give a path in a folder that exists",
            path=path,
            problem="unreadable",
        ) from exc
    try:
        if not _check_identity(path, *_identity(db)):
            _create(db, path)
        _wal(db, timeout)
        if _identity(db)[1] < FORMAT:
            _upgrade(db, path, folder)
        db.execute(f"PRAGMA synchronous = {synchronous}")
    except BaseException as exc:
        db.close()
        if isinstance(exc, sqlite3.Error):
            raise translate(exc, path) from exc
        raise
    return db


def _create(db: sqlite3.Connection, path: str) -> None:
    db.execute("BEGIN IMMEDIATE")
    try:
        # Another process may have created the store since we looked.
        if not _check_identity(path, *_identity(db)):
            for statement in SCHEMA:
                db.execute(statement)
            db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            db.execute(f"PRAGMA user_version = {FORMAT}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def _upgrade(db: sqlite3.Connection, path: str, folder: str) -> None:
    """To this format, in one transaction (a crash midway leaves the old format, and the next
    open starts over): from format 1, each run's rows of `entries` become its journal file,
    on the disk (fsynced, with its name) before the rows are dropped; from 2, 3 or 4, only
    the number changes."""
    db.execute("BEGIN IMMEDIATE")
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version == 1:
            db.execute("ALTER TABLE runs ADD COLUMN log_seq INTEGER NOT NULL DEFAULT 0")
            db.execute("ALTER TABLE runs ADD COLUMN log_size INTEGER NOT NULL DEFAULT 0")
            os.makedirs(folder, mode=0o700, exist_ok=True)
            mask = (1 << _V1_SEQ_BITS) - 1
            for (key,) in db.execute("SELECT id FROM runs").fetchall():
                rows = db.execute(
                    "SELECT key, kind, at, payload FROM entries WHERE key BETWEEN ? AND ? "
                    "ORDER BY key",
                    (key << _V1_SEQ_BITS, key << _V1_SEQ_BITS | mask),
                ).fetchall()
                data = MAGIC + b"".join(
                    encode([(kind, orjson.Fragment(payload))], (k & mask) - 1, at, None)
                    for k, kind, at, payload in rows
                )
                _write_synced(os.path.join(folder, f"{key}.log"), data)
                last = rows[-1][0] & mask if rows else 0
                db.execute(
                    "UPDATE runs SET log_seq = ?, log_size = ?, format = ? WHERE id = ?",
                    (last, len(data), FORMAT, key),
                )
            _sync_folder(folder)  # the journals' names too, before their rows go
            db.execute("DROP TABLE entries")
        if version < FORMAT:
            db.execute(f"PRAGMA user_version = {FORMAT}")
        db.execute("COMMIT")
    except BaseException as exc:
        db.execute("ROLLBACK")
        if isinstance(exc, OSError):  # format 1 writing the journals: a full disk, say
            raise StoreError(
                f"cannot move the run store {path} to format {FORMAT} (its journals go to "
                f"{folder}: {exc}); nothing was changed, it stays in format 1: make room or "
                "fix that folder, then open it again"
            ) from exc
        raise


def _write_synced(path: str, data: bytes) -> None:
    """Write `data` as the file at `path` and wait until the disk has it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def _sync_folder(folder: str) -> None:
    """Wait until the disk has the names of the files in `folder`."""
    fd = os.open(folder, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Use:
    """The store's connection (from `use`), under `lock`; with `write`, inside one immediate
    transaction that commits when the block ends and rolls back when it raises. SQLite's
    errors become the store's (`translate`). A class, not a generator-based context manager,
    as every claim and release goes through it (the generator cost a durable run ~270
    bytecodes more)."""

    __slots__ = ("db", "lock", "path", "use", "write")

    def __init__(
        self,
        lock: threading.Lock,
        use: Callable[[], sqlite3.Connection],
        path: str,
        write: bool,
    ) -> None:
        self.lock = lock
        self.use = use
        self.path = path
        self.write = write

    def __enter__(self) -> sqlite3.Connection:
        self.lock.acquire()
        try:
            db = self.db = self.use()
            if self.write:
                db.execute("BEGIN IMMEDIATE")
        except BaseException as exc:
            self.lock.release()
            if isinstance(exc, sqlite3.Error):
                raise translate(exc, self.path) from exc
            raise
        return db

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        try:
            if self.write:
                db = self.db
                try:
                    if exc is None:
                        db.execute("COMMIT")
                finally:
                    if db.in_transaction:
                        db.execute("ROLLBACK")
        except sqlite3.Error as error:
            raise translate(error, self.path) from error
        finally:
            self.lock.release()
        if isinstance(exc, sqlite3.Error):
            raise translate(exc, self.path) from exc
