"""File tools confined to one root directory: read, write, edit, list, glob, grep.

Owns `files_toolset` and `FileSandbox`, the logic behind it. Rules: every path the model gives is
resolved through `Root` (no `..` escapes, no absolute paths outside the root, no symlinks leading
out) and opened through it (relative to directory descriptors, never following a symlink swapped
in later); a file with more than one hard link is refused unless allowed (it may be a file
outside the root); writes replace the file (a new file renamed over the old name), never write
through an existing inode; sizes are capped on every read and write, and every read stops after
`max_scan_bytes`; binary files are reported as binary, never dumped; glob and grep run in a
separate process (`_search.py`) that is killed at `search_timeout`, so no pattern can freeze
the agent; every refusal is a `ToolError` that tells the model what to do instead.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import stat
import sys
from pathlib import Path
from typing import Any

from agentkit import ToolError, Toolset, tool

from ._paths import Root
from ._process import run_process
from ._search import SNIFF_BYTES, ScanBudget, is_binary, lines

__all__ = ["FileSandbox", "files_toolset"]

_SEARCH = Path(__file__).with_name("_search.py")
_MAX_SEARCH_OUTPUT = 16_000_000  # 500 matches of 2000 characters, UTF-8, with room to spare


def _open_error(path: str, exc: OSError) -> ToolError:
    if isinstance(exc, FileNotFoundError):
        return ToolError(f"{path!r} does not exist; use list_dir or glob to find it")
    if exc.errno == errno.ELOOP:
        return ToolError(
            f"cannot open {path!r}: a symlink appeared on the way after the path was checked "
            "(the tree changed meanwhile); try again"
        )
    return ToolError(f"cannot open {path!r}: {exc.strerror}")


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
        max_scan_bytes: int = 100_000_000,
        search_timeout: float = 60.0,
        allow_hard_links: bool = False,
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
        self.max_scan_bytes = max_scan_bytes
        """Most bytes one `read` or one `grep` reads from disk, skipped parts included."""
        self.search_timeout = search_timeout
        """Seconds a glob or grep may run before its process is killed."""
        self.allow_hard_links = allow_hard_links
        """Whether files with more than one hard link may be read and searched."""

    # -- helpers ----------------------------------------------------------------------------

    def _open_read(self, path: str) -> int:
        target = self.root.resolve(path)
        if target.is_dir():
            raise ToolError(f"{path!r} is a directory; use list_dir to see its contents")
        try:
            # O_NONBLOCK: opening a FIFO must not hang the tool waiting for a writer.
            fd = self.root.open(target, os.O_RDONLY | os.O_NONBLOCK)
        except OSError as exc:
            raise _open_error(path, exc) from None
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            os.close(fd)
            raise ToolError(f"{path!r} is not a regular file (a device, FIFO or socket)")
        if info.st_nlink > 1 and not self.allow_hard_links:
            os.close(fd)
            raise ToolError(
                f"{path!r} has {info.st_nlink} hard links, so it may be a file outside the "
                "root directory; it is refused (the user can allow hard links)"
            )
        os.set_blocking(fd, True)
        return fd

    def _read_text(self, path: str) -> tuple[Path, str]:
        """Load a whole text file for editing, refusing binary and oversized files."""
        fd = self._open_read(path)
        with os.fdopen(fd, "rb") as handle:
            data = handle.read(self.max_file_bytes + 1)
        if len(data) > self.max_file_bytes:
            raise ToolError(f"{path!r} is larger than {self.max_file_bytes} bytes; too big to edit")
        if is_binary(data[:SNIFF_BYTES]):
            raise ToolError(f"{path!r} is a binary file ({len(data)} bytes); it cannot be edited")
        return self.root.resolve(path), data.decode("utf-8", errors="replace")

    def _write_bytes(self, target: Path, data: bytes) -> None:
        """Write `data` to a new file beside `target`, then rename it over `target`: the old
        inode is never written to, so a hard link to it (maybe outside the root) is unchanged,
        and a symlink found at `target` (swapped in after the check) is refused."""
        rel = self.root.relative(target)
        if target == self.root.path or target.is_dir():
            raise ToolError(f"{rel!r} is a directory; give a file path")
        try:
            parent = self.root.open_dir(target.parent, create=True)
        except OSError as exc:
            raise ToolError(f"cannot write {rel!r}: {exc.strerror}") from None
        temporary = f".{target.name}.{secrets.token_hex(4)}.tmp"
        try:
            mode = 0o644
            try:
                old = os.stat(target.name, dir_fd=parent, follow_symlinks=False)
            except FileNotFoundError:
                pass
            else:
                if not stat.S_ISREG(old.st_mode):
                    raise ToolError(f"cannot write {rel!r}: not a regular file")
                mode = stat.S_IMODE(old.st_mode)
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
            fd = os.open(temporary, flags, mode, dir_fd=parent)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.rename(temporary, target.name, src_dir_fd=parent, dst_dir_fd=parent)
        except OSError as exc:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary, dir_fd=parent)
            raise ToolError(f"cannot write {rel!r}: {exc.strerror}") from None
        finally:
            os.close(parent)

    # -- operations -------------------------------------------------------------------------

    def read(self, path: str, start_line: int = 1, end_line: int | None = None) -> str:
        """Return lines `start_line..end_line` (1-based, inclusive), numbered like `cat -n`."""
        if start_line < 1:
            raise ToolError("start_line must be 1 or more (lines are numbered from 1)")
        if end_line is not None and end_line < start_line:
            raise ToolError("end_line must be at least start_line")
        fd = self._open_read(path)
        budget = ScanBudget(self.max_scan_bytes)
        with os.fdopen(fd, "rb") as handle:
            head = handle.read(SNIFF_BYTES)
            if is_binary(head):
                size = os.fstat(handle.fileno()).st_size
                raise ToolError(f"{path!r} is a binary file ({size} bytes); it cannot be shown")
            handle.seek(0)
            out: list[str] = []
            used = 0
            number = 0
            last = start_line - 1
            for number, line in enumerate(lines(handle, budget), start=1):
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
        if budget.left < 0:
            note = (
                f"[stopped after reading {self.max_scan_bytes} bytes of {path!r} (line {number}): "
                "the file is too large, or has no line breaks, to read further by line number]"
            )
            if not out:
                raise ToolError(note)
            out.append(note)
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
            fd = self.root.open_dir(target)
        except OSError as exc:
            raise _open_error(path, exc) from None
        try:
            entries = sorted(os.scandir(fd), key=lambda entry: entry.name)
            lines: list[str] = []
            for entry in entries[: self.max_results]:
                if entry.is_symlink():
                    lines.append(f"{entry.name}@")
                elif entry.is_dir():
                    lines.append(f"{entry.name}/")
                else:
                    lines.append(f"{entry.name}  ({entry.stat().st_size} bytes)")
        except OSError as exc:
            raise ToolError(f"cannot list {path!r}: {exc.strerror}") from None
        finally:
            os.close(fd)
        if len(entries) > self.max_results:
            lines.append(f"[{len(entries) - self.max_results} more entries not shown]")
        return "\n".join(lines) if lines else f"[{path!r} is empty]"

    async def _search(self, request: dict[str, Any]) -> dict[str, Any]:
        """Run a search in a separate interpreter, killed at `search_timeout`."""
        request = {
            **request,
            "root": str(self.root.path),
            "max_results": self.max_results,
            "max_file_bytes": self.max_file_bytes,
            "max_scan": self.max_scan_bytes,
            "hard_links": self.allow_hard_links,
        }
        result = await run_process(
            [sys.executable, "-I", "-S", str(_SEARCH), json.dumps(request)],
            cwd=self.root.path,
            env={"PATH": os.defpath, "PYTHONIOENCODING": "utf-8"},
            timeout=self.search_timeout,
            max_output=_MAX_SEARCH_OUTPUT,
            supervise=False,
        )
        if result.timed_out:
            raise ToolError(
                f"the {request['op']} took longer than {self.search_timeout:g} s and was "
                "stopped; search a smaller directory, or simplify the pattern (nested "
                "repetition such as (a+)+ or many ** can take forever)"
            )
        try:
            if result.returncode != 0:
                raise ValueError
            answer: dict[str, Any] = json.loads(result.output)
        except ValueError:
            detail = result.output.strip().splitlines()[-1:] or ["no output"]
            raise ToolError(f"the {request['op']} failed: {detail[0][:500]}") from None
        return answer

    async def glob(self, pattern: str, path: str = ".") -> str:
        """Paths under `path` matching a glob pattern (`**` for any depth), relative to the root."""
        if not pattern or Path(pattern).is_absolute() or ".." in Path(pattern).parts:
            raise ToolError("pattern must be relative and without '..', e.g. '**/*.py'")
        base = self.root.resolve(path)
        if not base.is_dir():
            raise ToolError(f"{path!r} is not a directory")
        answer = await self._search({"op": "glob", "pattern": pattern, "base": str(base)})
        found: list[str] = answer["matches"]
        if answer["more"]:
            found.append(f"[stopped at {self.max_results} matches; narrow the pattern]")
        return "\n".join(found) if found else "no matches"

    async def grep(
        self, pattern: str, path: str = ".", include: str | None = None, ignore_case: bool = False
    ) -> str:
        """Lines matching a regular expression, as `path:line: text`, in files under `path`."""
        try:
            re.compile(pattern, re.IGNORECASE if ignore_case else 0)
        except re.error as exc:
            raise ToolError(f"invalid regular expression {pattern!r}: {exc}") from None
        base = self.root.resolve(path)
        request = {
            "op": "grep",
            "pattern": pattern,
            "base": str(base),
            "include": include,
            "ignore_case": ignore_case,
        }
        answer = await self._search(request)
        hits: list[str] = answer["matches"]
        if answer["more"]:
            hits.append(f"[stopped at {self.max_results} matches; narrow the search]")
        if answer["scan_cap"]:
            hits.append(
                f"[stopped after reading {self.max_scan_bytes} bytes; search a smaller "
                "directory or use include]"
            )
        return "\n".join(hits) if hits else "no matches"


def files_toolset(
    root: str | os.PathLike[str],
    *,
    writable: bool = True,
    max_read_bytes: int = 256_000,
    max_write_bytes: int = 1_000_000,
    max_results: int = 500,
    search_timeout: float = 60.0,
    max_scan_bytes: int = 100_000_000,
    allow_hard_links: bool = False,
) -> Toolset:
    """File tools confined to `root`: read_file, list_dir, glob, grep, plus write_file and
    edit_file when `writable`.

    Args:
        root: The directory every path is confined to.
        writable: Also give write_file and edit_file.
        max_read_bytes: Bytes of file content one read_file returns at most.
        max_write_bytes: Bytes write_file and edit_file write at most.
        max_results: Entries list_dir, glob and grep return at most.
        search_timeout: Seconds a glob or grep may run; it runs in its own process, which is
            killed then (a huge tree, or a regular expression that backtracks forever).
        max_scan_bytes: Bytes one read_file or grep reads from disk at most.
        allow_hard_links: Read and search files with more than one hard link (refused by
            default: a hard link placed in the root may be a file from outside it).

    Raises:
        UsageError: `root` is not an existing directory.
    """
    box = FileSandbox(
        root,
        max_read_bytes=max_read_bytes,
        max_write_bytes=max_write_bytes,
        max_results=max_results,
        max_scan_bytes=max_scan_bytes,
        search_timeout=search_timeout,
        allow_hard_links=allow_hard_links,
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

    @tool
    async def glob(pattern: str, path: str = ".") -> str:
        """Find files and directories by glob pattern, returning root-relative paths, one a line.

        Args:
            pattern: Glob such as "*.md" or "**/*.py" ("**" matches any depth).
            path: Directory to search under, relative to the root.
        """
        return await box.glob(pattern, path)

    @tool
    async def grep(
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
        return await box.grep(pattern, path, include, ignore_case)

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
