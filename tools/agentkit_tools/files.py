"""File tools confined to one root directory: read, write, edit, list, glob, grep.

Owns `files_toolset` and `FileSandbox`, the logic behind it. Rules: every path the model gives is
resolved through `Root` (no `..` escapes, no absolute paths outside the root, no symlinks leading
out); sizes are capped on every read and write; binary files are reported as binary, never dumped;
directory walks never follow symlinks; every refusal is a `ToolError` that tells the model what to
do instead.
"""

from __future__ import annotations

import fnmatch
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from agentkit import ToolError, Toolset, tool

from ._paths import Root

__all__ = ["FileSandbox", "files_toolset"]

_SNIFF_BYTES = 8192
_MAX_LINE_CHARS = 2000
_MAX_LINE_BYTES = 4 * _MAX_LINE_CHARS  # enough bytes for 2000 characters of UTF-8
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)  # refuse a symlink swapped in after the path check
_SKIP_DIRS = frozenset({".git", ".hg", ".svn", "__pycache__", "node_modules", ".venv"})


def _lines(handle: BinaryIO) -> Iterator[str]:
    """Decoded lines without their line ending, each cut at `_MAX_LINE_CHARS`.

    Reads at most a bounded chunk at a time, so a file with a gigantic line (minified code, a
    data dump) never has to fit in memory; the rest of an over-long line is skipped.
    """
    while raw := handle.readline(_MAX_LINE_BYTES):
        cut = not raw.endswith(b"\n") and len(raw) == _MAX_LINE_BYTES
        if cut:
            while (rest := handle.readline(_MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
                pass
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        if cut or len(line) > _MAX_LINE_CHARS:
            line = line[:_MAX_LINE_CHARS] + " [line truncated]"
        yield line


def _is_binary(head: bytes) -> bool:
    """Whether the first bytes of a file look binary (a NUL byte or invalid UTF-8)."""
    if b"\x00" in head:
        return True
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sniffed window is still text.
        return exc.start < len(head) - 3
    return False


class FileSandbox:
    """The file operations behind `files_toolset`, as plain methods that raise `ToolError`."""

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        max_read_bytes: int = 256_000,
        max_write_bytes: int = 1_000_000,
        max_file_bytes: int = 10_000_000,
        max_results: int = 500,
    ) -> None:
        self.root = Root(root)
        self.max_read_bytes = max_read_bytes
        """Most bytes of file content one `read` returns."""
        self.max_write_bytes = max_write_bytes
        """Largest content `write` and `edit` accept."""
        self.max_file_bytes = max_file_bytes
        """Largest file `edit` and `grep` will load."""
        self.max_results = max_results
        """Most entries `list_dir`, `glob` and `grep` return."""

    # -- helpers ----------------------------------------------------------------------------

    def _open_read(self, path: str) -> tuple[Path, int]:
        target = self.root.resolve(path)
        if target.is_dir():
            raise ToolError(f"{path!r} is a directory; use list_dir to see its contents")
        try:
            # O_NONBLOCK: opening a FIFO must not hang the tool waiting for a writer.
            fd = os.open(target, os.O_RDONLY | _NOFOLLOW | os.O_NONBLOCK)
        except FileNotFoundError:
            raise ToolError(f"{path!r} does not exist; use list_dir or glob to find it") from None
        except OSError as exc:
            raise ToolError(f"cannot open {path!r}: {exc.strerror}") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise ToolError(f"{path!r} is not a regular file (a device, FIFO or socket)")
        return target, fd

    def _read_text(self, path: str) -> tuple[Path, str]:
        """Load a whole text file for editing, refusing binary and oversized files."""
        target, fd = self._open_read(path)
        with os.fdopen(fd, "rb") as handle:
            data = handle.read(self.max_file_bytes + 1)
        if len(data) > self.max_file_bytes:
            raise ToolError(f"{path!r} is larger than {self.max_file_bytes} bytes; too big to edit")
        if _is_binary(data[:_SNIFF_BYTES]):
            raise ToolError(f"{path!r} is a binary file ({len(data)} bytes); it cannot be edited")
        return target, data.decode("utf-8", errors="replace")

    def _write_bytes(self, target: Path, data: bytes) -> None:
        if target.is_dir():
            raise ToolError(f"{self.root.relative(target)!r} is a directory; give a file path")
        target.parent.mkdir(parents=True, exist_ok=True)
        rel = self.root.relative(target)
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | _NOFOLLOW | os.O_NONBLOCK, 0o644)
        except OSError as exc:
            raise ToolError(f"cannot write {rel!r}: {exc.strerror}") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise ToolError(f"cannot write {rel!r}: not a regular file")
        os.ftruncate(fd, 0)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)

    # -- operations -------------------------------------------------------------------------

    def read(self, path: str, start_line: int = 1, end_line: int | None = None) -> str:
        """Return lines `start_line..end_line` (1-based, inclusive), numbered like `cat -n`."""
        if start_line < 1:
            raise ToolError("start_line must be 1 or more (lines are numbered from 1)")
        if end_line is not None and end_line < start_line:
            raise ToolError("end_line must be at least start_line")
        _, fd = self._open_read(path)
        with os.fdopen(fd, "rb") as handle:
            head = handle.read(_SNIFF_BYTES)
            if _is_binary(head):
                size = os.fstat(handle.fileno()).st_size
                raise ToolError(f"{path!r} is a binary file ({size} bytes); it cannot be shown")
            handle.seek(0)
            out: list[str] = []
            used = 0
            number = 0
            last = start_line - 1
            for number, line in enumerate(_lines(handle), start=1):
                if number < start_line:
                    continue
                if end_line is not None and number > end_line:
                    break
                entry = f"{number:6}\t{line}"
                used += len(entry) + 1
                if used > self.max_read_bytes and out:
                    out.append(
                        f"[output cap of {self.max_read_bytes} bytes reached after line {last}; "
                        f"read on with start_line={last + 1}]"
                    )
                    return "\n".join(out)
                out.append(entry)
                last = number
        if not out:
            if number == 0:
                return f"[{path!r} is empty]"
            raise ToolError(f"{path!r} has {number} lines; start_line {start_line} is past the end")
        return "\n".join(out)

    def write(self, path: str, content: str) -> str:
        """Create or overwrite a text file with `content`."""
        data = content.encode("utf-8")
        if len(data) > self.max_write_bytes:
            raise ToolError(
                f"content is {len(data)} bytes, over the {self.max_write_bytes}-byte limit; "
                "write the file in smaller parts or cut it down"
            )
        target = self.root.resolve(path)
        self._write_bytes(target, data)
        return f"wrote {len(data)} bytes to {self.root.relative(target)}"

    def edit(self, path: str, old: str, new: str, replace_all: bool = False) -> str:
        """Replace the exact text `old` with `new`; `old` must be unique unless `replace_all`."""
        if not old:
            raise ToolError("old must be non-empty; to create a file use write_file")
        if old == new:
            raise ToolError("old and new are identical; nothing to change")
        target, text = self._read_text(path)
        count = text.count(old)
        if count == 0:
            raise ToolError(
                f"old text not found in {path!r}; read the file and copy the exact text "
                "(whitespace and indentation included, without line numbers)"
            )
        if count > 1 and not replace_all:
            raise ToolError(
                f"old text occurs {count} times in {path!r}; include more surrounding lines to "
                "make it unique, or set replace_all to true"
            )
        updated = text.replace(old, new)
        data = updated.encode("utf-8")
        if len(data) > self.max_write_bytes:
            raise ToolError(f"the edited file would exceed {self.max_write_bytes} bytes")
        self._write_bytes(target, data)
        plural = "s" if count > 1 else ""
        return f"replaced {count} occurrence{plural} in {self.root.relative(target)}"

    def list_dir(self, path: str = ".") -> str:
        """List a directory: `name/` for directories, `name@` for symlinks, sizes for files."""
        target = self.root.resolve(path)
        if not target.is_dir():
            raise ToolError(f"{path!r} is not a directory")
        try:
            entries = sorted(os.scandir(target), key=lambda entry: entry.name)
        except OSError as exc:
            raise ToolError(f"cannot list {path!r}: {exc.strerror}") from None
        lines: list[str] = []
        for entry in entries[: self.max_results]:
            if entry.is_symlink():
                lines.append(f"{entry.name}@")
            elif entry.is_dir():
                lines.append(f"{entry.name}/")
            else:
                lines.append(f"{entry.name}  ({entry.stat().st_size} bytes)")
        if len(entries) > self.max_results:
            lines.append(f"[{len(entries) - self.max_results} more entries not shown]")
        return "\n".join(lines) if lines else f"[{path!r} is empty]"

    def glob(self, pattern: str, path: str = ".") -> str:
        """Paths under `path` matching a glob pattern (`**` for any depth), relative to the root."""
        if not pattern or Path(pattern).is_absolute() or ".." in Path(pattern).parts:
            raise ToolError("pattern must be relative and without '..', e.g. '**/*.py'")
        base = self.root.resolve(path)
        if not base.is_dir():
            raise ToolError(f"{path!r} is not a directory")
        found: list[str] = []
        more = False
        try:
            for match in base.glob(pattern):
                if not self.root.contains(match):
                    continue
                if len(found) >= self.max_results:
                    more = True
                    break
                found.append(self.root.relative(match.parent.resolve() / match.name))
        except (OSError, ValueError) as exc:
            raise ToolError(f"bad glob pattern {pattern!r}: {exc}") from None
        found.sort()
        if more:
            found.append(f"[stopped at {self.max_results} matches; narrow the pattern]")
        return "\n".join(found) if found else "no matches"

    def grep(
        self, pattern: str, path: str = ".", include: str | None = None, ignore_case: bool = False
    ) -> str:
        """Lines matching a regular expression, as `path:line: text`, in files under `path`."""
        try:
            regex = re.compile(pattern, re.IGNORECASE if ignore_case else 0)
        except re.error as exc:
            raise ToolError(f"invalid regular expression {pattern!r}: {exc}") from None
        base = self.root.resolve(path)
        files = [base] if base.is_file() else list(self._walk(base, include))
        hits: list[str] = []
        for file in files:
            for hit in self._grep_file(file, regex):
                if len(hits) >= self.max_results:
                    hits.append(f"[stopped at {self.max_results} matches; narrow the search]")
                    return "\n".join(hits)
                hits.append(hit)
        return "\n".join(hits) if hits else "no matches"

    def _walk(self, base: Path, include: str | None) -> Iterator[Path]:
        for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
            dirnames[:] = sorted(name for name in dirnames if name not in _SKIP_DIRS)
            for name in sorted(filenames):
                if include is None or fnmatch.fnmatch(name, include):
                    yield Path(dirpath, name)

    def _grep_file(self, file: Path, regex: re.Pattern[str]) -> list[str]:
        if file.is_symlink() or not self.root.contains(file):
            return []
        try:
            info = file.stat()
            if not stat.S_ISREG(info.st_mode) or info.st_size > self.max_file_bytes:
                return []
            with open(file, "rb") as handle:
                if _is_binary(handle.read(_SNIFF_BYTES)):
                    return []
                handle.seek(0)
                rel = self.root.relative(file)
                hits: list[str] = []
                for number, line in enumerate(_lines(handle), start=1):
                    if regex.search(line):
                        hits.append(f"{rel}:{number}: {line}")
                        if len(hits) > self.max_results:
                            break
                return hits
        except OSError:
            return []


def files_toolset(
    root: str | os.PathLike[str],
    *,
    writable: bool = True,
    max_read_bytes: int = 256_000,
    max_write_bytes: int = 1_000_000,
    max_results: int = 500,
    search_timeout: float = 60.0,
) -> Toolset:
    """File tools confined to `root`: read_file, list_dir, glob, grep, plus write_file and
    edit_file when `writable`.

    `search_timeout` bounds glob and grep (a huge tree, or a regular expression that
    backtracks catastrophically): the run gets an error result and goes on, though Python
    cannot stop the worker thread, which finishes in the background.

    Raises:
        UsageError: `root` is not an existing directory.
    """
    box = FileSandbox(
        root,
        max_read_bytes=max_read_bytes,
        max_write_bytes=max_write_bytes,
        max_results=max_results,
    )

    @tool
    def read_file(path: str, start_line: int = 1, end_line: int | None = None) -> str:
        """Read a UTF-8 text file, returning its lines numbered like `cat -n` (number, tab, text).

        Paths are relative to the working root; paths leading outside it are refused. Output
        stops at a size cap with a note saying where to continue; binary files are refused.

        Args:
            path: File path relative to the root, e.g. "src/app.py".
            start_line: First line to return, counting from 1.
            end_line: Last line to return (inclusive); omit to read to the end.
        """
        return box.read(path, start_line, end_line)

    @tool
    def list_dir(path: str = ".") -> str:
        """List a directory: "name/" for directories, "name@" for symlinks, byte sizes for files.

        Args:
            path: Directory relative to the root; "." is the root itself.
        """
        return box.list_dir(path)

    @tool(timeout=search_timeout)
    def glob(pattern: str, path: str = ".") -> str:
        """Find files and directories by glob pattern, returning root-relative paths, one a line.

        Args:
            pattern: Glob such as "*.md" or "**/*.py" ("**" matches any depth).
            path: Directory to search under, relative to the root.
        """
        return box.glob(pattern, path)

    @tool(timeout=search_timeout)
    def grep(
        pattern: str, path: str = ".", include: str | None = None, ignore_case: bool = False
    ) -> str:
        """Search text files for a regular expression; returns "path:line: text" per match.

        Binary files, symlinks and directories like .git or node_modules are skipped.

        Args:
            pattern: Python regular expression, e.g. "def \\w+_test".
            path: File or directory to search, relative to the root.
            include: Only search files whose name matches this glob, e.g. "*.py".
            ignore_case: Match without regard to case.
        """
        return box.grep(pattern, path, include, ignore_case)

    tools = [read_file, list_dir, glob, grep]
    if writable:

        @tool
        def write_file(path: str, content: str) -> str:
            """Create a text file, or overwrite it entirely, creating parent directories.

            To change part of an existing file prefer edit_file.

            Args:
                path: File path relative to the root.
                content: The complete new content of the file.
            """
            return box.write(path, content)

        @tool
        def edit_file(path: str, old: str, new: str, replace_all: bool = False) -> str:
            """Replace an exact piece of text in a file with new text.

            `old` must match the file exactly (whitespace included, without the line numbers
            read_file shows) and occur once, unless replace_all is true.

            Args:
                path: File path relative to the root.
                old: The exact text to replace.
                new: The text to put in its place.
                replace_all: Replace every occurrence instead of requiring exactly one.
            """
            return box.edit(path, old, new, replace_all)

        tools += [write_file, edit_file]
    return Toolset(tools)
