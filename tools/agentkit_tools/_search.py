"""The glob and grep searches of the file tools, run in a separate interpreter that can be killed.

Owns the search itself (`search`, run as `python -I -S _search.py REQUEST`) and the line reading
the file tools share (`lines`, `is_binary`). Why a separate process: a regular expression that
backtracks catastrophically (`^(a+)+$`), or a glob like `**/**/**/**/x`, runs in C holding the
GIL, so in a thread it freezes the whole agent and no timeout can stop it; a process is killed
(`FileSandbox._search`) at the deadline. Rules: the walk is by directory file descriptors
(`os.fwalk`), never follows a symlinked directory and opens each file with `O_NOFOLLOW` and
`O_NONBLOCK` relative to its directory, then checks what it opened (a FIFO or device swapped in
is skipped, never waited on); files with more than one hard link are skipped unless allowed (they
may be the same file as one outside the root); at most `max_scan_bytes` are read in all.
Standard library only, so it starts fast with `-S`. Output: one JSON document on stdout.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import stat
import sys
from collections.abc import Iterator
from typing import Any, BinaryIO

__all__ = ["SKIP_DIRS", "is_binary", "lines", "search"]

SNIFF_BYTES = 8192
MAX_LINE_CHARS = 2000
_MAX_LINE_BYTES = 4 * MAX_LINE_CHARS  # enough bytes for 2000 characters of UTF-8
SKIP_DIRS = frozenset({".git", ".hg", ".svn", "__pycache__", "node_modules", ".venv"})
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)


class ScanBudget:
    """Bytes a search or a read may still read from disk."""

    __slots__ = ("left",)

    def __init__(self, limit: int) -> None:
        self.left = limit


def lines(handle: BinaryIO, budget: ScanBudget | None = None) -> Iterator[str]:
    """Decoded lines without their line ending, each cut at `MAX_LINE_CHARS`.

    Reads a bounded chunk at a time, so a gigantic line never has to fit in memory; the rest
    of an over-long line is skipped, but counted against `budget`: reading stops once it is
    spent (a file without line breaks, or one that keeps growing, is not read to its end).
    """
    while raw := handle.readline(_MAX_LINE_BYTES):
        spent = len(raw)
        cut = not raw.endswith(b"\n") and len(raw) == _MAX_LINE_BYTES
        if cut:
            while (rest := handle.readline(_MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
                spent += len(rest)
                if budget is not None and spent > budget.left:
                    break
            spent += len(rest)
        if budget is not None:
            budget.left -= spent
            if budget.left < 0:
                return
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        if cut or len(line) > MAX_LINE_CHARS:
            line = line[:MAX_LINE_CHARS] + " [line truncated]"
        yield line


def is_binary(head: bytes) -> bool:
    """Whether the first bytes of a file look binary (a NUL byte or invalid UTF-8)."""
    if b"\x00" in head:
        return True
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sniffed window is still text.
        return exc.start < len(head) - 3
    return False


def _segment(segment: str) -> str:
    """The regex for one path segment of a glob: `*`, `?` and `[...]` never cross a `/`."""
    out: list[str] = []
    i, n = 0, len(segment)
    while i < n:
        char = segment[i]
        if char == "*":
            if not out or out[-1] != "[^/]*":
                out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            j = i + 1
            if j < n and segment[j] in "!^":
                j += 1
            if j < n and segment[j] == "]":
                j += 1
            j = segment.find("]", j)
            if j < 0:
                out.append(re.escape(char))
            else:
                inner = segment[i + 1 : j]
                negate = inner[:1] in ("!", "^")
                inner = (inner[1:] if negate else inner).replace("\\", "\\\\")
                out.append("[" + ("^/" if negate else "") + inner + "]")
                i = j
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


def glob_regex(pattern: str) -> re.Pattern[str]:
    """A regex matching base-relative POSIX paths against a glob: `*`, `?` and `[...]` within
    one name, `**` as a whole segment for any number of directories."""
    parts: list[str] = []
    segments = [s for s in pattern.split("/") if s and s != "."]
    last = len(segments) - 1
    for index, segment in enumerate(segments):
        if segment == "**":
            if index < last:
                if not parts or parts[-1] != "(?:[^/]+/)*":  # **/** is **
                    parts.append("(?:[^/]+/)*")
            else:
                parts.append("(?:[^/]+/)*[^/]+")
            continue
        parts.append(_segment(segment) + ("/" if index < last else ""))
    return re.compile("(?s:" + "".join(parts) + r")\Z")


def _inside(root: str, path: str) -> bool:
    real = os.path.realpath(path)
    return real == root or real.startswith(root.rstrip("/") + "/")


def _glob(request: dict[str, Any]) -> dict[str, Any]:
    root, base, limit = request["root"], request["base"], request["max_results"]
    regex = glob_regex(request["pattern"])
    found: list[str] = []
    for dirpath, dirnames, filenames, _ in os.fwalk(base, follow_symlinks=False):
        dirnames.sort()
        for name in sorted((*dirnames, *filenames)):
            full = os.path.join(dirpath, name)
            if not regex.match(os.path.relpath(full, base)):
                continue
            if os.path.islink(full) and not _inside(root, full):
                continue
            if len(found) >= limit:
                return {"matches": sorted(found), "more": True}
            found.append(os.path.relpath(full, root))
    return {"matches": sorted(found), "more": False}


def _open_file(name: str, dir_fd: int | None, request: dict[str, Any]) -> BinaryIO | None:
    """Open a file for searching, or None if it must be skipped."""
    try:
        fd = os.open(name, _OPEN_FLAGS, dir_fd=dir_fd)
    except OSError:
        return None
    info = os.fstat(fd)
    if (
        not stat.S_ISREG(info.st_mode)
        or info.st_size > request["max_file_bytes"]
        or (info.st_nlink > 1 and not request["hard_links"])
    ):
        os.close(fd)
        return None
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def _grep_file(handle: BinaryIO, rel: str, regex: re.Pattern[str], state: dict[str, Any]) -> None:
    budget: ScanBudget = state["budget"]
    with handle:
        head = handle.read(SNIFF_BYTES)
        if is_binary(head):
            return
        handle.seek(0)
        for number, line in enumerate(lines(handle, budget), start=1):
            if regex.search(line):
                state["hits"].append(f"{rel}:{number}: {line}")
                if len(state["hits"]) > state["limit"]:
                    return


def _files(base: str, include: str | None) -> Iterator[tuple[int | None, str, str]]:
    """(directory fd, name, path) of every file to search under `base` (or `base` itself)."""
    if not os.path.isdir(base):
        yield None, base, base
        return
    for dirpath, dirnames, filenames, dirfd in os.fwalk(base, follow_symlinks=False):
        dirnames[:] = sorted(name for name in dirnames if name not in SKIP_DIRS)
        for name in sorted(filenames):
            if include is None or fnmatch.fnmatch(name, include):
                yield dirfd, name, os.path.join(dirpath, name)


def _grep(request: dict[str, Any]) -> dict[str, Any]:
    root, base = request["root"], request["base"]
    regex = re.compile(request["pattern"], re.IGNORECASE if request["ignore_case"] else 0)
    budget = ScanBudget(request["max_scan"])
    state: dict[str, Any] = {"hits": [], "limit": request["max_results"], "budget": budget}
    for dirfd, name, path in _files(base, request["include"]):
        handle = _open_file(name, dirfd, request)
        if handle is not None:
            _grep_file(handle, os.path.relpath(path, root), regex, state)
        if len(state["hits"]) > state["limit"] or budget.left < 0:
            break
    hits: list[str] = state["hits"]
    return {
        "matches": hits[: state["limit"]],
        "more": len(hits) > state["limit"],
        "scan_cap": budget.left < 0,
    }


def search(request: dict[str, Any]) -> dict[str, Any]:
    """Run one glob or grep request (the fields `FileSandbox._search` sends)."""
    return _glob(request) if request["op"] == "glob" else _grep(request)


if __name__ == "__main__":
    sys.stdout.write(json.dumps(search(json.loads(sys.argv[1]))))
