"""The memory tool (`memory_20250818`): Claude's own memory directory, kept in files under
one root on this machine.

Owns `memory_toolset` and `MemoryStore`. The model sees the API's built-in definition
(`{"type": "memory_20250818", "name": "memory"}`, no description or schema of ours) and sends
`command` inputs: `view`, `create`, `str_replace`, `insert`, `delete`, `rename`. Rules: every
path in every command must be `/memories` or below it, and resolves through `Root` to a path
inside the root (`..`, URL-encoded traversal, absolute paths elsewhere and symlinks leading
out are refused); the root itself can be neither deleted nor renamed; file sizes and `view`
output are capped. Replies and errors are the wording the API's docs give, so the model reads
what it was trained on; errors are `is_error` results.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from agentkit import Tool, ToolError, Toolset

from ._paths import Root

__all__ = ["MemoryStore", "memory_toolset"]

PREFIX = "/memories"
_MAX_LINES = 999_999
_SKIP = ("node_modules",)


def _size(n: int) -> str:
    """A human size as the reference tool prints it (`512`, `5.5K`, `1.2M`)."""
    size, unit = float(n), ""
    for unit in ("", "K", "M", "G"):
        if size < 1024 or unit == "G":
            break
        size /= 1024
    return str(n) if not unit else f"{size:.1f}{unit}"


class MemoryStore:
    """The memory commands over files under `root` (each raises `ToolError` to refuse)."""

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        max_file_bytes: int = 1_000_000,
        max_view_chars: int = 16_000,
    ) -> None:
        self.root = Root(root)
        self.max_file_bytes = max_file_bytes
        """Largest file `create`, `str_replace` and `insert` will write."""
        self.max_view_chars = max_view_chars
        """`view` output is cut past this many characters (the model expects it)."""

    # -- paths ---------------------------------------------------------------------------

    def _resolve(self, path: object) -> Path:
        if not isinstance(path, str) or not path:
            raise ToolError(
                "Error: every command needs a path under /memories, e.g. /memories/notes.md"
            )
        lowered = path.lower()
        if (
            not (path == PREFIX or path.startswith(PREFIX + "/"))
            or "%2e" in lowered
            or "%2f" in lowered
            or "%5c" in lowered
            or "\\" in path
            or ".." in path.split("/")
        ):
            raise ToolError(
                f"Error: The path {path} is not allowed: memory paths start with /memories "
                "and stay inside it (no '..', no encoded or backslash separators)"
            )
        return self.root.resolve(path[len(PREFIX) :].lstrip("/") or ".")

    def _is_root(self, resolved: Path) -> bool:
        return resolved == self.root.path

    def _missing(self, path: str) -> ToolError:
        return ToolError(f"The path {path} does not exist. Please provide a valid path.")

    def _text(self, path: str, resolved: Path) -> str:
        if not resolved.is_file():
            raise self._missing(path)
        if resolved.stat().st_size > self.max_file_bytes:
            raise ToolError(f"Error: File {path} is larger than {self.max_file_bytes} bytes")
        return resolved.read_text(encoding="utf-8", errors="replace")

    def _write(self, path: str, resolved: Path, text: str) -> None:
        if len(text.encode("utf-8")) > self.max_file_bytes:
            raise ToolError(
                f"Error: the content for {path} is larger than {self.max_file_bytes} bytes; "
                "keep memory files short"
            )
        resolved.parent.mkdir(parents=True, exist_ok=True)
        if resolved.is_symlink():
            raise ToolError(f"Error: The path {path} is a symbolic link; it is not written")
        resolved.write_text(text, encoding="utf-8")

    # -- commands ------------------------------------------------------------------------

    def view(self, path: str, view_range: list[int] | None = None) -> str:
        resolved = self._resolve(path)
        if resolved.is_dir():
            return self._listing(path, resolved)
        text = self._text(path, resolved)
        lines = text.split("\n")
        if len(lines) > _MAX_LINES:
            raise ToolError(f"File {path} exceeds maximum line limit of 999,999 lines.")
        start, end = 1, len(lines)
        if view_range:
            if len(view_range) != 2:
                raise ToolError("Error: view_range must be [start_line, end_line]")
            start, end = view_range[0], view_range[1]
            end = len(lines) if end == -1 else end
            if start < 1 or end < start or start > len(lines):
                raise ToolError(
                    f"Error: Invalid view_range {view_range}: lines run from 1 to {len(lines)}"
                )
        numbered = "\n".join(
            f"{n:>6}\t{line}" for n, line in enumerate(lines[start - 1 : end], start)
        )
        out = f"Here's the content of {path} with line numbers:\n{numbered}"
        if len(out) > self.max_view_chars:
            out = out[: self.max_view_chars] + "\n[output truncated; view a smaller view_range]"
        return out

    def _listing(self, path: str, resolved: Path) -> str:
        rows = [f"{_size(_du(resolved))}\t{path}"]
        for entry, _ in _walk(resolved, 2):
            rel = entry.relative_to(resolved).as_posix()
            size = _du(entry) if entry.is_dir() else entry.lstat().st_size
            rows.append(f"{_size(size)}\t{path.rstrip('/')}/{rel}")
        out = (
            f"Here're the files and directories up to 2 levels deep in {path}, excluding "
            "hidden items and node_modules:\n" + "\n".join(rows)
        )
        return out[: self.max_view_chars]

    def create(self, path: str, file_text: str) -> str:
        resolved = self._resolve(path)
        if self._is_root(resolved) or resolved.is_dir():
            raise ToolError(f"Error: {path} is a directory; give a file path under it")
        self._write(path, resolved, file_text)
        return f"File created successfully at: {path}"

    def str_replace(self, path: str, old_str: str, new_str: str = "") -> str:
        resolved = self._resolve(path)
        text = self._text(path, resolved)
        count = text.count(old_str) if old_str else 0
        if count == 0:
            raise ToolError(
                f"No replacement was performed, old_str `{old_str}` did not appear verbatim "
                f"in {path}."
            )
        if count > 1:
            lines = [str(n) for n, line in enumerate(text.split("\n"), 1) if old_str in line]
            raise ToolError(
                f"No replacement was performed. Multiple occurrences of old_str `{old_str}` "
                f"in lines: {', '.join(lines)}. Please ensure it is unique"
            )
        at = text.index(old_str)
        new = text.replace(old_str, new_str, 1)
        self._write(path, resolved, new)
        line = text[:at].count("\n")
        snippet_lines = new.split("\n")[max(line - 2, 0) : line + new_str.count("\n") + 3]
        first = max(line - 2, 0) + 1
        snippet = "\n".join(f"{n:>6}\t{s}" for n, s in enumerate(snippet_lines, first))
        return f"The memory file has been edited.\n{snippet}"

    def insert(self, path: str, insert_line: int, insert_text: str) -> str:
        resolved = self._resolve(path)
        lines = self._text(path, resolved).split("\n")
        if not 0 <= insert_line <= len(lines):
            raise ToolError(
                f"Error: Invalid `insert_line` parameter: {insert_line}. It should be within "
                f"the range of lines of the file: [0, {len(lines)}]"
            )
        lines[insert_line:insert_line] = insert_text.split("\n")
        self._write(path, resolved, "\n".join(lines))
        return f"The file {path} has been edited."

    def delete(self, path: str) -> str:
        resolved = self._resolve(path)
        if self._is_root(resolved):
            raise ToolError("Error: Cannot delete the /memories directory itself")
        if resolved.is_symlink() or resolved.is_file():
            resolved.unlink()
        elif resolved.is_dir():
            shutil.rmtree(resolved)
        else:
            raise self._missing(path)
        return f"Successfully deleted {path}"

    def rename(self, old_path: str, new_path: str) -> str:
        source, target = self._resolve(old_path), self._resolve(new_path)
        if self._is_root(source) or self._is_root(target):
            raise ToolError("Error: Cannot rename the /memories directory itself")
        if not source.exists():
            raise self._missing(old_path)
        if target.exists():
            raise ToolError(f"Error: The destination {new_path} already exists")
        target.parent.mkdir(parents=True, exist_ok=True)
        source.rename(target)
        return f"Successfully renamed {old_path} to {new_path}"

    def run(self, command: dict[str, Any]) -> str:
        """Carry out one `memory` tool call's input."""
        name = command.get("command")
        args = {k: v for k, v in command.items() if k != "command"}
        handler = {
            "view": self.view,
            "create": self.create,
            "str_replace": self.str_replace,
            "insert": self.insert,
            "delete": self.delete,
            "rename": self.rename,
        }.get(str(name))
        if handler is None:
            raise ToolError(
                f"Error: Unknown command {name!r}; use view, create, str_replace, insert, "
                "delete or rename"
            )
        try:
            return handler(**args)
        except TypeError as exc:
            raise ToolError(f"Error: bad arguments for {name}: {exc}") from None
        except OSError as exc:
            raise ToolError(f"Error: {name} failed: {exc.strerror or exc}") from None


def _walk(base: Path, depth: int) -> list[tuple[Path, int]]:
    found: list[tuple[Path, int]] = []
    try:
        entries = sorted(base.iterdir())
    except OSError:
        return found
    for entry in entries:
        if entry.name.startswith(".") or entry.name in _SKIP:
            continue
        found.append((entry, 1))
        if depth > 1 and entry.is_dir() and not entry.is_symlink():
            found.extend((e, d + 1) for e, d in _walk(entry, depth - 1))
    return found


def _du(path: Path) -> int:
    if not path.is_dir() or path.is_symlink():
        return path.lstat().st_size
    total = 4096
    for entry, _ in _walk(path, 2):
        if entry.is_file() and not entry.is_symlink():
            total += entry.lstat().st_size
    return total


class MemoryTool(Tool):
    """The `memory` tool: sent as the API's built-in `memory_20250818` definition."""

    __slots__ = ()

    def to_param(self) -> dict[str, Any]:
        param: dict[str, Any] = {"type": "memory_20250818", "name": self.name}
        if self.cache_control is not None:
            param["cache_control"] = self.cache_control
        return param


_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "command": {
            "type": "string",
            "enum": ["view", "create", "str_replace", "insert", "delete", "rename"],
        },
        "path": {"type": "string"},
        "view_range": {"type": "array", "items": {"type": "integer"}},
        "file_text": {"type": "string"},
        "old_str": {"type": "string"},
        "new_str": {"type": "string"},
        "insert_line": {"type": "integer"},
        "insert_text": {"type": "string"},
        "old_path": {"type": "string"},
        "new_path": {"type": "string"},
    },
    "required": ["command"],
}


def memory_toolset(
    root: str | os.PathLike[str], *, max_file_bytes: int = 1_000_000, max_view_chars: int = 16_000
) -> Toolset:
    """The memory tool (`memory_20250818`) over files under `root`, which the model sees as
    `/memories`. Pair it with a context policy: what Claude saves survives trimming and
    compaction.

    Raises:
        UsageError: `root` is not an existing directory.
    """
    store = MemoryStore(root, max_file_bytes=max_file_bytes, max_view_chars=max_view_chars)

    def memory(input: dict[str, Any]) -> str:
        return store.run(input)

    tool = MemoryTool.from_schema(
        name="memory",
        description="Claude's memory directory (/memories), kept across conversations.",
        input_schema=_SCHEMA,
        handler=memory,
    )
    return Toolset([tool])
