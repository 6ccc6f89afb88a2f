"""Running a child process for a tool: scrubbed environment, timeout, output cap, group kill.

Owns `scrub_env` and `run_process`, shared by the shell and python tools. Rules: the child never
inherits credentials (any variable whose name suggests a key, token, secret or password, and every
`ANTHROPIC_*` variable, is dropped); stdin is closed; the child leads its own process group so a
timeout or a cancelled run kills it *and* everything it started; output beyond the cap is drained
and discarded (never buffered), so a chatty child can neither block nor exhaust memory.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import anyio
from anyio.abc import Process

__all__ = ["ProcessResult", "run_process", "scrub_env"]

_SECRET_MARKERS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "AUTH")


def is_secret_name(name: str) -> bool:
    """Whether an environment variable's name suggests it holds a credential."""
    upper = name.upper()
    return upper.startswith("ANTHROPIC_") or any(marker in upper for marker in _SECRET_MARKERS)


def scrub_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Copy `environ` (default `os.environ`) without any variable that may hold a credential."""
    source = os.environ if environ is None else environ
    return {name: value for name, value in source.items() if not is_secret_name(name)}


@dataclass(frozen=True, slots=True)
class ProcessResult:
    """What a finished (or killed) child produced."""

    returncode: int | None
    """The exit status; negative for a signal; None if it had to be killed after the timeout."""

    output: str
    """stdout and stderr interleaved, decoded as UTF-8 with replacement, cut at the cap."""

    truncated: bool
    """Whether output beyond the cap was discarded."""

    timed_out: bool
    """Whether the timeout expired and the process group was killed."""


def _kill_group(process: Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


async def run_process(
    argv: Sequence[str],
    *,
    cwd: str | os.PathLike[str],
    env: Mapping[str, str],
    timeout: float,
    max_output: int,
) -> ProcessResult:
    """Run `argv` to completion or until `timeout` seconds, keeping at most `max_output` bytes.

    Raises:
        OSError: the program could not be started (missing, not executable).
    """
    chunks: list[bytes] = []
    kept = 0
    truncated = False
    timed_out = True
    process = await anyio.open_process(
        list(argv),
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
            # Kill the group even after a clean exit: a background grandchild would otherwise
            # outlive the call and hold the pipe open. Output already in the pipe stays readable.
            _kill_group(process)
    finally:
        _kill_group(process)
        with anyio.CancelScope(shield=True):
            await process.wait()
            await process.aclose()
    text = b"".join(chunks).decode("utf-8", errors="replace")
    return ProcessResult(
        returncode=None if timed_out else process.returncode,
        output=text,
        truncated=truncated,
        timed_out=timed_out,
    )
