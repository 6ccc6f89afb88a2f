"""How a run's tool calls are carried out (`_run/tool_calls.py`), and what a run holds while it
waits: with thousands of runs in flight, every object alive across an `await` is work for the
cyclic garbage collector."""

from __future__ import annotations

import asyncio
import threading
import types
from pathlib import Path
from typing import Any

import anyio
import pytest

from agentkit import (
    Agent,
    AsyncClient,
    Hooks,
    RunContext,
    RunError,
    SQLiteStore,
    ToolExecution,
    tool,
)
from agentkit._run import tool_calls
from agentkit.events import ToolCallFinished
from agentkit.testing import FakeServer, FunctionModel, ScriptedTransport, reply, text_reply

MODEL = "claude-sonnet-4-5"


def _batch_of_two(ran: list[str]) -> tuple[Any, Any]:
    @tool
    async def fail() -> str:
        """Fail."""
        ran.append("fail")
        raise ValueError("broken")

    @tool
    async def note() -> str:
        """Take a note."""
        ran.append("note")
        return "noted"

    return fail, note


def _calls() -> list[Any]:
    return [reply(tool_calls=[("fail", {}, "toolu_1"), ("note", {}, "toolu_2")]), text_reply("-")]


@pytest.mark.asyncio
async def test_a_failed_call_cancels_the_calls_of_its_batch_that_have_not_begun() -> None:
    ran: list[str] = []
    client = AsyncClient(api_key="sk-test", transport=ScriptedTransport(_calls()[:1]))
    agent = Agent(
        MODEL, tools=list(_batch_of_two(ran)), client=client,
        tool_execution=ToolExecution(raise_errors=True),
    )
    with pytest.raises(RunError) as caught:
        await agent.run("go")
    await client.aclose()
    assert ran == ["fail"]  # `note` was cancelled before it began: it never ran
    assert caught.value.result is not None
    answered = caught.value.result.messages[-1]["content"]
    assert [b["tool_use_id"] for b in answered] == ["toolu_1", "toolu_2"]
    assert all(b["is_error"] and b["content"].startswith("Not finished:") for b in answered)


@pytest.mark.asyncio
async def test_a_durable_run_never_begins_a_cancelled_call_and_keeps_its_batch_answered(
    tmp_path: Path,
) -> None:
    # Its calls are journaled as started before they run; one cancelled before it began never
    # runs, now or when the run is resumed, and the stored conversation answers every call.
    ran: list[str] = []
    store = SQLiteStore(tmp_path / "runs.db")
    client = AsyncClient(api_key="sk-test", transport=ScriptedTransport(_calls()))
    agent = Agent(
        MODEL, tools=list(_batch_of_two(ran)), client=client,
        tool_execution=ToolExecution(raise_errors=True),
    )
    with pytest.raises(RunError) as caught:
        await agent.run("go", run_id="r1", store=store)
    assert ran == ["fail"]
    assert caught.value.result is not None
    answered = caught.value.result.messages[-1]["content"]
    assert [b["tool_use_id"] for b in answered] == ["toolu_1", "toolu_2"]
    resumed = await Agent(MODEL, tools=list(_batch_of_two(ran)), client=client).run(
        "go", run_id="r1", store=store
    )
    await client.aclose()
    assert ran == ["fail"] and resumed.text == "-"


def test_off_asyncio_a_batch_runs_in_anyio_task_group_with_the_same_rules(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Where there is no asyncio loop (trio), a batch runs in anyio's task group: run here on
    # asyncio with the check answering "not asyncio". Both calls of a clean batch run and
    # answer; a failed call fails the run with every call answered, and anyio lets the queued
    # call run to its first checkpoint (asyncio's TaskGroup would never begin it).
    monkeypatch.setattr(tool_calls, "_on_asyncio", lambda: False)

    async def clean() -> tuple[str, list[str]]:
        ran: list[str] = []
        a, b = (tool(name=n, description=n)(_recorder(ran, n)) for n in ("a", "b"))
        script = [reply(tool_calls=[("a", {}, "t1"), ("b", {}, "t2")]), text_reply("done")]
        async with AsyncClient(api_key="sk-test", transport=ScriptedTransport(script)) as c:
            return (await Agent(MODEL, tools=[a, b], client=c).run("go")).text, ran

    text, ran = anyio.run(clean)
    assert text == "done" and sorted(ran) == ["a", "b"]

    ran_in_failed: list[str] = []

    async def failing() -> RunError:
        client = AsyncClient(api_key="sk-test", transport=ScriptedTransport(_calls()[:1]))
        agent = Agent(MODEL, tools=list(_batch_of_two(ran_in_failed)), client=client,
                      tool_execution=ToolExecution(raise_errors=True))
        try:
            await agent.run("go")
        except RunError as exc:
            return exc
        finally:
            await client.aclose()
        raise AssertionError("the failed call did not fail the run")

    error = anyio.run(failing)
    assert ran_in_failed == ["fail", "note"]
    assert error.result is not None
    answered = error.result.messages[-1]["content"]
    assert [b["tool_use_id"] for b in answered] == ["toolu_1", "toolu_2"]


def test_without_a_running_asyncio_loop_the_batch_is_not_on_asyncio() -> None:
    assert tool_calls._on_asyncio() is False  # pyright: ignore[reportPrivateUsage]


def _recorder(ran: list[str], name: str) -> Any:
    async def call() -> str:
        ran.append(name)
        await anyio.sleep(0)
        return name.upper()

    return call


def _agentkit_frames(coro: Any) -> list[types.FrameType]:
    """The frames of agentkit's code a suspended coroutine chain is waiting in."""
    frames: list[types.FrameType] = []
    while coro is not None:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is not None and "/agentkit/" in frame.f_code.co_filename:
            frames.append(frame)
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return frames


@pytest.mark.asyncio
async def test_a_run_waiting_on_the_model_holds_no_closure() -> None:
    arrived, answer = threading.Event(), threading.Event()

    def model(body: dict[str, Any]) -> str:
        arrived.set()
        answer.wait(10)
        return "done"

    with FakeServer(FunctionModel(model), strict=False) as server:
        async with AsyncClient(api_key="sk-test", base_url=server.base_url) as client:
            run = asyncio.ensure_future(Agent(MODEL, client=client).run("hi"))
            await anyio.to_thread.run_sync(arrived.wait, 10)
            frames = _agentkit_frames(run.get_coro())
            answer.set()
            assert (await run).text == "done"
    names = [f.f_code.co_name for f in frames]
    assert "_call_model" in names and "create" in names
    # A closure's cells (and the function and tuple holding them) would live as long as the
    # wait: `co_cellvars` lists the locals a frame shares with closures made in it.
    assert {f.f_code.co_name: f.f_code.co_cellvars for f in frames if f.f_code.co_cellvars} == {}
    # Nor a `RunContext`: one is made for the hooks, and this agent has none.
    held = {f.f_code.co_name for f in frames for v in f.f_locals.values() if type(v) is RunContext}
    assert held == set()


@pytest.mark.asyncio
@pytest.mark.parametrize("durable", [False, True], ids=["memory", "durable"])
async def test_content_an_after_tool_hook_put_in_that_the_api_refuses_is_left_out_and_said(
    tmp_path: Path, durable: bool
) -> None:
    # A hook's block went to the API as it was: a BMP failed every request after it, and a
    # durable run, which journals the hook's block, every resume too.
    @tool
    def shot() -> str:
        """Take a screenshot."""
        return "taken"

    def after(ctx: RunContext[Any], call: dict[str, Any], block: dict[str, Any]) -> Any:
        bmp = {"type": "base64", "media_type": "image/bmp", "data": "Qk0="}
        return {**block, "content": [{"type": "text", "text": "the page:"},
                                     {"type": "image", "source": bmp}]}

    finished: list[dict[str, Any]] = []

    def on_event(event: object) -> None:
        if isinstance(event, ToolCallFinished):
            finished.append(event.result)

    store = {"run_id": "r", "store": SQLiteStore(tmp_path / "runs.db")} if durable else {}
    transport = ScriptedTransport([reply(tool_calls=[("shot", {}, "toolu_1")]), text_reply("ok")])
    client = AsyncClient(api_key="sk-test", transport=transport)
    agent = Agent(MODEL, tools=[shot], client=client, hooks=Hooks(after_tool=after))
    result = await agent.run("look", on_event=on_event, **store)
    await client.aclose()
    answer = result.messages[2]["content"][0]
    assert answer == {
        "type": "tool_result", "tool_use_id": "toolu_1", "is_error": True, "content": [
            {"type": "text", "text": "the page:"},
            {"type": "text", "text": "[left out: an image (content block 1) whose media_type "
             "'image/bmp' the API refuses (it takes image/jpeg, image/png, image/gif, "
             "image/webp): convert it to one of those]"}]}
    assert finished == [answer]  # what the model got, the event says
    assert transport.requests[1].body["messages"][2]["content"][0] == answer
    if durable:
        again = Agent(MODEL, tools=[shot], client=AsyncClient(
            api_key="sk-test", transport=ScriptedTransport([])), hooks=Hooks(after_tool=after))
        assert (await again.run("look", **store)).messages == result.messages
