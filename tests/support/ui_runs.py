"""Runs for the run viewer's tests (`tests/ui/`): real agents on the scripted fake, kept in a
real `SQLiteStore` whose clock the test moves (a model step or a tool advances it), so times
are exact; and the viewer's application over that file, for aiohttp's test server."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from loopback import LoopbackServer

from agentkit import Agent, AsyncClient, Message, RunError, SQLiteStore, Tool, ToolError, tool
from agentkit.cli.viewer import RunReader, make_app
from agentkit.testing import Fault, ScriptedTransport, reply, text_reply

MODEL = "claude-sonnet-4-5"
START = 1_800_000_000.0
HOSTILE = '<script>window.__pwned = 1</script><img src="x" onerror="window.__pwned = 2">'
"""What a hostile tool writes: HTML that would run if the page parsed it."""
SECRET = "sk-ant-api03-viewer-test-secret-0123456789"
ODD_ID = "team a/run #1?x=<b>&y=%20"


class Clock:
    """The store's clock (and the viewer's): still until a test moves it."""

    def __init__(self, start: float = START) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Runs:
    """Makes runs in one store file, each with a real agent on a scripted model."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.clock = Clock()
        self.store = SQLiteStore(path, clock=self.clock)
        self._clients: list[AsyncClient] = []

    def agent(self, steps: Iterable[Any], tools: Iterable[Tool], **options: Any) -> Agent[Any]:
        transport = ScriptedTransport(list(steps))
        client = AsyncClient(api_key=SECRET, transport=transport, max_retries=0)
        self._clients.append(client)
        return Agent(MODEL, tools=list(tools), client=client, store=self.store, **options)

    def taking(self, seconds: float, answer: Message | Fault) -> Callable[[dict[str, Any]], Any]:
        """A model step that takes `seconds` (on the store's clock) to answer."""

        def step(body: dict[str, Any]) -> Message | Fault:
            self.clock.advance(seconds)
            return answer

        return step

    async def run(self, agent: Agent[Any], prompt: str | None, run_id: str, **args: Any) -> Any:
        self.clock.advance(1.0)  # each run starts a second after the one before
        return await agent.run(prompt, run_id=run_id, **args)

    async def weather(self) -> None:
        """`weather-1`, finished in two turns: thinking, text and a tool call (model 2 s, tool
        0.5 s), then the answer (model 1 s)."""
        clock = self.clock

        @tool
        async def get_weather(city: str) -> str:
            """Current weather in a city."""
            clock.advance(0.5)
            return f"Sunny in {city}"

        steps = [
            self.taking(2.0, reply("Let me check.", thinking="The user wants Paris.",
                                   tool_calls=[("get_weather", {"city": "Paris"}, "toolu_w1")])),
            self.taking(1.0, text_reply("It is sunny in Paris.")),
        ]
        agent = self.agent(steps, [get_weather], name="forecaster")
        await self.run(agent, "What is the weather in Paris?", "weather-1")

    async def broken(self) -> None:
        """`broken-1`, finished: its tool failed (an `is_error` result)."""

        @tool
        async def explode(what: str) -> str:
            """Blow something up."""
            raise ToolError(f"the {what} is on fire")

        steps = [reply(tool_calls=[("explode", {"what": "disk"}, "toolu_x1")]),
                 text_reply("The tool failed.")]
        await self.run(self.agent(steps, [explode], name="breaker"), "Break it", "broken-1")

    async def paused(self, run_id: str = "charge-1") -> None:
        """`run_id` (`charge-1`), paused for approval of `toolu_c1` (its `lookup` call needs
        none)."""
        calls = [("lookup", {"order": 7}, "toolu_l1"), ("charge", {"order": 7}, "toolu_c1")]
        await self.run(self._charger(reply("Charging.", tool_calls=calls)), "Charge order 7",
                       run_id)

    async def paused_sub_run(self) -> None:
        """`delegate-1`, finished: its sub-agent's run `delegate-1›toolu_d1` paused for approval
        of `toolu_c1` (the sub-agent has no approve callback)."""
        clerk = self._charger(reply(tool_calls=[("charge", {"order": 7}, "toolu_c1")]))
        clerk.name, clerk.description = "clerk", "Charges orders."
        steps = [reply(tool_calls=[("clerk", {"task": "Charge 7."}, "toolu_d1")]),
                 text_reply("The clerk could not charge it.")]
        await self.run(self.agent(steps, [clerk.as_tool()]), "Charge order 7", "delegate-1")

    async def resumed_with_denial(self) -> None:
        """`charge-1` resumed: the charge denied, the model answers."""
        await self.run(self._charger(text_reply("I did not charge it.")), None, "charge-1",
                       decisions={"toolu_c1": "too expensive"})

    def _charger(self, answer: Message) -> Agent[Any]:
        @tool(requires_approval=True)
        async def charge(order: int) -> str:
            """Charge an order."""
            return f"charged order {order}"

        @tool
        async def lookup(order: int) -> str:
            """The amount due on an order."""
            return f"order {order}: 12.99 EUR"

        return self.agent([answer], [charge, lookup], name="cashier")

    async def failed(self) -> None:
        """`failing-1`: the API stayed overloaded, the run failed."""
        agent = self.agent([Fault.overloaded()], [], model_retries=0)
        with pytest.raises(RunError):
            await self.run(agent, "Say hi", "failing-1")

    async def hostile(self) -> None:
        """`hostile-1`: HTML in the prompt, the model's text, a tool's input and its result
        (with the API key among it)."""

        @tool
        async def fetch(url: str) -> str:
            """Fetch a page."""
            return f"{HOSTILE} key={SECRET}"

        steps = [reply(HOSTILE, tool_calls=[("fetch", {"url": HOSTILE}, "toolu_h1")]),
                 text_reply(f"Done {HOSTILE}")]
        await self.run(self.agent(steps, [fetch], name=HOSTILE), f"Fetch {HOSTILE}", "hostile-1")

    async def odd(self) -> None:
        """`ODD_ID`: a run whose id has what URLs and HTML give meaning to."""
        await self.run(self.agent([text_reply("Odd.")], []), "Hi", ODD_ID)

    async def delegated(self, run_id: str = "desk-1") -> None:
        """`run_id` (`desk-1`), finished: its agent `clerk` (call `toolu_d1`) ran as a sub-run,
        whose agent `auditor` (call `toolu_k1`) ran as a sub-run of its own."""
        auditor = self.agent([text_reply("Order 7 is fine.")], [], name="auditor",
                             description="Audits an order.")
        clerk = self.agent([reply(tool_calls=[("auditor", {"task": "Audit 7"}, "toolu_k1")]),
                            text_reply("Audited: fine.")], [auditor.as_tool()], name="clerk",
                           description="Handles an order.")
        steps = [reply(tool_calls=[("clerk", {"task": "Handle order 7"}, "toolu_d1")]),
                 text_reply("Order 7 is handled.")]
        await self.run(self.agent(steps, [clerk.as_tool()], name="desk"), "Handle order 7",
                       run_id)

    async def many(self, count: int) -> None:
        """`bulk-00` … : finished one-turn runs, `bulk-00` the oldest."""
        for n in range(count):
            agent = self.agent([text_reply(f"Answer {n}.")], [], name="bulk")
            await self.run(agent, f"Question number {n}", f"bulk-{n:02d}")

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()
        self.store.close()


class Gate:
    """A tool that waits until the test opens it: a run that is running while the test looks."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.open = asyncio.Event()

        @tool
        async def wait_for_gate() -> str:
            """Wait until the gate opens."""
            self.entered.set()
            await self.open.wait()
            return "the gate opened"

        self.tool = wait_for_gate

    async def start(self, runs: Runs, run_id: str = "live-1") -> asyncio.Task[Any]:
        """Start the run in a task; return once its tool call is under way (its reply is
        in the store)."""
        steps = [reply("Waiting for the gate.", tool_calls=[("wait_for_gate", {}, "toolu_g1")]),
                 text_reply("The gate is open.")]
        agent = runs.agent(steps, [self.tool], name="waiter")
        task = asyncio.create_task(runs.run(agent, "Wait for the gate", run_id))
        entered = asyncio.create_task(self.entered.wait())
        await asyncio.wait([task, entered], return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            entered.cancel()
            task.result()  # raises what went wrong
            raise AssertionError("the run ended before its tool started")
        return task


def viewer(runs: Runs, environ: Mapping[str, str] | None = None) -> TestServer:
    reader = RunReader(runs.path, clock=runs.clock)
    app = make_app(reader, poll=0.02, clock=runs.clock, environ=environ or {})
    app.on_cleanup.append(lambda _: asyncio.to_thread(reader.close))
    return LoopbackServer(app, host="127.0.0.1")
