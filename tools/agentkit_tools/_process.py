"""Running a child process for a tool: allowlisted environment, bounded time and output, no leaks.

Owns `child_env` and `run_process`, shared by the shell and python tools. Rules:

- The child's environment is an allowlist (`DEFAULT_ENV` plus what the user names), never the
  agent's environment minus what looks secret: `DATABASE_URL`, `GITHUB_PAT` or a proxy URL with
  a password do not look secret.
- The child cannot read the agent's own environment or memory (`/proc/$PPID/environ` was the way
  to the API key): on Linux the agent process is made non-dumpable (`PR_SET_DUMPABLE` 0, once,
  before its first child), which makes its `/proc/PID/environ` and `/proc/PID/mem` unreadable
  and `ptrace` impossible for processes of the same user without `CAP_SYS_PTRACE`; the helper
  drops that capability (and the others that bypass it) when running as root. Side effect: a
  debugger or `py-spy` must then run as root to attach to the agent. What stays readable: the
  environment of *other* processes of the user, such as the shell that started the agent; so
  values of secret-looking variables are also replaced in the output (a child can still encode
  one on the way out: this only stops accidents).
- On Linux every command runs under `_supervisor.py`, which kills everything the command
  started when it ends, times out or is cancelled, `setsid()` escapes included; elsewhere the
  child leads a process group that is killed. The whole call is bounded: timeout, then a short
  grace for the cleanup, then the output pipe is abandoned.
- stdin is closed; output beyond the cap is drained and discarded (never buffered).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # anyio is imported by `run_process`: listing the tools loads none of it
    from anyio.abc import Process

__all__ = ["DEFAULT_ENV", "ProcessResult", "child_env", "is_secret_name", "run_process"]

DEFAULT_ENV = ("PATH", "HOME", "LANG", "TERM", "TZ")
"""The variables a child inherits from the agent's environment unless more are named."""

_SECRET_MARKERS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "PWD", "CREDENTIAL", "AUTH")
_MIN_REDACTED_CHARS = 8  # shorter values ("1", "true") would blank out ordinary output
_GRACE = 5.0  # seconds the cleanup may take after the timeout before the call gives up on it
_SUPERVISOR = Path(__file__).with_name("_supervisor.py")
_USE_SUPERVISOR = sys.platform == "linux"
_PR_SET_DUMPABLE = 4
_protected = False


def is_secret_name(name: str) -> bool:
    """Whether an environment variable's name suggests it holds a credential."""
    upper = name.upper()
    if upper in ("PWD", "OLDPWD"):  # the working directory, not a password
        return False
    return upper.startswith("ANTHROPIC_") or any(marker in upper for marker in _SECRET_MARKERS)


def child_env(
    allow: Iterable[str] = (),
    extra: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The child's environment: `DEFAULT_ENV` and the `allow`ed names taken from `environ`
    (default `os.environ`) when set there, then `extra` on top."""
    source = os.environ if environ is None else environ
    names = dict.fromkeys((*DEFAULT_ENV, *allow))
    env = {name: source[name] for name in names if name in source}
    env.update(extra or {})
    return env


def _secret_values() -> list[str]:
    values = {
        value
        for name, value in os.environ.items()
        if is_secret_name(name) and len(value) >= _MIN_REDACTED_CHARS
    }
    return sorted(values, key=len, reverse=True)


def redact_output(text: str) -> str:
    """`text` with the value of every secret-looking variable of the agent replaced."""
    for value in _secret_values():
        text = text.replace(value, "<redacted>")
    return text


def protect_parent() -> bool:
    """Make this process non-dumpable (Linux), so its children cannot read its environment
    or memory; whether it now is. Done once; harmless to call again."""
    global _protected
    if not _protected and sys.platform == "linux":
        import ctypes  # only here: most programs that import the tools never run a command

        libc = ctypes.CDLL(None, use_errno=True)
        _protected = libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0) == 0
    return _protected


@dataclass(frozen=True, slots=True)
class ProcessResult:
    """What a finished (or killed) child produced."""

    returncode: int | None
    """The exit status; negative for a signal; None if it had to be killed after the timeout."""

    output: str
    """stdout and stderr interleaved, decoded as UTF-8 with replacement, cut at the cap, with
    the values of the agent's secret-looking variables replaced."""

    truncated: bool
    """Whether output beyond the cap was discarded."""

    timed_out: bool
    """Whether the timeout expired and everything the command started was killed."""


def _find_program(program: str, env: Mapping[str, str]) -> None:
    """Raise `FileNotFoundError` unless `program` can be executed (checked here, since the
    helper that runs it could only report it as output)."""
    found = shutil.which(program, path=env.get("PATH", os.defpath))
    if found is None:
        raise FileNotFoundError(2, "no such program (or not executable)", program)


def _stop(process: Process, supervised: bool) -> None:
    """Ask the helper to kill everything (SIGTERM); without one, kill the group directly."""
    if not supervised:
        _kill(process)
    elif process.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            process.send_signal(signal.SIGTERM)


def _kill(process: Process, group_alive: bool = False) -> None:
    """SIGKILL the process group; once the leader is reaped only if `group_alive` (others
    in it may still run, which keeps its id from being reused)."""
    if group_alive or process.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)


async def run_process(
    argv: Sequence[str],
    *,
    cwd: str | os.PathLike[str],
    env: Mapping[str, str],
    timeout: float,
    max_output: int,
    supervise: bool = True,
) -> ProcessResult:
    """Run `argv` to completion or until `timeout` seconds, keeping at most `max_output` bytes.

    The call returns within `timeout` plus a few seconds, whatever the command does.
    `supervise=False` is for our own helpers, which start no processes and read no secrets:
    no helper, no change to this process, only the process group killed.

    Raises:
        OSError: the program could not be started (missing, not executable).
    """
    import anyio

    _find_program(argv[0], env)
    supervised = supervise and _USE_SUPERVISOR
    if supervise:
        protect_parent()
    chunks: list[bytes] = []
    kept = 0
    truncated = False
    timed_out = True
    command = list(argv)
    if supervised:
        command = [sys.executable, "-I", "-S", str(_SUPERVISOR), str(os.getpid()), *command]
    process = await anyio.open_process(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=cwd,
        env=dict(env),
        start_new_session=True,
    )

    async def read_output() -> None:
        nonlocal kept, truncated
        if process.stdout is None:
            return
        async for chunk in process.stdout:
            room = max_output - kept
            if room > 0:
                chunks.append(chunk[:room])
                kept += len(chunks[-1])
            if len(chunk) > room:
                truncated = True

    try:
        async with anyio.create_task_group() as group:
            group.start_soon(read_output)
            with anyio.move_on_after(timeout):
                await process.wait()
                timed_out = False
            if timed_out:
                _stop(process, supervised)
            # Without the helper, kill the group even after a clean exit: a background
            # grandchild would otherwise outlive the call and hold the pipe open.
            if not supervised:
                _kill(process, group_alive=True)
            # Output still in the pipe stays readable; a pipe held open past the cleanup
            # (which cannot happen with the helper) is abandoned rather than waited for.
            with anyio.move_on_after(_GRACE):
                await process.wait()
                group.cancel_scope.deadline = anyio.current_time() + _GRACE
    finally:
        with anyio.CancelScope(shield=True):
            _stop(process, supervised)
            with anyio.move_on_after(_GRACE):
                await process.wait()
            _kill(process)
            await process.wait()
            await process.aclose()
    text = redact_output(b"".join(chunks).decode("utf-8", errors="replace"))
    return ProcessResult(
        returncode=None if timed_out else process.returncode,
        output=text,
        truncated=truncated,
        timed_out=timed_out,
    )
