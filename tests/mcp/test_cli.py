"""The command line and MCP: `agentkit mcp serve` (stdio and HTTP on 127.0.0.1), approval tools
refused, and `--mcp` on `chat` and `run`; offline, against real MCP servers."""

from __future__ import annotations

import io
import shlex
import subprocess
import sys
from typing import Any

import pytest
from mcp_helpers import APP, call_ctx

from agentkit import Recipe, RecipeContext
from agentkit.cli.main import main
from agentkit.mcp import MCPToolset
from agentkit.testing import FunctionModel, reply, tool_results

AGENTKIT = [sys.executable, "-m", "agentkit"]
APP_COMMAND = shlex.join([sys.executable, str(APP)])


@pytest.fixture(autouse=True)
def no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.asyncio
async def test_mcp_serve_over_stdio_serves_the_ready_tools_but_not_approval_ones() -> None:
    served = MCPToolset.stdio(AGENTKIT[0], [*AGENTKIT[1:], "mcp", "serve", "--tools",
                                            "calculator,files"])
    async with served:
        tools = {t.name: t for t in await served.list_tools()}
        sum_ = await tools["calculator"].run({"expression": "6*7"}, call_ctx())
    assert "42" in str(sum_["content"]) and sum_.get("is_error") is None
    assert "read_file" in tools and "write_file" not in tools  # writes ask first: refused


@pytest.mark.asyncio
async def test_mcp_serve_allows_approval_tools_when_told() -> None:
    served = MCPToolset.stdio(AGENTKIT[0], [*AGENTKIT[1:], "mcp", "serve", "--tools", "files",
                                            "--allow-approval-tools"])
    async with served:
        assert "write_file" in {t.name for t in await served.list_tools()}


@pytest.mark.asyncio
async def test_mcp_serve_over_http_on_loopback() -> None:
    process = subprocess.Popen([*AGENTKIT, "mcp", "serve", "--tools", "clock", "--http", "0"],
                               stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        line = process.stderr.readline()  # printed once it listens
        assert line.startswith("serving MCP on http://127.0.0.1:"), line
        async with MCPToolset.http(line.split()[-1]) as served:
            names = [t.name for t in await served.list_tools()]
    finally:
        process.terminate()
        process.wait(30)
        if process.stderr is not None:
            process.stderr.close()
    assert names == ["current_datetime"]


def test_mcp_serve_without_tools_or_with_an_unknown_family_exits_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["mcp", "serve", "--tools", "nope"]) == 2
    assert "no tool family 'nope'" in capsys.readouterr().err
    assert main(["mcp"]) == 2


def test_chat_with_an_mcp_server(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("please echo\nand add\n"))
    assert main(["chat", "--mcp", APP_COMMAND]) == 0
    err = capsys.readouterr().err  # tool calls are status, shown on stderr
    assert "← echo result: example" in err and "← add result: 2" in err  # a server per turn


def test_chat_with_a_server_that_cannot_start_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("please echo\n"))
    assert main(["chat", "--mcp", "agentkit-no-such-command --flag"]) == 1  # a failed turn
    assert "no such command" in capsys.readouterr().err


async def _ask(ctx: RecipeContext) -> str:
    result = await ctx.run(ctx.agent(), "Echo something.")
    return result.text


def _echoing(inputs: dict[str, str]) -> FunctionModel:
    def play(body: dict[str, Any]) -> Any:
        results = tool_results(body)
        if results:
            return reply(f"The server said: {results[0]['content'][0]['text']}")
        return reply(tool_calls=[("echo", {"text": "via --mcp"})])

    return FunctionModel(play)


def test_run_a_recipe_with_an_mcp_server(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from agentkit.workflows import recipe as registry

    asking = Recipe(name="ask", description="Asks an MCP server.", run=_ask,
                    offline_model=_echoing)
    monkeypatch.setattr(registry, "recipes", lambda: {"ask": asking})
    assert main(["run", "ask", "--mcp", APP_COMMAND]) == 0
    assert "The server said: via --mcp" in capsys.readouterr().out


def test_without_the_extra_the_import_and_the_cli_say_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "mcp", None)  # as if not installed
    for loaded in [m for m in sys.modules if m.startswith("agentkit.mcp")]:
        monkeypatch.delitem(sys.modules, loaded)
    with pytest.raises(ModuleNotFoundError, match=r'pip install "agentkit\[mcp\]"'):
        import agentkit.mcp  # noqa: F401
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert main(["chat", "--mcp", "python -m mcp_server_time"]) == 2
    assert main(["mcp", "serve", "--tools", "clock"]) == 2
    assert capsys.readouterr().err.count('pip install "agentkit[mcp]"') == 2


def test_mcp_options_are_command_lines_or_urls() -> None:
    from agentkit import UsageError
    from agentkit.cli.common import mcp_toolsets

    local, remote = mcp_toolsets(['uvx "mcp server" --flag', "https://example.com/mcp"])
    assert isinstance(local, MCPToolset) and local.name == "uvx 'mcp server' --flag"
    assert isinstance(remote, MCPToolset) and remote.name == "https://example.com/mcp"
    assert mcp_toolsets(None) == []
    with pytest.raises(UsageError, match="--mcp needs a server"):
        mcp_toolsets(["  "])
