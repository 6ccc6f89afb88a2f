"""Confinement of model-supplied paths to one root directory.

Owns `Root`: the single place where a path string from the model becomes a real path. Rules:
every path is resolved (symlinks followed) and must land inside the resolved root, whether it was
written relative, absolute, with `..`, or through a symlink; the error says which path was refused
and what is allowed, so the model can correct itself. Then `open` and `open_dir` open the
resolved path one component at a time, each relative to its parent's file descriptor and with
`O_NOFOLLOW`: the resolved path has no symlinks, so one found at open time was swapped in after the
check (a directory replaced by a symlink leading out) and is refused (`ELOOP`), closing that race.
Not covered: a hard link inside the root to a file outside it is the same file (callers refuse
files with more than one link), and what another process does to a file once it is open.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path

from agentkit import ToolError, UsageError

__all__ = ["Root"]

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_DIR_FLAGS = os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC


class Root:
    """A directory that model-supplied paths are confined to."""

    __slots__ = ("path",)

    def __init__(self, root: str | os.PathLike[str]) -> None:
        """Resolve `root` once; raise `UsageError` unless it is an existing directory."""
        path = Path(root).expanduser()
        if not path.is_dir():
            raise UsageError(f"root {str(root)!r} is not an existing directory; create it first")
        self.path = path.resolve(strict=True)
        """The resolved root (no symlinks), which every resolved path must be inside."""

    def resolve(self, user_path: str) -> Path:
        """Turn a model-supplied path into a resolved path inside the root.

        Raises:
            ToolError: the path is empty, contains a NUL byte, or resolves outside the root.
        """
        if not user_path or "\x00" in user_path:
            raise ToolError("path must be a non-empty string without NUL bytes")
        # No expanduser: "~" is an ordinary name here, so "~/x" stays inside the root.
        candidate = Path(user_path)
        if not candidate.is_absolute():
            candidate = self.path / candidate
        try:
            resolved = candidate.resolve(strict=False)
        except (OSError, RuntimeError) as exc:  # RuntimeError: symlink loop on older Pythons
            raise ToolError(f"cannot resolve path {user_path!r}: {exc}") from None
        if resolved != self.path and not resolved.is_relative_to(self.path):
            raise ToolError(
                f"path {user_path!r} is outside the allowed root directory; "
                "use a path relative to the root (no '..' escapes, no symlinks leading out)"
            )
        return resolved

    def relative(self, path: Path) -> str:
        """Show a resolved path relative to the root, as the model should write it."""
        rel = path.relative_to(self.path).as_posix()
        return rel or "."

    def contains(self, path: Path) -> bool:
        """Whether `path`, with symlinks resolved, is inside the root."""
        try:
            resolved = path.resolve(strict=False)
        except (OSError, RuntimeError):
            return False
        return resolved == self.path or resolved.is_relative_to(self.path)

    def open_dir(self, resolved: Path, *, create: bool = False) -> int:
        """A descriptor of the directory `resolved` (inside the root, from `resolve`), opened
        from the root one component at a time without following any symlink; `create` makes
        missing ones. The caller closes it.

        Raises:
            OSError: a component is missing, not a directory, or a symlink (`ELOOP`).
        """
        fd = os.open(self.path, os.O_RDONLY | _DIRECTORY | _CLOEXEC)
        try:
            for part in resolved.relative_to(self.path).parts:
                if create:
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(part, 0o777, dir_fd=fd)
                try:
                    child = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except NotADirectoryError:  # what Linux says for a symlink with O_DIRECTORY
                    if stat.S_ISLNK(os.stat(part, dir_fd=fd, follow_symlinks=False).st_mode):
                        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), part) from None
                    raise
                os.close(fd)
                fd = child
        except BaseException:
            os.close(fd)
            raise
        return fd

    def open(self, resolved: Path, flags: int, mode: int = 0o644) -> int:
        """Open the file `resolved` (inside the root, not the root itself) with `flags`, its
        directories as in `open_dir` and the file itself with `O_NOFOLLOW`. The caller closes it.

        Raises:
            OSError: as `os.open`, and `ELOOP` for a symlink anywhere on the way.
        """
        parent = self.open_dir(resolved.parent, create=bool(flags & os.O_CREAT))
        try:
            return os.open(resolved.name, flags | _NOFOLLOW | _CLOEXEC, mode, dir_fd=parent)
        finally:
            os.close(parent)
