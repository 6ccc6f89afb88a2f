"""shell_toolset: off by default, approval, confined cwd, scrubbed env, allowlist, timeout, cap."""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from agentkit_tools._process import is_secret_name, scrub_env
from agentkit_tools.shell import shell_toolset

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
    output = await ok(run_command(root), command="env")
    for leaked in ("sk-ant-fake-123", "ANTHROPIC_", "ghp_fake", "hunter2", "AWS_SECRET"):
        assert leaked not in output
    assert "AGENTKIT_TEST_PLAIN=visible" in output


def test_scrub_env_rules() -> None:
    env = {"PATH": "/bin", "OPENAI_API_KEY": "x", "my_token": "x", "ANTHROPIC_MODEL": "x"}
    assert scrub_env(env) == {"PATH": "/bin"}
    assert is_secret_name("SSH_AUTH_SOCK")
    assert not is_secret_name("HOME")


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
