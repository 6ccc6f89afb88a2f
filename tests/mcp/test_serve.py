"""`agentkit.mcp.serve`: any toolset's tools to MCP clients. The SDK's own client talks to the
server in-process (the same handlers stdio and HTTP serve; those are in test_cli.py)."""

from __future__ import annotations

import anyio
import mcp_types as types
import pytest
from mcp import Client

from agentkit import RunContext, ToolError, Toolset, tool
from agentkit.mcp._serve import mcp_server

entered, stopped = anyio.Event(), anyio.Event()


@tool(idempotent=True)
def double(n: int) -> int:
    """Double `n`."""
    return n * 2


@tool
def picture() -> list[dict[str, object]]:
    """A picture."""
    return [{"type": "text", "text": "a dot:"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                         "data": "iVBORw0KGgo="}}]


@tool
def refuse(reason: str) -> str:
    """Fail on purpose."""
    raise ToolError(f"refused: {reason}")


@tool(requires_approval=True)
def delete_everything() -> str:
    """Needs a person's yes first."""
    return "deleted"


@tool
async def wait(ctx: RunContext[object]) -> str:
    """Wait until cancelled."""
    entered.set()
    try:
        await anyio.sleep_forever()
    finally:
        stopped.set()
    return "never"


TOOLS = Toolset([double, picture, refuse, delete_everything, wait])


@pytest.mark.asyncio
async def test_the_toolset_is_listed_and_called_approval_tools_refused() -> None:
    async with Client(mcp_server(TOOLS, name="t", allow_approval_tools=False, deps=None)) as c:
        listed = {t.name: t for t in (await c.list_tools()).tools}
        doubled = await c.call_tool("double", {"n": 21})
        bad_input = await c.call_tool("double", {"n": "many"})
        shown = await c.call_tool("picture", {})
        refused = await c.call_tool("refuse", {"reason": "no"})
        approval = await c.call_tool("delete_everything", {})
        unknown = await c.call_tool("nope", {})
    assert sorted(listed) == ["double", "picture", "refuse", "wait"]
    assert listed["double"].input_schema["properties"]["n"]["type"] == "integer"
    assert listed["double"].annotations == types.ToolAnnotations(idempotent_hint=True)
    assert doubled.content == [types.TextContent(type="text", text="42")] and not doubled.is_error
    assert bad_input.is_error and "n" in str(bad_input.content)
    assert shown.content[1] == types.ImageContent(type="image", data="iVBORw0KGgo=",
                                                  mime_type="image/png")
    assert refused.is_error and refused.content == [
        types.TextContent(type="text", text="refused: no")]
    assert approval.is_error and "--allow-approval-tools" in str(approval.content)
    assert unknown.is_error and "no tool named 'nope'" in str(unknown.content)


@pytest.mark.asyncio
async def test_approval_tools_are_served_when_allowed() -> None:
    async with Client(mcp_server(TOOLS, name="t", allow_approval_tools=True, deps=None)) as c:
        result = await c.call_tool("delete_everything", {})
    assert result.content == [types.TextContent(type="text", text="deleted")]


@pytest.mark.asyncio
async def test_a_cancelled_request_stops_the_tool() -> None:
    async with Client(mcp_server(TOOLS, name="t", allow_approval_tools=False, deps=None),
                      mode="legacy") as c:
        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                tg.start_soon(c.call_tool, "wait", {})
                await entered.wait()
                tg.cancel_scope.cancel()
            await stopped.wait()


@tool
def key(ctx: RunContext[object]) -> str:
    """The call's idempotency key."""
    return str(ctx.idempotency_key)


@pytest.mark.asyncio
async def test_each_call_of_a_client_that_sends_no_key_gets_a_key_of_its_own() -> None:
    # Keys were "mcp_{request id}": every session numbers its requests from the start.
    server = mcp_server(Toolset([key]), name="t", allow_approval_tools=False, deps=None)
    seen: list[str] = []
    for _ in range(2):
        async with Client(server) as c:
            seen += [str((await c.call_tool("key", {})).content) for _ in range(2)]
        async with Client(server) as c:
            given = await c.call_tool("key", {}, meta={"agentkit/idempotency_key": "r1:toolu_1"})
            assert given.content == [types.TextContent(type="text", text="r1:toolu_1")]
    assert len(set(seen)) == 4


@pytest.mark.asyncio
async def test_a_served_call_s_key_is_header_safe_and_an_agentkit_caller_s_kept() -> None:
    # The key a client sent was the served tool's as it was: one holding `›` (any client
    # but agentkit's) raised UnicodeEncodeError in a tool that put it in an HTTP header.
    server = mcp_server(Toolset([key]), name="t", allow_approval_tools=False, deps=None)
    async with Client(server) as c:
        for given, served in [("r1%E2%80%BAtoolu_p1:toolu_s1", "r1%E2%80%BAtoolu_p1:toolu_s1"),
                              ("r1\u203atoolu_p1:toolu_s1", "r1%E2%80%BAtoolu_p1:toolu_s1")]:
            got = await c.call_tool("key", {}, meta={"agentkit/idempotency_key": given})
            assert got.content == [types.TextContent(type="text", text=served)]
