"""Ready tools for agentkit agents: files, shell, HTTP fetch, Python, SQLite, memory, calculator,
clock.

Each family is a module of `@tool` functions whose docstrings are written for the model. Tools
that need configuration (a root directory, a switch to enable them) come from factories that
return a `Toolset`; the rest are plain tools. Everything that touches the machine is safe by
default: confined paths, private addresses refused, the shell off unless enabled, approval
required for running commands and code. This package uses only agentkit's public API.

`catalog()` lists the families (the `agentkit tools` command prints them with their schemas).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass

from agentkit import Toolset

from .calculator import calculator
from .clock import current_datetime
from .files import files_toolset
from .http import http_toolset
from .memory import memory_toolset
from .python import python_toolset
from .shell import shell_toolset
from .sqlite import sqlite_toolset

__all__ = [
    "ALL",
    "ToolFamily",
    "calculator",
    "catalog",
    "current_datetime",
    "files_toolset",
    "http_toolset",
    "memory_toolset",
    "python_toolset",
    "shell_toolset",
    "sqlite_toolset",
]


@dataclass(frozen=True, slots=True)
class ToolFamily:
    """One family of ready tools, as listed by `catalog()`."""

    name: str
    """Short name, e.g. `"files"`."""
    summary: str
    """One line saying what the family does and how it is kept safe."""
    usage: str
    """How to add it to an agent, e.g. `files_toolset(root)`."""
    example: Callable[[], Toolset]
    """Builds a toolset with harmless settings, only to show the tools and their schemas."""


def _sqlite_example() -> Toolset:
    # The factory insists on an existing database file; an empty temporary one suffices to
    # show the schemas, and the file is gone before anyone could query it.
    handle, path = tempfile.mkstemp(suffix=".sqlite3")
    os.close(handle)
    try:
        return sqlite_toolset(path)
    finally:
        os.unlink(path)


def _memory_example() -> Toolset:
    # The factory insists on an existing directory; a temporary one shows the definition.
    with tempfile.TemporaryDirectory() as root:
        return memory_toolset(root)


ALL: tuple[ToolFamily, ...] = (
    ToolFamily(
        "files",
        "read (line ranges), write, edit, list, glob and grep, confined to one root directory",
        "files_toolset(root, writable=True)",
        lambda: files_toolset("."),
    ),
    ToolFamily(
        "shell",
        "run commands in the root with a timeout, an output cap and no credentials; off by "
        "default, needs approval",
        "shell_toolset(root, enabled=True, allow=[...])",
        lambda: shell_toolset(".", enabled=True),
    ),
    ToolFamily(
        "http",
        "GET a URL as readable text; loopback, private and link-local addresses refused",
        "http_toolset(allow_private=False)",
        http_toolset,
    ),
    ToolFamily(
        "python",
        "run Python in a separate interpreter with a timeout and memory limit; needs approval",
        "python_toolset(timeout=30, memory_mb=512)",
        python_toolset,
    ),
    ToolFamily(
        "sqlite",
        "read-only SQL queries on one SQLite database, rows capped",
        "sqlite_toolset(db_path)",
        _sqlite_example,
    ),
    ToolFamily(
        "memory",
        "Claude's memory tool (memory_20250818): notes under /memories kept in files below one "
        "root, paths confined",
        "memory_toolset(root)",
        _memory_example,
    ),
    ToolFamily(
        "calculator",
        "exact arithmetic and math functions, without eval",
        "calculator",
        lambda: Toolset([calculator]),
    ),
    ToolFamily(
        "clock",
        "the current date and time in any IANA time zone",
        "current_datetime",
        lambda: Toolset([current_datetime]),
    ),
)
"""Every ready tool family, in the order `agentkit tools` shows them."""


def catalog() -> tuple[ToolFamily, ...]:
    """The ready tool families (see `ALL`)."""
    return ALL
