"""Confinement of model-supplied paths to one root directory.

Owns `Root`: the single place where a path string from the model becomes a real path. Rules:
every path is resolved (symlinks followed) and must land inside the resolved root, whether it was
written relative, absolute, with `..`, or through a symlink; the error says which path was refused
and what is allowed, so the model can correct itself. Files are opened with `O_NOFOLLOW` so a
symlink swapped in after the check is refused too (intermediate directories are checked only at
resolution time; confinement is a guard against mistakes and prompt injection, not a jail).
"""

from __future__ import annotations

import os
from pathlib import Path

from agentkit import ToolError, UsageError

__all__ = ["Root"]


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
