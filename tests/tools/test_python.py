"""python_toolset: separate interpreter, scratch directory, timeout, memory limit, clean env."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from agentkit_tools.python import python_toolset
from isolated import run_isolated

from agentkit import Tool, UsageError

Call = Callable[..., Awaitable[str]]  # the `ok` and `refused` fixtures (conftest.py)


def run_python(**options: float | int | bool) -> Tool | None:
    return python_toolset(**options).get("run_python")  # type: ignore[arg-type]


def test_python_needs_approval_by_default() -> None:
    assert run_python().requires_approval is True
    assert run_python(requires_approval=False).requires_approval is False


def test_limits_are_validated_and_described() -> None:
    with pytest.raises(UsageError):
        python_toolset(timeout=0)
    assert "7 s of wall time, 64 MiB of memory" in run_python(timeout=7, memory_mb=64).description


@pytest.mark.asyncio
async def test_runs_code_and_reports_exit_code(ok: Call) -> None:
    tool = run_python()
    assert await ok(tool, code="print(6 * 7)") == "[exit code 0]\n42\n"
    failed = await ok(tool, code="raise SystemExit(4)")
    assert failed.startswith("[exit code 4]")
    crashed = await ok(tool, code="1 / 0")
    assert crashed.startswith("[exit code 1]")
    assert "ZeroDivisionError" in crashed


@pytest.mark.asyncio
async def test_runs_in_a_fresh_scratch_directory_that_is_removed(ok: Call) -> None:
    tool = run_python()
    first = await ok(tool, code="import os; open('x', 'w').write('1'); print(os.getcwd())")
    scratch = Path(first.splitlines()[1])
    assert not scratch.exists()
    second = await ok(tool, code="import os; print(os.listdir('.'))")
    assert second == "[exit code 0]\n['main.py']\n"


@pytest.mark.asyncio
async def test_child_never_sees_credentials(monkeypatch: pytest.MonkeyPatch, ok: Call) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-fake-123")
    monkeypatch.setenv("SOME_SERVICE_TOKEN", "tok-fake")
    monkeypatch.setenv("PYTHONPATH", "/nonexistent-injected")
    output = await ok(run_python(), code="import os, sys; print(dict(os.environ)); print(sys.path)")
    for leaked in ("sk-ant-fake-123", "ANTHROPIC_API_KEY", "tok-fake", "nonexistent-injected"):
        assert leaked not in output


@pytest.mark.asyncio
async def test_timeout_kills_the_program(refused: Call) -> None:
    message = await refused(
        run_python(timeout=1.5), code="print('begun', flush=True)\nwhile True: pass"
    )
    assert "timed out after 1.5 s" in message
    assert "begun" in message


@pytest.mark.asyncio
async def test_memory_limit_stops_large_allocations(ok: Call) -> None:
    code = "data = bytearray(1024 * 1024 * 1024)\nprint('allocated')"
    output = await ok(run_python(memory_mb=200), code=code)
    assert "MemoryError" in output
    assert "allocated" not in output
    assert not output.startswith("[exit code 0]")


@pytest.mark.asyncio
async def test_output_is_capped(ok: Call) -> None:
    output = await ok(run_python(max_output=500), code="print('x' * 100_000)")
    assert output.endswith("[output truncated at the cap]")
    assert len(output) < 600


_READ_ANCESTORS = """
import os
pid = os.getpid()
while pid > 1:
    print("==", pid)
    try:
        print(open(f"/proc/{pid}/environ", "rb").read().replace(b"\\0", b"\\n").decode())
    except OSError as exc:
        print(exc.strerror)
    pid = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
"""


def test_a_program_cannot_read_the_agents_environment() -> None:
    # Before, /proc/<agent>/environ showed the agent's initial environment, API key included.
    env = {
        "PATH": os.environ["PATH"],
        "ANTHROPIC_API_KEY": "sk-ant-proc-canary-3",
        "INNOCENT_LOOKING": "plain-proc-canary-4",
    }
    out = run_isolated(
        f"""
        import asyncio, os
        from agentkit import RunContext
        from agentkit_tools.python import python_toolset
        tool = python_toolset().get("run_python")
        ctx = RunContext(deps=None, tool_use_id="t", tool_name="run_python")
        result = asyncio.run(tool.run({{"code": {_READ_ANCESTORS!r}}}, ctx))
        print("agent", os.getpid())
        print(result["content"])
        """,
        env=env,
    )
    agent = out.split("\n", 1)[0].removeprefix("agent ")
    assert f"== {agent}\n" in out
    assert "sk-ant-proc-canary-3" not in out
    assert "plain-proc-canary-4" not in out
    assert "Permission denied" in out.split(f"== {agent}\n", 1)[1].split("==", 1)[0]
