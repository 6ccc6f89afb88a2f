"""When a durable run's checkpoints are committed, and which share a commit: a reply with
its calls' started marks, results of calls that finish together (issue 9's "Measure": CPU per
turn), never at the cost of the order the README states."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from agentkit import Agent, AsyncClient, Hooks, RunContext, SQLiteStore, tool
from agentkit._api.wire import Message
from agentkit._durable.journal import EntryKind, Lease, Payload, Summary
from agentkit.errors import RunError, StoreError
from agentkit.events import AgentEvent, ToolCallFinished, TurnFinished
from agentkit.testing import ScriptedTransport, message_to_sse, reply, text_reply

MODEL = "claude-sonnet-4-5"


class Spy(SQLiteStore):
    """A store that records the kinds of each commit."""

    commits: list[list[str]]

    def append_many(
        self,
        lease: Lease,
        entries: Sequence[tuple[EntryKind, Payload]],
        *,
        summary: Summary | None = None,
    ) -> int:
        self.commits.append([kind for kind, _ in entries])
        return super().append_many(lease, entries, summary=summary)


@pytest.fixture
def spy(tmp_path: Path) -> Spy:
    store = Spy(tmp_path / "runs.db")
    store.commits = []
    return store


def agent_for(
    idempotent: bool, *, slow: anyio.Event | None = None, hooks: Hooks | None = None
) -> Agent[Any]:
    @tool(idempotent=idempotent)
    async def fast(ctx: RunContext[None], n: int) -> str:
        """Return n."""
        return str(n)

    @tool(idempotent=idempotent)
    async def waits(ctx: RunContext[None], n: int) -> str:
        """Return n when let go."""
        if slow is not None:
            await slow.wait()
        return str(n)

    transport = ScriptedTransport([
        reply(tool_calls=[("fast", {"n": 1}, "toolu_1"), ("waits", {"n": 2}, "toolu_2")]),
        text_reply("Done."),
    ])
    client = AsyncClient(api_key="sk-test", transport=transport, max_retries=0)
    return Agent(MODEL, tools=[fast, waits], client=client, hooks=hooks or Hooks())


@pytest.mark.asyncio
@pytest.mark.parametrize("idempotent", [True, False], ids=["idempotent", "not idempotent"])
async def test_a_reply_shares_its_commit_with_the_marks_and_parallel_results_share_one(
    spy: Spy, idempotent: bool
) -> None:
    result = await agent_for(idempotent).run("go", run_id="r", store=spy)
    assert result.text == "Done."
    mark = [] if idempotent else ["tool_started"]
    assert spy.commits == [
        ["start"],
        ["reply", *mark],
        ["tool_result", "tool_result"],
        ["reply", "status"],
    ]


@pytest.mark.asyncio
async def test_a_result_is_committed_while_a_slower_parallel_call_still_runs(spy: Spy) -> None:
    let_go = anyio.Event()
    agent = agent_for(False, slow=let_go)
    seen: list[list[str]] = []

    async def watch() -> None:
        while not any("tool_result" in c for c in spy.commits):
            await anyio.sleep(0)  # a checkpoint, not a wait on time: the loop goes round
        seen.extend(spy.commits)
        let_go.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(watch)
        await agent.run("go", run_id="r", store=spy)
    assert seen[-1] == ["tool_result"]  # toolu_1's, alone, before toolu_2 finished
    assert [e.kind for e in spy.entries("r")].count("tool_result") == 2


class FailsResults(Spy):
    """A store whose commits of tool results fail, as on a full disk."""

    def append_many(
        self,
        lease: Lease,
        entries: Sequence[tuple[EntryKind, Payload]],
        *,
        summary: Summary | None = None,
    ) -> int:
        if any(kind == "tool_result" for kind, _ in entries):
            raise StoreError("cannot write the run journal: no space left on device")
        return super().append_many(lease, entries, summary=summary)


@pytest.mark.asyncio
async def test_a_failed_deferred_commit_of_results_stops_the_run_before_its_next_step(
    tmp_path: Path,
) -> None:
    store = FailsResults(tmp_path / "runs.db")
    store.commits = []
    requests: list[int] = []
    agent = agent_for(True, hooks=Hooks(before_model=lambda ctx, params: requests.append(1)))
    with pytest.raises(RunError, match="no space left") as caught:
        await agent.run("go", run_id="r", store=store)
    assert isinstance(caught.value.__cause__, StoreError)
    assert len(requests) == 1  # the model was not called past results that were not kept
    assert [e.kind for e in store.entries("r")] == ["start", "reply", "status"]


@pytest.mark.asyncio
async def test_with_an_event_consumer_each_checkpoint_is_committed_before_its_event(
    spy: Spy,
) -> None:
    committed: list[tuple[str, list[str]]] = []

    def on_event(event: AgentEvent) -> None:
        if isinstance(event, TurnFinished | ToolCallFinished):
            kinds = [e.kind for e in spy.entries("r")]
            committed.append((type(event).__name__, kinds))

    await agent_for(False).run("go", run_id="r", store=spy, on_event=on_event)
    assert committed[0] == ("TurnFinished", ["start", "reply"])
    assert [kinds.count("tool_result") for name, kinds in committed[1:3]] == [1, 2]


@pytest.mark.asyncio
async def test_a_json_reply_is_journaled_as_its_bytes_came(tmp_path: Path) -> None:
    # Not dumped again: the bytes the server sent go to the journal (no CPU spent on them), a
    # field this agentkit does not know included; replay parses them like any reply.
    body = (b'{"model": "m", "id": "msg_1", "type": "message", "role": "assistant", '
            b'"content": [{"type": "text", "text": "Hi."}], "stop_reason": "end_turn", '
            b'"stop_sequence": null, "usage": {"input_tokens": 3, "output_tokens": 2}, '
            b'"x_new_field": {"kept": true}}')  # spaced and reordered: no dump looks like it

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"content-type": "application/json"})

    client = AsyncClient(api_key="sk", transport=httpx.MockTransport(answer), max_retries=0)
    message = await client.create(model=MODEL, max_tokens=10,
                                  messages=[{"role": "user", "content": "hi"}])
    assert message.raw_json == body
    store = SQLiteStore(tmp_path / "runs.db")
    result = await Agent(MODEL, client=client).run("hi", run_id="r", store=store)
    (reply_entry,) = [e for e in store.entries("r") if e.kind == "reply"]
    assert reply_entry.payload == json.loads(body)
    (journal,) = (tmp_path / "runs.db.journals").iterdir()
    assert body in journal.read_bytes()  # verbatim, not a dump of the parsed reply
    again = await Agent(MODEL, client=client).run("hi", run_id="r", store=store)
    assert again.text == result.text == "Hi." and again.usage.output_tokens == 2


@pytest.mark.asyncio
async def test_a_streamed_reply_is_journaled_as_assembled_without_a_dump(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A dump (`to_wire`) of a reply costs ~9 µs a turn; the dict the stream was assembled into
    # is the reply as it came, and goes to the journal as it is (a field this agentkit does not
    # know included). Replay parses it like any reply.
    wire = {"id": "msg_1", "type": "message", "role": "assistant", "model": MODEL,
            "content": [{"type": "text", "text": "Hi."}], "stop_reason": "end_turn",
            "stop_sequence": None, "usage": {"input_tokens": 3, "output_tokens": 2},
            "x_new_field": {"kept": True}}

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=message_to_sse(wire),
                              headers={"content-type": "text/event-stream"})

    def no_dump(self: Message) -> dict[str, Any]:
        raise AssertionError("a streamed reply was dumped to be journaled")

    client = AsyncClient(api_key="sk", transport=httpx.MockTransport(answer), max_retries=0)
    store = SQLiteStore(tmp_path / "runs.db")
    agent = Agent(MODEL, client=client, stream=True)
    with monkeypatch.context() as patched:
        patched.setattr(Message, "to_wire", no_dump)
        result = await agent.run("hi", run_id="r", store=store)
    (reply_entry,) = [e for e in store.entries("r") if e.kind == "reply"]
    assert reply_entry.payload == wire
    again = await agent.run("hi", run_id="r", store=store)
    assert again.text == result.text == "Hi." and again.usage.output_tokens == 2
