"""A shell command tool: off unless enabled, confined working directory, scrubbed environment.

Owns `shell_toolset`. Rules: building it without `enabled=True` raises, so a shell is never handed
to the model by accident; it needs approval by default; the working directory is resolved inside
the root; the child gets an allowlisted environment (`_process.DEFAULT_ENV` plus the names in
`env_allow` and the values in `env`), cannot read the agent's environment or memory, has no stdin,
a timeout that kills everything it started (`setsid()` escapes included, see `_process`), and an
output cap. With an `allow` list the command
is split shell-style and executed directly, without a shell (no pipes, redirects, `;`, `$(...)`),
and only if its program is on the list; without one it runs under `/bin/sh -c`.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterable, Mapping

from agentkit import ToolError, Toolset, UsageError, tool

from ._paths import Root
from ._process import child_env, run_process

__all__ = ["shell_toolset"]


def _format(returncode: int | None, output: str, truncated: bool) -> str:
    note = "\n[output truncated at the cap]" if truncated else ""
    return f"[exit code {returncode}]\n{output}{note}"


def shell_toolset(
    root: str | os.PathLike[str],
    *,
    enabled: bool = False,
    allow: Iterable[str] | None = None,
    timeout: float = 30.0,
    max_output: int = 20_000,
    requires_approval: bool = True,
    env_allow: Iterable[str] = (),
    env: Mapping[str, str] | None = None,
) -> Toolset:
    """A `run_command` tool running commands inside `root`.

    Args:
        root: Directory the commands run in (and the only place `cwd` may point).
        enabled: Must be True: the shell is off unless explicitly enabled.
        allow: Program names allowed (e.g. `["ls", "git"]`); if given, commands run without a
            shell and any other program is refused. This limits which program starts, not
            what it can do (`find -exec`, `git -c core.pager=...`): allow only programs
            whose every option you accept.
        timeout: Seconds before the command and everything it started are killed.
        max_output: Bytes of combined stdout/stderr kept; the rest is discarded.
        requires_approval: Ask the user before each command (the default).
        env_allow: Names of further variables the commands inherit from the agent's
            environment, besides PATH, HOME, LANG, TERM and TZ (nothing else is passed on).
        env: Variables set for the commands, e.g. `{"GIT_PAGER": "cat"}`.

    Raises:
        UsageError: `enabled` is not True, or `root` is not an existing directory.
    """
    if enabled is not True:
        raise UsageError(
            "shell_toolset is off by default: pass enabled=True to give the model a shell "
            "(consider allow=[...] to restrict the programs it may run)"
        )
    box = Root(root)
    allowed = frozenset(allow) if allow is not None else None
    names = tuple(env_allow)
    extra = dict(env or {})
    if allowed is not None and not allowed:
        raise UsageError("allow=[] permits no program at all; list programs or pass allow=None")

    def argv_for(command: str) -> list[str]:
        if allowed is None:
            return ["/bin/sh", "-c", command]
        try:
            argv = shlex.split(command)
        except ValueError as exc:
            raise ToolError(f"cannot parse the command: {exc}") from None
        if not argv:
            raise ToolError("the command is empty")
        if argv[0] not in allowed:
            raise ToolError(
                f"program {argv[0]!r} is not allowed; allowed: {', '.join(sorted(allowed))}"
            )
        return argv

    allow_note = (
        f" Only these programs may be run: {', '.join(sorted(allowed))}. Commands are run"
        " directly, without a shell: no pipes, redirection, ';', '&&' or '$(...)'."
        if allowed is not None
        else " The command runs under /bin/sh, so pipes and redirection work."
    )

    async def run_command(command: str, cwd: str = ".") -> str:
        """Run a command and return its exit code and combined stdout and stderr.{limits}

        Args:
            command: The command line to run.
            cwd: Working directory relative to the root.
        """
        argv = argv_for(command)
        workdir = box.resolve(cwd)
        if not workdir.is_dir():
            raise ToolError(f"cwd {cwd!r} is not a directory")
        try:
            result = await run_process(
                argv,
                cwd=workdir,
                env=child_env(names, extra),
                timeout=timeout,
                max_output=max_output,
            )
        except OSError as exc:
            raise ToolError(f"cannot start {argv[0]!r}: {exc.strerror or exc}") from None
        if result.timed_out:
            raise ToolError(
                f"command timed out after {timeout:g} s and was killed; output so far:\n"
                f"{result.output}"
            )
        return _format(result.returncode, result.output, result.truncated)

    # The limits are configuration, so the docstring the model reads is completed here.
    limits = f"{allow_note} Times out after {timeout:g} s; output is capped at {max_output} bytes."
    run_command.__doc__ = (run_command.__doc__ or "").replace("{limits}", limits)
    return Toolset([tool(requires_approval=requires_approval)(run_command)])
