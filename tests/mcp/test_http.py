"""MCP servers over streamable HTTP and legacy SSE, on 127.0.0.1: the test server (official SDK)
in a subprocess, one per module."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import anyio
import httpx2
import pytest
from mcp_helpers import call_ctx, start, time_out_on_the_server

from agentkit import Tool
from agentkit.mcp import MCPConnectionError, MCPToolset


def by_name(tools: list[Tool]) -> dict[str, Tool]:
    return {t.name: t for t in tools}


@pytest.mark.asyncio
async def test_streamable_http_lists_calls_and_cancels_a_timed_out_call(http_url: str) -> None:
    async with MCPToolset.http(http_url, headers={"X-Test": "yes"}) as server:
        tools = by_name(await server.list_tools())
        added = await tools["add"].run({"a": 1, "b": 2}, call_ctx())
        started, timed_out, seen = await time_out_on_the_server(tools)
        failed = await tools["fail"].run({"reason": "no"}, call_ctx())
    assert added["content"] == [{"type": "text", "text": "3"}]
    assert started == [{"type": "text", "text": "true"}] and timed_out["is_error"] is True
    assert seen != [{"type": "text", "text": "[]"}]  # the server saw it cancelled
    assert failed["is_error"] is True and "no" in str(failed["content"])


@pytest.mark.asyncio
async def test_headers_and_auth_go_with_every_request(http_url: str) -> None:
    sent: list[httpx2.Request] = []

    class Recorded(httpx2.Auth):
        def auth_flow(self, request: httpx2.Request):  # type: ignore[no-untyped-def]
            request.headers["Authorization"] = "Bearer token"
            sent.append(request)
            yield request

    async with MCPToolset.http(http_url, headers={"X-Team": "blue"}, auth=Recorded()) as server:
        await server.list_tools()
    assert sent and all(r.headers["X-Team"] == "blue" for r in sent)


@pytest.mark.asyncio
async def test_legacy_sse(sse_url: str) -> None:
    async with MCPToolset.sse(sse_url) as server:
        tools = by_name(await server.list_tools())
        echoed = await tools["echo"].run({"text": "over SSE"}, call_ctx())
    assert echoed["content"] == [{"type": "text", "text": "over SSE"}]


@pytest.mark.asyncio
async def test_a_server_that_is_not_there_fails_naming_it() -> None:
    server = MCPToolset.http("http://127.0.0.1:9/mcp", connect_timeout=20)
    with pytest.raises(MCPConnectionError, match=r"http://127\.0\.0\.1:9/mcp"):
        await server.list_tools()
    await server.aclose()


@pytest.mark.asyncio
async def test_credentials_in_the_url_stay_out_of_the_name_and_its_errors() -> None:
    server = MCPToolset.http("http://user:pw-1@127.0.0.1:9/mcp?api_key=key-2", connect_timeout=20)
    with pytest.raises(MCPConnectionError, match=r"http://user:\*\*\*@127\.0\.0\.1:9/mcp\?"
                       r"api_key=\*\*\*") as raised:
        await server.list_tools()
    await server.aclose()
    assert "pw-1" not in str(raised.value) and "key-2" not in str(raised.value)
    assert MCPToolset.sse("http://tok-3@127.0.0.1:9/sse").name == "http://***@127.0.0.1:9/sse"


@pytest.mark.asyncio
async def test_a_server_that_died_and_came_back_is_connected_to_again() -> None:
    # Over HTTP the read stream outlives the server: every later call answered "closed the
    # connection", on the dead session, also once the server was back.
    process, url = start("--http")
    server = MCPToolset.http(url, connect_timeout=20, timeout=20)
    try:
        with anyio.fail_after(60):
            tools = by_name(await server.list_tools())
            first = await tools["process"].run({"name": "x"}, call_ctx())
            process.kill()
            process.wait(30)
            if process.stdout is not None:
                process.stdout.close()
            down = await tools["process"].run({"name": "x"}, call_ctx())
            process, _ = start("--http", urlsplit(url).port or 0)
            back = await tools["process"].run({"name": "x"}, call_ctx())
    finally:
        await server.aclose()
        process.kill()
        process.wait(30)
        if process.stdout is not None:
            process.stdout.close()
    assert down["is_error"] is True and "closed the connection" in down["content"]
    assert back.get("is_error") is None, back
    pids = [json.loads(b["content"][0]["text"])["pid"] for b in (first, back)]
    assert pids[0] != pids[1]
