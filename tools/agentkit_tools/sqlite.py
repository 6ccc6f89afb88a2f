"""A read-only SQLite query tool.

Owns `sqlite_toolset`. Rules: read-only three times over: the database is opened with a
`file:...?mode=ro` URI, `PRAGMA query_only` is set, and an authorizer allows only reading
(SELECT, reads, functions, recursive CTEs and a few introspection pragmas), denying every write,
ATTACH, schema change and other pragma. One statement per call. Bounded in time, memory and
output: a progress handler stops any statement (fetching included) past the timeout; SQLite's own
length limit refuses any single string or blob over `_MAX_VALUE_BYTES` *before* building it (so
`zeroblob(500000000)` costs nothing); rows are fetched one at a time and the reply stops at a row
cap and a byte cap. A fresh connection per call keeps calls independent and thread-safe (sync
tools run in worker threads).
"""

from __future__ import annotations

import os
import sqlite3
import time
import urllib.parse
from pathlib import Path
from typing import Any

from agentkit import ToolError, Toolset, UsageError, tool

__all__ = ["sqlite_toolset"]

_ALLOWED_ACTIONS = frozenset({sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION})
_RECURSIVE = getattr(sqlite3, "SQLITE_RECURSIVE", 33)
_READ_PRAGMAS = frozenset(
    {"table_info", "table_xinfo", "index_list", "index_info", "index_xinfo", "foreign_key_list"}
)
_MAX_CELL_CHARS = 500
_MAX_VALUE_BYTES = 1_000_000  # SQLITE_LIMIT_LENGTH: larger strings/blobs are an error, not RAM


def _authorize(action: int, arg1: str | None, arg2: str | None, *_: Any) -> int:
    if action in _ALLOWED_ACTIONS or action == _RECURSIVE:
        return sqlite3.SQLITE_OK
    # A pragma with a value (arg2) sets something; only argument-free introspection is read-only.
    if action == sqlite3.SQLITE_PRAGMA and (arg1 or "").lower() in _READ_PRAGMAS:
        return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bytes):
        return f"<blob {len(value)} bytes>"
    text = str(value).replace("\n", "\\n")
    return text if len(text) <= _MAX_CELL_CHARS else text[:_MAX_CELL_CHARS] + "…"


class ReadOnlyDatabase:
    """The query logic behind `sqlite_toolset`, as plain methods that raise `ToolError`."""

    def __init__(
        self, path: str | os.PathLike[str], *, max_rows: int, max_bytes: int, timeout: float
    ) -> None:
        resolved = Path(path).expanduser().resolve()
        if not resolved.is_file():
            raise UsageError(f"SQLite database {str(path)!r} does not exist or is not a file")
        self.uri = f"file:{urllib.parse.quote(str(resolved))}?mode=ro"
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self.timeout = timeout

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.uri, uri=True, check_same_thread=False)
        connection.execute("PRAGMA query_only = ON")
        connection.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, _MAX_VALUE_BYTES)
        connection.set_authorizer(_authorize)
        deadline = time.monotonic() + self.timeout
        # Returning True from the progress handler interrupts the running statement.
        connection.set_progress_handler(lambda: time.monotonic() > deadline, 10_000)
        return connection

    def query(self, sql: str, params: list[Any] | None = None) -> str:
        """Run one read-only statement and render its rows as a text table, within the row
        cap and the byte cap."""
        connection = self._connect()
        lines: list[str] = []
        used = 0
        stop = ""
        try:
            cursor = connection.execute(sql, params or [])
            columns = [column[0] for column in cursor.description or []]
            if columns:
                lines.append(" | ".join(columns))
                used = len(lines[0]) + 1
            for row in cursor:  # one row at a time: never more than the caps in memory
                if len(lines) > self.max_rows:
                    stop = f"{self.max_rows} rows shown; more rows exist, add a LIMIT/OFFSET"
                    stop += " or aggregate"
                    break
                line = " | ".join(_cell(value) for value in row)
                used += len(line.encode()) + 1
                if used > self.max_bytes:
                    stop = (
                        f"{len(lines) - 1} rows shown; output cap of {self.max_bytes} bytes "
                        "reached, select fewer columns, add a LIMIT/OFFSET or aggregate"
                    )
                    break
                lines.append(line)
        except sqlite3.DatabaseError as exc:
            raise _query_error(exc, self.timeout) from None
        except (sqlite3.Warning, sqlite3.ProgrammingError, ValueError) as exc:
            raise ToolError(f"cannot run this SQL: {exc}") from None
        finally:
            connection.close()
        if not columns:
            return "the statement returned no result set"
        shown = len(lines) - 1
        lines.append(f"({stop})" if stop else f"({shown} row{'s' if shown != 1 else ''})")
        return "\n".join(lines)

    def schema(self) -> str:
        """The CREATE statements of every table, view and index."""
        connection = self._connect()
        try:
            rows = connection.execute(
                "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL "
                "AND name NOT LIKE 'sqlite_%' ORDER BY type DESC, name"
            ).fetchall()
        finally:
            connection.close()
        if not rows:
            return "the database has no tables"
        return "\n\n".join(f"{sql};" for _, _, sql in rows)


def _query_error(exc: sqlite3.DatabaseError, timeout: float) -> ToolError:
    message = str(exc)
    if any(word in message for word in ("not authorized", "authorization", "readonly")):
        return ToolError(
            f"refused: {message}. This database is read-only; only SELECT queries "
            "(and PRAGMA table_info and the like) are allowed"
        )
    if "interrupted" in message:
        return ToolError(
            f"the query ran longer than {timeout:g} s and was stopped; add a LIMIT or narrow it"
        )
    if "too big" in message:
        return ToolError(
            f"a value is larger than {_MAX_VALUE_BYTES} bytes ({message}); select length(x) "
            "or a part of it with substr(x, start, n) instead"
        )
    return ToolError(f"SQLite error: {message}")


def sqlite_toolset(
    db_path: str | os.PathLike[str],
    *,
    max_rows: int = 200,
    max_bytes: int = 100_000,
    timeout: float = 10.0,
) -> Toolset:
    """`sqlite_schema` and `sqlite_query` tools over one database file, strictly read-only.

    Args:
        db_path: The database file (opened read-only).
        max_rows: Rows returned at most.
        max_bytes: Bytes of rendered rows returned at most (each cell shows 500 characters).
        timeout: Seconds any statement may run, fetching included.

    Raises:
        UsageError: `db_path` is not an existing file, or a limit is not positive.
    """
    if max_rows <= 0 or max_bytes <= 0 or timeout <= 0:
        raise UsageError("sqlite_toolset needs max_rows > 0, max_bytes > 0 and timeout > 0")
    database = ReadOnlyDatabase(db_path, max_rows=max_rows, max_bytes=max_bytes, timeout=timeout)

    @tool
    def sqlite_schema() -> str:
        """Show the database schema: the CREATE statement of every table, view and index."""
        return database.schema()

    @tool
    def sqlite_query(sql: str, params: list[str | int | float | None] | None = None) -> str:
        """Run one read-only SQL query (SQLite dialect) and return the rows as a text table.

        The first line holds the column names; values are separated by " | ", NULL is shown
        as NULL. Only SELECT (and WITH ... SELECT) statements are allowed, one per call;
        results are cut after a row limit, so aggregate or use LIMIT/OFFSET on large tables.

        Args:
            sql: One SELECT statement; use ? placeholders for values.
            params: Values for the ? placeholders, in order.
        """
        return database.query(sql, params)

    return Toolset([sqlite_schema, sqlite_query])
