"""The helper every shell and python tool command runs under on Linux: it owns their cleanup.

`_process.run_process` starts `python -I -S _supervisor.py PARENT_PID PROGRAM ARGS...` with the
child's (scrubbed) environment and the output pipe as stdout and stderr. Why a helper: a command
that calls `setsid()` leaves the process group that a timeout kills, and once its parent exits
nothing links it to the call any more. This helper:

- is a child subreaper (`PR_SET_CHILD_SUBREAPER`): every orphan below it, `setsid()` or not, is
  re-parented to it, so it finds and kills them all when the command ends or on `SIGTERM`
  (the timeout, a cancelled call), and only then exits, closing the output pipe;
- gets `SIGTERM` if the agent dies (`PR_SET_PDEATHSIG`), so nothing outlives the agent either;
- drops from its bounding set (when it may: as root) the capabilities that would let the command
  read another process's memory or `/proc/PID/environ` regardless of `PR_SET_DUMPABLE`
  (measured: `CAP_SYS_PTRACE`, `CAP_SYS_ADMIN`, `CAP_PERFMON`; with `CAP_SYS_MODULE`,
  `CAP_SYS_RAWIO` and `CAP_BPF` for kernel memory), so the command starts without them;
- exits the way the command did (its code, or the same signal), so the caller sees its status.

Standard library only (it runs with `-S`); it never writes to the output pipe.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import signal
import sys

_PR_SET_PDEATHSIG = 1
_PR_CAPBSET_DROP = 24
_PR_SET_CHILD_SUBREAPER = 36
_DROPPED_CAPABILITIES = (16, 17, 19, 21, 38, 39)  # module, rawio, ptrace, admin, perfmon, bpf


class _Terminated(Exception):
    """SIGTERM arrived: the call timed out or was cancelled, or the agent died."""


def _on_term(signum: int, frame: object) -> None:
    raise _Terminated


def _children() -> list[int]:
    """The direct children of this process (orphans re-parented here included)."""
    pids: list[int] = []
    try:
        for task in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{task}/children") as handle:
                pids += [int(pid) for pid in handle.read().split()]
        return pids
    except OSError:  # a kernel without CONFIG_PROC_CHILDREN: scan every process
        pass
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[1]) == me:
                pids.append(int(entry))
    return pids


def _kill_all(group: int) -> None:
    """Kill the command's process group, then every remaining descendant, until none is left:
    each killed process's own children are re-parented here and found in the next round."""
    if group > 0:
        with contextlib.suppress(OSError):
            os.killpg(group, signal.SIGKILL)
    while pids := _children():
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        for pid in pids:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


def _exit_like(status: int) -> None:
    """Exit with the command's exit code, or die of the signal that killed it."""
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        signal.signal(number, signal.SIG_DFL)
        os.kill(os.getpid(), number)
    os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 1)


def _start(command: list[str]) -> int:
    """Fork the command into a new session; its pid."""
    child = os.fork()
    if child == 0:
        try:
            os.setsid()
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.execvp(command[0], command)
        except OSError as exc:
            os.write(2, f"cannot start {command[0]!r}: {exc.strerror}\n".encode())
        os._exit(127)
    return child


def main(argv: list[str]) -> None:
    parent, command = int(argv[0]), argv[1:]
    child = -1
    signal.signal(signal.SIGTERM, _on_term)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the agent died before the line above took effect
            os._exit(1)
        libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        for capability in _DROPPED_CAPABILITIES:  # EPERM when not root (nothing to drop)
            libc.prctl(_PR_CAPBSET_DROP, capability, 0, 0, 0)
        child = _start(command)
        while True:
            pid, status = os.waitpid(-1, 0)
            if pid == child:
                break
    except _Terminated:
        _kill_all(child)
        os._exit(128 + signal.SIGTERM)
    _kill_all(child)
    _exit_like(status)


if __name__ == "__main__":
    main(sys.argv[1:])
