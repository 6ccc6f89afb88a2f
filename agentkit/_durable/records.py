"""A run journal's format: records encoded as the writer appends them, and read back whole.

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
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import orjson
from pydantic_core import from_json

from agentkit._durable.journal import KINDS, Entry, EntryKind, Summary
from agentkit._errors import StoreError, UsageError

__all__ = ["MAGIC", "WHAT_TO_DO", "Tail", "encode", "encode_framed", "first", "merge", "read"]

MAGIC = b"agentkit journal 4\n"
"""A format-4 journal's first line; a file without it is framed (formats 1-3). (Read as a frame,
its first four bytes would announce a record of 1.8 GB.)"""
_FRAME = struct.Struct("<II")
_pack = _FRAME.pack
_crc32 = zlib.crc32
_dumps = orjson.dumps
_LINE = orjson.OPT_APPEND_NEWLINE
_KINDS = frozenset(KINDS)
WHAT_TO_DO = (
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
        raise StoreError(f"cannot read the run journal {path}: {exc}{WHAT_TO_DO}") from exc
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
        raise StoreError(f"cannot read the run journal {path}: {exc}{WHAT_TO_DO}") from exc
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

