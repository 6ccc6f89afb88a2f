"""Durable runs over real model replies: every successful reply recorded in
`../shared/conformance/real/` and `../shared/conformance/wild/` (see each SOURCES.md), as the
model's answer to a durable run (then "Done." after any tool calls or a `pause_turn`).

- Crashed right after each of its checkpoints and resumed with the same call, the run sends
  byte for byte the requests of an uncrashed run, and its journal ends as that run's did.
- The same exchange streamed and as JSON journals equal replies and sends the same requests.

The corpora are found at `../shared` next to the repository root; without them the test is
skipped, saying so (as `tests/test_conformance.py`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from agentkit import Agent, AsyncClient, SQLiteStore, tool
from agentkit._api.streaming import message_from_sse
from agentkit._durable.journal import EntryKind, Lease, Payload, Summary

CORPUS_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "conformance"
ABSENT = f"conformance corpus not found at {CORPUS_DIR} (expected ../shared next to the repo)"
MODEL = "claude-sonnet-4-5"
DONE = {
    "id": "msg_done", "type": "message", "role": "assistant", "model": MODEL,
    "content": [{"type": "text", "text": "Done."}], "stop_reason": "end_turn",
    "stop_sequence": None, "usage": {"input_tokens": 1, "output_tokens": 1},
}  # fmt: skip


def _replies() -> list[Any]:
    """Each recorded successful Messages reply: (id, JSON body dict, SSE text or None)."""
    found: list[Any] = []
    for corpus in ("real", "wild"):
        root = CORPUS_DIR / corpus
        for path in sorted(root.glob("*.json")) + sorted(root.glob("vendor_fixtures/*.json")):
            response = json.loads(path.read_text(encoding="utf-8"))["response"]
            name = f"{corpus}/{path.relative_to(root).with_suffix('').as_posix()}"
            if response["status"] != 200:
                continue
            if "sse" in response:
                body = message_from_sse(response["sse"]).to_wire()
                found.append(pytest.param(body, response["sse"], id=name))
            elif response.get("body", {}).get("type") == "message":
                found.append(pytest.param(response["body"], None, id=name))
    return found or [pytest.param(None, None, marks=pytest.mark.skip(reason=ABSENT))]


def events_of(body: dict[str, Any]) -> str:
    """A JSON reply as the stream that sends it: each block whole in its `content_block_start`."""
    first: dict[str, Any] = {**body, "content": [], "stop_reason": None, "stop_sequence": None}
    events: list[dict[str, Any]] = [{"type": "message_start", "message": first}]
    for i, block in enumerate(body["content"]):
        events.append({"type": "content_block_start", "index": i, "content_block": block})
        events.append({"type": "content_block_stop", "index": i})
    delta = {"stop_reason": body["stop_reason"], "stop_sequence": body.get("stop_sequence")}
    usage = {"output_tokens": body["usage"]["output_tokens"]}
    events.append({"type": "message_delta", "delta": delta, "usage": usage})
    events.append({"type": "message_stop"})
    return "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events)


class Crashed(BaseException):
    """Stands for the process dying: not an `Exception`, so nothing turns it into a result."""


class CrashingStore(SQLiteStore):
    """A store whose process dies right after its `crash_after`-th commit."""

    crash_after = 0
    commits = 0

    def append_many(
        self,
        lease: Lease,
        entries: Sequence[tuple[EntryKind, Payload]],
        *,
        summary: Summary | None = None,
    ) -> int:
        seq = super().append_many(lease, entries, summary=summary)
        self.commits += 1
        if self.commits == self.crash_after:
            raise Crashed
        return seq


class Model:
    """Plays Claude with the recorded reply, then "Done.", as JSON or streamed as the request
    asks; records each request body as sent, and serves on across a crash."""

    def __init__(self, body: dict[str, Any], sse: str | None) -> None:
        self.first = (json.dumps(body, ensure_ascii=False).encode(), sse or events_of(body))
        self.sent: list[bytes] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request.content)
        raw, events = self.first if len(self.sent) == 1 else (json.dumps(DONE).encode(), None)
        if json.loads(request.content).get("stream"):
            content = (events or events_of(DONE)).encode()
            return httpx.Response(
                200, headers={"content-type": "text/event-stream"}, content=content
            )
        return httpx.Response(200, headers={"content-type": "application/json"}, content=raw)


async def run(
    store: SQLiteStore, model: Model, run_id: str, body: dict[str, Any], stream: bool
) -> str:
    """The run's conversation as it ends (JSON, keys in order)."""
    calls = {b["name"] for b in body["content"] if b["type"] == "tool_use"}

    def answer(name: str) -> Any:
        async def call() -> str:
            """Answer."""
            return f"{name} answered"

        return tool(name=name, idempotent=True)(call)

    client = AsyncClient(
        api_key="sk-test", transport=httpx.MockTransport(model.handler), max_retries=0
    )
    agent = Agent(MODEL, tools=[answer(n) for n in sorted(calls)], client=client, stream=stream)
    result = await agent.run("Go on.", run_id=run_id, store=store)
    return json.dumps(result.messages)


def journal(store: SQLiteStore, run_id: str) -> list[tuple[str, Any]]:
    return [(e.kind, e.payload) for e in store.entries(run_id) if e.kind not in ("start", "status")]


def unstreamed(requests: list[bytes]) -> list[str]:
    """Request bodies without `stream`, keys in the order sent."""
    bodies = [json.loads(r) for r in requests]
    return [json.dumps({k: v for k, v in b.items() if k != "stream"}) for b in bodies]


@pytest.mark.asyncio
@pytest.mark.parametrize(("body", "sse"), _replies())
async def test_a_real_reply_resumes_after_each_checkpoint_with_the_requests_of_an_uncrashed_run(
    tmp_path: Path, body: dict[str, Any], sse: str | None
) -> None:
    streamed = sse is not None  # as recorded
    store = CrashingStore(tmp_path / "runs.db")
    with store:
        whole = Model(body, sse)
        ended = await run(store, whole, "whole", body, streamed)
        commits = store.commits
        for at in range(1, commits + 1):
            model = Model(body, sse)
            store.crash_after, store.commits = at, 0
            with pytest.raises(Crashed):
                await run(store, model, f"crash-{at}", body, streamed)
            store.crash_after = 0
            assert await run(store, model, f"crash-{at}", body, streamed) == ended
            assert model.sent == whole.sent, f"resumed after commit {at}"
            assert journal(store, f"crash-{at}") == journal(store, "whole")

        other = Model(body, sse)
        assert await run(store, other, "other", body, not streamed) == ended
        assert unstreamed(other.sent) == unstreamed(whole.sent)
        assert journal(store, "other") == journal(store, "whole")
    assert journal_replies_are_recorded(tmp_path / "runs.db", body)


def journal_replies_are_recorded(db: Path, body: dict[str, Any]) -> bool:
    with SQLiteStore(db) as store:
        replies = [p for kind, p in journal(store, "whole") if kind == "reply"]
    return replies[0] == body
