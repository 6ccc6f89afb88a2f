"""Reading a run store file for the viewer: read-only, a page of runs at a time.

The file is opened in SQLite's read-only mode, so the viewer cannot change a store, not even by
mistake, and as a WAL reader it never blocks the processes writing runs. It reads the store's
tables (`agentkit._durable.schema` owns their format) because a list of thousands of runs needs
more than `RunStore.runs` gives, all in SQL: a text filter (id, agent, model, prompt), the
count per status, newest first by start, and for the runs of one page only, their tool calls,
last activity and prompt.

A run stored as running whose lease was released or has expired is shown as interrupted: its
process stopped (it renews the lease while it lives) without recording an end.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Generator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import orjson

from agentkit._durable.journal import STATUSES, Entry
from agentkit._durable.schema import APPLICATION_ID, FORMAT, SEQ_BITS
from agentkit.errors import StoreError, StoreFormatError

__all__ = ["Page", "RunReader", "RunRow"]

_SEQ = (1 << SEQ_BITS) - 1
# The status to show: "running" only while a live process holds the run's lease.
_SHOWN = (
    "CASE WHEN status = 'running' AND (lease_token IS NULL OR lease_expires < :now) "
    "THEN 'interrupted' ELSE status END"
)
_COLUMNS = (
    f"id, run_id, format, model, agent, {_SHOWN}, status, turns, input_tokens, output_tokens, "
    "cost_usd, created, updated"
)
_TEXT = (
    "(run_id LIKE :text ESCAPE '\\' OR agent LIKE :text ESCAPE '\\' "
    "OR model LIKE :text ESCAPE '\\' OR EXISTS (SELECT 1 FROM entries "
    f"WHERE key = (runs.id << {SEQ_BITS}) | 1 AND payload LIKE :text ESCAPE '\\'))"
)
PROMPT_CHARS = 200
"""How much of a run's prompt the list shows."""


@dataclass(frozen=True, slots=True)
class RunRow:
    """One run as the viewer lists it."""

    run_id: str
    agent: str
    model: str
    status: str
    """As shown: the stored status, but "interrupted" for a run whose process is gone."""
    stored_status: str
    turns: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    created: float
    updated: float
    last_at: float | None
    """When its last journal entry was committed (None: no entry yet)."""
    entries: int
    tool_calls: int
    """Tool results in its journal: the calls that ran (and those a crash interrupted)."""
    prompt: str
    """The start of its last initial user message."""
    newer: bool
    """Written by a newer agentkit: its journal cannot be read here."""

    def to_json(self, now: float) -> dict[str, Any]:
        """JSON-ready, with the run's duration: to its last entry, or to `now` while running."""
        end = now if self.status == "running" else (self.last_at or self.created)
        return {
            "run_id": self.run_id,
            "agent": self.agent,
            "model": self.model,
            "status": self.status,
            "stored_status": self.stored_status,
            "turns": self.turns,
            "tool_calls": self.tool_calls,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": self.cost_usd,
            "started": self.created,
            "updated": self.updated,
            "last_at": self.last_at,
            "duration": max(end - self.created, 0.0),
            "entries": self.entries,
            "prompt": self.prompt,
            "newer": self.newer,
        }


@dataclass(frozen=True, slots=True)
class Page:
    """One page of the list, and what the filters matched."""

    runs: list[RunRow]
    total: int
    """Runs matching both filters."""
    counts: dict[str, int]
    """Runs matching the text filter, per status shown."""


class RunReader:
    """Read-only access to the run store at `path`; thread-safe (one connection, a lock).

    Raises `StoreError` when there is no file at `path`, and `StoreFormatError` when the file
    is not a run store or was written by a newer agentkit.
    """

    def __init__(self, path: str | Path, *, clock: Callable[[], float]) -> None:
        self.path = str(path)
        self._clock = clock
        self._lock = threading.Lock()
        file = Path(path)
        if not file.is_file():
            raise StoreError(
                f"no run store at {self.path}; give the --db of a store that durable runs wrote"
            )
        uri = file.resolve().as_uri() + "?mode=ro"
        try:
            self._db = sqlite3.connect(uri, uri=True, check_same_thread=False)
            app, version = self._identity()
        except sqlite3.Error as exc:
            raise StoreFormatError(
                f"{self.path} is not a SQLite database, or a damaged one ({exc}), so not a run "
                "store; give the --db of a store that durable runs wrote",
                path=self.path,
                problem="not_sqlite" if "not a database" in str(exc) else "corrupt",
            ) from exc
        if app != APPLICATION_ID:
            self._db.close()
            raise StoreFormatError(
                f"{self.path} is not an agentkit run store (SQLite application_id {app:#x}); "
                "give the --db of a store that durable runs wrote",
                path=self.path,
                problem="foreign",
            )
        if version > FORMAT:
            self._db.close()
            raise StoreFormatError(
                f"{self.path} was written by a newer agentkit (store format {version}, this one "
                f"reads up to {FORMAT}); upgrade agentkit to view it",
                path=self.path,
                problem="newer",
            )

    def _identity(self) -> tuple[int, int]:
        app = self._db.execute("PRAGMA application_id").fetchone()[0]
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        return int(app), int(version)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _snapshot(self) -> Generator[sqlite3.Connection]:
        """The connection, under the lock, in one read transaction: one consistent view."""
        with self._lock:
            db = self._db
            try:
                db.execute("BEGIN")
                try:
                    yield db
                finally:
                    db.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StoreError(f"reading the run store {self.path} failed: {exc}") from exc

    def page(
        self, *, status: str | None = None, text: str = "", limit: int = 50, offset: int = 0
    ) -> Page:
        """The runs matching `status` (as shown) and `text` (in the id, agent, model or
        prompt, any case), newest first, `limit` of them from `offset`."""
        if status is not None and status not in STATUSES:
            raise ValueError(f"status {status!r}: use one of {', '.join(STATUSES)}")
        params: dict[str, Any] = {"now": self._clock(), "limit": limit, "offset": offset}
        where: list[str] = []
        if text:
            params["text"] = "%" + _escape_like(text) + "%"
            where.append(_TEXT)
        matched = f"WHERE {' AND '.join(where)}" if where else ""
        if status is not None:
            params["status"] = status
            where.append(f"{_SHOWN} = :status")
        chosen = f"WHERE {' AND '.join(where)}" if where else ""
        with self._snapshot() as db:
            counts = {
                str(shown): int(n)
                for shown, n in db.execute(
                    f"SELECT {_SHOWN}, count(*) FROM runs {matched} GROUP BY 1", params
                )
            }
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM runs {chosen} ORDER BY created DESC, run_id "
                "LIMIT :limit OFFSET :offset",
                params,
            ).fetchall()
            runs = [self._row(db, row) for row in rows]
        total = counts.get(status, 0) if status is not None else sum(counts.values())
        return Page(runs=runs, total=total, counts=counts)

    def run(self, run_id: str) -> tuple[RunRow, list[Entry]] | None:
        """The run and its whole journal, read together; None if there is no such run.
        A run written by a newer agentkit comes with no entries."""
        with self._snapshot() as db:
            row = self._find(db, _COLUMNS, run_id)
            if row is None:
                return None
            run = self._row(db, row)
            if run.newer:
                return run, []
            key = row[0] << SEQ_BITS
            entries = [
                Entry(seq, kind, orjson.loads(payload), at)
                for seq, kind, payload, at in db.execute(
                    f"SELECT key & {_SEQ}, kind, payload, at FROM entries "
                    "WHERE key > ? AND key <= ? ORDER BY key",
                    (key, key | _SEQ),
                )
            ]
        return run, entries

    def version(self, run_id: str) -> tuple[int, str] | None:
        """What changes when the run does: its last entry's seq and its shown status (None:
        no such run). Cheap enough to ask twice a second."""
        with self._snapshot() as db:
            row = self._find(db, f"id, {_SHOWN}", run_id)
            return None if row is None else (_last(db, row[0])[0], str(row[1]))

    def _find(self, db: sqlite3.Connection, columns: str, run_id: str) -> Sequence[Any] | None:
        row: Sequence[Any] | None = db.execute(
            f"SELECT {columns} FROM runs WHERE run_id = :run_id",
            {"now": self._clock(), "run_id": run_id},
        ).fetchone()
        return row

    def _row(self, db: sqlite3.Connection, row: Sequence[Any]) -> RunRow:
        (key, run_id, version, model, agent, shown, stored, turns) = row[:8]
        inputs, outputs, cost, created, updated = row[8:]
        seq, last_at = _last(db, key)
        tool_calls = db.execute(
            "SELECT count(*) FROM entries WHERE key > ? AND key <= ? AND kind = 'tool_result'",
            (key << SEQ_BITS, key << SEQ_BITS | _SEQ),
        ).fetchone()[0]
        start = db.execute(
            "SELECT payload FROM entries WHERE key = ? AND kind = 'start'",
            (key << SEQ_BITS | 1,),
        ).fetchone()
        newer = version > FORMAT
        return RunRow(
            run_id=run_id,
            agent=agent,
            model=model,
            status=shown,
            stored_status=stored,
            turns=turns,
            input_tokens=inputs,
            output_tokens=outputs,
            cost_usd=cost,
            created=created,
            updated=updated,
            last_at=last_at,
            entries=seq,
            tool_calls=tool_calls,
            prompt="" if start is None or newer else _prompt(start[0]),
            newer=newer,
        )


def _last(db: sqlite3.Connection, key: int) -> tuple[int, float | None]:
    """The last entry's seq and time of run `key` (0 and None: no entry): a seek, not a scan."""
    row = db.execute(
        f"SELECT key & {_SEQ}, at FROM entries WHERE key > ? AND key <= ? "
        "ORDER BY key DESC LIMIT 1",
        (key << SEQ_BITS, key << SEQ_BITS | _SEQ),
    ).fetchone()
    return (0, None) if row is None else (int(row[0]), float(row[1]))


def _prompt(payload: str) -> str:
    """The text of the last user message among a `start` entry's initial messages."""
    try:
        data: object = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return ""
    messages = cast("dict[str, Any]", data).get("messages") if isinstance(data, dict) else None
    for message in reversed(cast("list[Any]", messages) if isinstance(messages, list) else []):
        if isinstance(message, dict) and cast("dict[str, Any]", message).get("role") == "user":
            content = cast("dict[str, Any]", message).get("content")
            return " ".join(_texts(content))[:PROMPT_CHARS]
    return ""


def _texts(content: object) -> list[str]:
    """The text blocks of a message's content (a string is one)."""
    if isinstance(content, str):
        return [content]
    blocks = cast("list[Any]", content) if isinstance(content, list) else []
    return [
        str(cast("dict[str, Any]", b).get("text", ""))
        for b in blocks
        if isinstance(b, dict) and cast("dict[str, Any]", b).get("type") == "text"
    ]


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")

