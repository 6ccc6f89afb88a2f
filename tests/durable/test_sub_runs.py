"""Durable sub-runs: an agent used as a tool (`as_tool`) inside a durable run is a durable run
of its own in the caller's store (`subagent.py`). A crash is simulated in-process by a
`BaseException` raised inside the sub-run (the runs stop as a killed process's would, their
journals as they were); each process gets agents of its own over scripts holding only the
replies it may ask for, so a repeated model call fails the test."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from agentkit import (
    Agent,
    AsyncClient,
    Hooks,
    RunContext,
    RunError,
    SQLiteStore,
    ToolError,
    UsageError,
    tool,
    validate_conversation,
)
from agentkit._durable.journal import sub_run_id
from agentkit._run.replay import INTERRUPTED
from agentkit.errors import RunMismatchError
from agentkit.testing import Fault, ScriptedTransport, reply, text_reply

MODEL = "claude-sonnet-4-5"
SUB = "r1\u203atoolu_p1"  # the sub-run of the caller's call toolu_p1, as `sub_run_id` spells it
SUB_KEY = "r1%E2%80%BAtoolu_p1"  # SUB as its tools' idempotency keys spell it: `›` in UTF-8


class Crash(BaseException):
    """Stands for the process dying: not an `Exception`, so nothing turns it into a result."""


@dataclass
class World:
    """Side effects as the outside world sees them, and where the next crash happens."""

    effects: list[tuple[str, str | None]] = field(default_factory=list[tuple[str, str | None]])
    crash_in: set[str] = field(default_factory=set[str])
    cut_before: set[str] = field(default_factory=set[str])
    """Tools answered as a crash left them (an uncrashed run to compare a resumed one with)."""

    def act(self, name: str, ctx: RunContext[None]) -> None:
        if name in self.cut_before:
            raise ToolError(INTERRUPTED)
        self.effects.append((name, ctx.idempotency_key))
        if name in self.crash_in:
            self.crash_in.discard(name)
            raise Crash


def parent_script() -> list[Any]:
    return [reply(tool_calls=[("clerk", {"task": "Charge order 1"}, "toolu_p1")]),
            text_reply("Order 1 is charged.")]


def sub_script() -> list[Any]:
    return [reply(tool_calls=[("charge", {"order": 1}, "toolu_s1")]),
            reply(tool_calls=[("lookup", {"order": 1}, "toolu_s2")]),
            text_reply("Charged order 1: paid.")]


@dataclass
class Process:
    """One process's agents: the caller and its sub-agent, each over its own script."""

    world: World
    parent: list[Any]
    sub: list[Any]
    hooks: Hooks = field(default_factory=Hooks)
    parent_transport: ScriptedTransport = field(init=False)
    sub_transport: ScriptedTransport = field(init=False)

    def __post_init__(self) -> None:
        self.parent_transport = ScriptedTransport(self.parent)
        self.sub_transport = ScriptedTransport(self.sub)

    def agent(self) -> Agent[str]:
        world = self.world

        @tool
        async def charge(ctx: RunContext[None], order: int) -> str:
            """Charge an order (a side effect: never run twice)."""
            world.act("charge", ctx)
            return f"charged {order}"

        @tool(idempotent=True)
        async def lookup(ctx: RunContext[None], order: int) -> str:
            """Look an order's state up (safe to repeat)."""
            world.act("lookup", ctx)
            return "paid"

        sub = Agent(MODEL, name="clerk", description="Charges orders.", tools=[charge, lookup],
                    client=AsyncClient(api_key="sk-test", transport=self.sub_transport,
                                       max_retries=0))
        client = AsyncClient(api_key="sk-test", transport=self.parent_transport, max_retries=0)
        return Agent(MODEL, tools=[sub.as_tool()], client=client, hooks=self.hooks)


@pytest.fixture
def store(tmp_path: Path) -> SQLiteStore:
    return SQLiteStore(tmp_path / "runs.db")


@pytest.mark.asyncio
@pytest.mark.parametrize(("cut", "replies"), [("lookup", 2), ("charge", 1)])
async def test_a_sub_run_cut_by_a_crash_resumes_where_it_stopped_with_its_caller(
    store: SQLiteStore, cut: str, replies: int
) -> None:
    # The sub-agent's call was one non-idempotent tool of its caller: a crash inside it was
    # answered "interrupted" on resume and the sub-run's work was lost (its tokens too).
    # Compared with an uncrashed run (whose cut non-idempotent call is answered as a resume
    # answers it: the same requests, the same usage).
    uncrashed = World(cut_before={cut} - {"lookup"})
    whole = await Process(uncrashed, parent_script(), sub_script()).agent().run("Charge it")

    world = World(crash_in={cut})
    first = Process(world, parent_script()[:1], sub_script()[:replies])
    with pytest.raises(Crash):
        await first.agent().run("Charge it", run_id="r1", store=store)
    header = store.header(SUB)
    assert header is not None and header.turns == replies  # the sub-run's replies, stored

    # The resume asks only for what was not answered: a repeated model call would fail.
    again = Process(world, parent_script()[1:], sub_script()[replies:])
    resumed = await again.agent().run("Charge it", run_id="r1", store=store)

    assert len(again.parent_transport.requests) == 1
    assert len(again.sub_transport.requests) == 3 - replies
    assert resumed.text == whole.text == "Order 1 is charged."
    assert resumed.usage == whole.usage  # each reply counted once, the sub-run's included
    charges = [key for name, key in world.effects if name == "charge"]
    assert charges == [f"{SUB_KEY}:toolu_s1"]  # never twice, keyed by the sub-run's id
    lookups = [key for name, key in world.effects if name == "lookup"]
    assert lookups == [f"{SUB_KEY}:toolu_s2"] * (2 if cut == "lookup" else 1)  # the same key
    validate_conversation(resumed.messages)
    if cut == "charge":  # answered as a caller's cut non-idempotent call is
        sent = again.sub_transport.requests[0].body["messages"][-1]["content"]
        assert sent[0]["is_error"] is True and sent[0]["content"] == INTERRUPTED

    kinds = [e.kind for e in store.entries("r1")]
    assert "tool_started" not in kinds  # the caller runs the call again: its sub-run resumes
    assert kinds.count("usage") == 1  # the sub-run's whole usage, with the call's result
    header = store.header("r1")
    assert header is not None and header.status == "finished"
    assert header.input_tokens + header.output_tokens == (
        whole.usage.input_tokens + whole.usage.output_tokens
    )
    sub = store.header(SUB)
    assert sub is not None and sub.status == "finished" and sub.turns == 3
    stored = await Process(World(), [], []).agent().run("Charge it", run_id="r1", store=store)
    assert stored.usage == whole.usage and stored.text == whole.text


@pytest.mark.asyncio
async def test_a_finished_sub_run_called_again_returns_its_stored_result(
    store: SQLiteStore,
) -> None:
    # The caller stopped after its sub-run finished, before the call's result was committed:
    # the resumed caller runs the call again, which reads the sub-run back, calling nothing.
    whole = await Process(World(), parent_script(), sub_script()).agent().run("Charge it")

    def crash_after_the_sub_run(ctx: RunContext[None], call: object, block: object) -> None:
        raise Crash

    world = World()
    first = Process(world, parent_script()[:1], sub_script(),
                    Hooks(after_tool=crash_after_the_sub_run))
    with pytest.raises(Crash):
        await first.agent().run("Charge it", run_id="r1", store=store)
    sub = store.header(SUB)
    assert sub is not None and sub.status == "finished"
    assert [e.kind for e in store.entries("r1")].count("usage") == 0

    again = Process(world, parent_script()[1:], [])  # the sub-agent may call nothing
    resumed = await again.agent().run("Charge it", run_id="r1", store=store)
    assert again.sub_transport.requests == []
    assert resumed.text == whole.text and resumed.usage == whole.usage
    assert [name for name, _ in world.effects] == ["charge", "lookup"]


@pytest.mark.asyncio
async def test_a_caller_cancelled_inside_a_sub_run_counts_its_usage_once_when_resumed(
    store: SQLiteStore,
) -> None:
    # Cancelled inside the sub-run (the caller's timeout, its task cancelled), the caller
    # journaled the tokens the sub-run had spent; its resume now goes on with the sub-run,
    # whose result brings them again: they must count once.
    entered = anyio.Event()
    waits: list[str | None] = []

    @tool(idempotent=True)
    async def wait(ctx: RunContext[None]) -> str:
        """Wait for the world."""
        waits.append(ctx.idempotency_key)
        if len(waits) == 1:
            entered.set()
            await anyio.sleep_forever()
        return "ready"

    def agents(parent: list[Any], sub: list[Any]) -> Agent[str]:
        helper = Agent(MODEL, name="clerk", description="Waits.", tools=[wait],
                       client=AsyncClient(api_key="sk-test", max_retries=0,
                                          transport=ScriptedTransport(sub)))
        client = AsyncClient(api_key="sk-test", transport=ScriptedTransport(parent), max_retries=0)
        return Agent(MODEL, tools=[helper.as_tool()], client=client)

    call = reply(tool_calls=[("clerk", {"task": "Wait."}, "toolu_p1")])
    first = agents([call], [reply(tool_calls=[("wait", {}, "toolu_s1")])])
    async with anyio.create_task_group() as tg:

        async def cancel_when_waiting() -> None:
            await entered.wait()
            tg.cancel_scope.cancel()

        tg.start_soon(cancel_when_waiting)
        async with first.iter("Go", run_id="r1", store=store) as run:
            async for _ in run:
                pass
    assert run.state.usage.requests == 2  # counted in the caller's, not journaled there

    header = store.header("r1")
    assert header is not None and header.status == "interrupted"
    assert [e.kind for e in store.entries("r1")].count("usage") == 0
    sub = store.header(SUB)
    assert sub is not None and sub.status == "interrupted" and sub.turns == 1

    resumed = await agents([text_reply("Done.")], [text_reply("Ready.")]).run(
        "Go", run_id="r1", store=store)
    assert resumed.usage.requests == 4  # the caller's two replies and the sub-run's two
    assert waits == [f"{SUB_KEY}:toolu_s1"] * 2  # idempotent: run again, with the same key
    assert resumed.messages[2]["content"][0]["content"] == "Ready."
    again = await agents([], []).run("Go", run_id="r1", store=store)
    assert again.usage == resumed.usage


@pytest.fixture
def service() -> Iterator[tuple[str, list[str]]]:
    """A deduplicating service on loopback, over real HTTP: its URL, and the
    `Idempotency-Key` header of each request it got."""
    keys: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            keys.append(str(self.headers["Idempotency-Key"]))
            self.send_response(201)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    serving = threading.Thread(target=server.serve_forever)
    serving.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/charges", keys
    finally:
        server.shutdown()
        serving.join()
        server.server_close()


@pytest.mark.asyncio
async def test_a_sub_run_s_tool_sends_its_key_in_an_http_header_the_same_on_resume(
    store: SQLiteStore, service: tuple[str, list[str]]
) -> None:
    # A sub-run's key held its id's `›`: httpx raised UnicodeEncodeError in the user's tool,
    # so the charge failed (or the user stripped the key) unless encoded by hand.
    url, received = service
    crash = [Crash()]

    def agents(parent: list[Any], sub: list[Any]) -> Agent[str]:
        @tool(idempotent=True)
        async def charge(ctx: RunContext[None], order: int) -> str:
            """Charge an order (the service deduplicates by the key)."""
            async with httpx.AsyncClient(trust_env=False) as http:
                sent = await http.post(url, headers={"Idempotency-Key": str(ctx.idempotency_key)})
            if crash:
                raise crash.pop()  # the process dies after the service charged
            return f"charged {order}: {sent.status_code}"

        clerk = Agent(MODEL, name="clerk", description="Charges.", tools=[charge],
                      client=AsyncClient(api_key="sk-test", transport=ScriptedTransport(sub),
                                         max_retries=0))
        client = AsyncClient(api_key="sk-test", transport=ScriptedTransport(parent), max_retries=0)
        return Agent(MODEL, tools=[clerk.as_tool()], client=client)

    parent, sub = parent_script(), [reply(tool_calls=[("charge", {"order": 1}, "toolu_s1")]),
                                    text_reply("Charged order 1.")]
    with pytest.raises(Crash):
        await agents(parent[:1], sub[:1]).run("Charge it", run_id="r1", store=store)
    resumed = await agents(parent[1:], sub[1:]).run("Charge it", run_id="r1", store=store)

    assert resumed.text == "Order 1 is charged."
    assert received == [f"{SUB_KEY}:toolu_s1"] * 2  # sent again, with the same key


@pytest.mark.asyncio
async def test_a_failed_sub_run_is_an_error_result_its_usage_journaled_with_it(
    store: SQLiteStore,
) -> None:
    world = World()
    failing = [sub_script()[1], Fault.error(500, should_retry=False)]
    first = Process(world, [parent_script()[0], text_reply("It failed.")], failing)
    result = await first.agent().run("Charge it", run_id="r1", store=store)
    block = result.messages[2]["content"][0]
    assert block["is_error"] is True and block["content"].startswith("RunError: ")
    assert result.usage.requests == 3  # the caller's two replies and the sub-run's one
    assert [e.kind for e in store.entries("r1")].count("usage") == 1
    sub = store.header(SUB)
    assert sub is not None and sub.status == "failed"
    again = await Process(world, [], []).agent().run("Charge it", run_id="r1", store=store)
    assert again.usage == result.usage and world.effects == [("lookup", f"{SUB_KEY}:toolu_s2")]


@pytest.mark.asyncio
async def test_a_sub_agent_outside_a_durable_run_stores_nothing_and_has_no_run_id(
    store: SQLiteStore,
) -> None:
    world = World()
    result = await Process(world, parent_script(), sub_script()).agent().run("Charge it")
    assert result.text == "Order 1 is charged."
    assert world.effects == [("charge", "toolu_s1"), ("lookup", "toolu_s2")]  # no run id
    assert store.runs() == []


def test_a_sub_run_s_id_is_derived_and_no_id_a_user_chooses_can_be_one(
    store: SQLiteStore,
) -> None:
    assert sub_run_id("r1", "toolu_p1") == SUB
    assert sub_run_id(SUB, "toolu_x") == f"{SUB}\u203atoolu_x"  # a sub-run's own sub-runs
    with pytest.raises(UsageError, match="marks a sub-run's id"):
        Agent(MODEL).run_sync("Hi", run_id=SUB, store=store)
    assert store.runs() == []


@pytest.mark.asyncio
async def test_deleting_a_run_deletes_its_sub_runs(store: SQLiteStore) -> None:
    await Process(World(), parent_script(), sub_script()).agent().run(
        "Charge it", run_id="r1", store=store)
    await Process(World(), parent_script(), sub_script()).agent().run(
        "Charge it", run_id="r10", store=store)
    assert {r.run_id for r in store.runs()} == {"r1", SUB, "r10", "r10\u203atoolu_p1"}
    assert store.delete("r1")
    assert {r.run_id for r in store.runs()} == {"r10", "r10\u203atoolu_p1"}


@pytest.mark.asyncio
async def test_a_sub_run_s_own_sub_run_resumes_with_both_callers(store: SQLiteStore) -> None:
    world = World(crash_in={"charge"})

    def agents(parent: list[Any], clerk: list[Any], auditor: list[Any]) -> Agent[str]:
        @tool(idempotent=True)
        async def charge(ctx: RunContext[None], order: int) -> str:
            """Charge an order (deduplicated by its key)."""
            world.act("charge", ctx)
            return "charged"

        def client(script: list[Any]) -> AsyncClient:
            return AsyncClient(api_key="sk-test", transport=ScriptedTransport(script),
                               max_retries=0)

        inner = Agent(MODEL, name="auditor", description="Audits.", tools=[charge],
                      client=client(auditor))
        outer = Agent(MODEL, name="clerk", description="Charges.", tools=[inner.as_tool()],
                      client=client(clerk))
        return Agent(MODEL, tools=[outer.as_tool()], client=client(parent))

    parent = [reply(tool_calls=[("clerk", {"task": "Order 1."}, "toolu_p1")]),
              text_reply("Done.")]
    clerk = [reply(tool_calls=[("auditor", {"task": "Check order 1."}, "toolu_c1")]),
             text_reply("Checked.")]
    auditor = [reply(tool_calls=[("charge", {"order": 1}, "toolu_a1")]), text_reply("Fine.")]
    with pytest.raises(Crash):
        await agents(parent[:1], clerk[:1], auditor[:1]).run("Go", run_id="r1", store=store)
    resumed = await agents(parent[1:], clerk[1:], auditor[1:]).run("Go", run_id="r1", store=store)

    assert resumed.text == "Done." and resumed.usage.requests == 6  # each reply once
    inner = f"{SUB}\u203atoolu_c1"
    nested = f"{SUB_KEY}%E2%80%BAtoolu_c1:toolu_a1"
    assert world.effects == [("charge", nested)] * 2  # the same key, nested
    assert {r.run_id for r in store.runs()} == {"r1", SUB, inner}
    assert store.sub_runs("r1") == [SUB, inner] and store.sub_runs(SUB) == [inner]
    assert [r.run_id for r in store.runs(top_level=True)] == ["r1"]
    store.delete("r1")
    assert store.runs() == []


@pytest.mark.asyncio
async def test_a_sub_run_its_store_refuses_fails_its_caller_with_the_call_left_open(
    store: SQLiteStore,
) -> None:
    # The sub-agent changed between the crash and the resume (a deploy): its stored run was
    # refused with a RunMismatchError, which became the call's result; the caller's model read
    # "use a new run_id, or delete the old run" and the caller finished without its sub-run.
    world = World(crash_in={"lookup"})

    def agents(parent: list[Any], sub: list[Any], system: str | None = None) -> Agent[str]:
        @tool(idempotent=True)
        async def lookup(ctx: RunContext[None], order: int) -> str:
            """Look an order's state up (safe to repeat)."""
            world.act("lookup", ctx)
            return "paid"

        clerk = Agent(MODEL, name="clerk", description="Looks up.", system=system,
                      tools=[lookup], client=AsyncClient(
                          api_key="sk-test", transport=ScriptedTransport(sub), max_retries=0))
        client = AsyncClient(api_key="sk-test", transport=ScriptedTransport(parent), max_retries=0)
        return Agent(MODEL, tools=[clerk.as_tool()], client=client)

    parent = [reply(tool_calls=[("clerk", {"task": "Order 1?"}, "toolu_p1")]), text_reply("Paid.")]
    sub = [reply(tool_calls=[("lookup", {"order": 1}, "toolu_s1")]), text_reply("Order 1: paid.")]
    with pytest.raises(Crash):
        await agents(parent[:1], sub[:1]).run("Go", run_id="r1", store=store)

    with pytest.raises(RunError) as raised:  # the caller's model is asked nothing
        await agents([], [], system="Be brief.").run("Go", run_id="r1", store=store)
    assert isinstance(raised.value.__cause__, RunMismatchError)
    said = str(raised.value)  # what to do, for a sub-run (no new run_id can be chosen for it)
    assert "Use a new run_id" not in said
    assert ("It is the sub-run of call toolu_p1 of run 'r1': resume 'r1' with that sub-agent as "
            "it was, or delete the sub-run (store.delete") in said
    header = store.header("r1")
    assert header is not None and header.status == "failed"

    resumed = await agents(parent[1:], sub[1:]).run("Go", run_id="r1", store=store)
    assert resumed.text == "Paid." and resumed.messages[2]["content"][0]["content"] == (
        "Order 1: paid.")
    assert resumed.usage.requests == 4


@pytest.mark.asyncio
async def test_top_level_runs_leave_sub_runs_out_and_page_as_sub_runs_were_not_there(
    store: SQLiteStore,
) -> None:
    # `runs()` mixed the sub-runs among the runs a user started: a page of 2 held a caller
    # and its own sub-run, and `status=` counted sub-runs too.
    for run_id in ("r1", "r2", "r10"):
        await Process(World(), parent_script(), sub_script()).agent().run(
            "Charge it", run_id=run_id, store=store)
    assert len(store.runs()) == 6  # every run, as before
    assert [r.run_id for r in store.runs(top_level=True)] == ["r10", "r2", "r1"]
    assert [r.run_id for r in store.runs(top_level=True, limit=2, offset=1)] == ["r2", "r1"]
    assert [r.run_id for r in store.runs(status="finished", top_level=True, limit=1)] == ["r10"]
    assert store.runs(status="failed", top_level=True) == []


@pytest.mark.asyncio
async def test_a_run_s_sub_runs_are_its_own_nested_ones_too_oldest_first(
    store: SQLiteStore,
) -> None:
    for run_id in ("r1", "r10"):
        await Process(World(), parent_script(), sub_script()).agent().run(
            "Charge it", run_id=run_id, store=store)
    assert store.sub_runs("r1") == [SUB]  # not r10's, whose id begins with "r1" too
    assert store.sub_runs(SUB) == [] and store.sub_runs("nothing") == []
    assert store.sub_runs("\ud800") == []  # an id no run can have


@pytest.mark.asyncio
async def test_a_sub_run_whose_caller_is_gone_is_listed_at_the_top_level(
    store: SQLiteStore,
) -> None:
    # A delete killed after its run's row went, before its sub-runs did, leaves them: listed
    # where a user sees them (and can delete them), never out of every listing.
    await Process(World(), parent_script(), sub_script()).agent().run(
        "Charge it", run_id="r1", store=store)
    assert store._delete("r1")  # pyright: ignore[reportPrivateUsage]
    assert [r.run_id for r in store.runs(top_level=True)] == [SUB]
