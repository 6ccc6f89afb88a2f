"""`run_loop` and `wakes_on_ctrl_c` (`agentkit/_run/loop.py`): the loops agentkit starts wake on
a Ctrl-C whenever it comes, and leave the process's signal wakeup fd as they found it. That a
Ctrl-C stops them is driven end to end in child processes (`tests/cli/
test_runs_resume_interrupted.py`, `tests/ui/test_cli.py`)."""

from __future__ import annotations

import ast
import signal
import socket
from pathlib import Path

import pytest

from agentkit._run.loop import run_loop

PACKAGE = Path(__file__).resolve().parents[1] / "agentkit"


def current_wakeup_fd() -> int:
    fd = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(fd)
    return fd


async def wakeup_fd(then: int) -> tuple[int, int]:
    """The wakeup fd while the loop runs, and `then` (how the arguments reach the function)."""
    return current_wakeup_fd(), then


def test_a_loop_sets_a_wakeup_fd_and_gives_it_back() -> None:
    assert current_wakeup_fd() == -1
    during, then = run_loop(wakeup_fd, 7)
    assert during != -1 and then == 7
    assert current_wakeup_fd() == -1


def test_a_wakeup_fd_set_already_is_kept() -> None:
    # asyncio's own `add_signal_handler` sets one (its loop's): replaced, its handlers would
    # never run.
    theirs, other = socket.socketpair()
    theirs.setblocking(False)
    try:
        signal.set_wakeup_fd(theirs.fileno())
        assert run_loop(wakeup_fd, 0)[0] == theirs.fileno()
        assert current_wakeup_fd() == theirs.fileno()
    finally:
        signal.set_wakeup_fd(-1)
        theirs.close()
        other.close()


def test_a_failing_run_gives_the_wakeup_fd_back() -> None:
    async def fails() -> None:
        raise LookupError("the run's own error")

    with pytest.raises(LookupError, match="the run's own error"):
        run_loop(fails)
    assert current_wakeup_fd() == -1


def starts_a_loop(tree: ast.AST) -> bool:
    """Whether code calls `anyio.run(...)` or `asyncio.run(...)`."""
    return any(
        isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        and node.func.attr == "run" and isinstance(node.func.value, ast.Name)
        and node.func.value.id in ("anyio", "asyncio")
        for node in ast.walk(tree)
    )


def test_every_loop_agentkit_starts_wakes_on_ctrl_c() -> None:
    # Each command started its own loop with `anyio.run` (`agentkit ui` with `asyncio.run`),
    # and a Ctrl-C just before it slept was swallowed. `run_loop` is the one way in; a loop
    # started otherwise runs its code under `wakes_on_ctrl_c`.
    unwoken: list[str] = []
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        woken = path.name == "loop.py" or "wakes_on_ctrl_c()" in text
        if not woken and starts_a_loop(ast.parse(text)):
            unwoken.append(str(path.relative_to(PACKAGE.parent)))
    assert unwoken == []
