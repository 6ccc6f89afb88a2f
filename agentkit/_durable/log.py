"""One run's journal as an append-only file, and the lock that makes its writer the only one.

Why a file and not rows: a checkpoint must reach the kernel before the run goes on, and that is
all a process crash needs. One `write()` of a record costs a few microseconds; a SQLite
transaction costs a dozen system calls and two b-tree page writes, which put checkpointing at
+40% CPU per model turn (`benchmarks/durable.py`). The run's header (status, totals, lease) stays
in SQLite, where listing and claiming need a transaction anyway.

A journal (format 4) is the line `MAGIC`, then one line a commit: the JSON array `[seq, at,
summary, kind, payload, kind, payload, ...]`, `seq` the first entry's (the others follow it),
`summary` null or the commit's `[status, turns, input_tokens, output_tokens, cost_usd]` (each
possibly null). A commit is one `write()` of one `orjson` call. It is whole or absent by its
line: a record is whole when it ends with its newline, parses, and numbers its first entry
right after the last one read; the first that is not (a crash or a power loss mid-write, a full
disk) ends the journal, and the next writer cuts the file back to its last whole record. JSON
never holds a raw newline but as whitespace, so a reply written as the bytes it came in stays
one line (its newlines become spaces).

Why lines and not frames with a CRC (formats 2 and 3: `length (u32) | crc32 (u32) | body`):
the CRC's tables and the frame's extra copy cost a durable turn about a third of its
checkpoints' CPU in the agent's loop (cold caches), and what they guarded against, a record cut
short, the line's own end and the numbering catch. Journals written framed are read as they
are, and a run resumed from one goes on appending frames to it (a file is one or the other).
Format 2 framed a record an entry, `[seq, kind, at, payload, summary]` (its second item a
string, never a number); those are read as they are.

The writer holds `flock(LOCK_EX)` on the file for as long as it holds the run: the kernel
releases it when the process dies, however it dies, so the restart of a killed process takes
the run at once, and no second writer can ever append while the first lives. (A child forked
without `exec` shares the lock while it lives; children started with `exec` do not.)
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import struct
import threading
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import orjson
from pydantic_core import from_json

from agentkit._durable.journal import KINDS, Entry, EntryKind, Summary
from agentkit._errors import StoreError, UsageError

__all__ = ["MAGIC", "RunLog", "Tail", "encode", "encode_framed", "first", "merge", "read"]

MAGIC = b"agentkit journal 4\n"
"""A format-4 journal's first line; a file without it is framed (formats 1-3). (Read as a frame,
its first four bytes would announce a record of 1.8 GB.)"""
_FRAME = struct.Struct("<II")
_pack = _FRAME.pack
_crc32 = zlib.crc32
_dumps = orjson.dumps
_LINE = orjson.OPT_APPEND_NEWLINE
_KINDS = frozenset(KINDS)
_WHAT_TO_DO = (
    "; it must be a file this process can read and write: fix its permissions, or move what "
    "is in its place"
)


@dataclass(frozen=True, slots=True)
class Tail:
    """What a read found: the whole records, where they end, and the last summary among them."""

    entries: list[Entry]
    end: int
    """Byte offset just past the last whole record (or past `MAGIC`, or 0: nothing whole)."""
    last_seq: int
    summary: Summary | None
    """The summary columns the records set, merged in order (None: no record set any)."""
    at: float | None
    """When the last record was written (None: no record read)."""
    framed: bool = False
    """Whether the journal is framed (formats 1-3), not lines."""


def encode(
    rows: Sequence[tuple[EntryKind, object]], seq: int, at: float, summary: Summary | None
) -> bytes:
    """`rows` (kind, payload) as one record (a line), numbered after `seq`, with `summary`.
    Raises `UsageError` for an unknown kind and `TypeError` when a payload is not JSON (a
    `Mapping` that is not a dict is copied into one; an `orjson.Fragment` is written as it
    is, its newlines made spaces). The hot path of every checkpoint, so the one loop over the
    rows both checks and builds: a plain loop and local names."""
    body: list[Any] = [seq + 1, at, None if summary is None else tuple(summary)]
    payload: object
    for kind, payload in rows:
        if kind not in _KINDS:
            raise UsageError(f"append(kind={kind!r}): the kinds are {', '.join(KINDS)}")
        if type(payload) is not dict and not isinstance(payload, orjson.Fragment):
            payload = dict(cast("Mapping[str, object]", payload))
        body += (kind, payload)
    try:
        data = _dumps(body, option=_LINE)
    except TypeError:  # what orjson refuses but JSON holds: a stream's big ints, lone surrogates
        data = _dumps(_escaped(body), option=_LINE)
    if data.find(b"\n") != len(data) - 1:  # a Fragment spelled over lines: JSON whitespace
        data = data[:-1].replace(b"\n", b" ") + b"\n"
    return data


def _escaped(body: list[Any]) -> list[Any]:
    """`body` with each dict payload written by the stdlib, which spells what orjson refuses
    (integers beyond 64 bits, lone surrogates as `\\ud800` escapes); raises `TypeError` as
    orjson does for what is not JSON."""
    return [
        orjson.Fragment(json.dumps(item, separators=(",", ":")))
        if i > 3 and type(item) is dict
        else item
        for i, item in enumerate(body)
    ]


def _loads(data: bytes) -> Any:
    """One record's JSON, exactly as written: big integers stay integers (orjson would make
    them floats), numbers beyond a double read as infinity (orjson refuses them), and lone
    surrogates, which pydantic's parser refuses, go to the stdlib. Raises `ValueError` for
    what is not JSON (a torn write)."""
    try:
        return from_json(data)
    except ValueError:
        return json.loads(data)


def encode_framed(
    rows: Sequence[tuple[EntryKind, object]], seq: int, at: float, summary: Summary | None
) -> bytes:
    """`rows` as one frame (format 3), for a run resumed from a framed journal; as `encode`."""
    data = encode(rows, seq, at, summary)[:-1]
    return _pack(len(data), _crc32(data)) + data


def read(path: str, *, start: int = 0, seq: int = 0, after: int = 0) -> Tail:
    """The whole records of the journal at `path` from byte `start` (whose first record follows
    `seq`), skipping those with `seq <= after`. A missing file reads as empty."""
    try:
        with open(path, "rb") as stream:
            head = stream.read(len(MAGIC))
            if start:
                stream.seek(start)
                data = stream.read()
            else:
                data = head + stream.read()
    except FileNotFoundError:
        return Tail([], start, seq, None, None)
    except OSError as exc:
        raise StoreError(f"cannot read the run journal {path}: {exc}{_WHAT_TO_DO}") from exc
    if head == MAGIC:
        skip = max(len(MAGIC) - start, 0)
        return _lines(data, start, skip, seq, after)
    if not head and not start:
        return Tail([], 0, seq, None, None)  # a new journal, nothing written yet
    return _frames(data, start, seq, after)


def _lines(data: bytes, start: int, at: int, seq: int, after: int) -> Tail:
    """Records of a format-4 journal: `data` is the file from byte `start`, its first record at
    `data[at:]`."""
    entries: list[Entry] = []
    summary: Summary | None = None
    when: float | None = None
    while (end := data.find(b"\n", at)) >= 0:
        try:
            row = _loads(data[at:end])
        except ValueError:
            break  # a torn write's remains: the journal ends with the last whole record
        if type(row) is not list:
            break  # not a record of this journal: it ends here too
        row = cast("list[Any]", row)
        if len(row) < 5 or not len(row) % 2 or row[0] != seq + 1 or not _shaped(row):
            break  # a record is [seq, at, summary] and (kind, payload) pairs, numbered on
        seq = _entries(row, seq, after, entries)
        when, totals = row[1], row[2]
        if totals is not None:
            summary = merge(summary, Summary(*totals))
        at = end + 1
    return Tail(entries, start + at, seq, summary, when)


def _shaped(row: list[Any]) -> bool:
    """Whether a line's `[seq, at, summary, kind, payload, ...]` holds what a record does: a
    time, no summary or one of five columns, known kinds, objects. (A line that parses but is
    not one ends the journal like a torn one, rather than failing whoever reads it.)"""
    totals = row[2]
    if type(row[1]) not in (float, int) or (
        totals is not None
        and (type(totals) is not list or len(cast("list[Any]", totals)) != len(Summary._fields))
    ):
        return False
    return all(kind in _KINDS for kind in row[3::2]) and all(
        type(payload) is dict for payload in row[4::2]
    )


def _entries(row: list[Any], seq: int, after: int, entries: list[Entry]) -> int:
    """The entries of one record `[seq, at, summary, kind, payload, ...]` (formats 3 and 4)
    numbered after `seq`, those past `after` added to `entries`; returns the last one's seq."""
    stamp = row[1]
    for i in range(3, len(row), 2):
        seq += 1
        if seq > after:
            entries.append(Entry(seq, row[i], row[i + 1], stamp))
    return seq


def _frames(data: bytes, start: int, seq: int, after: int) -> Tail:
    """Records of a framed journal (formats 1-3): `data` is the file from byte `start`."""
    entries: list[Entry] = []
    summary: Summary | None = None
    when: float | None = None
    at, size = 0, len(data)
    while at + _FRAME.size <= size:
        length, crc = _FRAME.unpack_from(data, at)
        body = data[at + _FRAME.size : at + _FRAME.size + length]
        if len(body) < length or zlib.crc32(body) != crc or (row := _framed(body)) is None:
            break  # cut short or not a record: the journal ends with the last whole record
        if type(row[1]) is str:  # format 2: a record an entry
            seq, kind, stamp, payload, totals = row
            if seq > after:
                entries.append(Entry(seq, kind, payload, stamp))
        else:
            seq = _entries(row, row[0] - 1, after, entries)
            stamp, totals = row[1], row[2]
        when = stamp
        if totals is not None:
            summary = merge(summary, Summary(*totals))
        at += _FRAME.size + length
    return Tail(entries, start + at, seq, summary, when, framed=True)


def _framed(body: bytes) -> Any:
    """A frame's record (a list), None when it is none: zeros (a block a lost write left)
    read as an empty frame whose CRC matches."""
    try:
        row: Any = _loads(body)
    except ValueError:
        return None
    if type(row) is not list or len(cast("list[Any]", row)) < 5:
        return None
    return cast("list[Any]", row)


def first(path: str) -> Entry | None:
    """The journal's first record (a run's `start`) without reading the rest; None when the
    file is missing, empty or its first record is not whole."""
    try:
        with open(path, "rb") as stream:
            head = stream.read(4096)
            if head.startswith(MAGIC):
                while b"\n" not in head[len(MAGIC) :] and (more := stream.read(65536)):
                    head += more
                tail = _lines(head, 0, len(MAGIC), 0, 0)
                return tail.entries[0] if tail.entries else None
            if len(head) < _FRAME.size:
                return None
            length, crc = _FRAME.unpack_from(head)
            body = head[_FRAME.size : _FRAME.size + length]
            if len(body) < length:
                body += stream.read(length - len(body))
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StoreError(f"cannot read the run journal {path}: {exc}{_WHAT_TO_DO}") from exc
    if len(body) < length or zlib.crc32(body) != crc or (row := _framed(body)) is None:
        return None
    if type(row[1]) is str:  # format 2: a record an entry
        return Entry(row[0], row[1], row[3], row[2])
    return Entry(row[0], row[3], row[4], row[1])


def merge(old: Summary | None, new: Summary) -> Summary:
    """`new` over `old`: a column `new` leaves None keeps its old value."""
    if old is None or None not in new:  # every column set (a reply's): nothing to keep
        return new
    return Summary(
        status=old.status if new.status is None else new.status,
        turns=old.turns if new.turns is None else new.turns,
        input_tokens=old.input_tokens if new.input_tokens is None else new.input_tokens,
        output_tokens=old.output_tokens if new.output_tokens is None else new.output_tokens,
        cost_usd=old.cost_usd if new.cost_usd is None else new.cost_usd,
    )


_PROBE_WAIT = 0.0005
_PROBE_TRIES = 2000
"""How long a writer waits out readers' probes of a journal (`RunLog.held`): a second at most."""


def _lock(fd: int) -> bool:
    """Take the writer's lock on the journal `fd`; False when a writer holds it. A reader's
    probe (`RunLog.held`: a shared lock for a moment, `agentkit runs list`, `agentkit ui`) is
    waited out, not taken for a writer: a shared lock this process can also take says no
    writer holds the file (a writer's lock is exclusive)."""
    for _ in range(_PROBE_TRIES):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            pass
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # held exclusively: by a writer
        fcntl.flock(fd, fcntl.LOCK_UN)
        _pause(_PROBE_WAIT)
    return False


_pause = time.sleep


def _open(path: str, flags: int, fresh: bool) -> tuple[int, bool]:
    """The file at `path` opened with `flags`, and whether this call made it (only ever for
    `fresh`: a new run's journal is a new file, with nothing in it to cut off). Raises as
    `RunLog.take`."""
    try:
        if fresh:
            try:
                return os.open(path, flags | os.O_EXCL, 0o600), True
            except FileExistsError:
                pass
        return os.open(path, flags, 0o600), False
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise StoreError(
            f"cannot open the run journal {path}: {exc}{_WHAT_TO_DO}. Nothing was written"
        ) from exc


def _at(fd: int, path: str) -> bool:
    """Whether the open file `fd` is still the one at `path` (not unlinked, nor replaced)."""
    held = os.fstat(fd)
    if not held.st_nlink:
        return False
    try:
        named = os.stat(path)
    except FileNotFoundError:
        return False
    return (named.st_ino, named.st_dev) == (held.st_ino, held.st_dev)


class RunLog:
    """The journal file of one run, open for appending by the process holding its lock."""

    __slots__ = ("_encode", "_fd", "_io", "failed", "path", "seq", "size", "summary")

    def __init__(self, path: str, fd: int, tail: Tail) -> None:
        self.path = path
        self._fd = fd
        self._encode = encode_framed if tail.framed else encode
        """A framed journal (a run resumed from formats 1-3) goes on in frames."""
        self.seq = tail.last_seq
        """The last record's seq."""
        self.size = tail.end
        """Bytes of whole records: where the next one goes."""
        self.summary = tail.summary
        """The summary columns the journal has set so far, merged."""
        self._io = threading.Lock()
        """Held by `sync` and `close`: a sync never reaches a closed fd (nor the file it is
        reused for)."""
        self.failed: StoreError | None = None
        """Why a `sync` failed: the journal then takes nothing more."""

    @classmethod
    def take(
        cls,
        path: str,
        *,
        fresh: bool = False,
        existing: bool = False,
        check: Callable[[Sequence[Entry], int], None] | None = None,
    ) -> RunLog | None:
        """Lock the file at `path` (created if new, unless `existing`) and open it for
        appending, cutting off a record left half written (all of it when `fresh`: a new run;
        a journal with no whole record starts over as a new one); None when another writer
        holds it. `check` is given the journal's whole entries and last seq, before anything
        is cut: what it raises is raised, with the file as it was and unlocked. Raises
        `FileNotFoundError` when the file (`existing`) or its folder is missing, `StoreError`
        when it cannot be opened otherwise.

        A file found unlinked or replaced once locked is opened again: a delete unlinks its
        run's journal under its lock after the row is gone, and a new run given the key may
        have opened it meanwhile (written, it would be a journal nobody finds). A file this
        call made (O_EXCL) is the one at `path`, unchecked."""
        flags = os.O_RDWR | os.O_CLOEXEC | (0 if existing else os.O_CREAT)
        for _ in range(_PROBE_TRIES):
            fd, created = _open(path, flags, fresh)
            try:
                locked = _lock(fd)
                current = created or _at(fd, path)
            except BaseException:
                os.close(fd)
                raise
            if locked and current:
                break
            os.close(fd)
            if current and not fresh:
                return None  # another writer holds the run
            if current:  # a new run's key, its file still locked by the delete that freed it
                _pause(_PROBE_WAIT)
            # else: unlinked or replaced since it was opened: open what is at `path` now
        else:
            return None
        try:
            if fresh:  # a new run: anything here was left by a deleted run with its key
                if not created and os.fstat(fd).st_size:
                    os.ftruncate(fd, 0)
                tail = Tail([], 0, 0, None, None)
            else:
                tail = read(path)
                if check is not None:
                    check(tail.entries, tail.last_seq)
                if not tail.end:  # no whole record (a crash in its first write): a new one
                    tail = Tail([], 0, 0, None, None)
                if os.fstat(fd).st_size != tail.end:
                    os.ftruncate(fd, tail.end)
        except BaseException:
            os.close(fd)
            raise
        return cls(path, fd, tail)

    @staticmethod
    def held(path: str) -> bool:
        """Whether a writer holds the file's lock now (False for a missing file, or one this
        process cannot open: then no writer could hold it through this store either). The probe
        holds a shared lock for a moment, which a claimer waits out (`_lock`)."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    def append(
        self,
        rows: Sequence[tuple[EntryKind, object]],
        at: float,
        summary: Summary | None,
        *,
        sync: bool,
    ) -> int:
        """Write `rows` (kind, payload) as one record after the last, with `summary`, in one
        `write()` (`MAGIC` before a new journal's first); with `sync`, wait until the disk has
        them. Returns the last seq. Raises `UsageError` or `TypeError` (nothing written) for an
        unknown kind or a payload that is not JSON; on a failed write (a full disk) the file is
        cut back and nothing counts as written."""
        if self.failed is not None:
            raise self.failed
        data = self._encode(rows, self.seq, at, summary)
        if not self.size:  # a new journal: its first line says what it is
            data = MAGIC + data
        syncing = False
        try:
            written = os.pwrite(self._fd, data, self.size)
            if written != len(data):
                self._write_rest(data, written)
            syncing = sync
            if sync:
                os.fdatasync(self._fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self.size)
            error = StoreError(
                f"cannot write the run journal {self.path}: {exc}; nothing of this checkpoint "
                "was kept, and the run stops here (resume it once the cause is fixed)"
            )
            if syncing:  # a failed sync is final, as `sync`'s (earlier records may be lost)
                self.failed = error
            raise error from exc
        self.size += len(data)
        self.seq += len(rows)
        if summary is not None:
            self.summary = merge(self.summary, summary)
        return self.seq

    def _write_rest(self, data: bytes, written: int) -> None:
        """After a short write (only ever near a full disk), the rest of `data`, or ENOSPC."""
        while written < len(data):
            more = os.pwrite(self._fd, data[written:], self.size + written)
            if more == 0:
                raise OSError(errno.ENOSPC, "no space left on device")
            written += more

    def unlink(self) -> None:
        """Remove the file, still locked: a deleted run's journal, its row gone already, so the
        run is deleted even when this fails (the file is left for the next run given its key,
        which empties it). A taker who opened it meanwhile finds it unlinked (`take`)."""
        with contextlib.suppress(OSError):
            os.unlink(self.path)

    def sync(self) -> None:
        """Wait until the disk has every record written so far (`fdatasync`), from any thread.

        Raises `StoreError` when it cannot say so: the journal was closed (what was written
        since its last sync may not be on the disk), or the sync failed. A failure is final:
        every later `sync` and `append` raises it too, as the kernel reports a lost write back
        once (a later sync could succeed without it)."""
        with self._io:
            if self.failed is not None:
                raise self.failed
            if self._fd < 0:
                raise StoreError(
                    f"the run journal {self.path} was closed before its last checkpoint reached "
                    "the disk (its store was closed); the run stops here: open the store again "
                    "and resume it"
                )
            try:
                os.fdatasync(self._fd)
            except OSError as exc:
                self.failed = StoreError(
                    f"cannot sync the run journal {self.path} to the disk: {exc}; what was "
                    "written since its last sync may be lost, and the run stops here (resume it "
                    "once the cause is fixed)"
                )
                self.failed.__cause__ = exc
                raise self.failed from exc

    def close(self) -> None:
        """Release the lock and the file (twice is harmless), once a `sync` in flight ended."""
        with self._io:
            if self._fd >= 0:
                fd, self._fd = self._fd, -1
                os.close(fd)
