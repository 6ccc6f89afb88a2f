"""Reading a run store for the viewer: read-only, a page of runs at a time.

The store file is opened in SQLite's read-only mode and the journals only read, so the viewer
cannot change a store, not even by mistake, and it never blocks the processes writing runs. It
reads the `runs` table (`agentkit._durable.schema` owns its format) because a list of thousands
of runs needs more than `RunStore.runs` gives, all in SQL: a text filter (id, agent, model, and
the prompt from the first record of each journal), the count per status, newest first by
start, the runs a user started only, each with how many sub-runs it has (`_durable/subruns.py`);
only for the runs of one page does it read their journals (`agentkit._durable.records`), for
their tool calls, last activity and prompt.

A header row is brought up to date only every third of a lease, so a running run's status and
totals are its row's with its journal's tail (`Totals.caught_up`, as `SQLiteStore` shows them).
A run whose status is still running but whose journal nobody has locked is shown as
interrupted: its process stopped (the kernel freed its lock) without recording an end.

The runs of journals no row names (a store file put back from a copy older than them) are
shown as runs, as `agentkit runs list` shows them: the store adopts them at its first use, and
until one does, the viewer, which writes nothing, shows their rows as rebuilt from their
journals (`_durable/adopt.py`), kept in a table of this connection's own (`temp.lost`: found
again when a file in the folder comes or goes, a row left out once the store has one), and,
while it holds any, a view named `runs` of both that every query reads (SQLite looks in
`temp` first).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Generator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

from agentkit._api.jsonbytes import escaped_utf8
from agentkit._durable.adopt import insert, lost
from agentkit._durable.folder import Journals, unnamed
from agentkit._durable.journal import STATUSES, Entry, check_named
from agentkit._durable.log import RunLog
from agentkit._durable.records import first, read
from agentkit._durable.rows import Totals
from agentkit._durable.schema import APPLICATION_ID, FORMAT, journals
from agentkit._durable.subruns import IN_RANGE, TOP_LEVEL, below, caller_of, sub_run_count
from agentkit.errors import StoreError, StoreFormatError

__all__ = ["Page", "RunReader", "RunRow"]

# The status to show, and a run's prompt: Python functions over a row (`RunReader._shown`,
# `RunReader._prompt_of`), so SQL can filter, count and page by them.
_SHOWN = (
    "CASE status WHEN 'running' THEN shown(id, format, status, log_seq, log_size, lease_token) "
    "ELSE status END"
)
_COLUMNS = (
    "id, run_id, format, model, agent, status, turns, input_tokens, output_tokens, "
    "cost_usd, created, updated, log_seq, log_size, lease_token, fingerprint, "
    f"{sub_run_count('main.runs')} + {sub_run_count('temp.lost')}"
)
# Counted in the table and in `temp.lost` apart: over the view `runs` of both, SQLite would
# scan every row for each (it takes no range into a UNION ALL).
_TEXT = (
    "(run_id LIKE :text ESCAPE '\\' OR agent LIKE :text ESCAPE '\\' "
    "OR model LIKE :text ESCAPE '\\' "
    "OR prompt(id, format, created, run_id, fingerprint) LIKE :text ESCAPE '\\')"
)
_PROMPTS = 100_000
"""How many runs' prompts, and statuses of runs nobody holds, the reader keeps."""
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
    unreadable: str | None = None
    """Why its journal cannot be read (permissions, a folder in its place), or None: then
    its status and totals are its header's as last stored."""
    sub_runs: int = 0
    """How many sub-runs it has (its agents used as tools: `journal.sub_run_id`), nested too."""

    def to_json(self, now: float) -> dict[str, Any]:
        """JSON-ready, with the run's duration: to its last entry, or to `now` while running."""
        end = now if self.status == "running" else (self.last_at or self.created)
        caller = caller_of(self.run_id)  # a sub-run: the run and the call that made it
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
            "unreadable": self.unreadable,
            "sub_runs": self.sub_runs,
            "caller": None if caller is None else {
                "run_id": caller[0], "tool_use_id": caller[1]
            },
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

    Raises `StoreError` when there is no file at `path` or it is a store of an older format
    (saying how to move it on), and `StoreFormatError` when the file is not a run store or was
    written by a newer agentkit.
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
        self._files = Journals(journals(str(file.resolve())), self.path)
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
        self._check(app, version)
        self._db.execute("CREATE TEMP TABLE lost AS SELECT * FROM main.runs WHERE 0")
        self._folder: int | None = None
        """When the journals' folder last changed, as `temp.lost` was filled (`_lost`)."""
        self._viewed = False
        """Whether the view `runs` of the table and `temp.lost` is there (`_lost`)."""
        self._db.create_function("shown", 6, self._shown)  # reads files: not deterministic
        self._db.create_function("prompt", 5, self._prompt_of, deterministic=True)
        self._prompts: dict[tuple[int, float], str] = {}
        self._gone: dict[tuple[int, str | None, int], str] = {}
        """The shown status of runs no process holds, per run, lease token and journal length:
        only a claim (which locks the journal, then sets a new token) can change it."""

    def _identity(self) -> tuple[int, int]:
        app = self._db.execute("PRAGMA application_id").fetchone()[0]
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        return int(app), int(version)

    def _check(self, app: int, version: int) -> None:
        """Refuse (closing the file) a store this viewer cannot read as it is."""
        problem: StoreError | None = None
        if app != APPLICATION_ID:
            problem = StoreFormatError(
                f"{self.path} is not an agentkit run store (SQLite application_id {app:#x}); "
                "give the --db of a store that durable runs wrote",
                path=self.path,
                problem="foreign",
            )
        elif version > FORMAT:
            problem = StoreFormatError(
                f"{self.path} was written by a newer agentkit (store format {version}, this one "
                f"reads up to {FORMAT}); upgrade agentkit to view it",
                path=self.path,
                problem="newer",
            )
        elif version < FORMAT:
            problem = StoreError(
                f"{self.path} is a run store of an older format ({version}; this agentkit "
                f"writes {FORMAT}) and the viewer only reads: open it once with this agentkit "
                f"to move it on (`agentkit runs list --db {self.path}` does), then view it"
            )
        if problem is not None:
            self._db.close()
            raise problem

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _journal(self, key: int) -> str:
        return self._files.path(key)

    def _shown(
        self, key: int, version: int, status: str, seq: int, size: int, token: str | None
    ) -> str:
        """The status to show: the journal's latest, and interrupted for a run stored as
        running whose journal nobody holds. Reads files only for runs stored as running."""
        if status != "running":
            return status
        path = self._journal(key)
        try:
            length = os.stat(path).st_size
        except OSError:
            length = 0
        gone = self._gone.get((key, token, length))
        if gone is not None:
            return gone
        if version <= FORMAT:
            status = Totals(status, 0, 0, 0, 0.0, 0.0, seq).caught_up(path, size).status
        if RunLog.held(path):
            return status
        shown = "interrupted" if status == "running" else status
        if length:  # an empty journal may be a new run's, between its header and its lock
            if len(self._gone) >= _PROMPTS:
                self._gone.clear()
            self._gone[key, token, length] = shown
        return shown

    def _prompt_of(
        self, key: int, version: int, created: float, run_id: str, fingerprint: str
    ) -> str:
        """A run's whole prompt, from its journal's first record ("" when unreadable here, or
        another run's), remembered per run (a key and a creation time: a deleted run's key
        may come back)."""
        if version > FORMAT:
            return ""
        found = self._prompts.get((key, created))
        if found is None:
            path = self._journal(key)
            try:
                start = first(path)
                if start is not None:
                    check_named(run_id, fingerprint, [start], (path, self.path, self._files.folder))
            except StoreError:  # listed all the same (`RunRow.unreadable`), matched by the rest
                start = None
            found = "" if start is None or start.kind != "start" else _prompt(start.payload)
            # What SQLite can take back: a lone surrogate (a reply's escaped "\ud800") as its
            # escape, else the search of every run fails on this one.
            found = escaped_utf8(found).decode()
            if len(self._prompts) >= _PROMPTS:
                self._prompts.clear()
            self._prompts[key, created] = found
        return found

    @contextmanager
    def _snapshot(self) -> Generator[sqlite3.Connection]:
        """The connection, under the lock, in one read transaction: one consistent view."""
        with self._lock:
            db = self._db
            try:
                db.execute("BEGIN")
                try:
                    self._lost(db)
                    yield db
                finally:
                    db.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StoreError(f"reading the run store {self.path} failed: {exc}") from exc

    def _lost(self, db: sqlite3.Connection) -> None:
        """Fill `temp.lost` with the runs of the journals no row names (`adopt.lost`) again
        when the folder changed since (a journal made or removed), otherwise a look at its
        time; leave out those a store has adopted since; and have the view `runs` while it
        holds any (the table alone otherwise: the view costs every query)."""
        try:
            changed: int | None = os.stat(self._files.folder).st_mtime_ns
        except OSError:
            changed = None
        if changed != self._folder:
            db.execute("DELETE FROM temp.lost")
            insert(db, "temp.lost", [] if changed is None else lost(self._files.folder, db))
            self._folder = changed
        elif self._viewed:
            db.execute("DELETE FROM temp.lost WHERE id IN (SELECT id FROM main.runs) "
                       "OR run_id IN (SELECT run_id FROM main.runs)")
        held = db.execute("SELECT 1 FROM temp.lost LIMIT 1").fetchone() is not None
        if held != self._viewed:
            db.execute("CREATE TEMP VIEW runs AS SELECT * FROM main.runs UNION ALL "
                       "SELECT * FROM temp.lost" if held else "DROP VIEW temp.runs")
            self._viewed = held

    def page(
        self, *, status: str | None = None, text: str = "", limit: int = 50, offset: int = 0
    ) -> Page:
        """The runs a user started (not their sub-runs: `subruns.TOP_LEVEL`) matching
        `status` (as shown) and `text` (in the id, agent, model or prompt, any case), newest
        first, `limit` of them from `offset`."""
        if status is not None and status not in STATUSES:
            raise ValueError(f"status {status!r}: use one of {', '.join(STATUSES)}")
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        where: list[str] = [TOP_LEVEL]
        if text:
            params["text"] = "%" + _escape_like(text) + "%"
            where.append(_TEXT)
        matched = f"WHERE {' AND '.join(where)}"
        if status is not None:
            params["status"] = status
            where.append(f"{_SHOWN} = :status")
        chosen = f"WHERE {' AND '.join(where)}"
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
        runs = [self._row(row)[0] for row in rows]
        total = counts.get(status, 0) if status is not None else sum(counts.values())
        return Page(runs=runs, total=total, counts=counts)

    def run(self, run_id: str) -> tuple[RunRow, list[Entry]] | None:
        """The run and its whole journal; None if there is no such run. A run written by a
        newer agentkit comes with no entries."""
        row = self._find(run_id)
        return None if row is None else self._row(row)

    def sub_runs(self, run_id: str) -> list[str]:
        """The ids of the run's sub-runs, nested ones too, oldest first."""
        with self._snapshot() as db:
            rows = db.execute(
                f"SELECT run_id FROM runs WHERE {IN_RANGE} ORDER BY created, run_id",
                below(run_id),
            ).fetchall()
        return [str(sub) for (sub,) in rows]

    def unnamed(self) -> list[str]:
        """The journals in the store's folder that no run it shows names, by key: those no run
        can be told from (`_durable/adopt.py`), the others shown as runs."""

        def named() -> list[int]:  # the runs the viewer shows (`temp.lost`'s too)
            with self._snapshot() as db:
                return [key for (key,) in db.execute("SELECT id FROM runs").fetchall()]

        return unnamed(self._files.folder, named)

    def exists(self, run_id: str) -> bool:
        """Whether the store has run `run_id`."""
        return self._find(run_id) is not None

    def version(self, run_id: str) -> tuple[int, str] | None:
        """What changes when the run does: its last entry's seq and its shown status (None:
        no such run). Cheap enough to ask twice a second: it reads only the journal's tail."""
        row = self._find(run_id)
        if row is None:
            return None
        now = _totals(row).caught_up(self._journal(row[0]), row[13])
        return now.seq, self._shown(row[0], row[2], now.status, now.seq, row[13], row[14])

    def _find(self, run_id: str) -> Sequence[Any] | None:
        with self._snapshot() as db:
            row: Sequence[Any] | None = db.execute(
                f"SELECT {_COLUMNS} FROM runs WHERE run_id = ?", (run_id,)
            ).fetchone()
        return row

    def _row(self, row: Sequence[Any], *, again: int = 2) -> tuple[RunRow, list[Entry]]:
        """A run as listed, from its header row and its journal, and its journal's entries;
        none, and `unreadable` saying why, when the journal is another run's (read `again`
        times more when the run was deleted and started again meanwhile, under another key)."""
        key, run_id, version, model, agent = row[:5]
        newer = version > FORMAT
        path = self._journal(key)
        totals = _totals(row)
        entries: list[Entry] = []
        last_at: float | None = None
        if not newer:
            # The totals before the entries: a record appended in between then only makes the
            # live feed's next check see a change, and the page read the run again.
            totals = totals.caught_up(path, row[13])
            if totals.unreadable is None:
                try:
                    whole = read(path)
                except StoreError as exc:  # became unreadable just now
                    totals = replace(totals, unreadable=str(exc))
                else:
                    entries, last_at = whole.entries, whole.at
                    where = (path, self.path, self._files.folder)
                    try:
                        check_named(run_id, row[15], entries, where)
                    except StoreError as exc:
                        now = self._find(run_id)
                        if again and now is not None and (now[0], now[10]) != (key, row[10]):
                            return self._row(now, again=again - 1)
                        totals = replace(totals, unreadable=str(exc))
                        entries, last_at = [], None
        start = entries[0] if entries and entries[0].kind == "start" else None
        run = RunRow(
            run_id=run_id,
            agent=agent,
            model=model,
            status=self._shown(key, version, totals.status, totals.seq, row[13], row[14]),
            stored_status=totals.status,
            turns=totals.turns,
            input_tokens=totals.input_tokens,
            output_tokens=totals.output_tokens,
            cost_usd=totals.cost_usd,
            created=row[10],
            updated=totals.updated,
            last_at=last_at,
            entries=totals.seq,
            tool_calls=sum(e.kind == "tool_result" for e in entries),
            prompt="" if start is None else _prompt(start.payload)[:PROMPT_CHARS],
            newer=newer,
            unreadable=totals.unreadable,
            sub_runs=row[16],
        )
        return run, entries


def _totals(row: Sequence[Any]) -> Totals:
    """The status and totals of a `_COLUMNS` row, as its header last had them."""
    status, turns, inputs, outputs, cost = row[5:10]
    return Totals(status, turns, inputs, outputs, cost, row[11], row[12])


def _prompt(payload: object) -> str:
    """The text of the last user message among a `start` entry's initial messages."""
    data = cast("dict[str, Any]", payload) if isinstance(payload, dict) else {}
    messages = data.get("messages")
    for message in reversed(cast("list[Any]", messages) if isinstance(messages, list) else []):
        if isinstance(message, dict) and cast("dict[str, Any]", message).get("role") == "user":
            content = cast("dict[str, Any]", message).get("content")
            return " ".join(_texts(content))
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

