"""shell_toolset: off by default, approval, confined cwd, scrubbed env, allowlist, timeout, cap."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from agentkit_tools._process import child_env, is_secret_name
from agentkit_tools.shell import shell_toolset
from isolated import run_isolated

from agentkit import Tool, UsageError

Call = Callable[..., Awaitable[str]]  # the `ok` and `refused` fixtures (conftest.py)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "sub").mkdir()
    (tmp_path / "keep.txt").write_text("keep me")
    return tmp_path


def run_command(root: Path, **options: Any) -> Tool | None:
    return shell_toolset(root, enabled=True, **options).get("run_command")


@pytest.mark.parametrize("enabled", [False, "yes", 1])
def test_shell_is_off_unless_explicitly_enabled(root: Path, enabled: object) -> None:
    with pytest.raises(UsageError, match="enabled=True"):
        shell_toolset(root, enabled=enabled)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="enabled=True"):
        shell_toolset(root)


def test_shell_needs_approval_by_default(root: Path) -> None:
    assert run_command(root).requires_approval is True
    assert run_command(root, requires_approval=False).requires_approval is False


def test_empty_allowlist_is_a_usage_error(root: Path) -> None:
    with pytest.raises(UsageError, match="permits no program"):
        shell_toolset(root, enabled=True, allow=[])


@pytest.mark.asyncio
async def test_runs_in_the_root_and_reports_exit_code(root: Path, ok: Call) -> None:
    tool = run_command(root)
    assert await ok(tool, command="pwd") == f"[exit code 0]\n{root.resolve()}\n"
    assert await ok(tool, command="pwd", cwd="sub") == f"[exit code 0]\n{root.resolve() / 'sub'}\n"
    assert await ok(tool, command="echo oops >&2; exit 3") == "[exit code 3]\noops\n"


@pytest.mark.asyncio
async def test_cwd_must_stay_inside_the_root(root: Path, refused: Call) -> None:
    tool = run_command(root / "sub")
    assert "outside the allowed root" in await refused(tool, command="pwd", cwd="..")
    assert "outside the allowed root" in await refused(tool, command="pwd", cwd="/")
    assert "not a directory" in await refused(tool, command="pwd", cwd="missing")


@pytest.mark.asyncio
async def test_child_never_sees_credentials(
    root: Path, monkeypatch: pytest.MonkeyPatch, ok: Call
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-fake-123")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://example.invalid")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_fake")
    monkeypatch.setenv("DB_PASSWORD", "hunter2")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "fake")
    monkeypatch.setenv("AGENTKIT_TEST_PLAIN", "visible")
    # Names that do not look secret, holding secrets all the same: an allowlist stops them.
    monkeypatch.setenv("DATABASE_URL", "postgres://u:pw-in-url@db/x")
    monkeypatch.setenv("GITHUB_PAT", "github_pat_fake")
    monkeypatch.setenv("MYSQL_PWD", "mysql-fake")
    monkeypatch.setenv("HTTPS_PROXY", "http://u:proxy-pw@proxy:3128")
    output = await ok(run_command(root), command="env")
    for leaked in (
        "sk-ant-fake-123", "ANTHROPIC_", "ghp_fake", "hunter2", "AWS_SECRET", "pw-in-url",
        "github_pat_fake", "mysql-fake", "proxy-pw", "AGENTKIT_TEST_PLAIN",
    ):  # fmt: skip
        assert leaked not in output
    assert f"PATH={os.environ['PATH']}" in output
    allowed = run_command(root, env_allow=["AGENTKIT_TEST_PLAIN"], env={"GIT_PAGER": "cat"})
    output = await ok(allowed, command="env")
    assert "AGENTKIT_TEST_PLAIN=visible" in output
    assert "GIT_PAGER=cat" in output


def test_child_env_is_an_allowlist() -> None:
    env = {"PATH": "/bin", "HOME": "/h", "OPENAI_API_KEY": "x", "DATABASE_URL": "x", "TZ": "UTC"}
    assert child_env(environ=env) == {"PATH": "/bin", "HOME": "/h", "TZ": "UTC"}
    assert child_env(["DATABASE_URL"], {"A": "1"}, environ=env) == {
        "PATH": "/bin", "HOME": "/h", "TZ": "UTC", "DATABASE_URL": "x", "A": "1",
    }  # fmt: skip
    assert is_secret_name("SSH_AUTH_SOCK")
    assert is_secret_name("MYSQL_PWD")
    assert not is_secret_name("HOME")
    assert not is_secret_name("PWD")


@pytest.mark.asyncio
async def test_allowlist_refuses_other_programs(root: Path, ok: Call, refused: Call) -> None:
    tool = run_command(root, allow=["echo", "cat"])
    assert "not allowed" in await refused(tool, command="rm keep.txt")
    assert "not allowed" in await refused(tool, command="/bin/echo hi")
    assert await ok(tool, command="cat keep.txt") == "[exit code 0]\nkeep me"
    assert "Only these programs may be run: cat, echo." in tool.description


@pytest.mark.asyncio
async def test_allowlist_runs_without_a_shell(root: Path, ok: Call, refused: Call) -> None:
    tool = run_command(root, allow=["echo"])
    output = await ok(tool, command="echo hi; rm keep.txt $(rm keep.txt) && rm keep.txt")
    assert output == "[exit code 0]\nhi; rm keep.txt $(rm keep.txt) && rm keep.txt\n"
    assert (root / "keep.txt").exists()
    assert "cannot parse" in await refused(tool, command="echo 'unclosed")


@pytest.mark.asyncio
async def test_timeout_kills_the_whole_process_group(root: Path, refused: Call) -> None:
    tool = run_command(root, timeout=1.5)
    command = "sleep 60 & echo $! > bg.pid; echo started; sleep 60"
    message = await refused(tool, command=command)
    assert "timed out after 1.5 s" in message
    assert "started" in message
    assert _dies(int((root / "bg.pid").read_text()))


@pytest.mark.asyncio
async def test_background_child_is_killed_when_the_command_ends(root: Path, ok: Call) -> None:
    tool = run_command(root, timeout=30)
    assert await ok(tool, command="sleep 60 & echo $! > bg.pid") == "[exit code 0]\n"
    assert _dies(int((root / "bg.pid").read_text()))


@pytest.mark.asyncio
async def test_output_is_capped(root: Path, ok: Call) -> None:
    tool = run_command(root, max_output=1000)
    output = await ok(tool, command="yes 0123456789 | head -c 200000")
    assert output.endswith("[output truncated at the cap]")
    assert len(output) < 1100


@pytest.mark.asyncio
async def test_missing_program_is_reported(root: Path, refused: Call) -> None:
    tool = run_command(root, allow=["definitely-not-a-program-xyz"])
    assert "cannot start" in await refused(tool, command="definitely-not-a-program-xyz")


def _dies(pid: int) -> bool:
    """Whether `pid` is dead, or dies within a few seconds (SIGKILL is delivered asynchronously)."""
    for _ in range(500):
        if not _alive(pid):
            return True
        time.sleep(0.01)
    return False


def _alive(pid: int) -> bool:
    """Whether `pid` is a live (not zombie) process."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@pytest.mark.asyncio
async def test_cancelling_the_call_kills_the_process_group(root: Path, refused: Call) -> None:
    # The run's own tool timeout cancels the call; the children must not outlive it.
    tool = run_command(root, timeout=60)
    assert tool is not None
    command = "sleep 60 & echo $! > bg.pid; sleep 60"
    assert "timed out" in await refused(tool.replace(timeout=1.5), command=command)
    assert _dies(int((root / "bg.pid").read_text()))


_ESCAPE = (
    f"({sys.executable} -c 'import os, time; os.setsid(); "
    "open(\"bg.pid\", \"w\").write(str(os.getpid())); time.sleep(60)' &); "
    "while [ ! -s bg.pid ]; do sleep 0.05; done"
)
"""A grandchild that leaves the process group (setsid) and is orphaned at once."""


@pytest.mark.asyncio
async def test_a_grandchild_that_calls_setsid_is_killed_and_the_call_ends(
    root: Path, ok: Call
) -> None:
    # Was: the grandchild outlived the group kill and held the output pipe: the call hung.
    with anyio.fail_after(60):
        assert await ok(run_command(root, timeout=30), command=_ESCAPE) == "[exit code 0]\n"
    assert _dies(int((root / "bg.pid").read_text()))


@pytest.mark.asyncio
async def test_a_setsid_grandchild_is_killed_at_the_timeout(root: Path, refused: Call) -> None:
    with anyio.fail_after(60):
        message = await refused(run_command(root, timeout=1.5), command=_ESCAPE + "; sleep 60")
    assert "timed out after 1.5 s" in message
    assert _dies(int((root / "bg.pid").read_text()))


@pytest.mark.asyncio
async def test_secret_values_are_redacted_from_the_output(
    root: Path, monkeypatch: pytest.MonkeyPatch, ok: Call
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-output-canary")
    output = await ok(run_command(root), command="echo key=sk-ant-output-canary")
    assert output == "[exit code 0]\nkey=<redacted>\n"


# Walks up from the command through every ancestor, printing each one's environment.
_READ_ANCESTORS = """\
p=$$
while [ "$p" -gt 1 ]; do
  echo "== $p"; tr '\\0' '\\n' < /proc/$p/environ 2>&1
  p=$(sed 's/.*) //' /proc/$p/stat | cut -d' ' -f2)
done
"""


def test_a_command_cannot_read_the_agents_environment(tmp_path: Path) -> None:
    # The agent runs in a child whose *initial* environment (what /proc/PID/environ shows)
    # holds the canaries; before, `cat /proc/$PPID/environ` printed them.
    env = {
        "PATH": os.environ["PATH"],
        "ANTHROPIC_API_KEY": "sk-ant-proc-canary-1",
        "INNOCENT_LOOKING": "plain-proc-canary-2",
    }
    out = run_isolated(
        f"""
        import asyncio, os
        from agentkit import RunContext
        from agentkit_tools.shell import shell_toolset
        tool = shell_toolset({str(tmp_path)!r}, enabled=True).get("run_command")
        ctx = RunContext(deps=None, tool_use_id="t", tool_name="run_command")
        result = asyncio.run(tool.run({{"command": {_READ_ANCESTORS!r}}}, ctx))
        print("agent", os.getpid())
        print(result["content"])
        """,
        env=env,
    )
    agent = out.split("\n", 1)[0].removeprefix("agent ")
    assert f"== {agent}\n" in out  # the walk reached the agent process
    assert "sk-ant-proc-canary-1" not in out
    assert "plain-proc-canary-2" not in out
    assert "Permission denied" in out.split(f"== {agent}\n", 1)[1].split("==", 1)[0]
