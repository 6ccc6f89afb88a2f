"""MCP servers over stdio: the test server (official SDK, in a subprocess), a paginated one, and
mcp-server-time from PyPI. Each test starts its own server process."""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from mcp_helpers import PAGED, call_ctx, stdio_app, time_out_on_the_server

from agentkit import Tool
from agentkit.mcp import MCPConnectionError, MCPToolset

VALID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def by_name(tools: list[Tool]) -> dict[str, Tool]:
    return {t.name: t for t in tools}


async def run(tool: Tool, **input: object) -> dict[str, object]:
    return await tool.run(dict(input), call_ctx())


@pytest.mark.asyncio
async def test_tools_keep_their_schemas_and_refused_names_are_mapped_but_called_by_original(
) -> None:
    async with stdio_app() as server:
        tools = by_name(await server.list_tools())
    assert all(VALID.match(name) for name in tools)
    assert tools["add"].input_schema["properties"]["a"]["type"] == "integer"
    assert tools["add"].description == "Add two whole numbers."
    [db] = [t for n, t in tools.items() if n.startswith("db_query_run_")]
    [long] = [t for n, t in tools.items() if n.startswith("xxxx")]
    assert len(long.name) <= 64
    # Idempotent only when the server says so (readOnlyHint, idempotentHint).
    assert (tools["add"].idempotent, tools["fail"].idempotent, tools["echo"].idempotent) == (
        True, True, False)
    async with stdio_app() as server:  # the same mapped names on every connection
        again = by_name(await server.list_tools())
        assert db.name in again and long.name in again
        assert (await run(again[db.name], sql="select 1"))["content"] == [
            {"type": "text", "text": "ran select 1"}]
        assert (await run(again[long.name]))["content"] == [{"type": "text", "text": "long"}]
        bad = await run(again["add"], a="one", b=2)  # checked before the server sees it
        assert bad["is_error"] is True and "a" in str(bad["content"])


@pytest.mark.asyncio
async def test_results_text_image_resources_structured_content_and_is_error() -> None:
    async with stdio_app() as server:
        tools = by_name(await server.list_tools())
        picture = await run(tools["picture"])
        resources = await run(tools["resources"])
        added = await run(tools["add"], a=2, b=3)
        failed = await run(tools["fail"], reason="the disk is full")
    [image] = picture["content"]  # type: ignore[misc]
    assert image["type"] == "image" and image["source"]["media_type"] == "image/png"
    assert base64.b64decode(image["source"]["data"]).startswith(b"\x89PNG\r\n")
    text, pdf, audio, link = resources["content"]  # type: ignore[misc]
    assert text == {"type": "text", "text": "Resource <file:///notes.txt> (text/plain):\nthe notes"}
    assert pdf["type"] == "document" and pdf["source"]["media_type"] == "application/pdf"
    assert "audio (audio/wav)" in audio["text"]
    assert link["text"] == "Resource link big.csv <file:///big.csv>, text/csv: every row"
    assert added["content"] == [{"type": "text", "text": "5"}]  # structuredContent said it too
    assert failed["is_error"] is True and "the disk is full" in str(failed["content"])


@pytest.mark.asyncio
async def test_mcp_content_the_api_refuses_is_left_out_and_said_the_rest_kept() -> None:
    # An empty text block and an image with no data went to the API, which refused every
    # request after them (a durable run's every resume too).
    async with stdio_app() as server:
        tools = by_name(await server.list_tools())
        result = await run(tools["blank_and_broken"])
    assert result["is_error"] is True
    assert result["content"] == [
        {"type": "text", "text": "[left out: an image (content block 1) with no data: give its "
         "source base64 data]"},
        {"type": "text", "text": "kept"},
    ]


@pytest.mark.asyncio
async def test_env_cwd_and_stderr_to_the_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="agentkit.mcp")
    server = stdio_app(env={"AGENTKIT_TEST": "set"}, cwd=str(tmp_path), name="test-app")
    async with server:
        tools = by_name(await server.list_tools())
        seen = await run(tools["process"], name="AGENTKIT_TEST")
    [text] = seen["content"]  # type: ignore[misc]
    process = json.loads(text["text"])
    assert (process["cwd"], process["env"]) == (str(tmp_path), "set")
    assert any("[test-app] agentkit-test server starting" in r.getMessage()
               for r in caplog.records)


@pytest.mark.asyncio
async def test_a_server_that_dies_mid_call_is_an_error_and_is_restarted_for_the_next_call(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="agentkit.mcp")
    async with stdio_app() as server:
        tools = by_name(await server.list_tools())
        before = await run(tools["process"], name="x")
        crashed = await run(tools["crash"])
        after = await run(tools["process"], name="x")
    assert crashed["is_error"] is True and "closed the connection" in str(crashed["content"])
    assert after.get("is_error") is None
    pid = re.compile(r'"pid": ?(\d+)')
    first, second = (pid.search(str(r["content"])) for r in (before, after))
    assert first and second and first.group(1) != second.group(1)
    assert any("crashing on purpose" in r.getMessage() for r in caplog.records)


@pytest.mark.asyncio
async def test_a_timed_out_call_is_cancelled_on_the_server() -> None:
    async with stdio_app() as server:
        started, timed_out, seen = await time_out_on_the_server(
            by_name(await server.list_tools()))
    assert started == [{"type": "text", "text": "true"}]
    assert timed_out["is_error"] is True and "timed out" in str(timed_out["content"])
    assert seen != [{"type": "text", "text": "[]"}]  # the server saw the call cancelled


@pytest.mark.asyncio
async def test_the_listing_is_refreshed_when_the_server_says_it_changed() -> None:
    for mode in ("auto", "legacy"):
        async with stdio_app(mode=mode) as server:
            tools = by_name(await server.list_tools())
            assert "fresh" not in tools
            await run(tools["grow"])
            await run(tools["echo"], text="a round trip")
            tools = by_name(await server.list_tools())
            assert (await run(tools["fresh"]))["content"] == [{"type": "text", "text": "fresh"}]


@pytest.mark.asyncio
async def test_every_page_of_the_listing_is_read() -> None:
    async with MCPToolset.stdio(sys.executable, [str(PAGED)]) as server:
        tools = by_name(await server.list_tools())
        assert sorted(tools) == [f"tool_{i}" for i in range(5)]
        assert (await run(tools["tool_4"]))["content"] == [  # with its structuredContent
            {"type": "text", "text": "tool_4"},
            {"type": "text", "text": '{"tool": "tool_4", "page": 2}'},
        ]


@pytest.mark.asyncio
async def test_a_tool_whose_schema_refs_cannot_be_followed_is_left_out_saying_why(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, "agentkit.mcp")
    async with MCPToolset.stdio(sys.executable, [str(PAGED), "--bad-refs"]) as server:
        tools = by_name(await server.list_tools())
    assert sorted(tools) == ["tool_0", "tool_2", "tool_4"]  # else calling one raised
    warned = caplog.text
    assert "tool 'tool_1' left out" in warned and "'#/$defs/gone'" in warned
    assert "tool 'tool_3' left out" in warned and "points outside the schema" in warned


@pytest.mark.asyncio
async def test_a_real_server_from_pypi() -> None:
    async with MCPToolset.stdio(sys.executable, ["-m", "mcp_server_time",
                                                 "--local-timezone", "UTC"]) as time_tools:
        tools = by_name(await time_tools.list_tools())
        answer = await run(tools["get_current_time"], timezone="Asia/Tokyo")
    assert answer.get("is_error") is None and "Asia/Tokyo" in str(answer["content"])


@pytest.mark.asyncio
async def test_a_command_that_does_not_exist_fails_with_what_to_check() -> None:
    server = MCPToolset.stdio("agentkit-no-such-command")
    with pytest.raises(MCPConnectionError, match="no such command"):
        await server.list_tools()
    await server.aclose()


@pytest.mark.asyncio
async def test_secrets_on_the_command_line_stay_out_of_the_name_and_its_errors() -> None:
    server = MCPToolset.stdio("agentkit-no-such-command", [
        "postgresql://me:pw-1@localhost/db?sslpassword=pw-2", "--api-key", "sk-3",
        "--token=tok-4", "API_KEY=key-5", "--verbose", "kept",
    ])
    with pytest.raises(MCPConnectionError, match="no such command") as raised:
        await server.list_tools()
    await server.aclose()
    shown = f"{server.name} {raised.value}"
    assert not re.search(r"pw-1|pw-2|sk-3|tok-4|key-5", shown), shown
    assert server.name == ("agentkit-no-such-command 'postgresql://me:***@localhost/db?"
                           "sslpassword=***' --api-key '***' '--token=***' 'API_KEY=***' "
                           "--verbose kept")


@pytest.mark.asyncio
async def test_nothing_outlives_aclose_even_when_the_caller_is_cancelled() -> None:
    server = stdio_app()
    tools = by_name(await server.list_tools())
    seen = await run(tools["process"], name="x")
    pid = int(re.search(r'"pid": ?(\d+)', str(seen["content"])).group(1))  # type: ignore[union-attr]
    with anyio.CancelScope() as scope:
        scope.cancel()
        await server.aclose()  # shielded inside: the process is stopped all the same
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)



@pytest.mark.asyncio
async def test_a_server_that_never_answers_times_out_and_is_stopped(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    silent = ("import os, sys, time\n"
              "open(sys.argv[1], 'w').write(str(os.getpid()))\n"
              "time.sleep(120)\n")
    server = MCPToolset.stdio(sys.executable, ["-c", silent, str(pid_file)], connect_timeout=5)
    with pytest.raises(MCPConnectionError, match="did not finish starting within 5 s"):
        await server.list_tools()
    with pytest.raises(ProcessLookupError):  # stopped before the error was raised
        os.kill(int(pid_file.read_text()), 0)


@pytest.mark.asyncio
async def test_a_real_server_s_hints_decide_what_a_durable_run_may_repeat(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    git = MCPToolset.stdio(sys.executable, ["-m", "mcp_server_git", "--repository",
                                            str(tmp_path)])
    async with git:
        tools = by_name(await git.list_tools())
        status = await run(tools["git_status"], repo_path=str(tmp_path))
    assert tools["git_status"].idempotent and tools["git_log"].idempotent  # readOnlyHint
    assert not tools["git_commit"].idempotent and tools["git_reset"].idempotent  # idempotentHint
    assert status.get("is_error") is None and "On branch" in str(status["content"])
