"""MCP tools in agent runs: lazy connection and closing with the agent, toolset operations,
a cancelled run cancelling its call on the server, and durable runs' idempotency rules."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp_helpers import call_ctx, stdio_app

from agentkit import (
    Agent,
    AsyncClient,
    Hooks,
    RunContext,
    SQLiteStore,
    Toolset,
    UsageError,
    tool,
)
from agentkit._run.replay import INTERRUPTED
from agentkit.context import Trim
from agentkit.errors import RunError
from agentkit.events import AgentEvent, ToolCallStarted
from agentkit.mcp import MCPConnectionError, MCPToolset
from agentkit.testing import ScriptedTransport, reply, text_reply, tool_reply

MODEL = "claude-sonnet-4-5"


def client_for(*replies: Any) -> tuple[AsyncClient, ScriptedTransport]:
    transport = ScriptedTransport(list(replies))
    return AsyncClient(api_key="sk-test", transport=transport, max_retries=0), transport


def offered(transport: ScriptedTransport) -> list[str]:
    return [t["name"] for t in transport.requests[0].body["tools"]]


def results(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [b for m in messages if isinstance(m["content"], list) for b in m["content"]
            if b["type"] == "tool_result"]


def pid_of(block: dict[str, Any]) -> int:
    return int(json.loads(block["content"][0]["text"])["pid"])


class Crash(BaseException):
    """Stands for the process dying mid-run."""


@tool
def local_note(text: str) -> str:
    """Keep a note."""
    return f"noted {text}"


@pytest.mark.asyncio
async def test_connects_at_the_first_run_and_closes_with_the_agent() -> None:
    server = stdio_app()
    tools = server.prefixed("app").filtered(lambda t: t.name != "app_crash") + local_note
    client, transport = client_for(
        reply(tool_calls=[("app_add", {"a": 2, "b": 2}, "toolu_1"),
                          ("app_process", {"name": "x"}, "toolu_2"),
                          ("local_note", {"text": "hi"}, "toolu_3")]),
        text_reply("Done."),
    )
    async with client, Agent(MODEL, tools=[tools], client=client) as agent:
        result = await agent.run("go")
        added, process, note = results(result.messages)
    names = offered(transport)
    assert "app_add" in names and "app_crash" not in names and "local_note" in names
    assert added["content"] == [{"type": "text", "text": "4"}] and note["content"] == "noted hi"
    with pytest.raises(ProcessLookupError):  # closed with the agent: the process is gone
        os.kill(pid_of(process), 0)


@pytest.mark.asyncio
async def test_a_cancelled_run_cancels_its_call_on_the_server(http_url: str) -> None:
    client, _ = client_for(tool_reply("wait_forever", {}), text_reply("never"))
    async with client, Agent(MODEL, tools=[MCPToolset.http(http_url)], client=client) as agent, \
            MCPToolset.http(http_url) as observer:
        watch = {t.name: t for t in await observer.list_tools()}
        async with anyio.create_task_group() as tg:
            tg.start_soon(agent.run, "wait")
            started = await watch["wait_started"].run({"timeout": 30}, call_ctx())
            assert started["content"] == [{"type": "text", "text": "true"}]
            tg.cancel_scope.cancel()
        seen = await watch["seen_cancellations"].run({"timeout": 30}, call_ctx())
    assert seen["content"] != [{"type": "text", "text": "[]"}]


def test_a_run_on_a_new_event_loop_reconnects() -> None:
    server = stdio_app()
    pids: list[int] = []

    async def one_run() -> None:
        client, _ = client_for(tool_reply("process", {"name": "x"}), text_reply("Done."))
        async with client:
            result = await Agent(MODEL, tools=[server], client=client).run("go")
        pids.append(pid_of(results(result.messages)[0]))

    try:
        anyio.run(one_run)  # the loop's end stops what the run started
        anyio.run(one_run)
    finally:
        anyio.run(server.aclose)
    assert len(set(pids)) == 2


@pytest.mark.asyncio
async def test_durable_runs_mark_only_unhinted_mcp_tools_started(tmp_path: Path) -> None:
    events: list[AgentEvent] = []
    client, _ = client_for(
        reply(tool_calls=[("add", {"a": 1, "b": 1}, "toolu_add"),
                          ("echo", {"text": "x"}, "toolu_echo")]),
        text_reply("Done."),
    )
    with SQLiteStore(tmp_path / "runs.db") as store:
        async with client, Agent(MODEL, tools=[stdio_app()], client=client) as agent:
            await agent.run("go", run_id="r1", store=store, on_event=events.append)
        started = [e.payload["ids"] for e in store.entries("r1") if e.kind == "tool_started"]
    assert started == [["toolu_echo"]]  # add is readOnlyHint: safe to run again after a crash
    assert sum(isinstance(e, ToolCallStarted) for e in events) == 2


def test_a_refused_name_never_reaches_the_wire() -> None:
    valid = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")

    async def one_run() -> list[str]:
        client, transport = client_for(text_reply("Done."))
        async with client, Agent(MODEL, tools=[Toolset([stdio_app()])], client=client) as agent:
            await agent.run("go")
        return offered(transport)

    names = anyio.run(one_run)
    assert all(valid.match(n) for n in names) and any(n.startswith("db_query_run_") for n in names)


@pytest.mark.asyncio
async def test_a_server_tool_named_like_a_local_one_is_refused_naming_the_server() -> None:
    @tool
    def echo(text: str) -> str:
        """A local echo."""
        return text

    client, transport = client_for(text_reply("never"))
    server = stdio_app(name="the-app")
    async with client, Agent(MODEL, tools=[server, echo], client=client) as agent:
        with pytest.raises(UsageError, match=r"Two tools are named `echo` \(`.*echo` and `echo of "
                           r"the MCP server the-app`\).*\.prefixed"):
            await agent.run("go")
    assert transport.requests == []  # refused before anything was sent


@pytest.mark.asyncio
async def test_a_tool_a_server_adds_mid_run_under_a_local_tool_s_name_is_left_out_not_fatal(
    caplog: pytest.LogCaptureFixture,
) -> None:
    @tool
    def fresh() -> str:
        """The local fresh."""
        return "local"

    client, transport = client_for(tool_reply("grow", {}), tool_reply("fresh", {}),
                                   text_reply("Done."))
    async with client, Agent(MODEL, tools=[stdio_app(name="the-app"), fresh],
                             client=client) as agent:
        result = await agent.run("go")  # else: UsageError, the conversation (and grow) lost
    assert result.text == "Done."
    grown, called = results(result.messages)
    assert grown["content"] == [{"type": "text", "text": "grown"}] and called["content"] == "local"
    second = [t for t in transport.requests[1].body["tools"] if t["name"] == "fresh"]
    assert [t["description"] for t in second] == ["The local fresh."]
    assert "fresh of the MCP server the-app` left out of this turn" in caplog.text


@pytest.mark.asyncio
async def test_a_run_goes_on_after_its_server_crashed_and_the_next_call_restarts_it() -> None:
    client, _ = client_for(
        tool_reply("process", {"name": "x"}),
        tool_reply("crash", {}),
        tool_reply("process", {"name": "x"}),
        text_reply("Done."),
    )
    async with client, Agent(MODEL, tools=[stdio_app()], client=client) as agent:
        result = await agent.run("go")
    before, crashed, after = results(result.messages)
    assert result.text == "Done."
    assert crashed["is_error"] is True and "closed the connection" in crashed["content"]
    assert pid_of(before) != pid_of(after)


@pytest.mark.asyncio
async def test_a_started_call_whose_tool_is_gone_at_resume_is_answered_interrupted(
    tmp_path: Path,
) -> None:
    def die_after_echo(ctx: RunContext[Any], call: dict[str, Any], block: dict[str, Any]) -> None:
        if call["name"] == "echo":
            raise Crash  # echo ran on the server; its result is not committed

    ran: list[str] = []

    def seen(ctx: RunContext[Any], call: dict[str, Any], block: dict[str, Any]) -> None:
        ran.append(call["name"])

    calls = reply(tool_calls=[("add", {"a": 1, "b": 1}, "toolu_add"),
                              ("echo", {"text": "x"}, "toolu_echo")])
    with SQLiteStore(tmp_path / "runs.db") as store:
        client, _ = client_for(calls)
        async with client, Agent(MODEL, tools=[stdio_app()], client=client,
                                 hooks=Hooks(after_tool=die_after_echo)) as agent:
            with pytest.raises(Crash):
                await agent.run("go", run_id="r1", store=store)
        # The server's tool list changed meanwhile: echo is no longer offered.
        without_echo = stdio_app().filtered(lambda t: t.name != "echo")
        client, transport = client_for(text_reply("Done."))
        async with client, Agent(MODEL, tools=[without_echo], client=client,
                                 hooks=Hooks(after_tool=seen)) as agent:
            resumed = await agent.run("go", run_id="r1", store=store)
        echo = results(transport.requests[0].body["messages"])[1]
        assert echo == {"type": "tool_result", "tool_use_id": "toolu_echo",
                        "content": INTERRUPTED, "is_error": True}  # not "unknown tool"
        assert "echo" not in ran and resumed.text == "Done."
        client, _ = client_for()  # the finished run, with echo back: as stored, no model call
        async with client, Agent(MODEL, tools=[stdio_app()], client=client) as agent:
            again = await agent.run("go", run_id="r1", store=store)
        assert again.messages == resumed.messages


@pytest.mark.asyncio
async def test_a_finished_durable_run_is_read_back_with_its_server_down_and_no_api_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, _ = client_for(tool_reply("add", {"a": 2, "b": 2}), text_reply("4."))
    with SQLiteStore(tmp_path / "runs.db") as store:
        async with client, Agent(MODEL, tools=[stdio_app()], client=client) as agent:
            first = await agent.run("add", run_id="r1", store=store)

        for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL"):
            monkeypatch.delenv(name, raising=False)
        down = MCPToolset.stdio(sys.executable, ["-c", "raise SystemExit(1)"], name="down",
                                connect_timeout=5)
        with pytest.raises(MCPConnectionError):  # the server is down indeed
            await down.list_tools()
        async with Agent(MODEL, tools=[down], store=store) as agent:
            again = await agent.run("add", run_id="r1")
            assert again.text == "4." and again.messages == first.messages
            # A run that must go on lists its tools: the server being down stops it.
            with pytest.raises(RunError) as raised:
                await agent.run("add again", history=first.messages, run_id="r2")
        assert isinstance(raised.value.__cause__, MCPConnectionError)


@pytest.mark.asyncio
async def test_a_finished_durable_run_with_a_context_policy_is_read_back_with_its_server_down(
    tmp_path: Path,
) -> None:
    # The policy trimmed the history on the way; a replay sized each request again, with its
    # tools listed, and so failed with the server down. It now takes the journaled decisions.
    long = "lorem ipsum " * 400
    calls = [tool_reply("echo", {"text": f"{i} {long}"}) for i in range(4)]
    client, _ = client_for(*calls, text_reply("Echoed 4."))
    policy = Trim(trigger_tokens=3000, keep_tool_results=1)
    with SQLiteStore(tmp_path / "runs.db") as store:
        async with client, Agent(MODEL, tools=[stdio_app()], client=client,
                                 context=policy) as agent:
            first = await agent.run("echo", run_id="r1", store=store)
        assert "cleared to keep the conversation" in str(first.messages)  # the policy cut it

        down = MCPToolset.stdio(sys.executable, ["-c", "raise SystemExit(1)"], name="down",
                                connect_timeout=5)
        async with Agent(MODEL, tools=[down], store=store, context=policy) as agent:
            again = await agent.run("echo", run_id="r1")
    assert again.text == "Echoed 4." and again.messages == first.messages
    assert again.state.context == first.state.context


SERVED = '''
import sys

from agentkit import RunContext, Toolset, tool
from agentkit.mcp import serve


@tool(idempotent=True)
def reserve(ctx: RunContext[None], order: int) -> str:
    """Reserve an order's goods."""
    with open(sys.argv[1], "a", encoding="utf-8") as keys:
        keys.write(f"{ctx.idempotency_key}\\n")
    return f"reserved {order}"


serve(Toolset([reserve]))
'''


@pytest.mark.asyncio
async def test_a_served_tool_gets_the_caller_s_idempotency_key_again_on_resume(
    tmp_path: Path,
) -> None:
    # `agentkit.mcp.serve` made the key from the JSON-RPC request id, which each session
    # numbers from the start: the call repeated after a crash got another key, and the calls
    # of two runs (each its own session) the same one ("mcp_3"), so a service deduplicating by
    # it would drop a call that never ran.
    script, keys = tmp_path / "served.py", tmp_path / "keys.txt"
    script.write_text(SERVED)

    def served() -> MCPToolset:
        return MCPToolset.stdio(sys.executable, [str(script), str(keys)])

    def crash(ctx: RunContext[Any], call: dict[str, Any], block: dict[str, Any]) -> None:
        raise Crash  # the call ran on the server; its result is not committed

    calls = reply(tool_calls=[("reserve", {"order": 1}, "toolu_1")])
    with SQLiteStore(tmp_path / "runs.db") as store:
        client, _ = client_for(calls)
        async with client, Agent(MODEL, tools=[served()], client=client,
                                 hooks=Hooks(after_tool=crash)) as agent:
            with pytest.raises(Crash):
                await agent.run("go", run_id="r1", store=store)
        for run_id, replies in (("r1", [text_reply("Done.")]),  # resumed: the call again
                                ("r2", [calls, text_reply("Done.")])):  # another run
            client, _ = client_for(*replies)
            async with client, Agent(MODEL, tools=[served()], client=client) as agent:
                assert (await agent.run("go", run_id=run_id, store=store)).text == "Done."
    assert keys.read_text().split() == ["r1:toolu_1", "r1:toolu_1", "r2:toolu_1"]


@pytest.mark.asyncio
async def test_a_resume_whose_server_is_down_raises_run_error_and_resumes_once_it_is_up(
    tmp_path: Path,
) -> None:
    # The replay lists the tools of the turn whose call was cut: a server down there raised
    # its MCPConnectionError bare, where a live run raises RunError (a caller's
    # `except RunError` missed it).
    def crash(ctx: RunContext[Any], call: dict[str, Any], block: dict[str, Any]) -> None:
        raise Crash  # add (readOnlyHint: idempotent) ran; its result is not committed

    down = MCPToolset.stdio(sys.executable, ["-c", "raise SystemExit(1)"], name="down",
                            connect_timeout=5)
    with SQLiteStore(tmp_path / "runs.db") as store:
        client, _ = client_for(tool_reply("add", {"a": 1, "b": 2}))
        async with client, Agent(MODEL, tools=[stdio_app()], client=client,
                                 hooks=Hooks(after_tool=crash)) as agent:
            with pytest.raises(Crash):
                await agent.run("add", run_id="r1", store=store)
        client, transport = client_for()
        async with client, Agent(MODEL, tools=[down], client=client) as agent:
            with pytest.raises(RunError) as raised:
                await agent.run("add", run_id="r1", store=store)
        assert isinstance(raised.value.__cause__, MCPConnectionError)
        assert "r1" in str(raised.value) and transport.requests == []
        header = store.header("r1")
        assert header is not None and header.status == "interrupted"
        client, _ = client_for(text_reply("Three."))
        async with client, Agent(MODEL, tools=[stdio_app()], client=client) as agent:
            resumed = await agent.run("add", run_id="r1", store=store)
    assert resumed.text == "Three." and results(resumed.messages)[0].get("is_error") is None
